// ResolveTransferOptions and the names of a target's partial and sidecar
// (downloader.h).
#include <filesystem>

#include "sdk/internal/downloader.h"
#include "sdk/internal/env.h"

namespace cairn::internal {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1 << 20;

fs::path ParentOf(const fs::path& target) { return target.parent_path().empty() ? fs::path(".") : target.parent_path(); }

}  // namespace

StatusOr<TransferOptions> ResolveTransferOptions(const TransferOptions& given) {
  TransferOptions t = given;
  struct Field {
    std::uint64_t* value;
    const char* var;
    std::uint64_t fallback;
  };
  std::uint64_t parts = given.parallel_parts > 0 ? static_cast<std::uint64_t>(given.parallel_parts) : 0;
  for (Field f : {Field{&t.parallel_min_bytes, "CAIRN_PARALLEL_MIN_BYTES", 64 * kMiB},
                  Field{&t.part_bytes, "CAIRN_PART_BYTES", 16 * kMiB}, Field{&parts, "CAIRN_PARALLEL_PARTS", 1},
                  Field{&t.max_recv_bytes_per_sec, "CAIRN_MAX_RECV_BYTES_PER_SEC", 0}}) {
    if (*f.value != 0) continue;
    StatusOr<std::optional<std::uint64_t>> env = EnvWhole(f.var, 1);
    if (!env.ok()) return env.status();
    *f.value = env->value_or(f.fallback);
  }
  if (parts > 64) return InvalidArgumentError("parallel_parts (CAIRN_PARALLEL_PARTS) must be 1 to 64");
  t.parallel_parts = static_cast<int>(parts);
  if (t.part_bytes < kMiB) return InvalidArgumentError("part_bytes (CAIRN_PART_BYTES) must be at least 1 MiB");
  if (!t.cache_max_bytes) {
    StatusOr<std::optional<std::uint64_t>> env = EnvWhole("CAIRN_CACHE_MAX_BYTES", 0);
    if (!env.ok()) return env.status();
    t.cache_max_bytes = env->value_or(20 * 1024 * kMiB);
  }
  if (t.cache_fill.empty()) {
    const std::string fill = EnvString("CAIRN_CACHE_FILL");
    t.cache_fill = !fill.empty() ? fill : "reflink";
  }
  if (t.cache_fill != "reflink" && t.cache_fill != "copy") {
    return InvalidArgumentError("invalid cache_fill (CAIRN_CACHE_FILL) '" + t.cache_fill +
                                "': use reflink (fill the cache only where it costs no second write) or copy");
  }
  if (t.cache_dir.empty()) {
    const std::string dir = EnvString("CAIRN_CACHE_DIR");
    const std::string xdg = EnvString("XDG_CACHE_HOME");
    const std::string home = EnvString("HOME");
    if (!dir.empty()) {
      t.cache_dir = dir;
    } else if (!xdg.empty()) {
      t.cache_dir = (fs::path(xdg) / "cairn").string();
    } else if (!home.empty()) {
      t.cache_dir = (fs::path(home) / ".cache/cairn").string();
    } else {
      t.cache_max_bytes = 0;  // nowhere to put it: no cache
    }
  }
  return t;
}

fs::path PartialPath(const fs::path& target) {
  return ParentOf(target) / ("." + target.filename().string() + ".cairn-partial");
}

fs::path SidecarPath(const fs::path& target) { return fs::path(PartialPath(target)).concat(".json"); }

}  // namespace cairn::internal
