#include "server/http.h"

#include <charconv>
#include <nlohmann/json.hpp>

#include "common/validate.h"
#include "store/metadata_store.h"

namespace cairn::internal {

using Json = nlohmann::json;

HttpResponse JsonResponse(int status, const Json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message) {
  HttpResponse r = JsonResponse(status, Json{{"error", {{"code", code}, {"message", message}}}});
  if (status >= 500) r.log_note = std::string(code) + ": " + std::string(message);
  return r;
}

HttpResponse ServerErrorResponse(int status, std::string_view code, std::string_view advice, const Status& cause) {
  HttpResponse r = ErrorResponse(status, code, advice);
  r.log_note = std::string(code) + ": " + cause.message();
  return r;
}

HttpResponse StatusResponse(const Status& status) {
  if (std::optional<RunPathPart> part = MissingRunPathPart(status)) {
    switch (*part) {
      case RunPathPart::kEntity:
        return ErrorResponse(404, "entity_not_found", status.message());
      case RunPathPart::kProject:
        return ErrorResponse(404, "project_not_found", status.message());
      case RunPathPart::kRun:
        return ErrorResponse(404, "run_not_found", status.message());
    }
  }
  switch (status.code()) {
    case StatusCode::kOk:
      return ErrorResponse(500, "internal", "an error without an error (a bug)");
    case StatusCode::kInvalidArgument:
      return ErrorResponse(400, "invalid_argument", status.message());
    case StatusCode::kNotFound:
      return ErrorResponse(404, "not_found", status.message());
    case StatusCode::kAlreadyExists:
      return ErrorResponse(409, "already_exists", status.message());
    case StatusCode::kUnauthenticated:
      return ErrorResponse(401, "unauthenticated", status.message());
    case StatusCode::kPermissionDenied:
      return ErrorResponse(403, "permission_denied", status.message());
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
      return ServerErrorResponse(503, "unavailable", "the server's storage is unavailable right now; retry shortly",
                                 status);
    case StatusCode::kResourceExhausted:
      return ServerErrorResponse(507, "insufficient_storage",
                                 "the server's disk is full: nothing was stored; retry once its operator has freed "
                                 "space",
                                 status);
    case StatusCode::kDataLoss:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kInternal:
    case StatusCode::kCancelled:  // a client-side code; a handler never returns it
      break;
  }
  return ServerErrorResponse(500, "internal", "the server failed; its log has the details", status);
}

StatusOr<QueryParams> ParseQuery(std::string_view query) {
  QueryParams out;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    const std::size_t eq = part.find('=');
    std::optional<std::string> key = UrlDecode(part.substr(0, eq));
    std::optional<std::string> value =
        eq == std::string_view::npos ? std::optional<std::string>("") : UrlDecode(part.substr(eq + 1));
    if (!key || !value) {
      return InvalidArgumentError("malformed percent-encoding in query parameter \"" + std::string(part) + "\"");
    }
    out[*key] = *value;
  }
  return out;
}

std::string QueryValue(const QueryParams& query, const std::string& key) {
  auto it = query.find(key);
  return it == query.end() ? std::string() : it->second;
}

StatusOr<int> ParsePageLimit(const QueryParams& query) {
  constexpr int kDefaultPageSize = 100;
  constexpr int kMaxPageSize = 1000;
  auto it = query.find("limit");
  if (it == query.end() || it->second.empty()) return kDefaultPageSize;
  std::optional<int> v = ParseDecimal<int>(it->second);
  if (!v || *v < 1 || *v > kMaxPageSize) {
    return InvalidArgumentError("limit \"" + it->second + "\" must be an integer from 1 to 1000");
  }
  return *v;
}

Json CursorJson(const std::string& cursor) { return cursor.empty() ? Json(nullptr) : Json(cursor); }

template <typename Int>
std::optional<Int> ParseDecimal(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  Int v{};
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}
template std::optional<int> ParseDecimal<int>(std::string_view);
template std::optional<std::int64_t> ParseDecimal<std::int64_t>(std::string_view);
template std::optional<std::uint64_t> ParseDecimal<std::uint64_t>(std::string_view);

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string ContentDispositionAttachment(std::string_view filename) {
  std::string fallback;
  std::string extended;
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char ch : filename) {
    const auto c = static_cast<unsigned char>(ch);
    const bool printable = c >= 0x20 && c < 0x7f;
    fallback += printable && c != '"' && c != '\\' && c != '%' ? ch : '_';
    // RFC 5987 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~"
    const bool attr_char = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (attr_char || std::string_view("!#$&+-.^_`|~").find(ch) != std::string_view::npos) {
      extended += ch;
    } else {
      extended += '%';
      extended += kHex[c >> 4];
      extended += kHex[c & 0xf];
    }
  }
  return "attachment; filename=\"" + fallback + "\"; filename*=UTF-8''" + extended;
}

}  // namespace cairn::internal
