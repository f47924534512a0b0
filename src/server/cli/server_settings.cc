#include "server/cli/server_settings.h"

#include "common/env.h"

namespace cairn::server_cli {
namespace fs = std::filesystem;
namespace {

StatusOr<fs::path> ResolveDataDir(const std::string& flag) {
  if (!flag.empty()) return fs::path(flag);
  if (std::string d = internal::EnvString("CAIRN_DATA_DIR"); !d.empty()) return fs::path(d);
  if (std::string x = internal::EnvString("XDG_DATA_HOME"); !x.empty()) return fs::path(x) / "cairn";
  if (std::string h = internal::EnvString("HOME"); !h.empty()) return fs::path(h) / ".local/share/cairn";
  return InvalidArgumentError("no data directory: pass --data DIR or set CAIRN_DATA_DIR");
}

std::string FlagOrEnv(const std::string& flag, const char* var) {
  return !flag.empty() ? flag : internal::EnvString(var);
}

StatusOr<std::chrono::seconds> EnvSeconds(const char* name, std::uint64_t default_s, std::uint64_t max_s) {
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::uint64_t> v, internal::EnvWhole(name, 1, max_s));
  return std::chrono::seconds(v.value_or(default_s));
}

}  // namespace

StatusOr<ServerSettings> ResolveServerSettings(const StoreFlags& flags) {
  ServerSettings s;
  CAIRN_ASSIGN_OR_RETURN(s.data_dir, ResolveDataDir(flags.data_dir));
  s.db_url = FlagOrEnv(flags.db_url, "CAIRN_DB_URL");
  s.blobs_url = FlagOrEnv(flags.blobs_url, "CAIRN_BLOBS_URL");
  CAIRN_ASSIGN_OR_RETURN(s.request_timeout, EnvSeconds("CAIRN_REQUEST_TIMEOUT", 30, 3600));
  CAIRN_ASSIGN_OR_RETURN(s.run_stale_after, EnvSeconds("CAIRN_RUN_STALE_AFTER_S", 60, 86400));
  s.admin_key = internal::EnvString("CAIRN_ADMIN_KEY");
  return s;
}

}  // namespace cairn::server_cli
