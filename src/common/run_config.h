// A run's config (hyperparameters and the like, docs/http-api.md "Runs") and
// its state. Shared by the SDK (checks before sending), the server (checks at
// the HTTP boundary) and the stores (merge on resume), so all of them accept,
// refuse and merge exactly the same way.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::internal {

// The largest config, as compact JSON text (after merging). Configs are
// read for every run a W&B runs() filter looks at, so they stay small.
inline constexpr std::size_t kMaxRunConfigBytes = 64 * 1024;

// `text` must be a JSON object of at most kMaxRunConfigBytes (compact form).
// Returns it in compact form ("" -> "{}"). kInvalidArgument saying what is
// wrong and the limit otherwise.
StatusOr<std::string> NormalizeRunConfig(std::string_view text);

// `stored` with every top-level key of `patch` set to the patch's value (as
// W&B's config.update does on resume); both JSON objects. Compact JSON.
// kInvalidArgument when the result exceeds kMaxRunConfigBytes.
StatusOr<std::string> MergeRunConfig(std::string_view stored, std::string_view patch);

// A stored run state: "running" (a process holds the run and sends
// heartbeats) or "finished" (finish() ran, or nothing ever held the run).
inline constexpr std::string_view kRunRunning = "running";
inline constexpr std::string_view kRunFinished = "finished";

// The state a reader sees at `now_ms`: "finished", "running", or "crashed"
// for a "running" run whose last heartbeat is older than stale_after_ms.
std::string_view EffectiveRunState(std::string_view stored, long long heartbeat_ms, long long now_ms,
                                   long long stale_after_ms);

}  // namespace cairn::internal
