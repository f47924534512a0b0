#include "common/run_config.h"

#include <nlohmann/json.hpp>

namespace cairn::internal {
namespace {

using Json = nlohmann::ordered_json;

std::string Compact(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

Status TooLarge(std::size_t bytes) {
  return InvalidArgumentError("run config is " + std::to_string(bytes) + " bytes as JSON, over the limit of " +
                              std::to_string(kMaxRunConfigBytes) +
                              " bytes: keep hyperparameters in the config and save larger data as files");
}

StatusOr<Json> ParseObject(std::string_view text) {
  if (text.empty()) return Json::object();
  if (text.size() > 4 * kMaxRunConfigBytes) return TooLarge(text.size());
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return InvalidArgumentError("run config is not valid JSON: give a JSON object such as {\"batch_size\": 32}");
  }
  if (!j.is_object()) {
    return InvalidArgumentError("run config must be a JSON object such as {\"batch_size\": 32}, not " +
                                std::string(j.type_name()));
  }
  return j;
}

}  // namespace

StatusOr<std::string> NormalizeRunConfig(std::string_view text) {
  StatusOr<Json> j = ParseObject(text);
  if (!j.ok()) return j.status();
  std::string out = Compact(*j);
  if (out.size() > kMaxRunConfigBytes) return TooLarge(out.size());
  return out;
}

StatusOr<std::string> MergeRunConfig(std::string_view stored, std::string_view patch) {
  StatusOr<Json> base = ParseObject(stored);
  if (!base.ok()) return base.status();
  StatusOr<Json> p = ParseObject(patch);
  if (!p.ok()) return p.status();
  for (auto& [key, value] : p->items()) (*base)[key] = value;
  std::string out = Compact(*base);
  if (out.size() > kMaxRunConfigBytes) return TooLarge(out.size());
  return out;
}

std::string_view EffectiveRunState(std::string_view stored, long long heartbeat_ms, long long now_ms,
                                   long long stale_after_ms) {
  if (stored != kRunRunning) return kRunFinished;
  return now_ms - heartbeat_ms > stale_after_ms ? std::string_view("crashed") : kRunRunning;
}

}  // namespace cairn::internal
