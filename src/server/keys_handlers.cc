// The server itself: health, and who the caller is (docs/http-api.md).
// Keys, users and teams: account_handlers.cc.
#include <nlohmann/json.hpp>

#include "server/handlers.h"

namespace cairn::internal {

using Json = nlohmann::json;

void HandleHealth(const Services& /*s*/, Call& call) { call.Answer(JsonResponse(200, Json{{"ok", true}})); }

void HandleWhoami(const Services& /*s*/, Call& call) {
  const Principal& who = call.principal;
  Json roles = Json::object();
  for (const auto& [entity, role] : who.roles) roles[entity] = RoleName(role);
  call.Answer(JsonResponse(200, Json{{"entity", who.entity.empty() ? Json(nullptr) : Json(who.entity)},
                                     {"admin", who.admin},
                                     {"read_only", who.read_only},
                                     {"user", who.user.empty() ? Json(nullptr) : Json(who.user)},
                                     {"actor", who.Actor()},
                                     {"key_id", who.key_id.empty() ? Json(nullptr) : Json(who.key_id)},
                                     {"roles", roles}}));
}

}  // namespace cairn::internal
