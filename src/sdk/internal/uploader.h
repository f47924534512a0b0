// The background uploader of an online run: Run::save() (kNow, kLive) and
// Run::finish() hand it (name, local path) pairs and return at once; worker
// threads stream the files to the server.
//
// Guarantees:
//  - Bounded memory: the queue holds names and paths, never file bytes (each
//    upload streams from disk), and at most `max_pending` names are pending;
//    Enqueue waits for room beyond that.
//  - Per name, at most one upload in flight and at most one follow-up queued:
//    further requests while one is queued coalesce into it (the follow-up
//    sends the newest content of the newest path).
//  - kUnavailable (connection errors, 408, 429, 5xx) is retried without limit
//    with exponential backoff and jitter (a Retry-After lengthens the wait),
//    until Shutdown(); other errors fail the name at once.
//  - A file that changed while it was read or sent (Client::Upload's
//    kFailedPrecondition; nothing was committed) is queued again: mixed bytes
//    are never committed, and the newer content goes next.
//  - Content equal to the last committed version's digest is not sent again
//    (Seed() supplies those digests for a resumed run).
//  - Destruction (or process exit, via an atexit hook) cancels transfers in
//    flight within about a second and joins the workers; pending uploads are
//    lost, committed versions are not.
//
// Environment knobs (for tests and unusual links), read into Tunables:
//   CAIRN_UPLOAD_WORKERS             worker threads, 1-16 (default 2)
//   CAIRN_UPLOAD_QUEUE_MAX           pending names before Enqueue waits (default 4096)
//   CAIRN_UPLOAD_BACKOFF_INITIAL_MS  first retry wait (default 500)
//   CAIRN_UPLOAD_BACKOFF_MAX_MS      longest retry wait (default 30000)
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cairn/api.h"
#include "cairn/run.h"
#include "cairn/status.h"
#include "common/thread_annotations.h"

namespace cairn::internal {

struct UploaderOptions {
  int workers = 2;
  std::size_t max_pending = 4096;
  std::chrono::milliseconds initial_backoff{500};
  std::chrono::milliseconds max_backoff{30000};
};

// The wait before retry number `failures` (1 after the first failure):
// d = min(max_backoff, initial_backoff * 2^(failures-1)), jittered into
// [d/2, d] by `unit` in [0, 1). A server's Retry-After raises the wait to it
// (capped at 10 minutes), never lowers it. Pure; unit-tested.
std::chrono::milliseconds RetryDelay(int failures, const UploaderOptions& options, double unit,
                                     std::optional<std::chrono::milliseconds> retry_after = std::nullopt);

// One upload attempt, as the uploader sees it.
struct UploadAttempt {
  StatusOr<FileInfo> result = FileInfo{};
  bool unchanged = false;  // the content equalled `unless_sha256`; nothing sent
  std::optional<std::chrono::milliseconds> retry_after;
  std::uint64_t bytes_sent = 0;
};

// Performs one attempt (no retries of its own). `unless_sha256` may be empty.
// Must return promptly once `cancel` is true. The real one wraps
// Client::Upload (MakeClientUploadFn); tests pass fakes.
using UploadFn = std::function<UploadAttempt(const std::string& name, const std::filesystem::path& local,
                                             const std::string& unless_sha256, const std::atomic<bool>& cancel)>;

class Uploader {
 public:
  Uploader(UploadFn upload, UploaderOptions options);
  ~Uploader();  // Shutdown("the run was dropped without finish()")
  Uploader(const Uploader&) = delete;
  Uploader& operator=(const Uploader&) = delete;

  // Records the latest committed versions of a resumed run, so unchanged
  // content is not sent again. Call before the first Enqueue.
  void Seed(const std::vector<FileInfo>& latest);

  // Queues an upload of `local` as `name` (coalescing, see above). Returns at
  // once unless max_pending names are already pending. After Shutdown() the
  // request fails immediately (reported by Flush).
  void Enqueue(const std::string& name, const std::filesystem::path& local);

  // Waits until every request enqueued before the call has committed, been
  // found unchanged, or failed, or until `deadline`. OK when none failed;
  // otherwise an error naming each file whose latest request failed (with the
  // reason) and, when time ran out, those still pending (kDeadlineExceeded).
  // Uploads go on afterwards.
  Status Flush(std::chrono::steady_clock::time_point deadline);

  // Stops: cancels transfers in flight, fails every pending request with
  // `reason`, joins the workers. Idempotent; Flush() still reports.
  void Shutdown(const std::string& reason);

  std::optional<SavedFile> LastSaved(const std::string& name) const;
  UploadStats Stats() const;

 private:
  struct Entry {
    std::filesystem::path local;    // newest path asked for
    std::uint64_t want_seq = 0;     // newest request
    std::uint64_t settled_seq = 0;  // newest request that is resolved
    bool queued = false;            // in ready_ (or waiting for not_before)
    bool in_flight = false;
    bool follow_up = false;  // a request arrived while in flight
    int failures = 0;        // consecutive transient failures
    int changes = 0;         // consecutive "changed while sending"
    std::chrono::steady_clock::time_point not_before{};
    Status error;                       // of the latest resolved request
    std::optional<FileInfo> committed;  // latest version known on the server
    std::optional<SavedFile> last_saved;
  };

  void Work() CAIRN_EXCLUDES(mu_);
  void Requeue(const std::string& name, Entry& e, std::chrono::milliseconds delay) CAIRN_REQUIRES(mu_);
  // Work() after an attempt at `name` (sent as of want_seq `seq`): counts it,
  // settles the waiters, or requeues it (kUnavailable: with backoff; changed
  // while read: after a pause; a save meanwhile: at once).
  void Finished(const std::string& name, Entry& e, std::uint64_t seq, const UploadAttempt& attempt) CAIRN_REQUIRES(mu_);
  void Settle(Entry& e, std::uint64_t seq, Status status);
  Status Report(const std::vector<std::pair<std::string, std::uint64_t>>& wanted, bool timed_out) const
      CAIRN_REQUIRES(mu_);

  const UploadFn upload_;
  const UploaderOptions options_;

  mutable Mutex mu_;
  std::condition_variable work_cv_;     // workers: ready_ changed or stopping
  std::condition_variable settled_cv_;  // Flush/Enqueue: something settled
  std::map<std::string, Entry> entries_ CAIRN_GUARDED_BY(mu_);
  std::deque<std::string> ready_ CAIRN_GUARDED_BY(mu_);  // names with queued=true
  std::uint64_t seq_ CAIRN_GUARDED_BY(mu_) = 0;
  std::size_t pending_ CAIRN_GUARDED_BY(mu_) = 0;  // entries queued or in flight
  bool stopped_ CAIRN_GUARDED_BY(mu_) = false;
  std::string stop_reason_ CAIRN_GUARDED_BY(mu_);
  UploadStats stats_ CAIRN_GUARDED_BY(mu_);  // queued computed on demand
  std::atomic<bool> cancel_{false};
  std::vector<std::thread> workers_;
  std::once_flag joined_;
};

}  // namespace cairn::internal
