// The retention routes (docs/http-api.md, Retention): show, set, clear and
// apply a project's policies, or an entity's default ({project} absent).
// What a policy means and how it is applied: server/retention.h.
#include <nlohmann/json.hpp>

#include "common/duration.h"
#include "server/auth.h"
#include "server/handlers.h"
#include "server/ops.h"
#include "server/retention.h"

namespace cairn::internal {

namespace {

using Json = nlohmann::json;

Json PolicyJson(const RetentionPolicy& p) {
  return Json{{"pattern", p.pattern},
              {"keep_last", p.keep_last > 0 ? Json(p.keep_last) : Json(nullptr)},
              {"max_age_seconds", p.max_age_ms > 0 ? Json(p.max_age_ms / 1000) : Json(nullptr)},
              {"max_age", p.max_age_ms > 0 ? Json(FormatDuration(std::chrono::milliseconds(p.max_age_ms)))
                                           : Json(nullptr)},
              {"updated_ms", p.updated_ms}};
}

Json PoliciesJson(const std::vector<RetentionPolicy>& policies, const std::string& project) {
  Json out = Json::array();
  for (const RetentionPolicy& p : policies) {
    if (p.project == project) out.push_back(PolicyJson(p));
  }
  return out;
}

// What GET answers: the scope's own policies and, for a project, the
// entity's defaults and which of the two applies.
StatusOr<Json> RetentionState(const Services& s, const Call& call) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<RetentionPolicy> all, s.metadata->ListRetentionPolicies(call.run.entity));
  Json out{{"entity", call.run.entity}, {"project", call.run.project}, {"policies", PoliciesJson(all, call.run.project)}};
  if (!call.run.project.empty()) {
    Json defaults = PoliciesJson(all, "");
    out["applies"] = !out["policies"].empty() ? "project" : (!defaults.empty() ? "entity_default" : "none");
    out["entity_default"] = std::move(defaults);
  }
  return out;
}

HttpResponse RetentionJson(const Services& s, const Call& call) {
  StatusOr<Json> state = RetentionState(s, call);
  if (!state.ok()) return StatusResponse(state.status());
  return JsonResponse(200, *state);
}

// A field that is absent or null reads as 0 (no such rule).
StatusOr<std::int64_t> OptionalCount(const Json& body, const char* field, const char* what) {
  auto it = body.find(field);
  if (it == body.end() || it->is_null()) return std::int64_t{0};
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0 || it->get<std::uint64_t>() > (1ULL << 40)) {
    return InvalidArgumentError(std::string("\"") + field + "\" must be a whole number of " + what +
                                " from 1, or null");
  }
  return static_cast<std::int64_t>(it->get<std::uint64_t>());
}

}  // namespace

void HandleGetRetention(const Services& s, Call& call) { call.Answer(RetentionJson(s, call)); }

HttpResponse HandlePutRetention(const Services& s, Call& call, const Json& body, std::string_view /*raw*/) {
  if (Status st = Authenticator::CheckManage(call.principal, call.run.entity); !st.ok()) return StatusResponse(st);
  RetentionPolicy p{.entity = call.run.entity, .project = call.run.project};
  if (auto it = body.find("pattern"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) return ErrorResponse(400, "invalid_argument", "\"pattern\" must be a glob, e.g. \"ckpt/*\"");
    p.pattern = it->get<std::string>();
  }
  StatusOr<std::int64_t> keep = OptionalCount(body, "keep_last", "versions");
  if (!keep.ok()) return StatusResponse(keep.status());
  StatusOr<std::int64_t> age = OptionalCount(body, "max_age_seconds", "seconds");
  if (!age.ok()) return StatusResponse(age.status());
  p.keep_last = *keep;
  p.max_age_ms = *age * 1000;
  if (Status st = ValidateRetentionPolicy(p); !st.ok()) return StatusResponse(st);
  if (Status st = s.metadata->SetRetentionPolicy(p); !st.ok()) return StatusResponse(st);
  return RetentionJson(s, call);
}

void HandleClearRetention(const Services& s, Call& call) {
  if (Status st = Authenticator::CheckManage(call.principal, call.run.entity); !st.ok()) return call.Fail(st);
  std::optional<std::string> pattern;
  if (call.query.count("pattern") > 0) pattern = QueryValue(call.query, "pattern");
  StatusOr<std::int64_t> removed = s.metadata->ClearRetentionPolicies(call.run.entity, call.run.project, pattern);
  if (!removed.ok()) return call.Fail(removed.status());
  if (pattern && *removed == 0) {
    return call.Fail(404, "policy_not_found",
                     "there is no retention policy with pattern '" + *pattern + "' here: see `cairn retention show`");
  }
  StatusOr<Json> state = RetentionState(s, call);
  if (!state.ok()) return call.Fail(state.status());
  (*state)["removed"] = *removed;
  call.Answer(JsonResponse(200, *state));
}

HttpResponse HandleApplyRetention(const Services& s, Call& call, const Json& body, std::string_view /*raw*/) {
  if (Status st = Authenticator::CheckManage(call.principal, call.run.entity); !st.ok()) return StatusResponse(st);
  bool dry_run = false;
  if (auto it = body.find("dry_run"); it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return ErrorResponse(400, "invalid_argument", "\"dry_run\" must be true or false");
    dry_run = it->get<bool>();
  }
  StatusOr<RetentionPassResult> r = ApplyRetention(
      *s.metadata, call.run.entity, call.run.project,
      {.dry_run = dry_run,
       .trigger = "request",
       .actor = call.principal.Actor(),
       .key_id = call.principal.key_id,
       .metrics = s.ops != nullptr ? &s.ops->metrics() : nullptr});
  if (!r.ok()) return StatusResponse(r.status());
  Json versions = Json::array();
  for (const RetentionRemoval& v : r->removed) {
    versions.push_back(Json{{"run", v.run_id},
                            {"name", v.version.name},
                            {"version", v.version.version},
                            {"size", v.version.size},
                            {"created_ms", v.version.created_ms},
                            {"pattern", v.pattern}});
  }
  Json policies = Json::array();
  for (const RetentionPolicy& p : r->policies) policies.push_back(PolicyJson(p));
  return JsonResponse(200, Json{{"entity", call.run.entity},
                                {"project", call.run.project},
                                {"dry_run", dry_run},
                                {"policies", policies},
                                {"versions", versions},
                                {"removed_versions", r->removed.size()},
                                {"removed_bytes", r->bytes}});
}

}  // namespace cairn::internal
