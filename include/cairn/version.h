// The version of libcairn: the CMake project's VERSION ("MAJOR.MINOR.PATCH").
#pragma once

namespace cairn {

// The version of the libcairn that is loaded (not of the headers compiled
// against), e.g. "0.1.0". A static string; thread-safe. The Python package's
// cairn.__version__ is this string.
const char* version();

}  // namespace cairn
