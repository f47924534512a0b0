// The shared state behind cairn::Run handles and the process's current run.
// Shared by run.cc (init/save/finish) and restore.cc. Not part of any API.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cairn/run.h"
#include "cairn/settings.h"
#include "common/thread_annotations.h"
#include "common/validate.h"
#include "sdk/internal/client.h"
#include "sdk/internal/heartbeat.h"
#include "sdk/internal/live_watcher.h"
#include "sdk/internal/uploader.h"

namespace cairn {

struct Run::Impl {
  ~Impl();  // stops the watcher, then the uploader; releases the directory lock

  Settings settings;
  // Null in offline and disabled modes.
  std::shared_ptr<internal::Client> client;
  // entity may be empty offline when no entity is configured.
  internal::RunPath run_path;
  // <dir>/cairn/run-<YYYYMMDD_HHMMSS>-<id>/files
  std::filesystem::path files_dir;
  // <dir>/cairn/resume.json when init wrote it; removed by a clean finish().
  std::filesystem::path resume_file;
  bool resumed = false;
  // Offline only: init() created this run here from scratch (a generated id or
  // resume "never", no resume file), so the store cannot hold any of its files
  // yet and restore() of its own files answers "nothing" (docs/spec/restore.md
  // step 5).
  bool fresh_offline = false;
  // An exclusive flock(2) on <dir>/cairn/resume.lock, held from init() until
  // finish() or process death (docs/adr/0005-resume-file-and-locking.md).
  // -1 when none (disabled mode, or released).
  int lock_fd = -1;

  // Online only: the background uploader (kNow, kLive, and everything at
  // finish()).
  std::unique_ptr<internal::Uploader> uploader;
  // Online only: tells the server the run is alive until finish() (or death).
  std::unique_ptr<internal::Heartbeat> heartbeat;

  // save() holds it shared for its whole duration, finish() exclusively, so
  // no save is half-done when the run finishes.
  SharedMutex lifecycle_mu;
  bool finished CAIRN_GUARDED_BY(lifecycle_mu) = false;
  Status finish_status CAIRN_GUARDED_BY(lifecycle_mu);  // what finish() returned

  struct Pending {
    std::filesystem::path local;
    std::string name;
  };
  Mutex pending_mu;
  std::vector<Pending> pending CAIRN_GUARDED_BY(pending_mu);  // kEnd saves; one per name
  std::vector<Pending> live CAIRN_GUARDED_BY(pending_mu);     // kLive saves; one per name
  // Online kLive: created at the first kLive save.
  std::unique_ptr<internal::LiveWatcher> watcher CAIRN_GUARDED_BY(pending_mu);
  // Offline: what save() recorded per name (version 0).
  std::map<std::string, SavedFile> offline_saved CAIRN_GUARDED_BY(pending_mu);
};

namespace internal {

// The current run's state, or null when no run is active.
std::shared_ptr<Run::Impl> CurrentRunImpl();

}  // namespace internal
}  // namespace cairn
