#include "cairn/version.h"

// CAIRN_VERSION comes from CMakeLists.txt (project VERSION), set on this file alone.
#ifndef CAIRN_VERSION
#error "CAIRN_VERSION must be defined by the build (CMakeLists.txt)"
#endif

namespace cairn {

const char* version() { return CAIRN_VERSION; }

}  // namespace cairn
