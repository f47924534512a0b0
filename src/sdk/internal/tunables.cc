// TunablesFromEnvironment: every knob through env.h's one rule.
#include "sdk/internal/tunables.h"

#include "sdk/internal/env.h"

namespace cairn::internal {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Assigns a parsed variable to `field` when it was given; returns the error
// of a malformed one.
template <typename Parsed, typename Field>
Status Take(StatusOr<std::optional<Parsed>> parsed, Field& field) {
  if (!parsed.ok()) return parsed.status();
  if (parsed->has_value()) field = static_cast<Field>(**parsed);
  return OkStatus();
}

Status ReadRetry(RetryPolicy& r) {
  if (Status st = Take(EnvWhole("CAIRN_RETRY_MAX_ATTEMPTS", 1, 100), r.max_attempts); !st.ok()) return st;
  if (Status st = Take(EnvDuration("CAIRN_RETRY_INITIAL_BACKOFF_MS", EnvUnit::kMilliseconds, milliseconds(0),
                                   milliseconds(60000)),
                       r.initial_backoff);
      !st.ok()) {
    return st;
  }
  return Take(EnvDuration("CAIRN_RETRY_MAX_SECONDS", EnvUnit::kSeconds, seconds(0), seconds(86400)), r.max_total);
}

Status ReadUploads(Tunables& t) {
  PartOptions& p = t.upload_parts;
  if (Status st = Take(EnvWhole("CAIRN_UPLOAD_PARTS_THRESHOLD", 0), p.threshold); !st.ok()) return st;
  if (Status st = Take(EnvWhole("CAIRN_UPLOAD_PART_SIZE", 1u << 20), p.part_size); !st.ok()) return st;
  if (Status st = Take(EnvWhole("CAIRN_UPLOAD_PARALLEL", 1, 16), p.parallel); !st.ok()) return st;
  if (Status st = Take(EnvWhole("CAIRN_MAX_SEND_BYTES_PER_S", 0), t.max_send_bytes_per_s); !st.ok()) return st;
  UploaderOptions& u = t.uploader;
  if (Status st = Take(EnvWhole("CAIRN_UPLOAD_WORKERS", 1, 16), u.workers); !st.ok()) return st;
  if (Status st = Take(EnvWhole("CAIRN_UPLOAD_QUEUE_MAX", 1), u.max_pending); !st.ok()) return st;
  if (Status st = Take(EnvDuration("CAIRN_UPLOAD_BACKOFF_INITIAL_MS", EnvUnit::kMilliseconds, milliseconds(1),
                                   milliseconds(600000)),
                       u.initial_backoff);
      !st.ok()) {
    return st;
  }
  if (Status st = Take(EnvDuration("CAIRN_UPLOAD_BACKOFF_MAX_MS", EnvUnit::kMilliseconds, milliseconds(1),
                                   milliseconds(3600000)),
                       u.max_backoff);
      !st.ok()) {
    return st;
  }
  if (u.max_backoff < u.initial_backoff) u.max_backoff = u.initial_backoff;
  return OkStatus();
}

}  // namespace

StatusOr<Tunables> TunablesFromEnvironment() {
  Tunables t;
  if (Status st = ReadRetry(t.retry); !st.ok()) return st;
  if (Status st = ReadUploads(t); !st.ok()) return st;
  if (Status st = Take(EnvDuration("CAIRN_HEARTBEAT_S", EnvUnit::kSeconds, milliseconds(100), seconds(3600)),
                       t.heartbeat.interval);
      !st.ok()) {
    return st;
  }
  if (Status st = Take(EnvDuration("CAIRN_LIVE_DEBOUNCE_MS", EnvUnit::kMilliseconds, milliseconds(1),
                                   milliseconds(60000)),
                       t.live_quiet);
      !st.ok()) {
    return st;
  }
  if (Status st = Take(EnvWhole("CAIRN_PARALLEL_FILES", 1, 64), t.parallel_files); !st.ok()) return st;
  if (Status st = Take(EnvWhole("CAIRN_RESTORE_GROUP_FILES", 0, 4096), t.restore_group_files); !st.ok()) return st;
  return t;
}

}  // namespace cairn::internal
