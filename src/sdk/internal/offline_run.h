// An offline run's files: kept in its files directory (atomically, when
// copied there) and recorded, version 0, in <run dir>/offline.jsonl. Used by
// run.cc (save, finish). Private to the SDK.
#pragma once

#include <string>
#include <vector>

#include "cairn/run.h"
#include "cairn/status.h"
#include "sdk/internal/run_state.h"
#include "sdk/internal/save_glob.h"

namespace cairn::internal {

// Keeps `t` in the run's files directory, appends it to the manifest (one
// fdatasync'ed line) and remembers it in impl.offline_saved (takes
// impl.pending_mu).
Status RecordOffline(cairn::Run::Impl& impl, const SaveTarget& t, SavePolicy policy);

// finish() offline: RecordOffline of each file saved with kEnd or kLive
// (`at_end`; kEnd when impl.pending names it). The error names every file that
// could not be recorded, in run `run_path`.
Status RecordOfflineAtEnd(cairn::Run::Impl& impl, const std::vector<cairn::Run::Impl::Pending>& at_end,
                          const std::string& run_path);

}  // namespace cairn::internal
