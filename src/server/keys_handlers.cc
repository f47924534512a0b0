// The server itself and its keys: health, whoami, creating keys
// (docs/http-api.md, "Keys").
#include <nlohmann/json.hpp>

#include "common/validate.h"
#include "server/handlers.h"

namespace cairn::internal {

using Json = nlohmann::json;

void HandleHealth(const Services& /*s*/, Call& call) { call.Answer(JsonResponse(200, Json{{"ok", true}})); }

void HandleWhoami(const Services& /*s*/, Call& call) {
  const Principal& who = call.principal;
  call.Answer(JsonResponse(200, Json{{"entity", who.admin ? Json(nullptr) : Json(who.entity)},
                                     {"admin", who.admin},
                                     {"read_only", who.read_only}}));
}

// The router let only the admin key through (AuthPolicy::kAdmin).
HttpResponse HandleCreateKey(const Services& s, Call& /*call*/, const Json& body, std::string_view /*raw*/) {
  auto entity = body.find("entity");
  if (entity == body.end() || !entity->is_string()) {
    return ErrorResponse(400, "invalid_argument", "the body needs \"entity\": the entity the key may touch");
  }
  const std::string name = entity->get<std::string>();
  if (Status st = ValidateId(name, "entity"); !st.ok()) return StatusResponse(st);
  bool read_only = false;
  if (auto ro = body.find("read_only"); ro != body.end()) {
    if (!ro->is_boolean()) return ErrorResponse(400, "invalid_argument", "\"read_only\" must be true or false");
    read_only = ro->get<bool>();
  }
  StatusOr<std::string> key = s.auth->CreateKey(name, read_only);
  if (!key.ok()) return StatusResponse(key.status());
  return JsonResponse(201, Json{{"key", *key}, {"entity", name}, {"read_only", read_only}});
}

}  // namespace cairn::internal
