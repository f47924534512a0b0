// What the server's handlers see of HTTP: a request's header block, an answer,
// and the one mapping of a Status to an HTTP error (private to src/server;
// free of Boost, which stays inside the connection code).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/status.h"
#include "store/blob_store.h"

namespace cairn::internal {

// Body limit of every route that reads a JSON body (RouteOptions::body_limit).
inline constexpr std::size_t kMaxJsonBody = 1 << 20;

// What the handlers need from a request's header block.
struct HttpRequest {
  std::string method;                       // as received: "GET", "PUT", ...
  std::string target;                       // origin-form "/path?query", still percent-encoded
  std::string authorization;                // "" when absent
  std::string range;                        // Range, "" when absent
  std::string if_range;                     // If-Range, "" when absent
  std::string sha256;                       // X-Cairn-Sha256, "" when absent
  std::optional<std::uint64_t> cairn_size;  // X-Cairn-Size (commits by reference)
  bool by_reference = false;                // X-Cairn-By-Reference: 1
  std::optional<std::uint64_t> content_length;
  bool chunked = false;         // Transfer-Encoding: chunked
  std::string host;             // Host, "" when absent (for URLs handed to W&B clients)
  std::string forwarded_proto;  // X-Forwarded-Proto, "" when absent
  std::string peer;             // the client's address (for the audit log), "" when unknown
  // The web UI (sessions.h): Cookie and X-Cairn-Csrf ("" when absent), and
  // whether the connection is TLS.
  std::string cookie;
  std::string csrf;
  bool tls = false;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  // Besides Content-Type, Content-Length and Connection, which the server sets.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent when `stream` is null
  // File bytes: `stream_length` of them are read from `stream` in chunks.
  std::unique_ptr<BlobReader> stream;
  std::uint64_t stream_length = 0;
  // HEAD: send the headers only; Content-Length announces `stream_length`.
  bool head_only = false;
  // For the server's log on 5xx: what went wrong (never contains a key).
  std::string log_note;
};

// `status` with `body` serialized (invalid UTF-8 in user text is replaced,
// never thrown on).
HttpResponse JsonResponse(int status, const nlohmann::json& body);
// An error answer: `status` and {"error": {"code": code, "message": message}}.
HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message);
// A 5xx answer whose body says only `advice`: the cause (a store error that
// may name server-side paths) goes to log_note, never to the client.
HttpResponse ServerErrorResponse(int status, std::string_view code, std::string_view advice, const Status& cause);
// The one place a Status becomes an HTTP status and error code (kNotFound for
// a run path part -> entity_not_found / project_not_found / run_not_found,
// kResourceExhausted (disk full: ENOSPC, EDQUOT) -> 507, kUnavailable -> 503,
// ...). 5xx bodies never carry the Status's message (ServerErrorResponse).
HttpResponse StatusResponse(const Status& status);

// A query string's parameters, percent-decoded; a repeated key keeps its last
// value. kInvalidArgument quoting the parameter on a malformed escape.
using QueryParams = std::map<std::string, std::string>;
StatusOr<QueryParams> ParseQuery(std::string_view query);
// The value of `key`, "" when absent.
std::string QueryValue(const QueryParams& query, const std::string& key);

// The "limit" parameter of a listing: 100 when absent, else 1..1000
// (kInvalidArgument quoting it otherwise).
StatusOr<int> ParsePageLimit(const QueryParams& query);
// A listing's "next_cursor": null on the last page.
nlohmann::json CursorJson(const std::string& cursor);

// A decimal without sign, spaces or a leading '+'; nullopt when `s` is not one
// or overflows Int.
template <typename Int>
std::optional<Int> ParseDecimal(std::string_view s);
extern template std::optional<int> ParseDecimal<int>(std::string_view);
extern template std::optional<std::int64_t> ParseDecimal<std::int64_t>(std::string_view);
extern template std::optional<std::uint64_t> ParseDecimal<std::uint64_t>(std::string_view);

// `s` without leading and trailing spaces and tabs.
std::string_view TrimSpace(std::string_view s);

// A Content-Disposition value that saves a download as `filename` (RFC 6266):
// `attachment; filename="<ASCII fallback>"; filename*=UTF-8''<RFC 5987>`.
// The fallback has '_' for every byte outside printable ASCII and for '"',
// '\\' and '%'; the extended form percent-encodes every byte but RFC 5987's
// attr-char. Never contains a control character, whatever the name.
std::string ContentDispositionAttachment(std::string_view filename);

}  // namespace cairn::internal
