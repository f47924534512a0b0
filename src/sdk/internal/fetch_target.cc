// FetchToTarget and the per-target lock (downloader.h): one fetcher per
// target across threads and processes, the content cache in front of the
// network, and no dot file left beside a target once it is in place.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>
#include <system_error>

#include "common/fs.h"
#include "sdk/internal/client.h"
#include "sdk/internal/content_cache.h"
#include "sdk/internal/downloader.h"

namespace cairn::internal {
namespace {

namespace fs = std::filesystem;

fs::path ParentOf(const fs::path& target) {
  return target.parent_path().empty() ? fs::path(".") : target.parent_path();
}

fs::path LockPath(const fs::path& target) {
  return ParentOf(target) / ("." + target.filename().string() + ".cairn-lock");
}

// True when `fd` is still the file at `path` (not removed and replaced).
bool StillAt(int fd, const fs::path& path) {
  struct stat held {
  }, at_path{};
  return ::fstat(fd, &held) == 0 && ::stat(path.c_str(), &at_path) == 0 && held.st_ino == at_path.st_ino &&
         held.st_dev == at_path.st_dev;
}

// The lock that lets one process at a time fetch a target: an exclusive flock
// on `.<basename>.cairn-lock` beside it, removed on release. After locking,
// the lock file is checked to still be the one at the path (same inode), so a
// concurrent remover cannot let two holders in. The kernel drops the lock when
// its holder dies, so it cannot wedge; the file a dead holder leaves is
// removed by the next holder, or by RemoveLeftovers.
class TargetLock {
 public:
  // Blocks until held. With `try_only`, returns null at once when another
  // holder has it, and null (no error) when there is no lock file at all --
  // unless `create`, then the lock file is made as when blocking.
  static StatusOr<std::unique_ptr<TargetLock>> Acquire(const fs::path& target, bool try_only = false,
                                                       bool create = false) {
    const fs::path path = LockPath(target);
    while (true) {
      int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | (try_only && !create ? 0 : O_CREAT), 0644);
      if (fd < 0 && try_only && errno == ENOENT) return std::unique_ptr<TargetLock>();
      if (fd < 0) return ErrnoStatus(errno, "create lock file", path);
      int rc;
      do {
        rc = ::flock(fd, LOCK_EX | (try_only ? LOCK_NB : 0));
      } while (rc != 0 && errno == EINTR);
      if (rc != 0) {
        const int err = errno;
        ::close(fd);
        if (try_only && err == EWOULDBLOCK) return std::unique_ptr<TargetLock>();
        return ErrnoStatus(err, "lock", path);
      }
      if (StillAt(fd, path)) return std::unique_ptr<TargetLock>(new TargetLock(fd, path));
      ::close(fd);  // removed by its previous holder meanwhile
      if (try_only) return std::unique_ptr<TargetLock>();
    }
  }
  ~TargetLock() {
    ::unlink(path_.c_str());  // while still holding it: see Acquire
    ::close(fd_);
  }
  TargetLock(const TargetLock&) = delete;
  TargetLock& operator=(const TargetLock&) = delete;

 private:
  TargetLock(int fd, fs::path path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  fs::path path_;
};

// Under the target's lock, with the target in place: what a killed fetcher
// may have left beside it. A sidecar without its partial (killed between the
// rename and the sidecar's removal) and a cache placement's temp. A partial
// with its sidecar stays: an interrupted `replace` resumes from it.
void RemoveDeadFiles(const fs::path& target) {
  const fs::path partial = PartialPath(target);
  if (::access(partial.c_str(), F_OK) != 0) ::unlink(SidecarPath(target).c_str());
  ::unlink(ContentCache::PlacingPath(target).c_str());
}

}  // namespace

// A verified, unsynced partial waiting in a PublishGroup, with its lock.
struct PublishGroup::Pending {
  std::unique_ptr<TargetLock> lock;
  fs::path target;
  std::string sha256;
  std::uint64_t size = 0;
};

PublishGroup::PublishGroup(const TransferOptions& transfer, std::size_t max_files, std::uint64_t max_bytes)
    : transfer_(transfer), max_files_(std::max<std::size_t>(max_files, 1)), max_bytes_(max_bytes) {}

PublishGroup::~PublishGroup() = default;

void PublishGroup::Add(Pending pending) {
  std::vector<Pending> full;
  {
    MutexLock lock(mu_);
    pending_bytes_ += pending.size;
    pending_.push_back(std::move(pending));
    if (pending_.size() < max_files_ && pending_bytes_ < max_bytes_) return;
    full.swap(pending_);
    pending_bytes_ = 0;
  }
  Status st = Publish(full);  // outside the lock: other workers go on adding
  MutexLock lock(mu_);
  if (!st.ok() && first_error_.ok()) first_error_ = st;
}

void PublishGroup::Flush() {
  std::vector<Pending> rest;
  {
    MutexLock lock(mu_);
    rest.swap(pending_);
    pending_bytes_ = 0;
  }
  Status st = Publish(rest);
  MutexLock lock(mu_);
  if (!st.ok() && first_error_.ok()) first_error_ = st;
}

Status PublishGroup::Finish() {
  Flush();
  Status dirs = dirs_.SyncAll();
  MutexLock lock(mu_);
  if (!dirs.ok() && first_error_.ok()) first_error_ = dirs;
  return first_error_;
}

Status PublishGroup::Publish(const std::vector<Pending>& group) {
  if (group.empty()) return OkStatus();
  // 1. The data: one syncfs per filesystem the partials are on.
  std::set<fs::path> parents;
  for (const Pending& p : group) parents.insert(ParentOf(p.target));
  std::set<dev_t> synced;
  for (const fs::path& dir : parents) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ErrnoStatus(errno, "open directory", dir);
    struct stat sb {};
    int rc = ::fstat(fd, &sb);
    if (rc == 0 && synced.insert(sb.st_dev).second) rc = ::syncfs(fd);
    const int err = errno;
    ::close(fd);
    if (rc != 0) return ErrnoStatus(err, "syncfs", dir);
  }
  // 2. The names: each partial onto its target; the directories are fsynced by Finish.
  std::vector<std::pair<std::string, fs::path>> placed;
  for (const Pending& p : group) {
    if (::rename(PartialPath(p.target).c_str(), p.target.c_str()) != 0) {
      return ErrnoStatus(errno, "rename onto", p.target);
    }
    ::unlink(SidecarPath(p.target).c_str());
    dirs_.Add(ParentOf(p.target));
    placed.emplace_back(p.sha256, p.target);
  }
  // The cache is fed as in FetchToTarget (best effort), the group at once,
  // still under the targets' locks; the caller releases them (its vector ends).
  ContentCache cache(transfer_.cache_dir, transfer_.cache_max_bytes.value_or(0), CacheFillOf(transfer_));
  (void)cache.InsertMany(placed);
  return OkStatus();
}

