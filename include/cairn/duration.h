// Durations as people type them ("90s", "30m", "12h", "30d", "2w"): the one
// parser behind every duration flag of the CLI and the server (gc --grace,
// retention --max-age, server --retention-interval).
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace cairn {

// "90" (seconds), "90s", "250ms", "15m", "1h", "7d", "2w" -> milliseconds;
// nullopt for anything else (no sign, no fraction, at most 9 digits).
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);

}  // namespace cairn
