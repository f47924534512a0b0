// The download engine under restore(), restore_many() and
// StoredFile::download() (docs/transfers.md; the partial-file format and the
// cache are docs/adr/0007-partial-files-and-content-cache.md).
//
//   FetchToTarget: lock the target (flock on its partial, dies with its
//   holder; docs/adr/0026-partial-is-the-lock.md) -> present?
//   -> content cache hit? -> Client::Download -> add to the cache.
//   Client::Download: `.<name>.cairn-partial` + `.json` sidecar beside the
//   target; missing ranges fetched in parallel parts with pwrite; the
//   contiguous prefix hashed as it grows; fsync + rename once the digest
//   matches. An interrupted download keeps the partial for the next call.
#pragma once

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "cairn/api.h"
#include "cairn/status.h"
#include "cairn/transfer.h"
#include "common/thread_annotations.h"
#include "common/validate.h"
#include "sdk/internal/content_cache.h"

namespace cairn::internal {

class Client;

// Fills every field of `given` that is not set from CAIRN_* variables, then
// defaults (transfer.h). kInvalidArgument names a malformed variable.
StatusOr<TransferOptions> ResolveTransferOptions(const TransferOptions& given);

// Where a download of `target` keeps its bytes until verified, and what
// identifies them.
std::filesystem::path PartialPath(const std::filesystem::path& target);
std::filesystem::path SidecarPath(const std::filesystem::path& target);

// What FetchToTarget did.
enum class FetchResult {
  kDownloaded,      // fetched from the store, verified and published
  kFromCache,       // placed from the local content cache: no bytes over the network
  kAlreadyPresent,  // replace was false and the target existed once the lock was held
};

// Removes what a killed fetch may have left beside `target` once the target
// is in place: an empty partial (with its sidecar) and a cache placement's
// temp -- only when no live process holds the target's lock (flock on the
// partial, non-blocking; nothing when there is no partial). A partial with
// bytes stays: an interrupted `replace` resumes from it. Called where a restore finds the target present and
// skips FetchToTarget. Best effort: never fails, never blocks.
void RemoveLeftovers(const std::filesystem::path& target);

// The resolved transfer's cache fill (TransferOptions::cache_fill).
CacheFill CacheFillOf(const TransferOptions& transfer);

// Creates target's parent directories and takes an exclusive lock for
// `target` (flock(2) on its partial `.<basename>.cairn-partial`, created if
// missing; docs/adr/0026-partial-is-the-lock.md) so that concurrent fetches of one target from threads or processes run one
// at a time and the later ones find the file present (or in the cache). Then,
// unless `replace` is false and the target exists: the cache, else
// client.Download() and the cache is fed. A directory at the target is
// kFailedPrecondition. `transfer` must be resolved (ResolveTransferOptions).
// Implemented in fetch_target.cc.
//
// `dir_syncs` (optional, for a batch): a download's directory is not fsynced
// but added there; the caller fsyncs each once (DirSyncs::SyncAll) before it
// reports the batch durable -- one fsync per directory instead of per file.
// The cache is then filled as in a batch (ContentCache::Insert): the caller
// prunes it once at the end.
class DirSyncs {
 public:
  // create_directories(dir), once per directory of the batch.
  [[nodiscard]] Status Create(const std::filesystem::path& dir);
  void Add(const std::filesystem::path& dir);
  // fsyncs every directory added; the first error.
  [[nodiscard]] Status SyncAll();

 private:
  Mutex mu_;
  std::set<std::filesystem::path> dirs_ CAIRN_GUARDED_BY(mu_);
  std::set<std::filesystem::path> created_ CAIRN_GUARDED_BY(mu_);
};

// Grouped durability for a restore of many files (docs/adr/0025-grouped-
// restore-durability.md). FetchToTarget given a group downloads and verifies
// each file into its partial without fsync and, still holding the target's
// lock, adds it here. Every `max_files` files (or `max_bytes`) and at Finish
// the group publishes what it holds, in this order: one syncfs(2) per
// filesystem (the data of every partial), each partial's sidecar (if any)
// removed and the partial renamed onto its target, then the group's files added to the cache
// (ContentCache::InsertMany) and their locks released; Finish then
// fsyncs each directory once (the names). So a file only ever appears under
// its name whole, verified and on disk; a process killed before a group's
// renames leaves partials (each its own lock) that the next restore resumes
// or replaces. Thread-safe: workers add concurrently, and the
// worker whose addition fills a group publishes it while the others go on.
class PublishGroup {
 public:
  struct Pending;  // fetch_target.cc
  PublishGroup(const TransferOptions& transfer, std::size_t max_files, std::uint64_t max_bytes);
  ~PublishGroup();  // releases the locks of what was never published (their partials stay)
  PublishGroup(const PublishGroup&) = delete;
  PublishGroup& operator=(const PublishGroup&) = delete;

  // Takes a verified, unsynced partial of `file` beside `target` and the
  // target's lock; publishes the group when it is full. Called by FetchToTarget.
  void Add(Pending pending);
  // Publishes what is pending now (an error is kept for Finish). Called
  // before a worker blocks on a lock or leaves, so that what this group
  // holds never waits on what that worker waits for.
  void Flush();
  // Publishes what is left and fsyncs every directory. The first error of
  // any group (then the files of that group were not placed).
  [[nodiscard]] Status Finish();

 private:
  Status Publish(const std::vector<Pending>& group);

  const TransferOptions& transfer_;
  const std::size_t max_files_;
  const std::uint64_t max_bytes_;
  DirSyncs dirs_;
  Mutex mu_;
  std::vector<Pending> pending_ CAIRN_GUARDED_BY(mu_);
  std::uint64_t pending_bytes_ CAIRN_GUARDED_BY(mu_) = 0;
  Status first_error_ CAIRN_GUARDED_BY(mu_);
};

// With `group`, a download is published by the group (above): kDownloaded
// then means verified and handed to it, placed once group->Finish() is OK.
StatusOr<FetchResult> FetchToTarget(Client& client, const RunPath& run, const FileInfo& file,
                                    const std::filesystem::path& target, bool replace, const TransferOptions& transfer,
                                    DirSyncs* dir_syncs = nullptr, PublishGroup* group = nullptr);

}  // namespace cairn::internal
