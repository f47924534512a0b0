// The run PUT body's "config" and "state" fields (docs/http-api.md, Runs).
#include <nlohmann/json.hpp>

#include "common/run_config.h"
#include "server/handlers.h"

namespace cairn::internal {

StatusOr<RunUpdate> ParseRunUpdate(const nlohmann::json& body) {
  RunUpdate update;
  if (auto config = body.find("config"); config != body.end() && !config->is_null()) {
    if (!config->is_object()) {
      return InvalidArgumentError("\"config\" must be a JSON object such as {\"batch_size\": 32}, not " +
                                  std::string(config->type_name()));
    }
    StatusOr<std::string> text = NormalizeRunConfig(config->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    if (!text.ok()) return text.status();
    if (*text != "{}") update.config_patch = std::move(*text);
  }
  if (auto state = body.find("state"); state != body.end() && !state->is_null()) {
    const std::string value = state->is_string() ? state->get<std::string>() : std::string();
    if (value != kRunRunning && value != kRunFinished) {
      return InvalidArgumentError("\"state\" must be \"running\" (a heartbeat of the process holding the run) or "
                                  "\"finished\", not " + state->dump());
    }
    update.state = value;
  }
  return update;
}

}  // namespace cairn::internal
