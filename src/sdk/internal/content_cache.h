// The local content cache (docs/adr/0007-partial-files-and-content-cache.md):
// verified file contents keyed by SHA-256, shared by every restore of the
// same user, limited in bytes with least-recently-used eviction.
//
// Layout under the cache directory:
//   blobs/<sha256>      the bytes, read-only (0444); mtime = last use (LRU)
//   refs/<key>.json     the FileInfo of one pinned (run, name, version): a
//                       version never changes, so a restore of it needs no
//                       metadata request when its bytes are cached too
// Entries are written temp + fsync + rename, so concurrent processes see whole
// entries or none. Thread-safe and process-safe; no lock is held.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cairn/api.h"
#include "cairn/status.h"

namespace cairn::internal {

// Clones `src_fd`'s first `size` bytes into `dst_fd` (both at offset 0): a
// reflink (FICLONE, shared extents copied on write) where the filesystem
// supports it, else copy_file_range, else read/write. Never a hard link: the
// two files stay independent. *reflinked says which happened.
Status CloneFile(int src_fd, int dst_fd, std::uint64_t size, bool* reflinked = nullptr);

// How Insert adds a downloaded file (docs/adr/0014-cache-fill-by-reflink.md).
enum class CacheFill {
  kReflink,  // only by a reflink; where the filesystem has none, nothing is added
  kCopy,     // a reflink, else a full copy (a second write of every byte)
};

class ContentCache {
 public:
  // max_bytes 0: disabled (every call is a no-op / a miss).
  ContentCache(std::filesystem::path dir, std::uint64_t max_bytes, CacheFill fill = CacheFill::kReflink);

  bool enabled() const { return max_bytes_ > 0; }
  const std::filesystem::path& dir() const { return dir_; }

  // When the cache holds `sha256` with `size` bytes, places a copy at
  // `target`, whose directory must exist (PlacingPath(target), clone, fsync,
  // rename, fsync dir), marks it used and returns true. false, touching
  // nothing, on a miss. Entries are trusted: they were verified when inserted
  // and are read-only. The caller holds the target's lock (FetchToTarget):
  // the temp's name is fixed, so a killed placement leaves one known file.
  StatusOr<bool> PlaceAt(const std::string& sha256, std::uint64_t size, const std::filesystem::path& target,
                         bool* reflinked = nullptr);

  // Adds the bytes of `verified_file` (already checked against sha256) unless
  // present, then evicts down to the limit. With `in_batch`, the eviction
  // (which lists and stats every entry) runs only when this process's running
  // total -- from its last Prune plus its own inserts -- passes the limit; the
  // batch must call Prune(limit) once at its end, so that what concurrent
  // processes added is counted too. A file larger than the limit is
  // not cached; with CacheFill::kReflink neither is one that cannot be
  // reflinked into the cache (another filesystem, or one without reflinks).
  Status Insert(const std::string& sha256, const std::filesystem::path& verified_file, bool in_batch = false);
  // Insert for a group of (sha256, verified file) whose data is already
  // durable (PublishGroup): every clone made into a temp without fsync, then
  // one syncfs, the renames and one fsync of the directory -- instead of two
  // syncs per file. Evicts as Insert with `in_batch`. Best effort per file.
  Status InsertMany(const std::vector<std::pair<std::string, std::filesystem::path>>& files);

  struct Entry {
    std::string sha256;
    std::uint64_t size = 0;
    long long last_used_ms = 0;  // unix ms
  };
  // Every entry, least recently used first.
  StatusOr<std::vector<Entry>> List() const;
  // Evicts least recently used entries until at most `max_bytes` remain, and
  // refs whose bytes are gone. Returns the bytes freed.
  StatusOr<std::uint64_t> Prune(std::uint64_t max_bytes);

  // The remembered FileInfo of one pinned version; `key` is RefKey(...).
  std::optional<FileInfo> LookupRef(const std::string& key) const;
  void RememberRef(const std::string& key, const FileInfo& info);  // best effort
  // The temp PlaceAt writes beside `target`: `.<name>.cairn-placing`.
  static std::filesystem::path PlacingPath(const std::filesystem::path& target);
  static std::string RefKey(const std::string& base_url, const std::string& run_path, const std::string& name,
                            std::int64_t version);

 private:
  std::filesystem::path BlobPath(const std::string& sha256) const { return dir_ / "blobs" / sha256; }
  std::filesystem::path dir_;
  std::uint64_t max_bytes_;
  CacheFill fill_;
};

}  // namespace cairn::internal
