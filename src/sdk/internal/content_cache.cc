#include "sdk/internal/content_cache.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <system_error>
#include <vector>

#include "common/fs.h"
#include "common/sha256.h"
#include "common/thread_annotations.h"

namespace cairn::internal {
namespace {

namespace fs = std::filesystem;

// An fd closed on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

long long MtimeMs(const struct stat& sb) {
  return static_cast<long long>(sb.st_mtim.tv_sec) * 1000 + sb.st_mtim.tv_nsec / 1000000;
}

// Marks a cache file as used now (the LRU clock is the mtime: atime is often
// not updated, relatime/noatime).
void Touch(const fs::path& path) { ::utimensat(AT_FDCWD, path.c_str(), nullptr, 0); }

// Clones src (size bytes) into `tmp` (created, or truncated), fsyncs it and
// renames it over `dest`. The temp is removed on failure. With
// `reflink_only`, a filesystem that cannot reflink makes it return false and
// write nothing.
// With `publish` false (InsertMany) it stops after the clone and chmod:
// no fsync, no rename; the caller syncs and renames the temp.
StatusOr<bool> CloneInto(int src_fd, std::uint64_t size, const fs::path& tmp, const fs::path& dest, int mode,
                         bool reflink_only, bool* reflinked, bool publish = true) {
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, "create", tmp);
  Status st;
  if (reflink_only) {
    if (::ioctl(fd, FICLONE, src_fd) != 0) {
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    if (reflinked != nullptr) *reflinked = true;
  } else {
    st = CloneFile(src_fd, fd, size, reflinked);
  }
  if (st.ok() && ::fchmod(fd, static_cast<mode_t>(mode)) != 0) st = ErrnoStatus(errno, "chmod", tmp);
  if (st.ok() && publish && ::fsync(fd) != 0) st = ErrnoStatus(errno, "fsync", tmp);
  if (::close(fd) != 0 && st.ok()) st = ErrnoStatus(errno, "close", tmp);
  if (st.ok() && publish && ::rename(tmp.c_str(), dest.c_str()) != 0) st = ErrnoStatus(errno, "rename onto", dest);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (!publish) return true;
  if (Status synced = SyncDir(tmp.parent_path()); !synced.ok()) return synced;
  return true;
}

// The process's record of (filesystem, cache directory) pairs where FICLONE
// failed (a few entries at most), and TrackTotal's estimates.
Mutex g_no_reflink_mu;
std::set<std::string> g_no_reflink CAIRN_GUARDED_BY(g_no_reflink_mu);
Mutex g_totals_mu;
std::map<std::string, std::uint64_t> g_totals CAIRN_GUARDED_BY(g_totals_mu);

// `add` records `key` in g_no_reflink. Returns whether `key` is recorded.
bool KnownNoReflink(const std::string& key, bool add) {
  MutexLock lock(g_no_reflink_mu);
  if (add) g_no_reflink.insert(key);
  return g_no_reflink.count(key) > 0;
}

// Per cache directory: the bytes it held after this process's last Prune,
// plus what the process added since (`set`: replace it by `add`). A batch's
// Insert that keeps this under the limit skips the Prune, which lists and
// stats every entry: for thousands of small files that was quadratic.
// Returns the new estimate, or nullopt before the process's first Prune.
std::optional<std::uint64_t> TrackTotal(const std::string& dir, std::optional<std::uint64_t> add, bool set) {
  MutexLock lock(g_totals_mu);
  auto it = g_totals.find(dir);
  if (set) {
    g_totals[dir] = add.value_or(0);
    return add;
  }
  if (it == g_totals.end()) return std::nullopt;
  return it->second += add.value_or(0);
}

fs::path ParentOf(const fs::path& p) { return p.parent_path().empty() ? fs::path(".") : p.parent_path(); }

}  // namespace

Status CloneFile(int src_fd, int dst_fd, std::uint64_t size, bool* reflinked) {
  if (reflinked != nullptr) *reflinked = false;
  if (::ioctl(dst_fd, FICLONE, src_fd) == 0) {
    if (reflinked != nullptr) *reflinked = true;
    return OkStatus();
  }
  // No reflink here (ext4, tmpfs, across filesystems): an in-kernel copy.
  std::uint64_t done = 0;
  while (done < size) {
    loff_t in = static_cast<loff_t>(done), out = static_cast<loff_t>(done);
    ssize_t n = ::copy_file_range(src_fd, &in, dst_fd, &out, size - done, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // unsupported or short: finish with read/write
    done += static_cast<std::uint64_t>(n);
  }
  std::vector<char> buf(done < size ? (1u << 20) : 0);
  while (done < size) {
    ssize_t n = ::pread(src_fd, buf.data(), std::min<std::uint64_t>(buf.size(), size - done), static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoStatus(errno, "read", "(cache copy source)");
    if (n == 0) return DataLossError("the file being copied is shorter than its " + std::to_string(size) + " bytes");
    for (ssize_t off = 0; off < n;) {
      ssize_t w = ::pwrite(dst_fd, buf.data() + off, static_cast<std::size_t>(n - off), static_cast<off_t>(done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return ErrnoStatus(errno, "write", "(cache copy target)");
      off += w;
      done += static_cast<std::uint64_t>(w);
    }
  }
  return OkStatus();
}

ContentCache::ContentCache(fs::path dir, std::uint64_t max_bytes, CacheFill fill)
    : dir_(std::move(dir)), max_bytes_(max_bytes), fill_(fill) {}

fs::path ContentCache::PlacingPath(const fs::path& target) {
  return ParentOf(target) / ("." + target.filename().string() + ".cairn-placing");
}

StatusOr<bool> ContentCache::PlaceAt(const std::string& sha256, std::uint64_t size, const fs::path& target,
                                     bool* reflinked) {
  if (!enabled() || !IsSha256Hex(sha256)) return false;
  const fs::path blob = BlobPath(sha256);
  Fd src{::open(blob.c_str(), O_RDONLY | O_CLOEXEC)};
  if (src.fd < 0) return false;  // a miss (or evicted meanwhile)
  struct stat sb {};
  if (::fstat(src.fd, &sb) != 0 || static_cast<std::uint64_t>(sb.st_size) != size) return false;
  StatusOr<bool> placed = CloneInto(src.fd, size, PlacingPath(target), target, 0644, false, reflinked);
  if (!placed.ok()) return placed.status();
  Touch(blob);
  return true;
}

Status ContentCache::Insert(const std::string& sha256, const fs::path& verified_file, bool in_batch) {
  if (!enabled() || !IsSha256Hex(sha256)) return OkStatus();
  const fs::path blob = BlobPath(sha256);
  if (::access(blob.c_str(), F_OK) == 0) {
    Touch(blob);
    return OkStatus();
  }
  Fd src{::open(verified_file.c_str(), O_RDONLY | O_CLOEXEC)};
  if (src.fd < 0) return ErrnoStatus(errno, "open", verified_file);
  struct stat sb {};
  if (::fstat(src.fd, &sb) != 0) return ErrnoStatus(errno, "stat", verified_file);
  const auto size = static_cast<std::uint64_t>(sb.st_size);
  if (size > max_bytes_) return OkStatus();
  // Where a reflink failed once (per filesystem of the file and cache
  // directory), a reflink-only fill does not try again in this process:
  // for many small files the attempt cost more syscalls than the download.
  const std::string no_reflink_key = std::to_string(sb.st_dev) + ":" + dir_.string();
  if (fill_ == CacheFill::kReflink && KnownNoReflink(no_reflink_key, false)) return OkStatus();
  std::error_code ec;
  fs::create_directories(blob.parent_path(), ec);
  if (ec) return ErrnoStatus(ec.value(), "create directory", blob.parent_path());
  const fs::path tmp = blob.parent_path() / ("." + sha256 + ".cairn-tmp-" + RandomSuffix());
  StatusOr<bool> added = CloneInto(src.fd, size, tmp, blob, 0444, fill_ == CacheFill::kReflink, nullptr);
  if (added.ok() && !*added) KnownNoReflink(no_reflink_key, true);
  if (!added.ok() || !*added) return added.status();  // not added: no reflink here
  const std::optional<std::uint64_t> estimate = TrackTotal(dir_.string(), size, /*set=*/false);
  if (in_batch && estimate && *estimate <= max_bytes_) return OkStatus();
  // Evict others first: the entry just added is the most recently used.
  StatusOr<std::uint64_t> freed = Prune(max_bytes_);
  return freed.ok() ? OkStatus() : freed.status();
}

Status ContentCache::InsertMany(const std::vector<std::pair<std::string, fs::path>>& files) {
  if (!enabled()) return OkStatus();
  struct Made {
    fs::path tmp, blob;
    std::uint64_t size;
  };
  std::vector<Made> made;
  for (const auto& [sha256, verified_file] : files) {
    if (!IsSha256Hex(sha256)) continue;
    const fs::path blob = BlobPath(sha256);
    if (::access(blob.c_str(), F_OK) == 0) {
      Touch(blob);
      continue;
    }
    Fd src{::open(verified_file.c_str(), O_RDONLY | O_CLOEXEC)};
    struct stat sb {};
    if (src.fd < 0 || ::fstat(src.fd, &sb) != 0 || static_cast<std::uint64_t>(sb.st_size) > max_bytes_) continue;
    const std::string no_reflink_key = std::to_string(sb.st_dev) + ":" + dir_.string();
    if (fill_ == CacheFill::kReflink && KnownNoReflink(no_reflink_key, false)) continue;
    std::error_code ec;
    fs::create_directories(blob.parent_path(), ec);
    const fs::path tmp = blob.parent_path() / ("." + sha256 + ".cairn-tmp-" + RandomSuffix());
    const auto size = static_cast<std::uint64_t>(sb.st_size);
    StatusOr<bool> cloned = CloneInto(src.fd, size, tmp, blob, 0444, fill_ == CacheFill::kReflink, nullptr,
                                      /*publish=*/false);
    if (cloned.ok() && !*cloned) KnownNoReflink(no_reflink_key, true);
    if (cloned.ok() && *cloned) made.push_back({tmp, blob, size});
  }
  if (made.empty()) return OkStatus();
  // The clones' data (a copy's bytes; a reflink's are already on disk), then
  // their names, then the directory.
  const fs::path blobs = made.front().blob.parent_path();
  Fd dir{::open(blobs.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  Status st = dir.fd >= 0 && ::syncfs(dir.fd) == 0 ? OkStatus() : ErrnoStatus(errno, "syncfs", blobs);
  std::uint64_t added = 0;
  for (const Made& m : made) {
    if (st.ok() && ::rename(m.tmp.c_str(), m.blob.c_str()) == 0) {
      added += m.size;
    } else {
      ::unlink(m.tmp.c_str());
    }
  }
  if (!st.ok()) return st;
  if (Status synced = SyncDir(blobs); !synced.ok()) return synced;
  const std::optional<std::uint64_t> estimate = TrackTotal(dir_.string(), added, /*set=*/false);
  if (estimate && *estimate <= max_bytes_) return OkStatus();
  StatusOr<std::uint64_t> freed = Prune(max_bytes_);
  return freed.ok() ? OkStatus() : freed.status();
}

StatusOr<std::vector<ContentCache::Entry>> ContentCache::List() const {
  std::vector<Entry> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir_ / "blobs", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    struct stat sb {};
    if (!IsSha256Hex(name) || ::stat(it->path().c_str(), &sb) != 0) continue;  // temps, or just evicted
    out.push_back({name, static_cast<std::uint64_t>(sb.st_size), MtimeMs(sb)});
  }
  if (ec && ec != std::errc::no_such_file_or_directory) return ErrnoStatus(ec.value(), "list", dir_ / "blobs");
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    return a.last_used_ms != b.last_used_ms ? a.last_used_ms < b.last_used_ms : a.sha256 < b.sha256;
  });
  return out;
}

StatusOr<std::uint64_t> ContentCache::Prune(std::uint64_t max_bytes) {
  StatusOr<std::vector<Entry>> entries = List();
  if (!entries.ok()) return entries.status();
  std::uint64_t total = 0;
  for (const Entry& e : *entries) total += e.size;
  std::uint64_t freed = 0;
  for (const Entry& e : *entries) {
    if (total <= max_bytes) break;
    // Another process may have evicted it already, or still be cloning from
    // it: an open fd keeps the bytes readable until it closes.
    if (::unlink(BlobPath(e.sha256).c_str()) == 0) freed += e.size;
    total -= e.size;
  }
  TrackTotal(dir_.string(), total, /*set=*/true);
  // Refs whose bytes are gone would only cost a lookup: drop them.
  std::error_code ec;
  for (fs::directory_iterator it(dir_ / "refs", ec), end; !ec && it != end; it.increment(ec)) {
    std::optional<FileInfo> info = LookupRef(it->path().stem().string());
    if (!info || ::access(BlobPath(info->sha256).c_str(), F_OK) != 0) ::unlink(it->path().c_str());
  }
  return freed;
}

std::string ContentCache::RefKey(const std::string& base_url, const std::string& run_path, const std::string& name,
                                 std::int64_t version) {
  return Sha256Hex(base_url + "\n" + run_path + "\n" + name + "\n" + std::to_string(version));
}

std::optional<FileInfo> ContentCache::LookupRef(const std::string& key) const {
  if (!enabled()) return std::nullopt;
  StatusOr<std::string> text = ReadSmallFile(dir_ / "refs" / (key + ".json"));
  if (!text.ok()) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  try {
    FileInfo info{.name = j.at("name").get<std::string>(),
                  .size = j.at("size").get<std::uint64_t>(),
                  .sha256 = j.at("sha256").get<std::string>(),
                  .version = j.at("version").get<std::int64_t>(),
                  .updated_at = j.at("updated_at").get<std::string>()};
    if (!IsSha256Hex(info.sha256)) return std::nullopt;
    return info;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

void ContentCache::RememberRef(const std::string& key, const FileInfo& info) {
  if (!enabled()) return;
  std::error_code ec;
  fs::create_directories(dir_ / "refs", ec);
  nlohmann::json j{{"name", info.name},
                   {"size", info.size},
                   {"sha256", info.sha256},
                   {"version", info.version},
                   {"updated_at", info.updated_at}};
  (void)WriteFileAtomic(dir_ / "refs" / (key + ".json"), j.dump());
}

}  // namespace cairn::internal
