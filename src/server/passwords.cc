#include "server/passwords.h"

#include <argon2.h>
#include <openssl/rand.h>

#include <cstdint>
#include <vector>

namespace cairn::internal {
namespace {

// OWASP's minimum for argon2id: 19 MiB, two passes, one lane.
constexpr std::uint32_t kTimeCost = 2;
constexpr std::uint32_t kMemoryKiB = 19 * 1024;
constexpr std::uint32_t kLanes = 1;
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kHashBytes = 32;

}  // namespace

Status ValidatePassword(std::string_view password) {
  if (password.size() < kMinPasswordLength) {
    return InvalidArgumentError("the password is too short: use at least " + std::to_string(kMinPasswordLength) +
                                " characters");
  }
  if (password.size() > kMaxPasswordLength) {
    return InvalidArgumentError("the password is too long: use at most " + std::to_string(kMaxPasswordLength) +
                                " bytes");
  }
  if (password.find_first_of(std::string_view("\0\r\n", 3)) != std::string_view::npos) {
    return InvalidArgumentError("the password may not contain a NUL or a line break");
  }
  return OkStatus();
}

StatusOr<std::string> HashPassword(std::string_view password) {
  unsigned char salt[kSaltBytes];
  if (RAND_bytes(salt, sizeof salt) != 1) return InternalError("OpenSSL RAND_bytes failed to produce a salt");
  std::vector<char> encoded(argon2_encodedlen(kTimeCost, kMemoryKiB, kLanes, kSaltBytes, kHashBytes, Argon2_id));
  const int rc = argon2id_hash_encoded(kTimeCost, kMemoryKiB, kLanes, password.data(), password.size(), salt,
                                       sizeof salt, kHashBytes, encoded.data(), encoded.size());
  if (rc != ARGON2_OK) return InternalError(std::string("argon2id failed: ") + argon2_error_message(rc));
  return std::string(encoded.data());
}

bool PasswordMatches(const std::string& encoded, std::string_view password) {
  return argon2id_verify(encoded.c_str(), password.data(), password.size()) == ARGON2_OK;
}

}  // namespace cairn::internal
