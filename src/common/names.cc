// The public face of validate.h (cairn/names.h): forwarders, one
// implementation.
#include "cairn/names.h"

#include "common/validate.h"

namespace cairn {

Status ValidateFileName(std::string_view name) { return internal::ValidateFileName(name); }
Status ValidateId(std::string_view id, std::string_view what) { return internal::ValidateId(id, what); }
StatusOr<RunPath> ParseRunPath(std::string_view input) { return internal::ParseRunPath(input); }
std::string UrlEncode(std::string_view s, bool keep_slash) { return internal::UrlEncode(s, keep_slash); }

}  // namespace cairn
