// internal::Client's typed operations on runs, files and keys over the
// Connection stack (connection.h), and THE place where HTTP answers become
// Status (StatusFromResponse). File transfers (Upload/Download) live in
// transfer.cc and downloader.cc on the same connection.
#include <algorithm>
#include <cctype>
#include <mutex>
#include <nlohmann/json.hpp>

#include "cairn/status.h"
#include "common/sha256.h"
#include "sdk/internal/client.h"
#include "sdk/internal/client_impl.h"
#include "sdk/internal/connection.h"
#include "sdk/internal/curl_connection.h"
#include "sdk/internal/retrying_connection.h"
#include "sdk/internal/settings_parse.h"

namespace cairn::internal {
namespace {

using json = nlohmann::json;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string HttpStatusText(long status) { return "HTTP " + std::to_string(status); }

// The error message of a JSON error body, else a short printable excerpt.
std::string ServerMessage(const HttpClientResponse& response) {
  json j = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const json& e = j["error"];
    if (e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
  }
  std::string excerpt;
  for (char c : response.body.substr(0, 200)) {
    excerpt += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  }
  return std::string(Trim(excerpt));
}

}  // namespace

// ------------------------------------------------------------- status mapping

std::string ErrorCode(const HttpClientResponse& response) {
  json j = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const json& e = j["error"];
    if (e.contains("code") && e["code"].is_string()) return e["code"].get<std::string>();
  }
  return {};
}

Status StatusFromResponse(const HttpClientResponse& response, std::string_view method, std::string_view url,
                          std::string_view what_view, bool had_api_key) {
  const long status = response.status;
  const std::string code = ErrorCode(response);
  std::string server = ServerMessage(response);
  if (server.empty()) server = HttpStatusText(status);
  const std::string what(what_view);
  // Where it happened, for the curious: "(GET http://..: HTTP 404 run_not_found)".
  const std::string where = " (" + std::string(method) + " " + std::string(url) + ": " + HttpStatusText(status) +
                            (code.empty() ? "" : " " + code) + ")";
  // The server's messages already say what to do; advice is added only when
  // the answer carried no message of its own.
  const bool generic = server == HttpStatusText(status);
  const auto advice = [&](const std::string& text) { return generic ? "; " + text : std::string(); };
  switch (status) {
    case 400:
      if (code == "digest_mismatch") {
        return DataLossError(what + ": the server received bytes that do not match their SHA-256 or size: " + server +
                             "; the bytes were corrupted in transit or the file changed, save it again" + where);
      }
      return InvalidArgumentError(what + ": the server refused the request: " + server + where);
    case 401: {
      const std::string hint = "set CAIRN_API_KEY or run `cairn login`";
      if (!had_api_key) return UnauthenticatedError("no API key is set for the cairn server; " + hint + where);
      const bool has_hint = server.find("CAIRN_API_KEY") != std::string::npos;
      return UnauthenticatedError("the cairn server refused the API key: " + server + (has_hint ? "" : "; " + hint) +
                                  where);
    }
    case 403:
      if (code == "quota_exceeded") return ResourceExhaustedError(what + ": " + server + where);
      return PermissionDeniedError(what + ": permission denied: " + server +
                                   advice("use a key of that entity (a writable one for writes)") + where);
    case 404:
      if (code == "not_found" || code.empty()) {
        return InternalError(
            "the server does not know this route; is CAIRN_BASE_URL a cairn server of a matching "
            "version?" +
            where);
      }
      return NotFoundError(what + ": " + server + advice("check the entity, project and run id") + where);
    case 409:
      return AlreadyExistsError(what + ": " + server + where);
    case 413:
      return ResourceExhaustedError(what + ": the request is too large for the server: " + server + where);
    case 507:
      return ResourceExhaustedError(what + ": the server's disk is full: " + server +
                                    advice("free space on the server and try again") + where);
    default:
      break;
  }
  if (status == 500 && code == "data_loss") {
    return DataLossError(what + ": the server's stored copy is damaged or missing: " + server + where);
  }
  if (IsRetryableHttpStatus(status)) {
    return UnavailableError(what + ": the server is busy or unavailable: " + server + "; try again later" + where);
  }
  return InternalError(what + ": unexpected answer from the server: " + server + where);
}

