// Validation of the names users give: file names inside a run, run paths and
// their components. Shared by the SDK, the CLI and the server so that all three
// accept and refuse exactly the same inputs (docs/spec/restore.md). The
// public entry points (cairn/names.h, names.cc) forward to these.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cairn/names.h"
#include "cairn/status.h"

namespace cairn::internal {

inline constexpr std::size_t kMaxNameBytes = 1024;
inline constexpr std::size_t kMaxIdChars = 128;

// A file name inside a run: relative, valid UTF-8, `/`-separated, no empty,
// `.` or `..` component, no control characters (< 0x20, 0x7f), no backslash,
// 1..1024 bytes. kInvalidArgument quoting the input otherwise.
Status ValidateFileName(std::string_view name);

// An entity, project or run id: 1..128 of [A-Za-z0-9._-], not starting with '.'.
// `what` ("entity", "project", "run id") names it in the error.
Status ValidateId(std::string_view id, std::string_view what);

// The public run path (cairn/names.h), one type on both sides of the API.
using RunPath = ::cairn::RunPath;

// Parses the accepted forms (surrounding whitespace and '/' trimmed):
//   entity/project/run_id, entity/project/runs/run_id, project/run_id,
//   http(s)://host[:port]/entity/project/runs/run_id
// kInvalidArgument quoting the input for anything else.
StatusOr<RunPath> ParseRunPath(std::string_view input);

// Parses "entity/project" or "project" (entity left empty).
StatusOr<RunPath> ParseProjectPath(std::string_view input);

// A new random run id: 8 characters of [a-z0-9].
std::string NewRunId();

// Percent-encodes each byte of `s` outside [A-Za-z0-9._~-]; with keep_slash,
// '/' is kept (for file names in URL paths).
std::string UrlEncode(std::string_view s, bool keep_slash = false);
// Decodes %XX escapes; nullopt on a malformed escape.
std::optional<std::string> UrlDecode(std::string_view s);

}  // namespace cairn::internal
