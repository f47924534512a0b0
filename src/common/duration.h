// Durations as people type them ("90s", "30m", "12h", "30d"): the one parser
// of the CLI's and the server's duration flags (gc --grace, retention
// --max-age, server --retention-interval).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace cairn::internal {

// "90" (seconds), "90s", "250ms", "15m", "1h", "7d", "2w" -> milliseconds;
// nullopt for anything else (no sign, no fraction, at most 9 digits).
std::optional<std::chrono::milliseconds> ParseDuration(const std::string& text);

// The shortest exact form ParseDuration reads back: 2592000000 -> "30d",
// 5400000 -> "90m", 1500 -> "1500ms", 0 -> "0s".
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace cairn::internal
