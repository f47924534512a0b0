// RetryingConnection: the SDK's one retry loop and its rules.
#include "sdk/internal/retrying_connection.h"

#include <curl/curl.h>  // curl_getdate, for an HTTP-date Retry-After

#include <algorithm>
#include <ctime>
#include <random>
#include <thread>
#include <utility>

namespace cairn::internal {

using std::chrono::milliseconds;


Backoff::Backoff(const RetryPolicy& policy, std::function<bool()> cancelled)
    : policy_(policy), cancelled_(std::move(cancelled)), start_(std::chrono::steady_clock::now()) {}

void Backoff::Reset() {
  attempts_ = 1;
  start_ = std::chrono::steady_clock::now();
}

bool Backoff::WaitBeforeRetry(std::optional<milliseconds> retry_after) {
  if (attempts_ >= policy_.max_attempts) return false;
  milliseconds delay;
  if (retry_after) {
    delay = *retry_after;
  } else {
    milliseconds cap = policy_.initial_backoff;
    for (int i = 1; i < attempts_ && cap < policy_.max_backoff; ++i) cap *= 2;
    cap = std::min(cap, policy_.max_backoff);
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uniform_int_distribution<long long> dist(cap.count() / 2, std::max<long long>(cap.count() / 2, cap.count()));
    delay = milliseconds(dist(rng));
  }
  auto elapsed = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start_);
  if (elapsed + delay > policy_.max_total) return false;
  if (cancelled_) {
    constexpr milliseconds kSlice{50};
    for (const auto until = std::chrono::steady_clock::now() + delay; std::chrono::steady_clock::now() < until;) {
      if (cancelled_()) return false;
      std::this_thread::sleep_for(std::min(kSlice, std::chrono::duration_cast<milliseconds>(
                                                       until - std::chrono::steady_clock::now())));
    }
    if (cancelled_()) return false;
  } else {
    std::this_thread::sleep_for(delay);
  }
  ++attempts_;
  return true;
}

bool IsRetryableHttpStatus(long status) {
  return status == 408 || status == 429 ||
         (status >= 500 && status <= 599 && status != 501 && status != 505 && status != 507);
}

std::optional<milliseconds> RetryAfter(const HttpClientResponse& response) {
  std::string v = response.Header("retry-after");
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }) && v.size() <= 6) {
    return milliseconds(std::stol(v) * 1000);
  }
  time_t when = curl_getdate(v.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  time_t now = std::time(nullptr);
  return milliseconds(when > now ? (when - now) * 1000 : 0);
}
bool IsRetryableAnswer(const HttpClientResponse& response) {
  // data_loss: the server's stored bytes are damaged; asking again cannot help.
  return IsRetryableHttpStatus(response.status) && ErrorCode(response) != "data_loss";
}

bool IsRetryable(const Outcome& outcome, Idempotency idempotency) {
  if (const auto* response = std::get_if<HttpClientResponse>(&outcome)) {
    return idempotency != Idempotency::kNotIdempotent && IsRetryableAnswer(*response);
  }
  const auto& err = std::get<TransportError>(outcome);
  if (err.aborted_by_callback || err.status.code() != StatusCode::kUnavailable) return false;
  return idempotency == Idempotency::kIdempotent || err.nothing_sent;
}

RetryingConnection::RetryingConnection(std::unique_ptr<Connection> inner, RetryPolicy policy)
    : inner_(std::move(inner)), policy_(policy) {}

CallResult RetryingConnection::Call(HttpClientRequest& request, const CallOptions& options) {
  std::function<bool()> cancelled = options.cancelled;
  if (!cancelled && request.cancelled) cancelled = request.cancelled;
  Backoff backoff(options.policy.value_or(policy_), std::move(cancelled));
  CallResult result;
  while (true) {
    const std::uint64_t before = options.progress ? options.progress() : 0;
    if (options.before_attempt) options.before_attempt(request);
    CallResult attempt = inner_->Call(request, CallOptions{});
    if (options.after_attempt) options.after_attempt(attempt.outcome);
    result.outcome = std::move(attempt.outcome);
    result.attempts = backoff.attempts();
    if (options.done && options.done()) return result;
    const auto* response = std::get_if<HttpClientResponse>(&result.outcome);
    // A 2xx answer is final unless the call says its work is not done (the
    // answer ended early): then it is asked again like any idempotent call.
    const bool short_answer = response != nullptr && response->status / 100 == 2 && options.done;
    if (response != nullptr && response->status / 100 == 2 && !short_answer) return result;
    if (!short_answer && !IsRetryable(result.outcome, options.idempotency)) return result;
    if (options.progress && options.progress() > before) backoff.Reset();
    const auto retry_after = response != nullptr ? RetryAfter(*response) : std::nullopt;
    if (!backoff.WaitBeforeRetry(retry_after)) return result;
    if (response == nullptr && !std::get<TransportError>(result.outcome).nothing_sent) result.ambiguous = true;
  }
}

}  // namespace cairn::internal
