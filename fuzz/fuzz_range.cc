// Range headers: a partial range always lies inside the file.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "server/handlers.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 8) return 0;
  std::uint64_t file_size;
  std::memcpy(&file_size, data, 8);
  file_size %= (1ull << 50);
  std::string_view header(reinterpret_cast<const char*>(data + 8), size - 8);
  auto r = cairn::internal::ParseRange(header, file_size);
  if (r.kind == cairn::internal::RangeSpec::Kind::kPartial && (r.first > r.last || r.last >= file_size)) {
    std::abort();
  }
  return 0;
}
