#include "sdk/internal/live_watcher.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/fs.h"

namespace cairn::internal {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::uint32_t kEvents = IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_MODIFY;
constexpr int kMaxDelayFactor = 10;

struct PendingChange {
  std::string name;
  Clock::time_point first;
  Clock::time_point last;
};

}  // namespace

StatusOr<std::unique_ptr<LiveWatcher>> LiveWatcher::Create(OnChange on_change, milliseconds quiet) {
  int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (in < 0) return ErrnoStatus(errno, "inotify_init1 (for SavePolicy::kLive)", "/proc/sys/fs/inotify");
  int wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    Status st = ErrnoStatus(errno, "eventfd (for SavePolicy::kLive)", "/dev/null");
    ::close(in);
    return st;
  }
  std::unique_ptr<LiveWatcher> w(new LiveWatcher(in, wake, std::move(on_change), quiet));
  w->thread_ = std::thread([p = w.get()] { p->Loop(); });
  return w;
}

LiveWatcher::LiveWatcher(int inotify_fd, int wake_fd, OnChange on_change, milliseconds quiet)
    : inotify_fd_(inotify_fd), wake_fd_(wake_fd), on_change_(std::move(on_change)), quiet_(quiet) {}

LiveWatcher::~LiveWatcher() {
  Stop();
  ::close(inotify_fd_);
  ::close(wake_fd_);
}

Status LiveWatcher::Watch(const std::string& name, const std::filesystem::path& local) {
  const std::filesystem::path dir = local.parent_path();
  int wd = ::inotify_add_watch(inotify_fd_, dir.c_str(), kEvents | IN_ONLYDIR);
  if (wd < 0) {
    if (errno == ENOSPC) {
      return ResourceExhaustedError("cannot watch " + dir.string() +
                                    " for SavePolicy::kLive: the inotify watch limit is reached; raise "
                                    "fs.inotify.max_user_watches or use SavePolicy::kNow");
    }
    return ErrnoStatus(errno, "watch (SavePolicy::kLive)", dir);
  }
  MutexLock lock(mu_);
  dirs_[wd] = dir;  // the same directory gives the same descriptor
  files_[local] = name;
  return OkStatus();
}

void LiveWatcher::Stop() {
  std::call_once(stopped_, [this] {
    std::uint64_t one = 1;
    while (::write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
    }
    if (thread_.joinable()) {
      if (thread_.get_id() == std::this_thread::get_id()) {
        thread_.detach();
      } else {
        thread_.join();
      }
    }
  });
}

void LiveWatcher::Loop() {
  std::map<std::filesystem::path, PendingChange> pending;
  alignas(inotify_event) char buf[16 * 1024];
  const milliseconds max_delay = quiet_ * kMaxDelayFactor;
  while (true) {
    // Sleep until the next change settles, or an event, or Stop().
    int timeout_ms = -1;
    const Clock::time_point now = Clock::now();
    for (const auto& [path, change] : pending) {
      Clock::time_point due = std::min(change.last + quiet_, change.first + max_delay);
      long long ms = std::chrono::duration_cast<milliseconds>(due - now).count() + 1;
      int t = static_cast<int>(std::max<long long>(0, ms));
      timeout_ms = timeout_ms < 0 ? t : std::min(timeout_ms, t);
    }
    pollfd fds[2] = {{inotify_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int rc = ::poll(fds, 2, timeout_ms);
    if (rc < 0 && errno != EINTR) return;
    if (fds[1].revents != 0) return;  // Stop()
    if (rc > 0 && (fds[0].revents & POLLIN) != 0) {
      while (true) {
        ssize_t n = ::read(inotify_fd_, buf, sizeof buf);
        if (n <= 0) break;  // EAGAIN: drained
        const Clock::time_point at = Clock::now();
        MutexLock lock(mu_);
        for (char* p = buf; p < buf + n;) {
          auto* ev = reinterpret_cast<inotify_event*>(p);
          p += sizeof(inotify_event) + ev->len;
          if (ev->len == 0) continue;  // about the directory itself
          auto dir = dirs_.find(ev->wd);
          if (dir == dirs_.end()) continue;
          std::filesystem::path file = dir->second / ev->name;
          auto watched = files_.find(file);
          if (watched == files_.end()) continue;  // e.g. the writer's temp file
          auto [it, added] = pending.try_emplace(file, PendingChange{watched->second, at, at});
          if (!added) it->second.last = at;
        }
      }
    }
    // Report what has settled (outside the lock: the callback may block on
    // the uploader's backpressure).
    const Clock::time_point after = Clock::now();
    for (auto it = pending.begin(); it != pending.end();) {
      if (after - it->second.last >= quiet_ || after - it->second.first >= max_delay) {
        on_change_(it->second.name, it->first);
        it = pending.erase(it);
      } else {
        ++it;
      }
    }
  }
}

}  // namespace cairn::internal