StatusOr<HttpClientResponse> CallForAnswer(Connection& connection, HttpClientRequest& request,
                                           const CallOptions& options, bool* ambiguous) {
  CallResult result = connection.Call(request, options);
  if (ambiguous != nullptr) *ambiguous = result.ambiguous;
  if (auto* response = std::get_if<HttpClientResponse>(&result.outcome)) return std::move(*response);
  return std::get<TransportError>(result.outcome).status;
}

std::string RunTarget(const RunPath& run) {
  return "/api/v1/runs/" + UrlEncode(run.entity) + "/" + UrlEncode(run.project) + "/" + UrlEncode(run.run_id);
}

// ------------------------------------------------------------------ the client

namespace {

// A JSON field of the expected type, or a kInternal naming the answer.
template <typename T>
StatusOr<T> Field(const json& j, const char* key, std::string_view context) {
  if (!j.is_object() || !j.contains(key)) {
    return InternalError("unexpected answer from the server for " + std::string(context) + ": no '" + key +
                         "' field; is CAIRN_BASE_URL a cairn server of a matching version?");
  }
  const json& v = j[key];
  bool ok;
  if constexpr (std::is_same_v<T, std::string>) {
    ok = v.is_string();
  } else if constexpr (std::is_same_v<T, std::uint64_t>) {
    ok = v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0);
  } else {
    ok = v.is_number_integer();
  }
  if (!ok) {
    return InternalError("unexpected answer from the server for " + std::string(context) + ": field '" + key +
                         "' has the wrong type");
  }
  return v.get<T>();
}

StatusOr<RunInfo> RunFromJson(const json& j, std::string_view context) {
  RunInfo r;
  auto e = Field<std::string>(j, "entity", context);
  if (!e.ok()) return e.status();
  auto p = Field<std::string>(j, "project", context);
  if (!p.ok()) return p.status();
  auto id = Field<std::string>(j, "id", context);
  if (!id.ok()) return id.status();
  r.entity = *e;
  r.project = *p;
  r.id = *id;
  if (auto c = Field<std::string>(j, "created_at", context); c.ok()) r.created_at = *c;
  if (auto u = Field<std::string>(j, "updated_at", context); u.ok()) r.updated_at = *u;
  if (auto st = Field<std::string>(j, "state", context); st.ok()) r.state = *st;
  if (auto c = j.find("config"); c != j.end() && c->is_object()) r.config = c->dump();
  return r;
}

}  // namespace

StatusOr<FileInfo> FileFromJson(const json& j, std::string_view context) {
  FileInfo f;
  auto name = Field<std::string>(j, "name", context);
  if (!name.ok()) return name.status();
  auto size = Field<std::uint64_t>(j, "size", context);
  if (!size.ok()) return size.status();
  auto sha = Field<std::string>(j, "sha256", context);
  if (!sha.ok()) return sha.status();
  auto version = Field<std::int64_t>(j, "version", context);
  if (!version.ok()) return version.status();
  if (!IsSha256Hex(*sha)) {
    return InternalError("unexpected answer from the server for " + std::string(context) + ": bad sha256 '" + *sha +
                         "'");
  }
  f.name = *name;
  f.size = *size;
  f.sha256 = *sha;
  f.version = *version;
  if (auto u = Field<std::string>(j, "updated_at", context); u.ok()) f.updated_at = *u;
  return f;
}

namespace {

StatusOr<json> ParseJsonBody(const HttpClientResponse& response, std::string_view context) {
  json j = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return InternalError("unexpected answer from the server for " + std::string(context) +
                         ": not JSON; is CAIRN_BASE_URL a cairn server?");
  }
  return j;
}

