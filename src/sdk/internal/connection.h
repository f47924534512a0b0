// The SDK's seam to the network (docs/adr/0018-sdk-connection-seam.md):
//
//   Client (typed operations: runs, files, uploads, downloads)
//     -> Connection            the interface below: one call of one request
//          RetryingConnection  (retrying_connection.h) THE place that decides
//                              whether, when and how often a call is retried
//            -> CurlConnection (curl_connection.h) one libcurl attempt
//
// Requests and answers are plain structs; nothing here names libcurl. A test
// implements Connection to inject failures without a network. This header
// also declares the one mapping of HTTP answers to Status
// (StatusFromResponse, in http_client.cc).
//
// Type names carry "Client" (HttpClientRequest) because the server's
// cairn::internal::HttpRequest/HttpResponse live in the same namespace and the
// `cairn` binary links both: equal names would be an ODR violation.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
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
  // Optional, with on_body: memory the next bytes of a 2xx body may be
  // received into, asked for before each read on the calling thread (it may
  // wait for room). A transport that can receives at most span.size() bytes
  // there and calls on_body with `data` at the span's start -- the consumer
  // then has nothing to copy; one that cannot (or an empty span) passes its
  // own buffer to on_body as without it. Bytes received there that on_body
  // does not accept are garbage to the consumer.
  std::function<std::span<char>()> body_buffer;

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

// The outcome of one call: an HTTP answer of any status, or the transport's
// failure.
using Outcome = std::variant<HttpClientResponse, TransportError>;

// What a repeated request can do to the server, which decides what may be
// retried (RetryingConnection).
enum class Idempotency {
  // Asking again changes nothing (GET, HEAD, PUT of a run with resume
  // allow/must, PUT of an upload part, which replaces itself): every
  // retryable failure is retried.
  kIdempotent,
  // A commit (a file version, a run created with resume "never", completing
  // an upload): an error answer means nothing was committed and a failed
  // connect sent nothing, so those are retried; a connection lost after the
  // request went out is not (it may have been committed). The call's result
  // says when an earlier attempt's answer was lost (`ambiguous`).
  kUnlessCommitted,
  // Never repeated once the server may have seen it (minting a key): only a
  // failed connect is retried.
  kNotIdempotent,
};

// How one call is made. Only a retrying connection interprets these; a
// transport performs one attempt of the request as given.
struct CallOptions {
  Idempotency idempotency = Idempotency::kIdempotent;
  // Replaces the connection's policy for this call (max_attempts = 1: one
  // attempt; a heartbeat, or a caller that reschedules by itself).
  std::optional<RetryPolicy> policy;
  // Polled while waiting between attempts: once true, the wait ends and the
  // last outcome is returned. (The request's own `cancelled` stops a transfer
  // in flight.)
  std::function<bool()> cancelled;
  // Called before every attempt, the first included: adjusts the request to
  // what is still missing (the Range of a resumed download).
  std::function<void(HttpClientRequest&)> before_attempt;
  // Called after every attempt with its outcome (hands over buffered bytes,
  // takes back progress a failed attempt reported).
  std::function<void(const Outcome&)> after_attempt;
  // When set: whether the call's work is done. Checked after each attempt: a
  // done call is not retried, whatever the attempt's outcome (a connection
  // that broke after the last byte); a 2xx answer of a call that is not done
  // ended early and is asked again (a retryable failure).
  std::function<bool()> done;
  // When set: a count of bytes received so far. An attempt that moved it
  // forward restarts the retry budget (the link works; keep going).
  std::function<std::uint64_t()> progress;
};

// A call's outcome and what the retrying said about it.
struct CallResult {
  Outcome outcome;
  int attempts = 1;
  // An earlier attempt may have reached the server without its answer
  // reaching us: a 409 or 404 now may be our own doing.
  bool ambiguous = false;
};

// One call of one request against a cairn server. Implementations are
// thread-safe: calls run concurrently on one connection.
class Connection {
 public:
  virtual ~Connection() = default;
  // Performs `request`. An HTTP answer of any status is an outcome, not an
  // error; only transport failures are TransportErrors. The request's
  // callbacks (read_body, on_body, cancelled) run on the calling thread.
  virtual CallResult Call(HttpClientRequest& request, const CallOptions& options) = 0;
  // The URL of `target` (for messages).
  virtual std::string Url(std::string_view target) const = 0;
  // Whether requests carry an API key (for the advice of a 401).
  virtual bool has_api_key() const = 0;
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

// Whether an answer with this status may succeed when asked again (408, 429,
// 5xx but 501, 505 and 507; a 500 data_loss is not: the stored bytes are
// damaged). The retrying connection's rule, exposed for callers that report.
bool IsRetryableHttpStatus(long status);
bool IsRetryableAnswer(const HttpClientResponse& response);

// Retry-After in seconds or as an HTTP date, if present and sane.
std::optional<std::chrono::milliseconds> RetryAfter(const HttpClientResponse& response);

}  // namespace cairn::internal
