// Test fixtures that run the real `cairn` binary: a server on a free loopback
// port with a temporary data directory, and CLI invocations with their exit
// code, output and peak memory.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cairn::testing {

// Path of the built `cairn` binary (set by CMake).
std::filesystem::path CairnBinary();

// A fresh directory under the system temp dir, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& p) const { return path_ / p; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
  long max_rss_kib = 0;  // peak resident memory of the child
};

// Runs argv[0] (a path) with argv, the current environment plus `env`
// (a value of std::nullopt unsets that variable), and optional stdin text.
CommandResult Run(const std::vector<std::string>& argv,
                  const std::map<std::string, std::optional<std::string>>& env = {},
                  const std::string& stdin_text = "");

// A child process running in the background; output goes to files.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv,
                    const std::map<std::string, std::optional<std::string>>& env = {});
  ~BackgroundProcess();  // SIGKILL if still running
  // Waits for the exit; the result as Run() gives it.
  CommandResult Wait();
  pid_t pid() const { return pid_; }
  // Output so far.
  std::string out() const;

 private:
  TempDir io_;
  pid_t pid_ = -1;
};

// Path of a built example program (bin/NAME beside the cairn binary).
std::filesystem::path ExampleBinary(const std::string& name);

// Runs the cairn binary with `args`.
CommandResult Cairn(const std::vector<std::string>& args,
                    const std::map<std::string, std::optional<std::string>>& env = {});

// Where a server keeps runs and blobs. Empty URLs: SQLite and local disk
// under its data directory.
struct ServerBackend {
  std::string db_url;     // --db
  std::string blobs_url;  // --blobs
  bool s3_presign = false;
};

// The backend for a new server: under the `backends` CTest fixture
// (testing/backends.h) a fresh PostgreSQL database and a fresh key prefix in
// the radosgw bucket, so that every server starts as empty as a new data
// directory would; otherwise SQLite + disk. Share one between servers to make
// them replicas.
ServerBackend NewServerBackend();

// A `cairn server` child process.
class ServerProcess {
 public:
  // Starts on 127.0.0.1:0 with `data_dir`; waits for the "listening" line.
  // `backend` defaults to NewServerBackend(); `extra_args` are appended to
  // `cairn server ...` (e.g. --tls-cert F --tls-key F).
  explicit ServerProcess(std::filesystem::path data_dir,
                         std::map<std::string, std::optional<std::string>> env = {},
                         std::optional<ServerBackend> backend = std::nullopt,
                         std::vector<std::string> extra_args = {});
  ~ServerProcess();  // SIGTERM and wait

  void Start();
  // SIGTERM, then wait; returns the exit status (0 on a clean stop).
  int Stop();
  void Kill();  // SIGKILL, then wait
  bool running() const { return pid_ > 0; }

  // http://127.0.0.1:PORT, or https://... when the server speaks TLS.
  const std::string& base_url() const { return base_url_; }
  int port() const { return port_; }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  const ServerBackend& backend() const { return backend_; }
  // The admin key (read from DATA/admin.key, or CAIRN_ADMIN_KEY when given).
  std::string admin_key() const;
  pid_t pid() const { return pid_; }
  // What the server wrote to stderr so far (its log).
  std::string log() const;
  // The log once it contains `text`, or as it is after `within`: the server
  // writes a request's log line just after it sends the answer.
  std::string LogOnceItHas(const std::string& text,
                           std::chrono::milliseconds within = std::chrono::seconds(5)) const;

 private:
  std::filesystem::path data_dir_;
  std::map<std::string, std::optional<std::string>> env_;
  ServerBackend backend_;
  std::vector<std::string> extra_args_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string base_url_;
  std::filesystem::path log_path_;
};

// Creates a key for `entity` through the CLI with the admin key.
std::string CreateKey(const ServerProcess& server, const std::string& entity, bool read_only = false);

// Writes `size` pseudo-random bytes (seeded) to path; returns their SHA-256.
std::string WriteRandomFile(const std::filesystem::path& path, std::uint64_t size, unsigned seed = 1);
std::string ReadFile(const std::filesystem::path& path);
void WriteFile(const std::filesystem::path& path, const std::string& content);

// A TCP connection to 127.0.0.1:port (for raw-socket tests); -1 on failure.
int ConnectLoopback(int port);
// A socket listening on 127.0.0.1 at a free port (set in *port); -1 on failure.
int ListenLoopback(int* port);

// Where the local blob store keeps a blob: DATA/blobs/ab/cd/<sha>.
std::filesystem::path BlobPath(const std::filesystem::path& data_dir, const std::string& sha256);

// Damages the stored copy of a blob behind the server's back, whichever its
// blob store: flips the bits of the byte at `offset` (in DATA/blobs, or by
// rewriting the object in the bucket). Throws when the blob is not there.
void CorruptBlob(const ServerProcess& server, const std::string& sha256, std::uint64_t offset);

}  // namespace cairn::testing
