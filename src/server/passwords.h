// Password hashing for users (docs/adr/0021-accounts-and-deletion.md):
// argon2id through libargon2, in its self-describing encoded form
// ("$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>"), with a fresh 16-byte salt
// from OpenSSL's CSPRNG. Private to src/server. A password is never logged,
// stored or echoed; callers wipe their copies when done.
#pragma once

#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::internal {

// The shortest password accepted (bytes).
inline constexpr std::size_t kMinPasswordLength = 8;
// The longest (bytes): argon2 takes any length, a request body does not.
inline constexpr std::size_t kMaxPasswordLength = 1024;

// kInvalidArgument (saying what is wrong, never quoting it) for a password
// that is too short or too long or contains a NUL or line break.
Status ValidatePassword(std::string_view password);

// The encoded argon2id hash of `password` (t=2, m=19 MiB, p=1). kInternal
// when the CSPRNG or libargon2 fails. Takes tens of milliseconds by design.
StatusOr<std::string> HashPassword(std::string_view password);

// Whether `password` matches `encoded` (constant time in the password).
// false, not an error, for a malformed `encoded`.
bool PasswordMatches(const std::string& encoded, std::string_view password);

}  // namespace cairn::internal
