// The `cairn` command's subcommands. Each returns the process exit code of
// docs/spec/restore.md: 0 ok, 1 other failure, 2 invalid input or usage,
// 3 no such file in the run, 4 no such run/entity/project, 5 auth/permission.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cairn/status.h"

namespace cairn::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNoFile = 3;
inline constexpr int kExitNoRun = 4;
inline constexpr int kExitAuth = 5;

// Prints "cairn: <message>" and a hint to stderr; returns the exit code for `status`.
int Fail(const Status& status);

struct Global {
  std::string base_url;  // --base-url; empty: settings precedence decides
};

// `db_url` / `blobs_url` empty: CAIRN_DB_URL / CAIRN_BLOBS_URL, else SQLite and local disk.
int Server(const std::string& data_dir, const std::string& listen, int threads, const std::string& db_url,
           const std::string& blobs_url, bool s3_presign, const std::string& tls_cert,
           const std::string& tls_key);
int Login(const Global& g, std::optional<std::string> key);
int KeysCreate(const Global& g, const std::string& entity, bool read_only);
int Save(const Global& g, const std::vector<std::string>& files, const std::string& run, const std::string& base);
int Restore(const Global& g, const std::string& name, const std::string& run, const std::string& root, bool replace,
            std::optional<long long> version);
int Ls(const Global& g, const std::string& run, bool json);
int Runs(const Global& g, const std::string& project, bool json);
// Uploads an offline run's recorded files (<dir>/cairn/run-.../offline.jsonl,
// run.json) to the server: creates the run (resume allow), then for each name
// sends the latest recorded file's current content unless the server's latest
// version already has that digest. Idempotent. Prints one line per name.
int Sync(const Global& g, const std::string& run_dir);

}  // namespace cairn::cli
