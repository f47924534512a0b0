// The names users give, checked the way the server checks them: file names
// inside a run, entities/projects/run ids, run paths; and the percent-encoding
// of names in docs/http-api.md paths. The SDK, the CLI and the server accept
// and refuse exactly the same inputs (docs/spec/restore.md).
#pragma once

#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn {

// A run named by a user. `entity` is empty when the input was
// "project/run_id" (Session::ResolveEntity fills it).
struct RunPath {
  std::string entity;
  std::string project;
  std::string run_id;
  std::string ToString() const { return entity + "/" + project + "/" + run_id; }
};

// A file name inside a run: relative, valid UTF-8, `/`-separated, no empty,
// `.` or `..` component, no control characters, no backslash, 1..1024 bytes.
// kInvalidArgument quoting the input otherwise.
Status ValidateFileName(std::string_view name);

// An entity, project or run id: 1..128 of [A-Za-z0-9._-], not starting with
// '.'. `what` ("entity", "project", "run id") names it in the error.
Status ValidateId(std::string_view id, std::string_view what);

// entity/project/run_id, entity/project/runs/run_id, project/run_id or a run
// URL (http(s)://host[:port]/entity/project/runs/run_id); kInvalidArgument
// quoting the input for anything else.
StatusOr<RunPath> ParseRunPath(std::string_view input);

// Percent-encodes each byte outside [A-Za-z0-9._~-]; with keep_slash, '/' is
// kept (file names in URL paths).
std::string UrlEncode(std::string_view s, bool keep_slash = false);

}  // namespace cairn
