// The exit codes of the `cairn` command (docs/spec/restore.md) and the one
// place a Status becomes one: 0 ok, 1 other failure, 2 invalid input or usage,
// 3 no such file in the run, 4 no such run/entity/project, 5 auth/permission.
// Shared by the client commands (src/cli) and the server's (src/server/cli):
// it sees only include/cairn.
#pragma once

#include "cairn/status.h"

namespace cairn::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNoFile = 3;
inline constexpr int kExitNoRun = 4;
inline constexpr int kExitAuth = 5;

// Prints "cairn: <message>" and a hint to stderr; returns the exit code for `status`.
int Fail(const Status& status);

}  // namespace cairn::cli
