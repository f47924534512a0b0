// Users, teams, service accounts, keys (list, create, revoke), password
// sign-in and the audit log (docs/http-api.md, "Accounts";
// docs/adr/0021-accounts-and-deletion.md). The router has authenticated the
// caller; each handler checks what the caller may do here (auth.h).
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/validate.h"
#include "server/audit.h"
#include "server/handlers.h"
#include "server/passwords.h"

namespace cairn::internal {
namespace {

using Json = nlohmann::json;

Json OrNull(long long ms) { return ms == 0 ? Json(nullptr) : Json(FormatTimeMs(ms)); }

// The key as listings show it: never the secret or its hash.
Json KeyJson(const KeyRecord& k) {
  return Json{{"id", k.id},
              {"name", k.name},
              {"owner", k.user.empty() ? "service-account:" + k.entity + "/" + k.service_account : "user:" + k.user},
              {"entity", k.entity},
              {"scope", k.read_only ? "read" : "write"},
              {"read_only", k.read_only},
              {"created_at", FormatTimeMs(k.created_ms)},
              {"expires_at", OrNull(k.expires_ms)},
              {"last_used_at", OrNull(k.last_used_ms)},
              {"revoked_at", OrNull(k.revoked_ms)}};
}

// A string field of the body, validated as an id; kInvalidArgument otherwise.
StatusOr<std::string> IdField(const Json& body, const char* field, std::string_view what) {
  auto it = body.find(field);
  if (it == body.end() || !it->is_string()) {
    return InvalidArgumentError(std::string("the body needs \"") + field + "\": " + std::string(what));
  }
  std::string value = it->get<std::string>();
  CAIRN_RETURN_IF_ERROR(ValidateId(value, what));
  return value;
}

StatusOr<std::string> PasswordField(const Json& body) {
  auto it = body.find("password");
  if (it == body.end() || !it->is_string()) return InvalidArgumentError("the body needs \"password\"");
  std::string password = it->get<std::string>();
  CAIRN_RETURN_IF_ERROR(ValidatePassword(password));
  return password;
}

// A path parameter, decoded and validated as an id.
StatusOr<std::string> IdParam(const Call& call, std::string_view name, std::string_view what) {
  std::optional<std::string> value = UrlDecode(call.Param(name));
  if (!value) return InvalidArgumentError("malformed percent-encoding in " + std::string(what));
  CAIRN_RETURN_IF_ERROR(ValidateId(*value, what));
  return *value;
}

// The fields of a key to make from a POST /api/v1/keys body: scope, expiry, name.
Status KeyOptions(const Json& body, NewKey& key) {
  if (auto ro = body.find("read_only"); ro != body.end()) {
    if (!ro->is_boolean()) return InvalidArgumentError("\"read_only\" must be true or false");
    key.read_only = ro->get<bool>();
  }
  if (auto scope = body.find("scope"); scope != body.end()) {
    if (!scope->is_string() || (*scope != "read" && *scope != "write")) {
      return InvalidArgumentError("\"scope\" must be \"read\" or \"write\"");
    }
    key.read_only = *scope == "read";
  }
  if (auto exp = body.find("expires_ms"); exp != body.end() && !exp->is_null()) {
    if (!exp->is_number_integer() || exp->get<long long>() <= NowMs()) {
      return InvalidArgumentError("\"expires_ms\" must be a time in the future (Unix milliseconds)");
    }
    key.expires_ms = exp->get<long long>();
  }
  if (auto name = body.find("name"); name != body.end()) {
    if (!name->is_string() || name->get<std::string>().size() > 200) {
      return InvalidArgumentError("\"name\" must be a string of at most 200 bytes");
    }
    key.name = name->get<std::string>();
  }
  return OkStatus();
}

// Who may make `key`: the user themself, the admin of the service account's
// entity, or the server admin (the only one for the old form, "entity").
Status MayIssue(const Principal& who, const NewKey& key, bool old_form) {
  if (who.admin && !who.read_only) return OkStatus();
  if (old_form) {
    return PermissionDeniedError("only the server admin may create keys with \"entity\" (cairn keys create --entity)");
  }
  if (who.read_only) return PermissionDeniedError("this API key is read-only: use a key with write access");
  if (!key.user.empty()) {
    if (key.user == who.user) return OkStatus();
    return PermissionDeniedError("only " + key.user + " (or the server admin) may create keys of user " + key.user);
  }
  return Authenticator::CheckManage(who, key.entity);
}

}  // namespace

HttpResponse HandleCreateUser(const Services& s, Call& call, const Json& body, std::string_view /*raw*/) {
  StatusOr<std::string> name = IdField(body, "name", "user name");
  if (!name.ok()) return StatusResponse(name.status());
  StatusOr<std::string> password = PasswordField(body);
  if (!password.ok()) return StatusResponse(password.status());
  bool admin = false;
  if (auto a = body.find("admin"); a != body.end()) {
    if (!a->is_boolean()) return ErrorResponse(400, "invalid_argument", "\"admin\" must be true or false");
    admin = a->get<bool>();
  }
  StatusOr<std::string> hash = HashPassword(*password);
  if (!hash.ok()) return StatusResponse(hash.status());
  if (Status st = s.metadata->CreateUser({.name = *name, .password_hash = *hash, .admin = admin}); !st.ok()) {
    return StatusResponse(st);
  }
  call.run.entity = *name;
  call.audit_target = *name + (admin ? " (server admin)" : "");
  return JsonResponse(201, Json{{"name", *name}, {"admin", admin}});
}

void HandleListUsers(const Services& s, Call& call) {
  StatusOr<std::vector<UserRecord>> users = s.metadata->ListUsers();
  if (!users.ok()) return call.Fail(users.status());
  Json out = Json::array();
  for (const UserRecord& u : *users) {
    out.push_back(Json{{"name", u.name}, {"admin", u.admin}, {"created_at", FormatTimeMs(u.created_ms)}});
  }
  call.Answer(JsonResponse(200, Json{{"users", out}}));
}

HttpResponse HandleCreateTeam(const Services& s, Call& call, const Json& body, std::string_view /*raw*/) {
  const Principal& who = call.principal;
  if (!who.admin && who.user.empty()) {
    return ErrorResponse(403, "permission_denied", "only a user (or the server admin) may create a team");
  }
  if (who.read_only) return ErrorResponse(403, "permission_denied", "this API key is read-only");
  StatusOr<std::string> name = IdField(body, "name", "team name");
  if (!name.ok()) return StatusResponse(name.status());
  if (Status st = s.metadata->CreateTeam(*name); !st.ok()) return StatusResponse(st);
  // The user who made it is its first admin.
  if (!who.user.empty()) {
    if (StatusOr<std::string> st = s.metadata->SetMember(*name, who.user, "admin"); !st.ok()) {
      return StatusResponse(st.status());
    }
  }
  call.run.entity = *name;
  call.audit_target = *name;
  return JsonResponse(201, Json{{"name", *name}});
}

void HandleListTeams(const Services& s, Call& call) {
  StatusOr<std::vector<TeamRecord>> teams = s.metadata->ListTeams();
  if (!teams.ok()) return call.Fail(teams.status());
  Json out = Json::array();
  for (const TeamRecord& t : *teams) {
    Json members = Json::array();
    for (const TeamMember& m : t.members) members.push_back(Json{{"user", m.user}, {"role", m.role}});
    out.push_back(Json{{"name", t.name}, {"created_at", FormatTimeMs(t.created_ms)}, {"members", members}});
  }
  call.Answer(JsonResponse(200, Json{{"teams", out}}));
}

HttpResponse HandleSetMember(const Services& s, Call& call, const Json& body, std::string_view /*raw*/) {
  StatusOr<std::string> team = IdParam(call, "entity", "team");
  if (!team.ok()) return StatusResponse(team.status());
  StatusOr<std::string> user = IdParam(call, "user", "user name");
  if (!user.ok()) return StatusResponse(user.status());
  if (Status st = Authenticator::CheckManage(call.principal, *team); !st.ok()) return StatusResponse(st);
  auto role = body.find("role");
  if (role == body.end() || !role->is_string() || !ParseRole(role->get<std::string>())) {
    return ErrorResponse(400, "invalid_argument", "the body needs \"role\": \"viewer\", \"member\" or \"admin\"");
  }
  StatusOr<std::string> previous = s.metadata->SetMember(*team, *user, role->get<std::string>());
  if (!previous.ok()) return StatusResponse(previous.status());
  call.run.entity = *team;
  call.audit_target = *user + " " + (previous->empty() ? "" : *previous + " -> ") + role->get<std::string>();
  return JsonResponse(200, Json{{"team", *team}, {"user", *user}, {"role", *role}, {"previous_role", *previous}});
}

void HandleRemoveMember(const Services& s, Call& call) {
  StatusOr<std::string> team = IdParam(call, "entity", "team");
  if (!team.ok()) return call.Fail(team.status());
  StatusOr<std::string> user = IdParam(call, "user", "user name");
  if (!user.ok()) return call.Fail(user.status());
  if (Status st = Authenticator::CheckManage(call.principal, *team); !st.ok()) return call.Fail(st);
  StatusOr<bool> removed = s.metadata->RemoveMember(*team, *user);
  if (!removed.ok()) return call.Fail(removed.status());
  if (!*removed) return call.Fail(404, "not_found", *user + " is not a member of " + *team);
  call.run.entity = *team;
  call.audit_target = *user;
  call.Answer(JsonResponse(200, Json{{"team", *team}, {"user", *user}}));
}

HttpResponse HandleCreateServiceAccount(const Services& s, Call& call, const Json& body, std::string_view /*raw*/) {
  StatusOr<std::string> team = IdParam(call, "entity", "team");
  if (!team.ok()) return StatusResponse(team.status());
  if (Status st = Authenticator::CheckManage(call.principal, *team); !st.ok()) return StatusResponse(st);
  StatusOr<bool> is_team = s.metadata->IsTeam(*team);
  if (!is_team.ok()) return StatusResponse(is_team.status());
  if (!*is_team) return ErrorResponse(404, "not_found", "there is no team " + *team);
  StatusOr<std::string> name = IdField(body, "name", "service account name");
  if (!name.ok()) return StatusResponse(name.status());
  if (Status st = s.metadata->CreateServiceAccount(*team, *name, /*if_missing=*/false); !st.ok()) {
    return StatusResponse(st);
  }
  call.run.entity = *team;
  call.audit_target = *team + "/" + *name;
  return JsonResponse(201, Json{{"team", *team}, {"name", *name}});
}

HttpResponse HandleCreateKey(const Services& s, Call& call, const Json& body, std::string_view /*raw*/) {
  NewKey key;
  const bool old_form = body.contains("entity");
  if (old_form) {
    StatusOr<std::string> entity = IdField(body, "entity", "entity");
    if (!entity.ok()) return StatusResponse(entity.status());
    key.entity = *entity;
    key.service_account = "default";
  } else if (body.contains("user")) {
    StatusOr<std::string> user = IdField(body, "user", "user name");
    if (!user.ok()) return StatusResponse(user.status());
    key.user = *user;
  } else if (auto sa = body.find("service_account"); sa != body.end() && sa->is_string()) {
    const std::string text = sa->get<std::string>();
    const std::size_t slash = text.find('/');
    key.entity = text.substr(0, slash);
    key.service_account = slash == std::string::npos ? "" : text.substr(slash + 1);
    if (!ValidateId(key.entity, "team").ok() || !ValidateId(key.service_account, "service account").ok()) {
      return ErrorResponse(400, "invalid_argument", "\"service_account\" must be TEAM/NAME");
    }
  } else {
    return ErrorResponse(400, "invalid_argument",
                         "the body needs \"user\", \"service_account\" (TEAM/NAME) or \"entity\": whose key it is");
  }
  if (Status st = KeyOptions(body, key); !st.ok()) return StatusResponse(st);
  if (Status st = MayIssue(call.principal, key, old_form); !st.ok()) return StatusResponse(st);
  if (old_form) {
    if (Status st = s.metadata->CreateServiceAccount(key.entity, "default", /*if_missing=*/true); !st.ok()) {
      return StatusResponse(st);
    }
    if (key.name.empty()) key.name = "default";
  }
  StatusOr<Authenticator::IssuedKey> issued = s.auth->IssueKey(key);
  if (!issued.ok()) return StatusResponse(issued.status());
  call.run.entity = issued->record.entity;
  call.audit_target = issued->record.id;
  Json out = KeyJson(issued->record);
  out["key"] = issued->secret;
  return JsonResponse(201, out);
}

void HandleListKeys(const Services& s, Call& call) {
  StatusOr<std::vector<KeyRecord>> keys = s.metadata->ListKeys();
  if (!keys.ok()) return call.Fail(keys.status());
  const Principal& who = call.principal;
  Json out = Json::array();
  for (const KeyRecord& k : *keys) {
    const bool mine = !who.user.empty() && k.user == who.user;
    const bool managed = k.user.empty() && Authenticator::CheckManage(who, k.entity).ok();
    if (who.admin || mine || managed || k.id == who.key_id) out.push_back(KeyJson(k));
  }
  call.Answer(JsonResponse(200, Json{{"keys", out}}));
}

void HandleRevokeKey(const Services& s, Call& call) {
  const std::string id(call.Param("id"));
  StatusOr<std::optional<KeyRecord>> key = s.metadata->FindKeyById(id);
  if (!key.ok()) return call.Fail(key.status());
  const Principal& who = call.principal;
  if (!key->has_value()) return call.Fail(404, "not_found", "there is no key " + id + " (see `cairn keys ls`)");
  const KeyRecord& k = **key;
  const bool allowed = !who.read_only && (who.admin || (!k.user.empty() && k.user == who.user) ||
                                          (k.user.empty() && Authenticator::CheckManage(who, k.entity).ok()));
  if (!allowed) return call.Fail(403, "permission_denied", "you may not revoke key " + id);
  StatusOr<bool> revoked = s.metadata->RevokeKey(id, NowMs());
  if (!revoked.ok()) return call.Fail(revoked.status());
  call.run.entity = k.entity;
  call.audit_target = id;
  call.Answer(JsonResponse(200, Json{{"id", id}, {"revoked", true}, {"already_revoked", !*revoked}}));
}

HttpResponse HandleLogin(const Services& s, Call& call, const Json& body, std::string_view /*raw*/) {
  StatusOr<std::string> user = IdField(body, "user", "user name");
  if (!user.ok()) return StatusResponse(user.status());
  auto password = body.find("password");
  if (password == body.end() || !password->is_string()) {
    return ErrorResponse(400, "invalid_argument", "the body needs \"password\"");
  }
  StatusOr<Principal> who = s.auth->VerifyPassword(*user, password->get<std::string>());
  if (!who.ok()) {
    if (s.audit != nullptr) s.audit->AuthFailure(call, "user:" + *user);
    return StatusResponse(who.status());
  }
  NewKey key{.user = *user, .name = "login"};
  if (Status st = KeyOptions(body, key); !st.ok()) return StatusResponse(st);
  StatusOr<Authenticator::IssuedKey> issued = s.auth->IssueKey(key);
  if (!issued.ok()) return StatusResponse(issued.status());
  call.principal = *who;
  call.run.entity = *user;
  call.audit_target = issued->record.id;
  Json out = KeyJson(issued->record);
  out["key"] = issued->secret;
  return JsonResponse(201, out);
}

void HandleListAudit(const Services& s, Call& call) {
  StatusOr<QueryParams> query = ParseQuery(call.request.target.find('?') == std::string::npos
                                               ? std::string_view()
                                               : std::string_view(call.request.target).substr(
                                                     call.request.target.find('?') + 1));
  if (!query.ok()) return call.Fail(query.status());
  const std::string entity = QueryValue(*query, "entity");
  if (entity.empty() && !call.principal.admin) {
    return call.Fail(403, "permission_denied", "only the server admin may read the whole audit log: pass ?entity=E");
  }
  if (!entity.empty()) {
    if (Status st = ValidateId(entity, "entity"); !st.ok()) return call.Fail(st);
    if (Status st = Authenticator::CheckManage(call.principal, entity); !st.ok() && !call.principal.admin) {
      return call.Fail(403, "permission_denied", "only an admin of " + entity + " may read its audit log");
    }
  }
  long long since = 0;
  if (std::string v = QueryValue(*query, "since_ms"); !v.empty()) {
    std::optional<std::int64_t> n = ParseDecimal<std::int64_t>(v);
    if (!n) return call.Fail(400, "invalid_argument", "since_ms must be Unix milliseconds");
    since = *n;
  }
  if (s.audit != nullptr) s.audit->Flush();
  StatusOr<std::vector<AuditEvent>> events = s.metadata->ListAudit(entity, since, 10000);
  if (!events.ok()) return call.Fail(events.status());
  Json out = Json::array();
  for (const AuditEvent& e : *events) {
    out.push_back(Json{{"time", FormatTimeMs(e.time_ms)}, {"actor", e.actor},     {"key_id", e.key_id},
                       {"action", e.action},              {"entity", e.entity},   {"target", e.target},
                       {"address", e.address},            {"count", e.count},     {"bytes", e.bytes}});
  }
  call.Answer(JsonResponse(200, Json{{"events", out}}));
}

}  // namespace cairn::internal