std::string NextCursor(const json& j) {
  if (j.is_object() && j.contains("next_cursor") && j["next_cursor"].is_string()) {
    return j["next_cursor"].get<std::string>();
  }
  return {};
}

}  // namespace

Client::Client(Settings settings, std::unique_ptr<Connection> connection, const Tunables& tunables)
    : settings_(std::move(settings)), tunables_(tunables), impl_(std::make_shared<Impl>(std::move(connection))) {}

StatusOr<std::shared_ptr<Client>> Client::Create(const Settings& settings) {
  StatusOr<Tunables> tunables = TunablesFromEnvironment();
  if (!tunables.ok()) return tunables.status();
  return Create(settings, *tunables);
}

StatusOr<std::shared_ptr<Client>> Client::Create(const Settings& settings, const Tunables& tunables) {
  StatusOr<std::string> url = NormalizeBaseUrl(settings.base_url);
  if (!url.ok()) return url.status();
  Settings s = settings;
  s.base_url = *url;
  auto transport = std::make_unique<CurlConnection>(s.base_url, s.api_key, s.ca_bundle);
  return Create(std::move(s), std::make_unique<RetryingConnection>(std::move(transport), tunables.retry), tunables);
}

std::shared_ptr<Client> Client::Create(Settings settings, std::unique_ptr<Connection> connection,
                                      const Tunables& tunables) {
  return std::shared_ptr<Client>(new Client(std::move(settings), std::move(connection), tunables));
}

// Issues an idempotent GET (with retries) and returns the JSON body of a 2xx
// answer, else the mapped Status. `file_not_found` (optional) is set instead
// of failing when the answer is 404 file_not_found.
static StatusOr<json> GetJson(Client::Impl& impl, const std::string& target, const std::string& what,
                              bool* file_not_found = nullptr) {
  HttpClientRequest req;
  req.target = target;
  StatusOr<HttpClientResponse> resp = CallForAnswer(*impl.connection, req);
  if (!resp.ok()) return resp.status();
  if (resp->status / 100 != 2) {
    if (file_not_found != nullptr && resp->status == 404 && ErrorCode(*resp) == "file_not_found") {
      *file_not_found = true;
      return json();
    }
    return StatusFromResponse(*resp, req.method, impl.connection->Url(target), what, impl.connection->has_api_key());
  }
  return ParseJsonBody(*resp, what);
}

Status Client::ResolveEntity(RunPath& path) {
  if (!path.entity.empty()) return OkStatus();
  if (!settings_.entity.empty()) {
    path.entity = settings_.entity;
    return OkStatus();
  }
  std::optional<std::string> cached;
  {
    MutexLock lock(impl_->mu);
    cached = impl_->whoami_entity;
  }
  if (!cached) {
    // Concurrent first callers may both ask; the answers are the same.
    StatusOr<json> j = GetJson(*impl_, "/api/v1/whoami", "the API key's entity");
    if (!j.ok()) return j.status();
    std::string entity;
    if (j->is_object() && j->contains("entity") && (*j)["entity"].is_string()) {
      entity = (*j)["entity"].get<std::string>();
    }
    MutexLock lock(impl_->mu);
    impl_->whoami_entity = entity;
    cached = entity;
  }
  if (!cached->empty()) {
    path.entity = *cached;
    return OkStatus();
  }
  return InvalidArgumentError("no entity given for '" + path.project + "/" + path.run_id +
                              "' and the API key has no default entity; use entity/project/run_id or set "
                              "CAIRN_ENTITY");
}

