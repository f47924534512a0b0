// The SDK's knobs beyond Settings (docs/adr/0019-settings-resolved-once.md):
// every CAIRN_* variable that tunes retries, uploads, heartbeats and live
// saving, resolved ONCE per Client (Client::Create) by the one rule of env.h
// and passed down from there. A malformed value fails Client::Create (and so
// cairn::init, restore, Api) with an error naming the variable.
#pragma once

#include <chrono>
#include <cstdint>

#include "cairn/status.h"
#include "sdk/internal/connection.h"
#include "sdk/internal/heartbeat.h"
#include "sdk/internal/uploader.h"

namespace cairn::internal {

// The knobs of uploads in parts (docs/uploads.md), from Tunables.
struct PartOptions {
  // CAIRN_UPLOAD_PARTS_THRESHOLD: files of at least this many bytes go in
  // parts (default 128 MiB).
  std::uint64_t threshold = 128ull << 20;
  // CAIRN_UPLOAD_PART_SIZE: bytes per part (default 32 MiB, at least 1 MiB).
  std::uint64_t part_size = 32ull << 20;
  // CAIRN_UPLOAD_PARALLEL: parts in flight at once (default 4, 1-16).
  int parallel = 4;
};


struct Tunables {
  // CAIRN_RETRY_MAX_ATTEMPTS (1-100), CAIRN_RETRY_INITIAL_BACKOFF_MS
  // (0-60000), CAIRN_RETRY_MAX_SECONDS (0-86400).
  RetryPolicy retry;
  // CAIRN_UPLOAD_PARTS_THRESHOLD, CAIRN_UPLOAD_PART_SIZE (>= 1 MiB),
  // CAIRN_UPLOAD_PARALLEL (1-16).
  PartOptions upload_parts;
  // CAIRN_MAX_SEND_BYTES_PER_S; 0: no limit.
  std::uint64_t max_send_bytes_per_s = 0;
  // CAIRN_UPLOAD_WORKERS (1-16), CAIRN_UPLOAD_QUEUE_MAX (>= 1),
  // CAIRN_UPLOAD_BACKOFF_INITIAL_MS (1-600000), CAIRN_UPLOAD_BACKOFF_MAX_MS
  // (1-3600000).
  UploaderOptions uploader;
  // CAIRN_HEARTBEAT_S (0.1-3600).
  HeartbeatOptions heartbeat;
  // CAIRN_LIVE_DEBOUNCE_MS (1-60000): quiet time before a live save sends.
  std::chrono::milliseconds live_quiet{300};
  // CAIRN_PARALLEL_FILES (1-64); 0: chosen by file sizes.
  int parallel_files = 0;
  // CAIRN_RESTORE_GROUP_FILES (0-4096): files a glob restore makes durable
  // together (PublishGroup, docs/adr/0025-grouped-restore-durability.md);
  // 0: each file fsynced on its own, as before. Also bounded by the open-file
  // limit (a waiting file holds its lock open).
  int restore_group_files = 512;
};

// Reads the variables above. kInvalidArgument naming the first malformed one.
StatusOr<Tunables> TunablesFromEnvironment();

}  // namespace cairn::internal
