// Pure helpers of ResolveSettings (settings.cc), exposed for unit tests and
// for `cairn login`, which must find the same netrc entry the SDK will read.
#pragma once

#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::internal {

// The password for `base_url` in netrc text (`machine HOST login L password P`,
// `default`, `account`, `macdef`). `machine host:port` beats `machine host`,
// which beats `default`. "" when nothing matches.
std::string NetrcPasswordFor(std::string_view content, std::string_view base_url);

// Validates a base URL (http:// or https://, a host, no whitespace, no query)
// and strips trailing '/'. kInvalidArgument naming the input otherwise.
StatusOr<std::string> NormalizeBaseUrl(std::string_view url);

}  // namespace cairn::internal