StatusOr<RunInfo> Client::PutRun(const RunPath& run, const std::string& resume, bool* created,
                                 const RunFields& fields) {
  HttpClientRequest req;
  req.method = "PUT";
  req.target = RunTarget(run);
  json body{{"resume", resume}};
  if (!fields.config.empty()) {
    json config = json::parse(fields.config, nullptr, /*allow_exceptions=*/false);
    if (!config.is_object()) return InvalidArgumentError("run config must be a JSON object");
    body["config"] = std::move(config);
  }
  if (!fields.state.empty()) body["state"] = fields.state;
  req.json_body = body.dump();
  const std::string what = "run " + run.ToString();
  CallOptions options;
  if (fields.once) options.policy = RetryPolicy{.max_attempts = 1};
  // PUT is idempotent for "allow" and "must"; for "never" a retry after a lost
  // answer may see 409 for the run it created itself (handled below).
  bool ambiguous = false;
  StatusOr<HttpClientResponse> resp = CallForAnswer(*impl_->connection, req, options, &ambiguous);
  if (!resp.ok()) return resp.status();
  if (resp->status == 409 && ambiguous && resume == "never") {
    // Our first attempt most likely created it (ids are random); accept it.
    StatusOr<RunInfo> info = GetRun(run);
    if (info.ok() && created != nullptr) *created = true;
    return info;
  }
  if (resp->status / 100 != 2) {
    Status st =
        StatusFromResponse(*resp, req.method, impl_->connection->Url(req.target), what, impl_->connection->has_api_key());
    if (st.code() == StatusCode::kAlreadyExists) {
      return AlreadyExistsError("run " + run.ToString() +
                                " already exists; pass resume=\"allow\" (or CAIRN_RESUME=allow) to continue it, or use "
                                "a new id");
    }
    if (st.code() == StatusCode::kNotFound && resume == "must") {
      return NotFoundError("run " + run.ToString() +
                           " does not exist and resume=\"must\" requires it; check the id or use resume=\"allow\"");
    }
    return st;
  }
  StatusOr<json> j = ParseJsonBody(*resp, what);
  if (!j.ok()) return j.status();
  if (created != nullptr) *created = resp->status == 201;
  return RunFromJson(*j, what);
}

StatusOr<RunInfo> Client::GetRun(const RunPath& run) {
  const std::string what = "run " + run.ToString();
  StatusOr<json> j = GetJson(*impl_, RunTarget(run), what);
  if (!j.ok()) return j.status();
  return RunFromJson(*j, what);
}

StatusOr<ListPage<RunInfo>> Client::ListRuns(const std::string& entity, const std::string& project,
                                             const std::string& cursor) {
  const std::string what = "project " + entity + "/" + project;
  std::string target = "/api/v1/runs/" + UrlEncode(entity) + "/" + UrlEncode(project) + "?limit=1000";
  if (!cursor.empty()) target += "&cursor=" + UrlEncode(cursor);
  StatusOr<json> j = GetJson(*impl_, target, what);
  if (!j.ok()) return j.status();
  if (!j->contains("runs") || !(*j)["runs"].is_array()) {
    return InternalError("unexpected answer from the server for " + what + ": no 'runs' list");
  }
  ListPage<RunInfo> page;
  for (const json& r : (*j)["runs"]) {
    StatusOr<RunInfo> info = RunFromJson(r, what);
    if (!info.ok()) return info.status();
    page.items.push_back(std::move(*info));
  }
  page.next_cursor = NextCursor(*j);
  return page;
}

StatusOr<ListPage<FileInfo>> Client::ListFiles(const RunPath& run, const std::string& cursor) {
  const std::string what = "run " + run.ToString();
  std::string target = RunTarget(run) + "/files?limit=1000";
  if (!cursor.empty()) target += "&cursor=" + UrlEncode(cursor);
  StatusOr<json> j = GetJson(*impl_, target, what);
  if (!j.ok()) return j.status();
  if (!j->contains("files") || !(*j)["files"].is_array()) {
    return InternalError("unexpected answer from the server for " + what + ": no 'files' list");
  }
  ListPage<FileInfo> page;
  for (const json& f : (*j)["files"]) {
    StatusOr<FileInfo> info = FileFromJson(f, what);
    if (!info.ok()) return info.status();
    page.items.push_back(std::move(*info));
  }
  page.next_cursor = NextCursor(*j);
  return page;
}

