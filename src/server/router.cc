#include "server/router.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/validate.h"
#include "server/handlers.h"

namespace cairn::internal {
namespace {

using Json = nlohmann::json;

// Splits off the first "/"-separated segment of `rest`; false when none is left.
bool NextSegment(std::string_view& rest, bool& more, std::string_view& segment) {
  if (!more) return false;
  const std::size_t slash = rest.find('/');
  segment = rest.substr(0, slash);
  more = slash != std::string_view::npos;
  rest = more ? rest.substr(slash + 1) : std::string_view();
  return true;
}

bool IsParam(std::string_view seg) { return seg.size() >= 2 && seg.front() == '{' && seg.back() == '}'; }
bool IsRestParam(std::string_view seg) { return IsParam(seg) && seg.ends_with("...}"); }

[[noreturn]] void BadTable(const Route& route, const char* why) {
  std::fprintf(stderr, "cairn: bad route %.*s %.*s: %s (a bug)\n", static_cast<int>(route.method.size()),
               route.method.data(), static_cast<int>(route.pattern.size()), route.pattern.data(), why);
  std::abort();
}

void CheckRoute(const Route& route) {
  if (route.method.empty() || route.pattern.empty() || route.pattern.front() != '/')
    BadTable(route, "no method or path");
  std::string_view rest = route.pattern.substr(1);
  bool more = true;
  std::string_view seg;
  while (NextSegment(rest, more, seg)) {
    if (IsRestParam(seg) && more) BadTable(route, "{name...} must be the last segment");
  }
  const bool body = route.options.body != BodyKind::kNone;
  if (!body && route.begin == nullptr) BadTable(route, "a route without a body needs begin()");
  if (body && route.finish == nullptr) BadTable(route, "a route with a body needs finish()");
  if (route.options.body == BodyKind::kStream && route.begin == nullptr) {
    BadTable(route, "a streaming route needs begin() to open the upload");
  }
  if (route.options.access != EntityAccess::kNone && route.pattern.find("{entity}") == std::string_view::npos) {
    BadTable(route, "entity access needs an {entity} parameter");
  }
}

// Decodes and validates one id parameter of the path.
StatusOr<std::string> DecodeId(std::string_view raw, std::string_view what) {
  std::optional<std::string> id = UrlDecode(raw);
  if (!id) {
    return InvalidArgumentError("malformed percent-encoding in " + std::string(what) + " \"" + std::string(raw) + "\"");
  }
  CAIRN_RETURN_IF_ERROR(ValidateId(*id, what));
  return *id;
}

StatusOr<std::string> DecodeFileName(std::string_view raw) {
  std::optional<std::string> name = UrlDecode(raw);
  if (!name) return InvalidArgumentError("malformed percent-encoding in file name \"" + std::string(raw) + "\"");
  CAIRN_RETURN_IF_ERROR(ValidateFileName(*name));
  return *std::move(name);
}

std::string JoinMethods(const std::vector<std::string_view>& methods) {
  std::string out;
  for (std::string_view m : methods) {
    if (!out.empty()) out += ", ";
    out += m;
  }
  return out;
}

}  // namespace

std::optional<PathParams> MatchPath(std::string_view pattern, std::string_view path) {
  if (pattern.empty() || path.empty() || pattern.front() != '/' || path.front() != '/') return std::nullopt;
  std::string_view prest = pattern.substr(1);
  std::string_view rest = path.substr(1);
  bool pmore = true;
  bool more = true;
  PathParams params;
  std::string_view pseg;
  while (NextSegment(prest, pmore, pseg)) {
    if (IsRestParam(pseg)) {
      if (!more) return std::nullopt;  // needs at least one segment
      params.emplace_back(pseg.substr(1, pseg.size() - 5), rest);
      return params;
    }
    std::string_view seg;
    if (!NextSegment(rest, more, seg)) return std::nullopt;
    if (IsParam(pseg)) {
      params.emplace_back(pseg.substr(1, pseg.size() - 2), seg);
    } else if (pseg != seg) {
      return std::nullopt;
    }
  }
  if (more) return std::nullopt;  // the path is longer than the pattern
  return params;
}

Call::Call() = default;
Call::Call(Call&&) noexcept = default;
Call& Call::operator=(Call&&) noexcept = default;
Call::~Call() = default;

std::string_view Call::Param(std::string_view name) const {
  for (const auto& [key, value] : params) {
    if (key == name) return value;
  }
  return {};
}

void Call::Fail(const Status& status) {
  response = route != nullptr ? route->options.errors->from_status(status) : StatusResponse(status);
}

void Call::Fail(int status, std::string_view code, std::string_view message) {
  response =
      route != nullptr ? route->options.errors->message(status, code, message) : ErrorResponse(status, code, message);
}

Router::Router(std::vector<Route> routes) : routes_(std::move(routes)) {
  bool pages = false;
  for (const Route& r : routes_) {
    CheckRoute(r);
    if (pages && !r.options.page) BadTable(r, "web UI pages (RouteOptions::page) must come after every other route");
    pages = pages || r.options.page;
  }
}

Call Router::Begin(const Services& services, const HttpRequest& request) const {
  Call call;
  call.request = request;
  const std::string_view target = call.request.target;
  const std::string_view path = target.substr(0, target.find('?'));

  // 1. Match (404 / 405).
  std::vector<std::string_view> allowed;
  const Route* matched_path = nullptr;
  for (const Route& route : routes_) {
    if (route.options.page && matched_path != nullptr && !matched_path->options.page) break;
    std::optional<PathParams> params = MatchPath(route.pattern, path);
    if (!params) continue;
    if (matched_path == nullptr) matched_path = &route;
    if (route.method != request.method) {
      if (std::find(allowed.begin(), allowed.end(), route.method) == allowed.end()) allowed.push_back(route.method);
      continue;
    }
    call.route = &route;
    for (const auto& [name, value] : *params) call.params.emplace_back(name, std::string(value));
    break;
  }
  if (matched_path == nullptr) {
    call.Fail(404, "not_found", "no such route: " + std::string(path));
    return call;
  }
  if (call.route == nullptr) {
    const std::string allow = JoinMethods(allowed);
    call.route = matched_path;
    const std::string_view usage = matched_path->options.usage;
    call.Fail(405, "method_not_allowed",
              usage.empty() ? request.method + " is not allowed here; allowed: " + allow : std::string(usage));
    call.response->headers.emplace_back("Allow", allow);
    call.route = nullptr;
    return call;
  }

  // 2.-3. Authenticate, scope to the run.
  if (!Authenticate(services, call) || !ScopeToRun(call)) return call;

  // 4. The handler.
  if (call.route->begin != nullptr) call.route->begin(services, call);
  if (!call.response && call.route->options.body == BodyKind::kStream && !call.upload) {
    call.Fail(500, "internal", "the route opened no upload (a bug)");
  }
  if (call.response && services.audit != nullptr) services.audit->Record(call, *call.response);  // 6.
  return call;
}

bool Router::Authenticate(const Services& services, Call& call) const {
  const RouteOptions& options = call.route->options;
  if (options.auth == AuthPolicy::kNone) return true;
  // A browser's session cookie (sessions.h) stands in for the key when the
  // request carries no Authorization header.
  StatusOr<Principal> who = UnauthenticatedError("");
  StatusOr<std::optional<BrowserSession>> session = std::optional<BrowserSession>();
  if (call.request.authorization.empty() && services.sessions != nullptr) {
    session = services.sessions->Resolve(call.request);
  }
  if (!session.ok()) {
    who = session.status();
  } else if (session->has_value()) {
    who = (*session)->principal;
    call.session = *std::move(*session);
  } else {
    who = services.auth->Authenticate(call.request.authorization);
  }
  if (!who.ok()) {
    const bool refused = who.status().code() == StatusCode::kUnauthenticated;
    if (refused && !call.request.authorization.empty() && services.audit != nullptr) {
      services.audit->AuthFailure(call, "");
    }
    call.Fail(who.status());
    return false;
  }
  call.principal = *std::move(who);
  if (options.auth == AuthPolicy::kAdmin && !call.principal.admin) {
    call.Fail(403, "permission_denied", "only the admin key may " + std::string(options.action));
    return false;
  }
  return true;
}

bool Router::ScopeToRun(Call& call) const {
  const EntityAccess access = call.route->options.access;
  if (access == EntityAccess::kNone) return true;
  const std::string_view target = call.request.target;
  const std::size_t qpos = target.find('?');
  StatusOr<QueryParams> query =
      ParseQuery(qpos == std::string_view::npos ? std::string_view() : target.substr(qpos + 1));
  if (!query.ok()) {
    call.Fail(query.status());
    return false;
  }
  call.query = *std::move(query);
  const std::pair<std::string_view, std::string_view> ids[] = {
      {"entity", "entity"}, {"project", "project"}, {"run", "run id"}};
  std::string* fields[] = {&call.run.entity, &call.run.project, &call.run.run_id};
  for (std::size_t i = 0; i < std::size(ids); ++i) {
    const auto it =
        std::find_if(call.params.begin(), call.params.end(), [&](const auto& p) { return p.first == ids[i].first; });
    if (it == call.params.end()) continue;
    StatusOr<std::string> id = DecodeId(it->second, ids[i].second);
    if (!id.ok()) {
      call.Fail(id.status());
      return false;
    }
    *fields[i] = *std::move(id);
  }
  if (const auto it =
          std::find_if(call.params.begin(), call.params.end(), [](const auto& p) { return p.first == "path"; });
      it != call.params.end()) {
    StatusOr<std::string> name = DecodeFileName(it->second);
    if (!name.ok()) {
      call.Fail(name.status());
      return false;
    }
    call.name = *std::move(name);
  }
  if (Status s = Authenticator::CheckAccess(call.principal, call.run.entity, access == EntityAccess::kWrite); !s.ok()) {
    call.Fail(s);
    return false;
  }
  return true;
}

HttpResponse Router::Finish(const Services& services, Call& call, std::string_view body) const {
  if (call.route == nullptr || call.route->options.body != BodyKind::kJson) {
    return ErrorResponse(500, "internal", "this route takes no body (a bug)");
  }
  Json json = Json::object();
  if (!TrimSpace(body).empty()) {
    json = Json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || !json.is_object()) {
      return ErrorResponse(400, "invalid_argument", "the request body must be a JSON object");
    }
  }
  HttpResponse response = call.route->finish(services, call, json, body);
  if (services.audit != nullptr) services.audit->Record(call, response);  // 6.
  return response;
}

HttpResponse Router::FinishUpload(const Services& services, Call& call) const {
  if (call.route == nullptr || call.route->options.body != BodyKind::kStream || !call.upload) {
    return ErrorResponse(500, "internal", "no upload in progress (a bug)");
  }
  HttpResponse response = call.route->finish(services, call, Json::object(), {});
  if (services.audit != nullptr) services.audit->Record(call, response);  // 6.
  return response;
}

}  // namespace cairn::internal
