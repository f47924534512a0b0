// The web UI (docs/adr/0023-web-ui.md): its pages and assets, browser
// sessions, and the summaries its pages read in one request each
// (docs/http-api.md, "Web UI").
#include <algorithm>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/run_config.h"
#include "common/validate.h"
#include "server/handlers.h"
#include "server/web_assets.h"

namespace cairn::internal {
namespace {

using Json = nlohmann::json;

// No inline script or style anywhere; images previewed from blob: URLs.
constexpr std::string_view kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

constexpr std::string_view kNotBuiltPage =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Cairn</title></head><body>"
    "<h1>Cairn</h1><p>This <code>cairn server</code> was built without its web UI.</p>"
    "<p>To build it: <code>bash scripts/build-web.sh</code> (needs node and npm; runs <code>npm ci</code> "
    "and writes <code>web/dist</code>), then rebuild the server (<code>bash scripts/build.sh</code>).</p>"
    "<p>The HTTP API (<code>/api/v1</code>) and the <code>cairn</code> command work without it.</p></body></html>";

void AddPageHeaders(HttpResponse& r) {
  r.headers.emplace_back("Content-Security-Policy", std::string(kContentSecurityPolicy));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("X-Frame-Options", "DENY");
}

const WebAsset* FindAsset(std::string_view name) {
  for (const WebAsset& a : WebAssets()) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

Json SessionJson(const Principal& who, const std::optional<BrowserSession>& session) {
  Json roles = Json::object();
  for (const auto& [entity, role] : who.roles) roles[entity] = RoleName(role);
  return Json{{"roles", std::move(roles)},
              {"entity", who.admin ? Json(nullptr) : Json(who.entity)},
              {"user", who.user.empty() ? Json(nullptr) : Json(who.user)},
              {"admin", who.admin},
              {"read_only", who.read_only},
              {"csrf", session ? Json(session->csrf) : Json(nullptr)}};
}

// Whether a page path's ids are ones the API could name (else 404), and not
// a path of the API itself.
bool IsPagePath(const Call& call) {
  const std::string_view entity = call.Param("entity");
  if (entity == "api" || entity == "graphql" || entity == "assets") return false;
  for (const auto& [param, raw] : call.params) {
    const std::string_view what = param == "entity"    ? "entity"
                                  : param == "project" ? "project"
                                  : param == "run"     ? "run id"
                                                       : "";
    if (what.empty()) continue;
    std::optional<std::string> id = UrlDecode(raw);
    if (!id || !ValidateId(*id, what).ok()) return false;
  }
  return true;
}

}  // namespace

HttpResponse HandleSignIn(const Services& s, Call& call, const Json& body, std::string_view /*raw*/) {
  // Against login CSRF: a form of another site cannot send a custom header
  // (and a script of another site would need a CORS preflight we never grant).
  if (call.request.csrf.empty()) {
    return ErrorResponse(403, "permission_denied", "sign-in needs an X-Cairn-Csrf header (any value)");
  }
  StatusOr<std::pair<BrowserSession, std::string>> started = InternalError("unset");
  if (body.contains("user") || body.contains("password")) {
    const auto user = body.find("user");
    const auto password = body.find("password");
    if (user == body.end() || !user->is_string() || password == body.end() || !password->is_string()) {
      return ErrorResponse(400, "invalid_argument", "send {\"user\": \"NAME\", \"password\": \"...\"} to sign in");
    }
    started = s.sessions->StartWithPassword(user->get<std::string>(), password->get<std::string>());
  } else {
    const auto key = body.find("key");
    if (key == body.end() || !key->is_string()) {
      return ErrorResponse(400, "invalid_argument",
                           "send {\"key\": \"<API key>\"} or {\"user\": ..., \"password\": ...} to sign in");
    }
    started = s.sessions->StartWithKey(key->get<std::string>());
  }
  if (!started.ok()) return StatusResponse(started.status());
  const auto& [session, token] = *started;
  HttpResponse r = JsonResponse(200, SessionJson(session.principal, session));
  r.headers.emplace_back("Set-Cookie", s.sessions->SetCookie(token, RequestIsSecure(call.request)));
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

void HandleGetSession(const Services& /*s*/, Call& call) {
  HttpResponse r = JsonResponse(200, SessionJson(call.principal, call.session));
  r.headers.emplace_back("Cache-Control", "no-store");
  call.Answer(std::move(r));
}

void HandleSignOut(const Services& s, Call& call) {
  if (call.session) {
    if (Status st = s.sessions->End(*call.session); !st.ok()) return call.Fail(st);
  }
  HttpResponse r = JsonResponse(200, Json{{"signed_out", call.session.has_value()}});
  r.headers.emplace_back("Set-Cookie", WebSessions::ClearCookie(RequestIsSecure(call.request)));
  call.Answer(std::move(r));
}

void HandleListEntities(const Services& s, Call& call) {
  Json names = Json::array();
  if (call.principal.admin) {
    StatusOr<std::vector<std::string>> all = s.metadata->ListEntities();
    if (!all.ok()) return call.Fail(all.status());
    for (std::string& n : *all) names.push_back(std::move(n));
  } else {
    // Its own entity, then every team it has a role in (Principal::roles).
    std::vector<std::string> seen{call.principal.entity};
    for (const auto& [entity, role] : call.principal.roles) {
      if (std::find(seen.begin(), seen.end(), entity) == seen.end()) seen.push_back(entity);
    }
    for (std::string& n : seen) {
      if (!n.empty()) names.push_back(std::move(n));
    }
  }
  call.Answer(JsonResponse(200, Json{{"entities", std::move(names)}}));
}

void HandleListProjects(const Services& s, Call& call) {
  StatusOr<std::vector<ProjectRecord>> projects = s.metadata->ListProjects(call.run.entity);
  Json list = Json::array();
  if (!projects.ok()) {
    // An entity with nothing saved yet has no projects rather than no page.
    if (MissingRunPathPart(projects.status()) != RunPathPart::kEntity) return call.Fail(projects.status());
  } else {
    for (const ProjectRecord& p : *projects) {
      list.push_back(Json{{"name", p.name}, {"created_at", FormatTimeMs(p.created_ms)}});
    }
  }
  call.Answer(JsonResponse(200, Json{{"projects", std::move(list)}}));
}

void HandleRunSummaries(const Services& s, Call& call) {
  int limit = 50;
  if (const std::string l = QueryValue(call.query, "limit"); !l.empty()) {
    std::optional<int> v = ParseDecimal<int>(l);
    if (!v || *v < 1 || *v > 200) return call.Fail(InvalidArgumentError("limit \"" + l + "\" must be 1..200"));
    limit = *v;
  }
  StatusOr<Page<RunSummary>> page = s.metadata->SummarizeRuns(
      call.run.entity, call.run.project, QueryValue(call.query, "q"), QueryValue(call.query, "cursor"), limit);
  if (!page.ok()) return call.Fail(page.status());
  const long long now = NowMs();
  Json runs = Json::array();
  for (const RunSummary& r : page->items) {
    runs.push_back(Json{{"id", r.run.run_id},
                        {"created_at", FormatTimeMs(r.run.created_ms)},
                        {"updated_at", FormatTimeMs(r.run.updated_ms)},
                        {"state", EffectiveRunState(r.run.state, r.run.heartbeat_ms, now,
                                                    std::chrono::milliseconds(s.run_stale_after).count())},
                        {"files", r.files},
                        {"bytes", r.bytes}});
  }
  call.Answer(JsonResponse(200, Json{{"runs", std::move(runs)}, {"next_cursor", CursorJson(page->next_cursor)}}));
}

void HandleFileTree(const Services& s, Call& call) {
  StatusOr<std::vector<FileSummary>> files = s.metadata->SummarizeFiles(call.run);
  if (!files.ok()) return call.Fail(files.status());
  // Rows, not objects: a run of 10,000 files stays one small, fast answer.
  Json rows = Json::array();
  for (const FileSummary& f : *files) {
    rows.push_back(Json::array({f.latest.name, f.latest.size, f.versions, f.latest.version,
                                FormatTimeMs(f.latest.created_ms), f.latest.sha256}));
  }
  call.Answer(JsonResponse(
      200, Json{{"columns", Json::array({"name", "size", "versions", "version", "updated_at", "sha256"})},
                {"files", std::move(rows)}}));
}

void HandleWebPage(const Services& /*s*/, Call& call) {
  if (!IsPagePath(call)) {
    const std::string_view target = call.request.target;
    return call.Fail(404, "not_found", "no such route: " + std::string(target.substr(0, target.find('?'))));
  }
  const WebAsset* index = FindAsset("index.html");
  HttpResponse r;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::string(index != nullptr ? index->body : kNotBuiltPage);
  r.headers.emplace_back("Cache-Control", "no-cache");
  AddPageHeaders(r);
  call.Answer(std::move(r));
}

void HandleWebAsset(const Services& /*s*/, Call& call) {
  const WebAsset* asset = FindAsset(call.Param("file"));
  if (asset == nullptr || asset->name == "index.html") {
    return call.Fail(404, "not_found", "no such asset: " + std::string(call.Param("file")));
  }
  HttpResponse r;
  r.content_type = std::string(asset->content_type);
  r.body = std::string(asset->body);
  r.headers.emplace_back("Cache-Control", "no-cache");
  AddPageHeaders(r);
  call.Answer(std::move(r));
}

}  // namespace cairn::internal
