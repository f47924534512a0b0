// The `cairn` command's subcommands. Each returns the process exit code of
// docs/spec/restore.md: 0 ok, 1 other failure, 2 invalid input or usage,
// 3 no such file in the run, 4 no such run/entity/project, 5 auth/permission.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/status.h"
#include "common/validate.h"

namespace cairn::internal {
class Client;
}  // namespace cairn::internal

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

// Where a store is, as `cairn server` is told: --data, --db, --blobs (each
// empty: CAIRN_DATA_DIR / CAIRN_DB_URL / CAIRN_BLOBS_URL, then the defaults).
struct StoreFlags {
  std::string data_dir;
  std::string db_url;
  std::string blobs_url;
};

// `db_url` / `blobs_url` empty: CAIRN_DB_URL / CAIRN_BLOBS_URL, else SQLite and local disk.
// Helpers of the command files: a client with the settings' precedence, and
// a run path with its entity resolved (from settings or the key).
StatusOr<std::shared_ptr<internal::Client>> Connect(const Global& g);
StatusOr<internal::RunPath> ResolveRun(internal::Client& client, const std::string& run);

// `cairn server`'s operations flags (docs/operations.md).
struct ServerOpsFlags {
  std::string log_format = "text";    // --log-format text|json
  bool metrics_key_required = false;  // --metrics-key-required
  bool no_metrics = false;            // --no-metrics
  std::string retention_interval;     // --retention-interval 1h; empty or 0: no background pass
};
int Server(const std::string& data_dir, const std::string& listen, int threads, const std::string& db_url,
           const std::string& blobs_url, bool s3_presign, const std::string& tls_cert,
           const std::string& tls_key, const ServerOpsFlags& ops = {});
int Login(const Global& g, std::optional<std::string> key);
// ops_commands.cc: per-entity storage quotas (the admin key sets them).
// "500GiB", "1.5TB", "1048576", "none" (no quota) -> bytes or nullopt.
StatusOr<std::optional<std::uint64_t>> ParseSize(const std::string& text);
// 1536 -> "1.5 KiB", 12 -> "12 B".
std::string HumanBytes(std::uint64_t bytes);
int QuotaSet(const Global& g, const std::string& entity, const std::string& size);
int QuotaShow(const Global& g, const std::string& entity, bool json);
// save_command.cc: uploads files, directories (recursively) and quoted globs
// as one batch, names relative to `base` (default: the working directory);
// one progress bar on a terminal unless `quiet`. Every name is checked before
// the first byte moves; each file commits on its own, whole or not at all.
struct SaveArgs {
  std::vector<std::string> paths;  // files, directories, globs ('ckpt/*')
  std::string run;
  std::string base;
  int parallel = 0;  // files at once; 0: CAIRN_PARALLEL_FILES, else 8
  bool quiet = false;
};
int Save(const Global& g, const SaveArgs& args);
struct RestoreArgs {
  std::string name;  // a name, or a glob ('ckpt/*'): then every matching file
  std::string run;
  std::string root;  // default: the working directory
  bool replace = false;
  std::optional<long long> version;
  bool all_or_nothing = false;
  int parallel = 0;  // files at once; 0: default
  bool quiet = false;
};
int Restore(const Global& g, const RestoreArgs& args);
// A file's versions, oldest first; exit 3 when the run has no such file.
int Versions(const Global& g, const std::string& run, const std::string& name, bool json);
// The local content cache: list it; evict least recently used files down to
// max_bytes (default: the configured limit).
int CacheLs(bool json);
int CachePrune(std::optional<std::uint64_t> max_bytes);
int Ls(const Global& g, const std::string& run, bool json);
int Runs(const Global& g, const std::string& project, bool json);
// Uploads an offline run's recorded files (<dir>/cairn/run-.../offline.jsonl,
// run.json) to the server: creates the run (resume allow), then for each name
// sends the latest recorded file's current content unless the server's latest
// version already has that digest. Idempotent. Prints one line per name.
int Sync(const Global& g, const std::string& run_dir);

// Verifies every stored blob's SHA-256 and that every version's blob is
// there; prints one line per problem (or JSON) and a summary on stderr.
// With `quarantine`, corrupt blobs move to DATA/quarantine/<sha256>. Exit 0
// when clean, 1 when problems were found (or the check failed).
int Fsck(const StoreFlags& flags, bool quarantine, bool json);
// Removes blobs no version refers to that are older than `grace` (a
// duration: 90s, 30m, 1h, 7d); prints each removed digest. Safe while the
// server runs (docs/adr/0010-fsck-and-gc.md).
int Gc(const StoreFlags& flags, bool dry_run, const std::string& grace);

}  // namespace cairn::cli
