// The download engine under restore(), restore_many() and
// StoredFile::download() (docs/transfers.md; the partial-file format and the
// cache are docs/adr/0007-partial-files-and-content-cache.md).
//
//   FetchToTarget: lock the target (flock, dies with its holder) -> present?
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
// is in place: its `.cairn-lock`, a sidecar without a partial, a cache
// placement's temp -- only when no live process holds the target's lock
// (flock, non-blocking). Called where a restore finds the target present and
// skips FetchToTarget. Best effort: never fails, never blocks.
void RemoveLeftovers(const std::filesystem::path& target);

// The resolved transfer's cache fill (TransferOptions::cache_fill).
CacheFill CacheFillOf(const TransferOptions& transfer);

// Creates target's parent directories and takes an exclusive lock for
// `target` (`.<basename>.cairn-lock` beside it, flock(2); removed afterwards)
// so that concurrent fetches of one target from threads or processes run one
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
  void Add(const std::filesystem::path& dir);
  // fsyncs every directory added; the first error.
  [[nodiscard]] Status SyncAll();

 private:
  Mutex mu_;
  std::set<std::filesystem::path> dirs_ CAIRN_GUARDED_BY(mu_);
};
StatusOr<FetchResult> FetchToTarget(Client& client, const RunPath& run, const FileInfo& file,
                                    const std::filesystem::path& target, bool replace, const TransferOptions& transfer,
                                    DirSyncs* dir_syncs = nullptr);

}  // namespace cairn::internal
