// `cairn quota`: per-entity storage quotas over the HTTP API
// (docs/operations.md).
#include <cmath>
#include <cstdint>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cairn/bytes.h"
#include "cli/commands.h"
#include "cairn/session.h"

namespace cairn::cli {

StatusOr<std::optional<std::uint64_t>> ParseSize(const std::string& text) {
  if (text == "none" || text == "unlimited") return std::optional<std::uint64_t>();
  std::size_t i = 0;
  while (i < text.size() && ((text[i] >= '0' && text[i] <= '9') || text[i] == '.')) ++i;
  const auto bad = [&] {
    return InvalidArgumentError("size \"" + text +
                                "\" is not a size: use a number with an optional unit (B, KB, MB, GB, TB, KiB, "
                                "MiB, GiB, TiB), e.g. 500GiB, or none to remove the quota");
  };
  if (i == 0) return bad();
  double n = 0;
  try {
    n = std::stod(text.substr(0, i));
  } catch (const std::exception&) {
    return bad();
  }
  std::string unit = text.substr(i);
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::pair<const char*, double> kUnits[] = {
      {"", 1},          {"b", 1},         {"kb", 1e3},       {"mb", 1e6},       {"gb", 1e9},  {"tb", 1e12},
      {"kib", 1024.0},  {"mib", 1048576.0}, {"gib", 1073741824.0}, {"tib", 1099511627776.0}, {"k", 1024.0},
      {"m", 1048576.0}, {"g", 1073741824.0}, {"t", 1099511627776.0}};
  for (const auto& [name, factor] : kUnits) {
    if (unit != name) continue;
    const double bytes = std::floor(n * factor);
    if (bytes > 9.2e18) return bad();
    return std::optional<std::uint64_t>(static_cast<std::uint64_t>(bytes));
  }
  return bad();
}

namespace {

int PrintQuota(const std::string& body, bool json) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.contains("used_bytes")) {
    return Fail(InternalError("unexpected answer from the server for a quota: " + body));
  }
  if (json) {
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  const auto used = j["used_bytes"].get<std::uint64_t>();
  std::cout << "entity\t" << j["entity"].get<std::string>() << "\nused\t" << FormatBytes(used) << " (" << used
            << " bytes)\n";
  if (j["max_bytes"].is_null()) {
    std::cout << "quota\tnone\n";
  } else {
    const auto max = j["max_bytes"].get<std::uint64_t>();
    std::cout << "quota\t" << FormatBytes(max) << " (" << max << " bytes)\n";
  }
  return kExitOk;
}

}  // namespace

int QuotaSet(const Global& g, const std::string& entity, const std::string& size) {
  if (Status st = ValidateId(entity, "entity"); !st.ok()) return Fail(st);
  StatusOr<std::optional<std::uint64_t>> bytes = ParseSize(size);
  if (!bytes.ok()) return Fail(bytes.status());
  auto client = Connect(g);
  if (!client.ok()) return Fail(client.status());
  const nlohmann::json body = {{"max_bytes", bytes->has_value() ? nlohmann::json(**bytes) : nlohmann::json(nullptr)}};
  StatusOr<std::string> answer =
      (*client)->CallJson("PUT", "/api/v1/quotas/" + entity, body.dump(), "the quota of entity " + entity);
  if (!answer.ok()) return Fail(answer.status());
  return PrintQuota(*answer, /*json=*/false);
}

int QuotaShow(const Global& g, const std::string& entity, bool json) {
  if (Status st = ValidateId(entity, "entity"); !st.ok()) return Fail(st);
  auto client = Connect(g);
  if (!client.ok()) return Fail(client.status());
  StatusOr<std::string> answer =
      (*client)->CallJson("GET", "/api/v1/quotas/" + entity, "", "the quota of entity " + entity);
  if (!answer.ok()) return Fail(answer.status());
  return PrintQuota(*answer, json);
}

}  // namespace cairn::cli
