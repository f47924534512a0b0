// The one reader of the environment (env.h).
#include "common/env.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace cairn::internal {

std::string EnvString(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

namespace {

Status Malformed(const char* name, const std::string& value, const std::string& expected) {
  return InvalidArgumentError(std::string("invalid ") + name + "='" + value + "': expected " + expected +
                              "; fix or unset it");
}

}  // namespace

StatusOr<std::optional<std::uint64_t>> EnvWhole(const char* name, std::uint64_t min, std::uint64_t max) {
  const std::string v = EnvString(name);
  if (v.empty()) return std::optional<std::uint64_t>();
  const std::string expected = "a whole number from " + std::to_string(min) +
                               (max == UINT64_MAX ? std::string(" up") : " to " + std::to_string(max));
  if (v.find_first_not_of("0123456789") != std::string::npos) return Malformed(name, v, expected);
  errno = 0;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || n < min || n > max) return Malformed(name, v, expected);
  return std::optional<std::uint64_t>(n);
}

StatusOr<std::optional<std::chrono::milliseconds>> EnvDuration(const char* name, EnvUnit unit,
                                                               std::chrono::milliseconds min,
                                                               std::chrono::milliseconds max) {
  const std::string v = EnvString(name);
  if (v.empty()) return std::optional<std::chrono::milliseconds>();
  const bool seconds = unit == EnvUnit::kSeconds;
  const auto show = [&](std::chrono::milliseconds d) {
    if (!seconds) return std::to_string(d.count());
    std::string s = std::to_string(static_cast<double>(d.count()) / 1000.0);
    s.erase(s.find_last_not_of('0') + 1);
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  };
  const std::string expected = std::string(seconds ? "seconds" : "milliseconds") + " from " + show(min) + " to " +
                               show(max) + (seconds ? " (fractions allowed)" : " (a whole number)");
  const std::string allowed = seconds ? "0123456789." : "0123456789";
  if (v.find_first_not_of(allowed) != std::string::npos) return Malformed(name, v, expected);
  char* end = nullptr;
  const double n = std::strtod(v.c_str(), &end);
  if (*end != '\0' || !std::isfinite(n)) return Malformed(name, v, expected);
  const auto d = std::chrono::milliseconds(static_cast<long long>(std::llround(seconds ? n * 1000.0 : n)));
  if (d < min || d > max) return Malformed(name, v, expected);
  return std::optional<std::chrono::milliseconds>(d);
}

}  // namespace cairn::internal
