// File names: a name that validates cannot escape a root; URL encoding round-trips.
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string name(reinterpret_cast<const char*>(data), size);
  if (cairn::internal::ValidateFileName(name).ok()) {
    std::filesystem::path joined = (std::filesystem::path("/root") / name).lexically_normal();
    auto rel = joined.lexically_relative("/root");
    if (name.empty() || name[0] == '/' || rel.empty() || *rel.begin() == "..") std::abort();
    if (name.find('\0') != std::string::npos || name.find('\\') != std::string::npos) std::abort();
  }
  for (bool keep_slash : {false, true}) {
    auto decoded = cairn::internal::UrlDecode(cairn::internal::UrlEncode(name, keep_slash));
    if (!decoded || *decoded != name) std::abort();
  }
  (void)cairn::internal::UrlDecode(name);
  return 0;
}
