// Byte counts for people ("1.5 GiB", "512 B"): the one formatter behind the
// sizes the CLI prints (listings, the progress bar, cache, quota, fsck and
// retention reports) and the server's messages (quota refusals).
#pragma once

#include <cstdint>
#include <string>

namespace cairn {

// Binary units, one decimal past bytes: 512 -> "512 B", 1536 -> "1.5 KiB",
// 3 << 30 -> "3.0 GiB"; PiB is the largest unit (2^64 - 1 -> "16384.0 PiB").
std::string FormatBytes(std::uint64_t bytes);

}  // namespace cairn
