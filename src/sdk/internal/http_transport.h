// The HTTP layer under internal::Client: one libcurl attempt per Perform()
// (HttpTransport), the retry policy with backoff (RetryPolicy / Backoff), and
// the one mapping of HTTP answers and libcurl failures to Status
// (StatusFromResponse, in http_client.cc). libcurl retries nothing by itself;
// callers decide what is idempotent and loop with Backoff.
//
// Type names carry "Client" (HttpClientRequest) because the server's
// cairn::internal::HttpRequest/HttpResponse live in the same namespace and the
// `cairn` binary links both: equal names would be an ODR violation.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "cairn/status.h"

namespace cairn::internal {

// How often and how long to retry a call that failed with kUnavailable.
struct RetryPolicy {
  // Attempts in total, the first included. 1 disables retries.
  int max_attempts = 5;
  // The first wait; each further wait doubles, capped at max_backoff, and is
  // jittered into [wait/2, wait].
  std::chrono::milliseconds initial_backoff{250};
  std::chrono::milliseconds max_backoff{4000};
  // Time spent failing (attempts plus waits) after which no further attempt
  // starts. Keeps a dead server from stalling a caller for long.
  std::chrono::milliseconds max_total{10000};

  // The defaults, overridden by CAIRN_RETRY_MAX_ATTEMPTS,
  // CAIRN_RETRY_INITIAL_BACKOFF_MS and CAIRN_RETRY_MAX_SECONDS when set to
  // valid numbers (for tests and for very flaky links).
  static RetryPolicy FromEnvironment();
};

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

struct HttpClientResponse {
  long status = 0;
  // Header names lowercased, values trimmed; the final answer's only.
  std::vector<std::pair<std::string, std::string>> headers;
  // The body, unless a 2xx body went to HttpClientRequest::on_body.
  std::string body;

  // The first header named `name` (lowercase), or "".
  std::string Header(std::string_view name) const;
};

struct HttpClientRequest {
  std::string method = "GET";        // GET, HEAD, PUT, POST
  std::string target;                // "/api/v1/..." with the query, already percent-encoded
  std::vector<std::string> headers;  // extra "Name: value" lines
  // A JSON body (PUT/POST), sent with Content-Type: application/json.
  std::optional<std::string> json_body;

  // A streamed body of exactly body_size bytes (sent with PUT). read_body
  // fills up to `n` bytes at `offset` into `buf` and returns how many, or
  // nullopt to abort the transfer (the caller keeps its own reason).
  std::function<std::optional<std::size_t>(char* buf, std::size_t n, std::uint64_t offset)> read_body;
  std::uint64_t body_size = 0;

  // When set, the body of a 2xx answer is handed here chunk by chunk instead
  // of being collected; return false to abort (the caller keeps its reason).
  // `response` carries the status and headers already received.
  std::function<bool(const HttpClientResponse& response, const char* data, std::size_t n)> on_body;

  // Follow redirects (file downloads: a server with --s3-presign answers 307
  // to an object-store URL). libcurl does not send the Authorization header
  // to another host or port, so the API key stays with the Cairn server.
  bool follow_redirects = false;

  // When set, polled during the transfer (at least about once a second, even
  // while the peer is silent); returning true aborts it as aborted_by_callback.
  // Lets a background uploader stop promptly at shutdown.
  std::function<bool()> cancelled;
};

// One attempt's failure at the transport level.
struct TransportError {
  Status status;                     // kUnavailable for network trouble, kInvalidArgument for a bad URL
  bool nothing_sent = false;         // the connection failed: the server saw no request
  bool aborted_by_callback = false;  // read_body / on_body asked to stop
};

// libcurl behind a pool of reusable easy handles (each keeps its connection
// cache, so sequential calls reuse keep-alive connections). Thread-safe.
class HttpTransport {
 public:
  // `ca_bundle`: PEM file of the CAs that may sign an https:// server's
  // certificate; empty: the system CAs.
  HttpTransport(std::string base_url, std::string api_key, std::string ca_bundle = {});
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // Performs one attempt. An HTTP answer of any status is returned as a
  // response; only transport failures are errors. Connect timeout 10 s; a
  // transfer slower than 1 byte/s for 60 s is abandoned.
  std::variant<HttpClientResponse, TransportError> Perform(const HttpClientRequest& request);

  // base_url + target.
  std::string Url(std::string_view target) const { return base_url_ + std::string(target); }
  const std::string& base_url() const { return base_url_; }
  bool has_api_key() const { return !api_key_.empty(); }

 private:
  struct Pool;
  std::string base_url_;
  std::string api_key_;
  std::string ca_bundle_;
  std::unique_ptr<Pool> pool_;
};

// THE mapping of a non-2xx answer to a Status (docs/http-api.md error table):
// 400 -> kInvalidArgument (digest_mismatch -> kDataLoss), 401 ->
// kUnauthenticated, 403 -> kPermissionDenied, 404 -> kNotFound, 409 ->
// kAlreadyExists, 413/507 -> kResourceExhausted, 408/429/5xx -> kUnavailable,
// anything else -> kInternal. `what` names the thing asked for ("run
// alice/mnist/1a2b3c4d"). The message carries the server's message and says
// what to do.
Status StatusFromResponse(const HttpClientResponse& response, std::string_view method, std::string_view url,
                          std::string_view what, bool had_api_key);

// The `error.code` of a JSON error body ("file_not_found"), or "".
std::string ErrorCode(const HttpClientResponse& response);

// Whether an answer with this status may succeed when asked again.
bool IsRetryableHttpStatus(long status);

// Retry-After in seconds or as an HTTP date, if present and sane.
std::optional<std::chrono::milliseconds> RetryAfter(const HttpClientResponse& response);

}  // namespace cairn::internal
