#include "sdk/internal/uploader.h"

#include <algorithm>
#include <cstdlib>
#include <random>
#include <set>

#include "common/sha256.h"

namespace cairn::internal {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// A file rewritten in place while it is being sent is tried again after a
// short pause that grows with each consecutive change, up to this.
constexpr milliseconds kChangedPauseStep{50};
constexpr milliseconds kChangedPauseMax{1000};
constexpr milliseconds kMaxRetryAfter = std::chrono::minutes(10);

// Live uploaders, stopped by an atexit hook: a process that returns from
// main() without finish() must not have workers hashing or sending while
// static destructors (OpenSSL's atexit cleanup among them) run. The hook is
// registered after libcurl/OpenSSL initialised (a Client exists before any
// Uploader), so it runs before their cleanup. Leaked on purpose: it must
// outlive every static destructor.
struct Registry {
  Mutex mu;
  std::set<Uploader*> live CAIRN_GUARDED_BY(mu);
};

Registry& TheRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

void StopAllAtExit() {
  Registry& r = TheRegistry();
  std::vector<Uploader*> live;
  {
    MutexLock lock(r.mu);
    live.assign(r.live.begin(), r.live.end());
  }
  for (Uploader* u : live) u->Shutdown("the process exited before finish()");
}

void Register(Uploader* u) {
  static std::once_flag once;
  std::call_once(once, [] {
    (void)Sha256Hex("");  // make sure OpenSSL registered its atexit cleanup first
    std::atexit(StopAllAtExit);
  });
  Registry& r = TheRegistry();
  MutexLock lock(r.mu);
  r.live.insert(u);
}

void Unregister(Uploader* u) {
  Registry& r = TheRegistry();
  MutexLock lock(r.mu);
  r.live.erase(u);
}

double JitterUnit() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

milliseconds RetryDelay(int failures, const UploaderOptions& options, double unit,
                        std::optional<milliseconds> retry_after) {
  milliseconds d = options.initial_backoff;
  for (int i = 1; i < failures && d < options.max_backoff; ++i) d *= 2;
  d = std::min(d, options.max_backoff);
  unit = std::clamp(unit, 0.0, 1.0);
  milliseconds jittered = d / 2 + milliseconds(static_cast<long long>(static_cast<double>((d - d / 2).count()) * unit));
  if (retry_after) jittered = std::max(jittered, std::min(*retry_after, kMaxRetryAfter));
  return jittered;
}

Uploader::Uploader(UploadFn upload, UploaderOptions options) : upload_(std::move(upload)), options_(options) {
  Register(this);
  for (int i = 0; i < std::max(1, options_.workers); ++i) workers_.emplace_back([this] { Work(); });
}

Uploader::~Uploader() {
  Shutdown("the run was dropped without finish()");
  Unregister(this);
}

void Uploader::Seed(const std::vector<FileInfo>& latest) {
  MutexLock lock(mu_);
  for (const FileInfo& f : latest) entries_[f.name].committed = f;
}

void Uploader::Enqueue(const std::string& name, const std::filesystem::path& local) {
  MutexLock lock(mu_);
  if (!stopped_) {
    // Backpressure only for a name not already pending (coalescing needs no room).
    auto it = entries_.find(name);
    const bool already = it != entries_.end() && (it->second.queued || it->second.in_flight);
    if (!already) {
      settled_cv_.wait(lock.unique(),
                       [&]() CAIRN_REQUIRES(mu_) { return stopped_ || pending_ < options_.max_pending; });
    }
  }
  Entry& e = entries_[name];
  e.local = local;
  e.want_seq = ++seq_;
  if (stopped_) {
    Settle(e, e.want_seq, DeadlineExceededError("not uploaded: " + stop_reason_));
    ++stats_.failed;
    settled_cv_.notify_all();
    return;
  }
  if (e.in_flight) {
    e.follow_up = true;  // sent once the current attempt ends
    return;
  }
  if (e.queued) return;  // coalesced: the queued upload takes the newest path
  e.queued = true;
  e.not_before = Clock::time_point{};
  ++pending_;
  ready_.push_back(name);
  work_cv_.notify_one();
}

void Uploader::Settle(Entry& e, std::uint64_t seq, Status status) {
  e.settled_seq = std::max(e.settled_seq, seq);
  e.error = std::move(status);
  e.failures = 0;
  e.changes = 0;
}

void Uploader::Requeue(const std::string& name, Entry& e, milliseconds delay) {
  e.queued = true;
  e.not_before = Clock::now() + delay;
  ready_.push_back(name);
}

void Uploader::Work() {
  MutexLock lock(mu_);
  while (true) {
    if (stopped_) return;
    // The first ready name whose backoff has passed.
    const Clock::time_point now = Clock::now();
    auto pick = ready_.end();
    Clock::time_point earliest = Clock::time_point::max();
    for (auto it = ready_.begin(); it != ready_.end(); ++it) {
      const Entry& e = entries_[*it];
      if (e.not_before <= now) {
        pick = it;
        break;
      }
      earliest = std::min(earliest, e.not_before);
    }
    if (pick == ready_.end()) {
      if (earliest == Clock::time_point::max()) {
        work_cv_.wait(lock.unique());
      } else {
        work_cv_.wait_until(lock.unique(), earliest);
      }
      continue;
    }
    const std::string name = *pick;
    ready_.erase(pick);
    Entry& e = entries_[name];  // std::map: references stay valid
    e.queued = false;
    e.in_flight = true;
    const std::uint64_t seq = e.want_seq;
    const std::filesystem::path local = e.local;
    const std::string unless = e.committed ? e.committed->sha256 : std::string();

    lock.Unlock();
    UploadAttempt attempt = upload_(name, local, unless, cancel_);
    lock.Lock();

    Finished(name, e, seq, attempt);
  }
}

void Uploader::Finished(const std::string& name, Entry& e, std::uint64_t seq, const UploadAttempt& attempt) {
  e.in_flight = false;
  stats_.bytes_sent += attempt.bytes_sent;
  bool requeue = false;
  milliseconds delay{0};
  if (attempt.result.ok()) {
    const FileInfo& info = *attempt.result;
    if (attempt.unchanged) {
      ++stats_.unchanged;
      if (e.committed) e.last_saved = SavedFile{name, e.committed->size, e.committed->sha256, e.committed->version};
    } else {
      ++stats_.committed;
      e.committed = info;
      e.last_saved = SavedFile{info.name, info.size, info.sha256, info.version};
    }
    Settle(e, seq, OkStatus());
  } else if (stopped_) {
    // Shutdown() already failed everything else; this attempt was cut short.
  } else if (attempt.result.status().code() == StatusCode::kUnavailable) {
    ++e.failures;
    ++stats_.retries;
    e.error = attempt.result.status();  // shown if a flush times out meanwhile
    delay = RetryDelay(e.failures, options_, JitterUnit(), attempt.retry_after);
    requeue = true;
  } else if (attempt.result.status().code() == StatusCode::kFailedPrecondition) {
    // Changed while it was read or sent; nothing was committed. Go again.
    ++e.changes;
    delay = std::min(kChangedPauseMax, kChangedPauseStep * e.changes);
    requeue = true;
  } else {
    ++stats_.failed;
    Settle(e, seq, attempt.result.status());
  }
  if (stopped_) {
    if (e.settled_seq < e.want_seq) {  // a follow-up, a retry or a cancelled attempt
      Settle(e, e.want_seq, DeadlineExceededError("not uploaded: " + stop_reason_));
      ++stats_.failed;
    }
    e.follow_up = false;
    --pending_;
  } else if (requeue || e.follow_up) {
    e.follow_up = false;
    Requeue(name, e, delay);
    work_cv_.notify_one();
  } else {
    --pending_;
  }
  settled_cv_.notify_all();
}

Status Uploader::Report(const std::vector<std::pair<std::string, std::uint64_t>>& wanted, bool timed_out) const {
  std::string failed, pending;
  int n_failed = 0, n_pending = 0;
  StatusCode code = StatusCode::kOk;
  for (const auto& [name, seq] : wanted) {
    const Entry& e = entries_.at(name);
    if (e.settled_seq < seq) {
      ++n_pending;
      pending += (pending.empty() ? "" : "; ") + name;
      if (!e.error.ok()) pending += " (last error: " + e.error.message() + ")";
    } else if (!e.error.ok()) {
      ++n_failed;
      if (code == StatusCode::kOk) code = e.error.code();
      failed += (failed.empty() ? "" : "; ") + name + ": " + e.error.message();
    }
  }
  if (n_failed == 0 && n_pending == 0) return OkStatus();
  std::string msg;
  if (n_failed > 0) msg = std::to_string(n_failed) + " file(s) could not be uploaded: " + failed;
  if (n_pending > 0) {
    if (!msg.empty()) msg += "; ";
    msg += std::to_string(n_pending) + " file(s) still uploading when the wait ended: " + pending;
  }
  if (timed_out || n_pending > 0) code = StatusCode::kDeadlineExceeded;
  return Status(code, msg);
}

Status Uploader::Flush(Clock::time_point deadline) {
  MutexLock lock(mu_);
  std::vector<std::pair<std::string, std::uint64_t>> wanted;
  for (const auto& [name, e] : entries_) {
    if (e.want_seq > 0) wanted.emplace_back(name, e.want_seq);
  }
  const auto all_settled = [&]() CAIRN_REQUIRES(mu_) {
    for (const auto& [name, seq] : wanted) {
      if (entries_.at(name).settled_seq < seq) return false;
    }
    return true;
  };
  const bool done = settled_cv_.wait_until(lock.unique(), deadline, all_settled);
  return Report(wanted, !done);
}

void Uploader::Shutdown(const std::string& reason) {
  {
    MutexLock lock(mu_);
    if (!stopped_) {
      stopped_ = true;
      stop_reason_ = reason;
      cancel_ = true;
      // Everything not in flight fails now; in-flight attempts settle when they return.
      for (auto& [name, e] : entries_) {
        if (e.queued && !e.in_flight) {
          e.queued = false;
          --pending_;
          Settle(e, e.want_seq, DeadlineExceededError("not uploaded: " + reason));
          ++stats_.failed;
        }
      }
      ready_.clear();
    }
  }
  work_cv_.notify_all();
  settled_cv_.notify_all();
  std::call_once(joined_, [this] {
    for (std::thread& t : workers_) {
      if (t.get_id() == std::this_thread::get_id()) {
        t.detach();  // called from a worker (an upload callback): cannot join itself
      } else if (t.joinable()) {
        t.join();
      }
    }
  });
}

std::optional<SavedFile> Uploader::LastSaved(const std::string& name) const {
  MutexLock lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  return it->second.last_saved;
}

UploadStats Uploader::Stats() const {
  MutexLock lock(mu_);
  UploadStats s = stats_;
  s.queued = pending_;
  return s;
}

}  // namespace cairn::internal