StatusOr<std::vector<FileInfo>> Client::ListVersions(const RunPath& run, const std::string& name) {
  if (Status st = ValidateFileName(name); !st.ok()) return st;
  const std::string what = "versions of " + name + " in run " + run.ToString();
  bool missing = false;
  StatusOr<json> j =
      GetJson(*impl_, RunTarget(run) + "/versions/" + UrlEncode(name, /*keep_slash=*/true), what, &missing);
  if (!j.ok()) return j.status();
  std::vector<FileInfo> out;
  if (missing) return out;
  if (!j->contains("versions") || !(*j)["versions"].is_array()) {
    return InternalError("unexpected answer from the server for " + what + ": no 'versions' list");
  }
  for (const json& f : (*j)["versions"]) {
    StatusOr<FileInfo> info = FileFromJson(f, what);
    if (!info.ok()) return info.status();
    out.push_back(std::move(*info));
  }
  return out;
}

StatusOr<std::optional<FileInfo>> Client::GetFileInfo(const RunPath& run, const std::string& name,
                                                      std::optional<std::int64_t> version) {
  if (Status st = ValidateFileName(name); !st.ok()) return st;
  if (version && *version < 1) {
    return InvalidArgumentError("invalid version " + std::to_string(*version) + " of " + name +
                                ": versions are numbered from 1");
  }
  const std::string what = "file " + name + " in run " + run.ToString();
  std::string target = RunTarget(run) + "/meta/" + UrlEncode(name, /*keep_slash=*/true);
  if (version) target += "?version=" + std::to_string(*version);
  bool missing = false;
  StatusOr<json> j = GetJson(*impl_, target, what, &missing);
  if (!j.ok()) return j.status();
  if (missing) return std::optional<FileInfo>();
  StatusOr<FileInfo> info = FileFromJson(*j, what);
  if (!info.ok()) return info.status();
  return std::optional<FileInfo>(std::move(*info));
}

StatusOr<std::string> Client::CallJson(const std::string& method, const std::string& target,
                                       const std::string& json_body, const std::string& what, bool* file_not_found) {
  HttpClientRequest req;
  req.method = method;
  req.target = target;
  if (!json_body.empty()) req.json_body = json_body;
  // A GET repeats safely; anything else is retried only while nothing reached
  // the server (the retry decorator decides: connection.h).
  StatusOr<HttpClientResponse> resp = CallForAnswer(
      *impl_->connection, req,
      {.idempotency = method == "GET" ? Idempotency::kIdempotent : Idempotency::kNotIdempotent});
  if (!resp.ok()) return resp.status();
  if (resp->status / 100 == 2) return std::move(resp->body);
  if (file_not_found != nullptr && resp->status == 404 && ErrorCode(*resp) == "file_not_found") {
    *file_not_found = true;
    return std::string();
  }
  return StatusFromResponse(*resp, req.method, impl_->connection->Url(req.target), what,
                            impl_->connection->has_api_key());
}

StatusOr<std::string> Client::CreateKey(const std::string& entity, bool read_only) {
  if (Status st = ValidateId(entity, "entity"); !st.ok()) return st;
  HttpClientRequest req;
  req.method = "POST";
  req.target = "/api/v1/keys";
  req.json_body = json{{"entity", entity}, {"read_only", read_only}}.dump();
  const std::string what = "a key for entity " + entity;
  // Not idempotent: a retry after a lost answer would mint a second key.
  StatusOr<HttpClientResponse> resp =
      CallForAnswer(*impl_->connection, req, {.idempotency = Idempotency::kNotIdempotent});
  if (!resp.ok()) return resp.status();
  if (resp->status / 100 != 2) {
    return StatusFromResponse(*resp, req.method, impl_->connection->Url(req.target), what,
                              impl_->connection->has_api_key());
  }
  StatusOr<json> j = ParseJsonBody(*resp, what);
  if (!j.ok()) return j.status();
  return Field<std::string>(*j, "key", what);
}

}  // namespace cairn::internal
