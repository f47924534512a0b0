// Run paths and project paths: never crash; whatever parses re-parses to itself.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  auto parsed = cairn::internal::ParseRunPath(input);
  if (parsed.ok()) {
    const auto& p = *parsed;
    if (!p.entity.empty()) {
      auto again = cairn::internal::ParseRunPath(p.ToString());
      if (!again.ok() || again->entity != p.entity || again->project != p.project || again->run_id != p.run_id) {
        std::abort();
      }
    }
    if (!cairn::internal::ValidateId(p.project, "project").ok() || !cairn::internal::ValidateId(p.run_id, "run id").ok()) {
      std::abort();
    }
  }
  (void)cairn::internal::ParseProjectPath(input);
  return 0;
}
