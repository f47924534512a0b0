#include "testing/server_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "common/sha256.h"
#include "store/s3/s3_client.h"
#include "testing/backends.h"

extern char** environ;

namespace cairn::testing {
namespace fs = std::filesystem;

fs::path CairnBinary() { return CAIRN_TEST_BINARY; }

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "cairn-test-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

namespace {

// Tests must not read or fill the user's content cache (~/.cache/cairn), and
// a cache would turn the downloads that most tests are about into local
// copies: it is off in the test process and its children unless a test turns
// it on (CAIRN_CACHE_MAX_BYTES / CAIRN_CACHE_DIR in its env, or
// TransferOptions in process).
[[maybe_unused]] const bool kCacheOffByDefault = ::setenv("CAIRN_CACHE_MAX_BYTES", "0", /*overwrite=*/0) == 0;

std::vector<std::string> BuildEnv(const std::map<std::string, std::optional<std::string>>& env) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) {
    if (v) {
      merged[k] = *v;
    } else {
      merged.erase(k);
    }
  }
  std::vector<std::string> out;
  for (const auto& [k, v] : merged) out.push_back(k + "=" + v);
  return out;
}

// fork + exec with stdin/stdout/stderr redirected to files; returns the pid.
pid_t Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::optional<std::string>>& env,
            const fs::path& in, const fs::path& out, const fs::path& err) {
  std::vector<std::string> envs = BuildEnv(env);
  std::vector<char*> cargv, cenv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  for (const auto& e : envs) cenv.push_back(const_cast<char*>(e.c_str()));
  cenv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int fin = ::open(in.empty() ? "/dev/null" : in.c_str(), O_RDONLY);
    int fout = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int ferr = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fin < 0 || fout < 0 || ferr < 0) ::_exit(127);
    ::dup2(fin, 0);
    ::dup2(fout, 1);
    ::dup2(ferr, 2);
    ::setpgid(0, 0);
    ::execve(cargv[0], cargv.data(), cenv.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

CommandResult Run(const std::vector<std::string>& argv, const std::map<std::string, std::optional<std::string>>& env,
                  const std::string& stdin_text) {
  TempDir io;
  fs::path in;
  if (!stdin_text.empty()) {
    in = io / "stdin";
    WriteFile(in, stdin_text);
  }
  pid_t pid = Spawn(argv, env, in, io / "stdout", io / "stderr");
  int status = 0;
  rusage ru{};
  while (::wait4(pid, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFile(io / "stdout");
  r.err = ReadFile(io / "stderr");
  r.max_rss_kib = ru.ru_maxrss;
  return r;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv,
                                     const std::map<std::string, std::optional<std::string>>& env) {
  pid_ = Spawn(argv, env, {}, io_ / "stdout", io_ / "stderr");
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

CommandResult BackgroundProcess::Wait() {
  int status = 0;
  rusage ru{};
  while (::wait4(pid_, &status, 0, &ru) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = ReadFile(io_ / "stdout");
  r.err = ReadFile(io_ / "stderr");
  r.max_rss_kib = ru.ru_maxrss;
  return r;
}

std::string BackgroundProcess::out() const { return ReadFile(io_ / "stdout"); }

fs::path ExampleBinary(const std::string& name) { return CairnBinary().parent_path() / name; }

CommandResult Cairn(const std::vector<std::string>& args, const std::map<std::string, std::optional<std::string>>& env) {
  std::vector<std::string> argv{CairnBinary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return Run(argv, env);
}

ServerBackend NewServerBackend() {
  if (!UsingBackends()) return {};
  const std::string reason = BackendsSkipReason();
  if (!reason.empty()) throw std::runtime_error("the backends are not usable: " + reason);
  return {.db_url = NewTestDatabase(*TestDbUrl()),
          .blobs_url = NewTestBlobsUrl(*TestBlobsUrl()),
          .s3_presign = PresignRequested()};
}

ServerProcess::ServerProcess(fs::path data_dir, std::map<std::string, std::optional<std::string>> env,
                             std::optional<ServerBackend> backend, std::vector<std::string> extra_args)
    : data_dir_(std::move(data_dir)),
      env_(std::move(env)),
      backend_(backend.has_value() ? std::move(*backend) : NewServerBackend()),
      extra_args_(std::move(extra_args)) {
  Start();
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Stop();
}

void ServerProcess::Start() {
  fs::create_directories(data_dir_);
  fs::path out = data_dir_.parent_path() / (data_dir_.filename().string() + ".stdout");
  log_path_ = data_dir_.parent_path() / (data_dir_.filename().string() + ".log");
  // Restart on the same port when there was one, so clients keep their URL.
  std::string listen = "127.0.0.1:" + std::to_string(port_);
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::vector<std::string> argv{CairnBinary().string(), "server", "--data", data_dir_.string(), "--listen", listen};
    if (!backend_.db_url.empty()) argv.insert(argv.end(), {"--db", backend_.db_url});
    if (!backend_.blobs_url.empty()) argv.insert(argv.end(), {"--blobs", backend_.blobs_url});
    if (backend_.s3_presign) argv.push_back("--s3-presign");
    // The child truncates `out` only once it runs: remove it first, or the
    // previous server's "listening" line could be read as this one's.
    std::error_code ignored;
    fs::remove(out, ignored);
    argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
    pid_ = Spawn(argv, env_, {}, out, log_path_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string text = ReadFile(out);
      auto pos = text.find("cairn server listening on http");
      if (pos != std::string::npos && text.find('\n', pos) != std::string::npos) {
        std::string url = text.substr(pos + std::strlen("cairn server listening on "));
        url = url.substr(0, url.find('\n'));
        base_url_ = url;
        port_ = std::stoi(url.substr(url.rfind(':') + 1));
        return;
      }
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        break;  // exited (e.g. port still in TIME_WAIT after a restart): try again
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pid_ > 0) {
      Kill();
      throw std::runtime_error("cairn server did not print its listening line; log:\n" + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("cairn server failed to start; log:\n" + log());
}

int ServerProcess::Stop() {
  if (pid_ <= 0) return 0;
  ::kill(pid_, SIGTERM);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string ServerProcess::admin_key() const {
  auto it = env_.find("CAIRN_ADMIN_KEY");
  if (it != env_.end() && it->second) return *it->second;
  std::string key = ReadFile(data_dir_ / "admin.key");
  while (!key.empty() && (key.back() == '\n' || key.back() == ' ')) key.pop_back();
  return key;
}

std::string ServerProcess::log() const { return ReadFile(log_path_); }

std::string ServerProcess::LogOnceItHas(const std::string& text, std::chrono::milliseconds within) const {
  const auto until = std::chrono::steady_clock::now() + within;
  std::string text_now = log();
  while (text_now.find(text) == std::string::npos && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    text_now = log();
  }
  return text_now;
}

std::string CreateKey(const ServerProcess& server, const std::string& entity, bool read_only) {
  std::vector<std::string> args{"--base-url", server.base_url(), "keys", "create", "--entity", entity};
  if (read_only) args.push_back("--read-only");
  auto r = Cairn(args, {{"CAIRN_API_KEY", server.admin_key()}, {"HOME", "/nonexistent"}});
  if (r.exit_code != 0) throw std::runtime_error("keys create failed: " + r.err);
  std::string key = r.out;
  while (!key.empty() && key.back() == '\n') key.pop_back();
  return key;
}

std::string WriteRandomFile(const fs::path& path, std::uint64_t size, unsigned seed) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::mt19937_64 rng(seed);
  internal::Sha256 h;
  std::vector<std::uint64_t> buf(1 << 17);  // 1 MiB
  std::uint64_t left = size;
  while (left > 0) {
    for (auto& w : buf) w = rng();
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, buf.size() * 8));
    out.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(n));
    h.Update(buf.data(), n);
    left -= n;
  }
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
  return h.FinishHex();
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const fs::path& path, const std::string& content) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

int ConnectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

int ListenLoopback(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

fs::path BlobPath(const fs::path& data_dir, const std::string& sha256) {
  return data_dir / "blobs" / sha256.substr(0, 2) / sha256.substr(2, 2) / sha256;
}

void CorruptBlob(const ServerProcess& server, const std::string& sha256, std::uint64_t offset) {
  const std::string& url = server.backend().blobs_url;
  if (url.empty()) {
    const fs::path blob = BlobPath(server.data_dir(), sha256);
    std::fstream f(blob, std::ios::in | std::ios::out | std::ios::binary);
    if (!f || fs::file_size(blob) <= offset) throw std::runtime_error("no blob to corrupt at " + blob.string());
    f.seekg(static_cast<std::streamoff>(offset));
    const char c = static_cast<char>(f.get() ^ 0xff);
    f.seekp(static_cast<std::streamoff>(offset));
    f.put(c);
    return;
  }
  // S3: fetch the object, flip the byte, PUT it back under the same key.
  auto location = internal::ParseS3Url(url);
  auto creds = internal::LoadS3Credentials(location.ok() ? location->credentials_file : "");
  if (!location.ok() || !creds.ok()) throw std::runtime_error("cannot reach the test bucket: " + url);
  internal::S3Client client(*location, *creds);
  const std::string key = (location->prefix.empty() ? "" : location->prefix + "/") + sha256.substr(0, 2) + "/" +
                          sha256.substr(2, 2) + "/" + sha256;
  auto got = client.Send("GET", key, {}, {}, internal::S3Body{});
  if (!got.ok() || got->http_status != 200 || got->body.size() <= offset) {
    throw std::runtime_error("no object to corrupt at " + key);
  }
  std::string bytes = std::move(got->body);
  bytes[offset] = static_cast<char>(bytes[offset] ^ 0xff);
  auto put = client.Send("PUT", key, {}, {}, internal::S3Body{.data = bytes, .sha256 = internal::Sha256Hex(bytes)});
  if (!put.ok() || put->http_status != 200) throw std::runtime_error("cannot rewrite object " + key);
}

}  // namespace cairn::testing
