// Streaming SHA-256 over OpenSSL EVP (which uses the CPU's SHA extensions).
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "cairn/status.h"

namespace cairn::internal {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void Update(const void* data, std::size_t n);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  // Lowercase hex digest. The hasher must not be used afterwards.
  std::string FinishHex();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string Sha256Hex(std::string_view data);
// Hashes a file in bounded memory; kNotFound / kInternal naming the path.
StatusOr<std::string> Sha256File(const std::filesystem::path& path);
// True for 64 lowercase hex characters.
bool IsSha256Hex(std::string_view s);

}  // namespace cairn::internal
