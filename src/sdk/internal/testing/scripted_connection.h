// Connections for unit tests of what sits above the transport: one that plays
// a script of outcomes, and one that serves a file's bytes with Range and
// If-Range the way the server does, dropping connections where told.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/thread_annotations.h"
#include "sdk/internal/connection.h"

namespace cairn::internal::testing {

inline HttpClientResponse Answer(long status, std::string body = {},
                                 std::vector<std::pair<std::string, std::string>> headers = {}) {
  HttpClientResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

// An unreachable server (nothing was sent) or a connection lost after the
// request went out.
inline TransportError Lost(bool nothing_sent) {
  return TransportError{.status = UnavailableError("connection lost"), .nothing_sent = nothing_sent};
}

// Plays one scripted step per call; after the script, answers 200. Records
// each request's target and headers.
class ScriptedConnection final : public Connection {
 public:
  using Step = std::function<Outcome(HttpClientRequest&)>;
  void Then(Outcome outcome) {
    steps_.push_back([o = std::move(outcome)](HttpClientRequest&) { return o; });
  }
  void Then(Step step) { steps_.push_back(std::move(step)); }

  CallResult Call(HttpClientRequest& request, const CallOptions&) override {
    ++calls_;
    if (steps_.empty()) return CallResult{.outcome = Answer(200)};
    Step step = std::move(steps_.front());
    steps_.pop_front();
    return CallResult{.outcome = step(request)};
  }
  std::string Url(std::string_view target) const override { return "http://fake" + std::string(target); }
  bool has_api_key() const override { return true; }
  int calls() const { return calls_; }

 private:
  std::deque<Step> steps_;
  int calls_ = 0;
};

// Serves GET of one file: 206 for "Range: bytes=a-b" (200 with everything
// when If-Range names another digest, or when ranges are switched off), body
// handed to on_body in chunks of `chunk` bytes. `fail` (optional) is asked
// before each call with the call's index and the range start: a value stops
// the answer after that many bytes with a lost connection (0: before any).
class FakeFileServer final : public Connection {
 public:
  FakeFileServer(std::string bytes, std::string sha256) : bytes_(std::move(bytes)), sha256_(std::move(sha256)) {}

  std::size_t chunk = 7919;    // odd on purpose: chunks straddle parts and ring slots
  bool honor_if_range = true;  // false: answer 200 with all bytes to any If-Range
  std::function<std::optional<std::uint64_t>(int call, std::uint64_t start)> fail;

  CallResult Call(HttpClientRequest& request, const CallOptions&) override {
    int call;
    {
      MutexLock lock(mu_);
      call = calls_++;
    }
    std::uint64_t begin = 0, end = bytes_.size();
    bool ranged = false;
    std::string if_range;
    for (const std::string& h : request.headers) {
      if (h.rfind("Range: bytes=", 0) == 0) {
        const std::string spec = h.substr(13);
        begin = std::stoull(spec.substr(0, spec.find('-')));
        end = std::stoull(spec.substr(spec.find('-') + 1)) + 1;
        ranged = true;
      }
      if (h.rfind("If-Range: ", 0) == 0) if_range = h.substr(10);
    }
    if (ranged && ((!if_range.empty() && if_range != "\"" + sha256_ + "\"") || !honor_if_range)) {
      begin = 0;
      end = bytes_.size();
      ranged = false;
    }
    {
      MutexLock lock(mu_);
      starts_.push_back(begin);
    }
    HttpClientResponse head = Answer(ranged ? 206 : 200);
    if (ranged) {
      head.headers.emplace_back("content-range", "bytes " + std::to_string(begin) + "-" + std::to_string(end - 1) +
                                                     "/" + std::to_string(bytes_.size()));
    }
    std::optional<std::uint64_t> cut = fail ? fail(call, begin) : std::nullopt;
    for (std::uint64_t at = begin; at < end;) {
      std::uint64_t n = std::min<std::uint64_t>(chunk, end - at);
      if (cut && at - begin + n > *cut) n = *cut - std::min(*cut, at - begin);
      if (n == 0) break;
      if (!request.on_body(head, bytes_.data() + at, n)) {
        return CallResult{.outcome = TransportError{.status = InternalError("stopped"), .aborted_by_callback = true}};
      }
      {
        MutexLock lock(mu_);
        served_ += n;
      }
      at += n;
    }
    if (cut && *cut < end - begin) return CallResult{.outcome = Lost(false)};
    return CallResult{.outcome = std::move(head)};
  }
  std::string Url(std::string_view target) const override { return "http://fake" + std::string(target); }
  bool has_api_key() const override { return true; }

  std::uint64_t served() {
    MutexLock lock(mu_);
    return served_;
  }
  std::vector<std::uint64_t> starts() {
    MutexLock lock(mu_);
    return starts_;
  }

 private:
  const std::string bytes_, sha256_;
  Mutex mu_;
  int calls_ CAIRN_GUARDED_BY(mu_) = 0;
  std::uint64_t served_ CAIRN_GUARDED_BY(mu_) = 0;
  std::vector<std::uint64_t> starts_ CAIRN_GUARDED_BY(mu_);
};

}  // namespace cairn::internal::testing
