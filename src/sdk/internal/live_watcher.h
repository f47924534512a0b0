// Watches the files saved with SavePolicy::kLive and reports each change once
// it has settled. Linux inotify on the files' directories (not the files: a
// checkpoint writer replaces the file by rename, which a watch on the old
// inode would miss): IN_CLOSE_WRITE, IN_MOVED_TO (rename-replace), IN_CREATE
// and IN_MODIFY. A change is reported after `quiet` without further events on
// that file (CAIRN_LIVE_DEBOUNCE_MS, default 300), or after 10 x quiet of
// continuous writing, so a file that never stops changing is still uploaded
// (the uploader never commits mixed bytes: it sends again).
//
// One thread per watcher, woken through an eventfd to stop. Thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "cairn/status.h"
#include "common/thread_annotations.h"

namespace cairn::internal {

class LiveWatcher {
 public:
  // Called on the watcher thread with the file's name in the run and its path.
  using OnChange = std::function<void(const std::string& name, const std::filesystem::path& local)>;

  // Starts the thread. kResourceExhausted/kInternal when inotify is unavailable.
  static StatusOr<std::unique_ptr<LiveWatcher>> Create(OnChange on_change, std::chrono::milliseconds quiet);
  ~LiveWatcher();  // Stop()
  LiveWatcher(const LiveWatcher&) = delete;
  LiveWatcher& operator=(const LiveWatcher&) = delete;

  // Starts watching `local` (absolute) as `name`. Idempotent; a later call for
  // the same path replaces the name.
  Status Watch(const std::string& name, const std::filesystem::path& local);

  // Stops and joins the thread; pending (not yet settled) changes are dropped
  // (finish() uploads every live file anyway). Idempotent.
  void Stop();

 private:
  LiveWatcher(int inotify_fd, int wake_fd, OnChange on_change, std::chrono::milliseconds quiet);
  void Loop();

  const int inotify_fd_;
  const int wake_fd_;
  const OnChange on_change_;
  const std::chrono::milliseconds quiet_;

  Mutex mu_;
  std::map<int, std::filesystem::path> dirs_ CAIRN_GUARDED_BY(mu_);           // watch descriptor -> directory
  std::map<std::filesystem::path, std::string> files_ CAIRN_GUARDED_BY(mu_);  // watched path -> name
  std::thread thread_;
  std::once_flag stopped_;
};

}  // namespace cairn::internal
