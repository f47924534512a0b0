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

// True when `fd` is still the file at `path` (not renamed away, removed or
// replaced). *size: its size.
bool StillAt(int fd, const fs::path& path, off_t* size) {
  struct stat held {
  }, at_path{};
  *size = 0;
  if (::fstat(fd, &held) != 0 || ::stat(path.c_str(), &at_path) != 0) return false;
  *size = held.st_size;
  return held.st_ino == at_path.st_ino && held.st_dev == at_path.st_dev;
}

// The lock that lets one process at a time fetch a target: an exclusive flock
// on the target's partial `.<basename>.cairn-partial` itself (ADR 0026), the
// file the fetch then writes -- no separate lock file to create and remove.
// After locking, the partial is checked to still be the file at its path
// (same inode): its previous holder renames it onto the target when done, or
// removes it when empty, both while holding it, so a waiter that wakes on a
// file no longer at the path tries again and cannot let two holders in. The
// kernel drops the lock when its holder dies, so it cannot wedge.
// Released (destroyed): a partial that was placed is only closed; one that
// holds no bytes is removed (its sidecar first, if it may have one); one
// with bytes stays for the next restore to resume.
class TargetLock {
 public:
  // Blocks until held, creating the partial when missing. With `try_only`,
  // returns null at once when another holder has it; and with !`create`,
  // null (no error) when there is no partial at all.
  static StatusOr<std::unique_ptr<TargetLock>> Acquire(const fs::path& target, bool try_only = false,
                                                       bool create = true) {
    fs::path path = PartialPath(target);
    while (true) {
      int fd = create ? ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644) : -1;
      const bool made = fd >= 0;
      if (fd < 0 && create && errno != EEXIST) return ErrnoStatus(errno, "create", path);
      if (fd < 0) fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0 && errno == ENOENT) {
        if (!create) return std::unique_ptr<TargetLock>();
        continue;  // removed by its holder between our two opens
      }
      if (fd < 0) return ErrnoStatus(errno, "open", path);
      // First without waiting: a file made here and locked at once has had
      // no other holder that could have left a sidecar in it.
      bool waited = false;
      int rc = ::flock(fd, LOCK_EX | LOCK_NB);
      while (rc != 0 && !try_only && (errno == EWOULDBLOCK || errno == EINTR)) {
        waited = true;
        rc = ::flock(fd, LOCK_EX);
      }
      if (rc != 0) {
        const int err = errno;
        ::close(fd);
        if (try_only && err == EWOULDBLOCK) return std::unique_ptr<TargetLock>();
        return ErrnoStatus(err, "lock", path);
      }
      off_t size = 0;
      if (StillAt(fd, path, &size)) {
        // Made here, locked at once and still empty: no sidecar either
        // (HeldPartial's invariants).
        const bool fresh = made && !waited && size == 0;
        return std::unique_ptr<TargetLock>(
            new TargetLock(HeldPartial{.fd = fd, .fresh = fresh, .sidecar = !fresh}, std::move(path), target));
      }
      ::close(fd);  // placed or removed by its previous holder meanwhile
      if (try_only) return std::unique_ptr<TargetLock>();
    }
  }
  ~TargetLock() {
    struct stat sb {};
    if (!held_.placed && ::fstat(held_.fd, &sb) == 0 && sb.st_size == 0) {
      if (held_.sidecar) ::unlink(SidecarPath(target_).c_str());
      ::unlink(partial_.c_str());  // while still holding it: see Acquire
    }
    ::close(held_.fd);
  }
  TargetLock(const TargetLock&) = delete;
  TargetLock& operator=(const TargetLock&) = delete;

  HeldPartial& held() { return held_; }
  const fs::path& partial() const { return partial_; }

 private:
  TargetLock(HeldPartial held, fs::path partial, const fs::path& target)
      : held_(held), partial_(std::move(partial)), target_(target) {}
  HeldPartial held_;
  fs::path partial_;
  fs::path target_;
};

// Under the target's lock, with the target in place: a cache placement's
// temp that a killed fetcher may have left beside it. (An empty partial goes
// with the lock; a partial with bytes stays: an interrupted `replace`
// resumes from it.)
void RemoveDeadFiles(const fs::path& target) { ::unlink(ContentCache::PlacingPath(target).c_str()); }

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
    HeldPartial& held = p.lock->held();
    if (held.sidecar) ::unlink(SidecarPath(p.target).c_str());  // before its partial goes
    held.sidecar = false;
    if (::rename(p.lock->partial().c_str(), p.target.c_str()) != 0) {
      return ErrnoStatus(errno, "rename onto", p.target);
    }
    held.placed = true;
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
  StatusOr<std::unique_ptr<TargetLock>> lock = TargetLock::Acquire(target, /*try_only=*/true, /*create=*/false);
  if (!lock.ok() || !*lock) return;  // none, or a live holder that cleans up itself
  RemoveDeadFiles(target);
}  // the lock's release removes the partial if it is empty

Status DirSyncs::Create(const fs::path& dir) {
  {
    MutexLock lock(mu_);
    if (created_.count(dir) != 0) return OkStatus();
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return ErrnoStatus(ec.value(), "create directory", dir);
  MutexLock lock(mu_);
  created_.insert(dir);
  return OkStatus();
}

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
  const fs::path parent = ParentOf(target);
  if (dir_syncs != nullptr) {
    if (Status st = dir_syncs->Create(parent); !st.ok()) return st;
  } else {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) return ErrnoStatus(ec.value(), "create directory", parent);
  }
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
  std::error_code ec;
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
    if (Status s = client.Download(run, file, target, transfer, DownloadFinish::kVerifiedPartial, &(*lock)->held());
        !s.ok()) {
      return s;
    }
    group->Add({.lock = std::move(*lock), .target = target, .sha256 = file.sha256, .size = file.size});
    return FetchResult::kDownloaded;
  }
  const DownloadFinish finish = dir_syncs != nullptr ? DownloadFinish::kDirLater : DownloadFinish::kDurable;
  if (Status s = client.Download(run, file, target, transfer, finish, &(*lock)->held()); !s.ok()) return s;
  if (dir_syncs != nullptr) dir_syncs->Add(parent);
  // The cache is an optimisation: a full disk or an unwritable cache
  // directory must not fail a restore that succeeded. By default it is filled
  // only where that costs no second write of the bytes (a reflink).
  (void)cache.Insert(file.sha256, target, /*in_batch=*/dir_syncs != nullptr);
  return FetchResult::kDownloaded;
}

}  // namespace cairn::internal