CacheFill CacheFillOf(const TransferOptions& transfer) {
  return transfer.cache_fill == "copy" ? CacheFill::kCopy : CacheFill::kReflink;
}

void RemoveLeftovers(const fs::path& target) {
  StatusOr<std::unique_ptr<TargetLock>> lock = TargetLock::Acquire(target, /*try_only=*/true);
  if (!lock.ok() || !*lock) return;  // none, or a live holder that cleans up itself
  RemoveDeadFiles(target);
}  // the lock's release removes the lock file

void DirSyncs::Add(const fs::path& dir) {
  MutexLock lock(mu_);
  dirs_.insert(dir);
}

Status DirSyncs::SyncAll() {
  std::set<fs::path> dirs;
  {
    MutexLock lock(mu_);
    dirs.swap(dirs_);
  }
  Status first;
  for (const fs::path& d : dirs) {
    if (Status st = SyncDir(d); !st.ok() && first.ok()) first = st;
  }
  return first;
}

StatusOr<FetchResult> FetchToTarget(Client& client, const RunPath& run, const FileInfo& file, const fs::path& target,
                                    bool replace, const TransferOptions& transfer, DirSyncs* dir_syncs,
                                    PublishGroup* group) {
  std::error_code ec;
  const fs::path parent = ParentOf(target);
  fs::create_directories(parent, ec);
  if (ec) return ErrnoStatus(ec.value(), "create directory", parent);
  // With a group: a lock held by someone else may wait on a lock this
  // group holds (another process restoring the same files), so the group is
  // published before blocking -- no cycle of waits.
  StatusOr<std::unique_ptr<TargetLock>> lock = std::unique_ptr<TargetLock>();
  if (group != nullptr) lock = TargetLock::Acquire(target, /*try_only=*/true, /*create=*/true);
  if (lock.ok() && !*lock) {
    if (group != nullptr) group->Flush();
    lock = TargetLock::Acquire(target);
  }
  if (!lock.ok()) return lock.status();
  // Under the lock: another thread or process may have just published it.
  auto st = fs::status(target, ec);
  if (fs::is_directory(st)) {
    return FailedPreconditionError("cannot restore " + file.name + " to " + target.string() +
                                   ": a directory is in the way; remove it or choose another root");
  }
  if (!replace && fs::exists(st)) {
    RemoveDeadFiles(target);
    return FetchResult::kAlreadyPresent;
  }

  ContentCache cache(transfer.cache_dir, transfer.cache_max_bytes.value_or(0), CacheFillOf(transfer));
  StatusOr<bool> hit = cache.PlaceAt(file.sha256, file.size, target);
  if (!hit.ok()) return hit.status();
  if (*hit) {
    if (transfer.progress) transfer.progress({file.name, file.size, file.size});
    return FetchResult::kFromCache;
  }
  if (group != nullptr) {
    if (Status s = client.Download(run, file, target, transfer, DownloadFinish::kVerifiedPartial); !s.ok()) return s;
    group->Add({.lock = std::move(*lock), .target = target, .sha256 = file.sha256, .size = file.size});
    return FetchResult::kDownloaded;
  }
  const DownloadFinish finish = dir_syncs != nullptr ? DownloadFinish::kDirLater : DownloadFinish::kDurable;
  if (Status s = client.Download(run, file, target, transfer, finish); !s.ok()) return s;
  if (dir_syncs != nullptr) dir_syncs->Add(parent);
  // The cache is an optimisation: a full disk or an unwritable cache
  // directory must not fail a restore that succeeded. By default it is filled
  // only where that costs no second write of the bytes (a reflink).
  (void)cache.Insert(file.sha256, target, /*in_batch=*/dir_syncs != nullptr);
  return FetchResult::kDownloaded;
}

}  // namespace cairn::internal
