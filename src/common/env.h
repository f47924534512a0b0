// The one reader of the process environment per layer, and the one parser of
// numbers given there. Every CAIRN_* variable the SDK honours is read through
// these functions (settings.cc for Settings, tunables.cc for the knobs,
// ResolveTransferOptions for transfer defaults); the server's commands read
// theirs through them too (src/server/cli/server_settings.cc). Nothing else in
// src/sdk or src/server/cli calls getenv.
//
// One rule for every variable: unset or empty means "not given" (the next
// source in the precedence applies); anything else must parse and lie in the
// stated range, or the call fails with kInvalidArgument naming the variable,
// its value and what is expected.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "cairn/status.h"

namespace cairn::internal {

// The variable's value; "" when unset.
std::string EnvString(const char* name);

// A whole number (bytes or a count: decimal digits only) in [min, max].
StatusOr<std::optional<std::uint64_t>> EnvWhole(const char* name, std::uint64_t min,
                                                std::uint64_t max = UINT64_MAX);

// A duration given in `unit`s (a decimal number, fractions allowed for
// seconds: "0.5"), in [min, max].
enum class EnvUnit { kMilliseconds, kSeconds };
StatusOr<std::optional<std::chrono::milliseconds>> EnvDuration(const char* name, EnvUnit unit,
                                                               std::chrono::milliseconds min,
                                                               std::chrono::milliseconds max);

}  // namespace cairn::internal
