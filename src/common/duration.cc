#include "common/duration.h"

#include "cairn/duration.h"

#include <cctype>
#include <iterator>

namespace cairn::internal {

namespace {

struct Unit {
  const char* name;
  long long ms;
};
// Largest first (FormatDuration picks the first that divides exactly).
constexpr Unit kUnits[] = {{"w", 7 * 86400000LL}, {"d", 86400000LL}, {"h", 3600000LL},
                           {"m", 60000LL},        {"s", 1000LL},     {"ms", 1LL}};

}  // namespace

std::optional<std::chrono::milliseconds> ParseDuration(const std::string& text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 9) return std::nullopt;
  const long long n = std::stoll(text.substr(0, digits));
  const std::string unit = text.substr(digits);
  if (unit.empty()) return std::chrono::seconds(n);
  for (const Unit& u : kUnits) {
    if (unit == u.name) return std::chrono::milliseconds(n * u.ms);
  }
  return std::nullopt;
}

std::string FormatDuration(std::chrono::milliseconds d) {
  const long long ms = d.count();
  if (ms == 0) return "0s";
  for (const Unit& u : kUnits) {
    if (ms % u.ms == 0) return std::to_string(ms / u.ms) + u.name;
  }
  return std::to_string(ms) + "ms";
}

}  // namespace cairn::internal

namespace cairn {

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  return internal::ParseDuration(std::string(text));
}

}  // namespace cairn
