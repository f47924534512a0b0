// The server's log: one access line per request (text or JSON), request ids,
// and the loggers of `cairn server --log-format` (private to src/server).
//
// Never logged: keys, passwords, Authorization headers. A request is
// identified by its route template (JSON) and its key by Principal::key_id
// (a hash prefix). The text format keeps the request target for people
// reading a terminal; the JSON format, meant for log pipelines, carries the
// route template only (no entity, project, run or file names).
#pragma once

#include <spdlog/logger.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace cairn::internal {

enum class LogFormat { kText, kJson };

// "text" or "json"; nullopt otherwise.
std::optional<LogFormat> ParseLogFormat(std::string_view s);

// The server's logger on stderr. kText: "2026-12-06T17:00:00.000 info msg";
// kJson: {"time":"...Z","level":"info","msg":"..."} per line (UTC).
std::shared_ptr<spdlog::logger> MakeServerLogger(LogFormat format);

// What the access line of one request says.
struct AccessEntry {
  std::string_view request_id;
  std::string_view method;
  std::string_view route = "unmatched";  // the route's pattern
  std::string_view target;               // text format only
  int status = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  double seconds = 0;
  std::string_view key_id;  // "" when no key
  std::string_view note;    // a 5xx's cause, or why the connection was lost; "" otherwise
};

// The line for `e` (no trailing newline). JSON: time (RFC 3339 UTC, ms),
// request_id, method, route, status, bytes_in, bytes_out, duration_ms,
// key_id (null without a key), note (when any).
std::string FormatAccessJson(const AccessEntry& e);
// Text: "rid=ID [key=K] METHOD TARGET STATUS NB Tms in=NB[: note]".
std::string FormatAccessText(const AccessEntry& e);

// The request id to use: the client's (a proxy's) X-Request-Id when it is
// 1..128 characters of [A-Za-z0-9._:-], else a new random 16-hex-digit id.
std::string RequestIdFor(std::string_view header);

}  // namespace cairn::internal
