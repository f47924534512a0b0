// The `cairn` command's client-side subcommands, over the public API only
// (include/cairn; docs/adr/0024-cli-layers.md). Each returns the process exit
// code of exit_codes.h. The server's commands are in src/server/cli.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/names.h"
#include "cairn/session.h"
#include "cairn/status.h"
#include "cli/exit_codes.h"

namespace cairn::cli {

struct Global {
  std::string base_url;  // --base-url; empty: settings precedence decides
};

// Helpers of the command files: a session with the settings' precedence, and
// a run path with its entity resolved (from settings or the key).
StatusOr<std::shared_ptr<Session>> Connect(const Global& g);
StatusOr<RunPath> ResolveRun(Session& session, const std::string& run);

int Login(const Global& g, std::optional<std::string> key);
// ops_commands.cc: per-entity storage quotas (the admin key sets them).
// "500GiB", "1.5TB", "1048576", "none" (no quota) -> bytes or nullopt.
StatusOr<std::optional<std::uint64_t>> ParseSize(const std::string& text);
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

}  // namespace cairn::cli
