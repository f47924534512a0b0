// The server's router: a table of routes (method + path pattern -> handler,
// with per-route options), and the steps every request passes through before
// its handler runs (private to src/server; free of Boost).
//
// The steps, in order, each answering at once when it fails:
//   1. Match. The path (still percent-encoded) is matched segment by segment
//      against each pattern; none matches: 404; some match but none for the
//      method: 405 with Allow (the methods of the matching routes, in table
//      order).
//   2. Authenticate (RouteOptions::auth): 401 for a missing or unknown key,
//      403 when the route is the admin's only. Without an Authorization
//      header, a web UI session cookie (sessions.h) may stand in for the key
//      (403 for a state-changing request without its CSRF header).
//   3. Run scope (RouteOptions::access): the query is parsed, the {entity},
//      {project}, {run} and {path...} parameters are percent-decoded and
//      validated (400), then the key's access to the entity is checked (403).
//   4. The handler's begin(): it answers (Call::response), or, for a route
//      with a body, prepares to receive it (a Call::upload for kStream).
//   5. After the body: finish(), with the body parsed as a JSON object (kJson;
//      400 when it is not one) or streamed into Call::upload (kStream).
//   6. Audit (RouteOptions::audit): a successful answer is recorded in the
//      audit log (audit.h), as is every refused key (step 2).
//
// Patterns: "/"-separated segments; a literal segment matches itself exactly
// (encoded bytes are not decoded first, so "%2F" never splits a segment);
// "{name}" matches one segment, even an empty one; "{name...}", last only,
// matches the rest of the path: one or more segments with their "/" between.
//
// Adding a route: one line in the table (routes.cc) and its handler in the
// file of its resource (declared in handlers.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/auth.h"
#include "server/http.h"
#include "server/sessions.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace cairn::internal {

struct Services;  // handlers.h: what handlers work with
struct Call;

// Who may call a route.
enum class AuthPolicy {
  kNone,   // anyone, no key needed
  kKey,    // any valid key
  kAdmin,  // the admin key only
};

// Access to the entity named by the path, checked after authentication.
enum class EntityAccess {
  kNone,   // the route is not scoped to a run path (or checks access itself)
  kRead,   // {entity}: read access
  kWrite,  // {entity}: write access (not for read-only keys)
};

// What the route does with a request body.
enum class BodyKind {
  kNone,    // none is read: begin() answers
  kJson,    // at most body_limit bytes, a JSON object or empty, then finish()
  kStream,  // streamed into Call::upload (no limit), then finish()
};

// How a route's errors look to its clients (the W&B endpoint answers in
// GraphQL's error form, everything else in docs/http-api.md's).
struct ErrorStyle {
  HttpResponse (*from_status)(const Status& status);
  HttpResponse (*message)(int status, std::string_view code, std::string_view message);
};
inline constexpr ErrorStyle kJsonErrors{&StatusResponse, &ErrorResponse};

struct RouteOptions {
  AuthPolicy auth = AuthPolicy::kKey;
  EntityAccess access = EntityAccess::kNone;
  BodyKind body = BodyKind::kNone;
  std::size_t body_limit = kMaxJsonBody;  // kJson only: longer bodies get 413
  const ErrorStyle* errors = &kJsonErrors;
  // The message of a 405 when not empty (else "M is not allowed here; ...").
  std::string_view usage;
  // What the route does ("create keys"), for the 403 of AuthPolicy::kAdmin.
  std::string_view action = "use this route";
  // What the audit log records for a successful call ("file.save", ...);
  // empty: nothing. audit_summary: one row per actor, run and minute
  // (downloads), not one per call.
  std::string_view audit;
  bool audit_summary = false;
  // A web UI page (listed after every API route): it matches only a path
  // that no other route matched, so "GET /graphql" stays a 405.
  bool page = false;
};

// begin: see step 4. May leave the Call without an answer only on a body route.
using BeginFn = void (*)(const Services& services, Call& call);
// finish: see step 5. `body` is the parsed JSON object ({} when the body was
// empty, and for kStream); `raw_body` the bytes as received ("" for kStream).
using FinishFn = HttpResponse (*)(const Services& services, Call& call, const nlohmann::json& body,
                                  std::string_view raw_body);

struct Route {
  std::string_view method;    // "GET", "PUT", ...
  std::string_view pattern;   // "/api/v1/runs/{entity}/{project}/{run}"
  BeginFn begin = nullptr;    // null: nothing to check before the body (body routes only)
  FinishFn finish = nullptr;  // body routes only
  RouteOptions options;
};

// A path parameter as matched: name and value, still percent-encoded.
using PathParams = std::vector<std::pair<std::string_view, std::string_view>>;
// The parameters when `path` (no query) matches `pattern`, else nullopt.
std::optional<PathParams> MatchPath(std::string_view pattern, std::string_view path);

// One request in progress, from Router::Begin to the answer. Belongs to one
// connection; destroying it cancels an upload that was not finished.
struct Call {
  Call();
  Call(Call&&) noexcept;
  Call& operator=(Call&&) noexcept;
  ~Call();

  // Set when the answer is known without (more of) the body.
  std::optional<HttpResponse> response;
  // Set for kStream routes: the body goes here.
  std::unique_ptr<BlobWriter> upload;

  const Route* route = nullptr;  // null only when no route matched
  HttpRequest request;
  // The path parameters as matched, still percent-encoded.
  std::vector<std::pair<std::string_view, std::string>> params;
  Principal principal;  // after step 2 (empty for AuthPolicy::kNone)
  // After step 2, when a browser's session cookie authenticated the call.
  std::optional<BrowserSession> session;
  QueryParams query;    // after step 3 (run-scoped routes only)
  RunKey run;           // after step 3, or set by the handler
  std::string name;     // file name, decoded and validated ({path...})
  std::string audit_target;  // set by a handler: what the audit log names (default: run path and name)

  // Handler state between begin() and finish().
  std::string sha256;               // upload: expected digest
  std::uint64_t declared_size = 0;  // upload: Content-Length
  std::uint64_t part = 0;           // a part's number (uploads in parts)

  // The raw (encoded) value of path parameter `name`, "" when absent.
  std::string_view Param(std::string_view name) const;
  // The most body bytes to read for this Call (kJson routes).
  std::size_t body_limit() const { return route == nullptr ? kMaxJsonBody : route->options.body_limit; }
  // Sets `response` from the route's error style.
  void Fail(const Status& status);
  void Fail(int status, std::string_view code, std::string_view message);
  void Answer(HttpResponse r) { response = std::move(r); }
};

class Router {
 public:
  // Checks the table (a bad pattern or a route missing its handler is a bug:
  // it aborts at startup, never at request time).
  explicit Router(std::vector<Route> routes);

  // Steps 1-4. Thread-safe.
  Call Begin(const Services& services, const HttpRequest& request) const;
  // Step 5 of a kJson route, with the body received in full.
  HttpResponse Finish(const Services& services, Call& call, std::string_view body) const;
  // Step 5 of a kStream route, its body streamed into call.upload.
  HttpResponse FinishUpload(const Services& services, Call& call) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  // Steps 2 and 3; false when the Call was answered.
  bool Authenticate(const Services& services, Call& call) const;
  bool ScopeToRun(Call& call) const;

  std::vector<Route> routes_;
};

}  // namespace cairn::internal
