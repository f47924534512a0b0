// The shared state behind cairn::Run handles and the process's current run.
// Shared by run.cc (init/save/finish) and restore.cc. Not part of any API.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "cairn/run.h"
#include "cairn/settings.h"
#include "common/validate.h"
#include "sdk/internal/client.h"

namespace cairn {

struct Run::Impl {
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

  // save() holds it shared for its whole duration, finish() exclusively, so
  // no save is half-done when the run finishes.
  std::shared_mutex lifecycle_mu;
  bool finished = false;  // guarded by lifecycle_mu

  struct Pending {
    std::filesystem::path local;
    std::string name;
  };
  std::mutex pending_mu;
  std::vector<Pending> pending;  // kEnd saves, guarded by pending_mu; one per name
};

namespace internal {

// The current run's state, or null when no run is active.
std::shared_ptr<Run::Impl> CurrentRunImpl();

}  // namespace internal
}  // namespace cairn
