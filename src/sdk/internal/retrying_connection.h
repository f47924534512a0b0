// The one place of the SDK that decides retries: which outcomes are worth
// another attempt (by the call's Idempotency), how long to wait (exponential
// backoff with jitter, or the server's Retry-After), and when to give up
// (attempts and time budget of the RetryPolicy). Everything above it calls
// once and reads the final outcome; nothing below it retries.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sdk/internal/connection.h"

namespace cairn::internal {

// Tracks one call's retries. Not thread-safe; one per call.
class Backoff {
 public:
  // `cancelled`, when given, is polled during each wait: once it returns true
  // the wait ends early and WaitBeforeRetry returns false (a Ctrl-C in Python
  // must not sit out a backoff of several seconds).
  explicit Backoff(const RetryPolicy& policy, std::function<bool()> cancelled = {});
  // After a retryable failure: sleeps and returns true when another attempt is
  // allowed, else returns false at once. `retry_after` (a server's
  // Retry-After) replaces the computed wait; one beyond the remaining budget
  // ends the retries.
  bool WaitBeforeRetry(std::optional<std::chrono::milliseconds> retry_after = std::nullopt);
  // Forgets past failures (a download that made progress starts afresh).
  void Reset();
  int attempts() const { return attempts_; }

 private:
  RetryPolicy policy_;
  std::function<bool()> cancelled_;
  int attempts_ = 1;
  std::chrono::steady_clock::time_point start_;
};

// Whether `outcome` may be retried under `idempotency`: a retryable answer
// (IsRetryableAnswer) unless the call is kNotIdempotent; a transport failure
// of kUnavailable unless a callback aborted it, and for calls that are not
// kIdempotent only when nothing was sent.
bool IsRetryable(const Outcome& outcome, Idempotency idempotency);

// Decorates a Connection with the retry policy. Thread-safe when the inner
// connection is.
class RetryingConnection final : public Connection {
 public:
  RetryingConnection(std::unique_ptr<Connection> inner, RetryPolicy policy);

  // Attempts `request` until an outcome is final (CallOptions, Idempotency),
  // the policy's attempts or time are spent, or options.cancelled turns true;
  // returns the last outcome.
  CallResult Call(HttpClientRequest& request, const CallOptions& options) override;
  std::string Url(std::string_view target) const override { return inner_->Url(target); }
  bool has_api_key() const override { return inner_->has_api_key(); }
  const RetryPolicy& policy() const { return policy_; }

 private:
  std::unique_ptr<Connection> inner_;
  const RetryPolicy policy_;
};

}  // namespace cairn::internal
