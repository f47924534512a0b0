#include "server/handlers.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/run_config.h"
#include "common/sha256.h"
#include "common/validate.h"
#include "server/graphql/blob_md5.h"
#include "server/graphql/wandb_schema.h"

namespace cairn::internal {
namespace {

using Json = nlohmann::json;
using Route = Call::Route;

constexpr std::string_view kApiPrefix = "/api/v1/";
constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

// Never throws on invalid UTF-8 in user-supplied text.
std::string Dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

HttpResponse JsonResponse(int status, const Json& body) {
  HttpResponse r;
  r.status = status;
  r.body = Dump(body);
  return r;
}

// `stale_after`: a "running" run without a heartbeat for longer is "crashed".
Json RunJson(const RunRecord& r, std::chrono::seconds stale_after) {
  Json config = Json::parse(r.config, nullptr, /*allow_exceptions=*/false);
  return Json{{"entity", r.entity},
              {"project", r.project},
              {"id", r.run_id},
              {"created_at", FormatTimeMs(r.created_ms)},
              {"updated_at", FormatTimeMs(r.updated_ms)},
              {"state", EffectiveRunState(r.state, r.heartbeat_ms, NowMs(),
                                          std::chrono::milliseconds(stale_after).count())},
              {"heartbeat_at", r.heartbeat_ms == 0 ? Json(nullptr) : Json(FormatTimeMs(r.heartbeat_ms))},
              {"config", config.is_object() ? config : Json::object()}};
}

Json FileJson(const FileVersionRecord& f) {
  return Json{{"name", f.name},
              {"size", f.size},
              {"sha256", f.sha256},
              {"version", f.version},
              {"updated_at", FormatTimeMs(f.created_ms)}};
}

Json CursorJson(const std::string& cursor) { return cursor.empty() ? Json(nullptr) : Json(cursor); }

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) return out;
    start = pos + 1;
  }
}

template <typename Int>
std::optional<Int> ParseDecimal(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  Int v{};
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

StatusOr<std::map<std::string, std::string>> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  if (query.empty()) return out;
  for (std::string_view part : Split(query, '&')) {
    if (part.empty()) continue;
    std::size_t eq = part.find('=');
    std::optional<std::string> key = UrlDecode(part.substr(0, eq));
    std::optional<std::string> value =
        eq == std::string_view::npos ? std::optional<std::string>("") : UrlDecode(part.substr(eq + 1));
    if (!key || !value) {
      return InvalidArgumentError("malformed percent-encoding in query parameter \"" + std::string(part) + "\"");
    }
    out[*key] = *value;
  }
  return out;
}

StatusOr<int> ParseLimit(const std::map<std::string, std::string>& query) {
  auto it = query.find("limit");
  if (it == query.end() || it->second.empty()) return kDefaultPageSize;
  std::optional<int> v = ParseDecimal<int>(it->second);
  if (!v || *v < 1 || *v > kMaxPageSize) {
    return InvalidArgumentError("limit \"" + it->second + "\" must be an integer from 1 to 1000");
  }
  return *v;
}

StatusOr<std::optional<std::int64_t>> ParseVersion(const std::map<std::string, std::string>& query) {
  auto it = query.find("version");
  if (it == query.end() || it->second.empty()) return std::optional<std::int64_t>();
  std::optional<std::int64_t> v = ParseDecimal<std::int64_t>(it->second);
  if (!v || *v < 1) return InvalidArgumentError("version \"" + it->second + "\" must be an integer >= 1");
  return v;
}

std::string QueryValue(const std::map<std::string, std::string>& query, const std::string& key) {
  auto it = query.find(key);
  return it == query.end() ? std::string() : it->second;
}

HttpResponse MethodNotAllowed(std::string_view method, std::string_view allow) {
  HttpResponse r = ErrorResponse(405, "method_not_allowed",
                                 std::string(method) + " is not allowed here; allowed: " + std::string(allow));
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

// Decodes and validates one id component of the URL path.
StatusOr<std::string> DecodeId(std::string_view raw, std::string_view what) {
  std::optional<std::string> id = UrlDecode(raw);
  if (!id)
    return InvalidArgumentError("malformed percent-encoding in " + std::string(what) + " \"" + std::string(raw) + "\"");
  if (Status s = ValidateId(*id, what); !s.ok()) return s;
  return *id;
}

// Whether `method` is one of the comma-separated methods in `allow`.
bool Allows(std::string_view allow, std::string_view method) {
  for (std::string_view m : Split(allow, ',')) {
    while (!m.empty() && m.front() == ' ') m.remove_prefix(1);
    if (m == method) return true;
  }
  return false;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

HttpResponse FileResponse(int status, const FileVersionRecord& file) { return JsonResponse(status, FileJson(file)); }

HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message) {
  HttpResponse r = JsonResponse(status, Json{{"error", {{"code", code}, {"message", message}}}});
  if (status >= 500) r.log_note = std::string(code) + ": " + std::string(message);
  return r;
}

HttpResponse ServerErrorResponse(int status, std::string_view code, std::string_view advice, const Status& cause) {
  HttpResponse r = ErrorResponse(status, code, advice);
  r.log_note = std::string(code) + ": " + cause.message();
  return r;
}

HttpResponse StatusResponse(const Status& status) {
  if (std::optional<RunPathPart> part = MissingRunPathPart(status)) {
    switch (*part) {
      case RunPathPart::kEntity:
        return ErrorResponse(404, "entity_not_found", status.message());
      case RunPathPart::kProject:
        return ErrorResponse(404, "project_not_found", status.message());
      case RunPathPart::kRun:
        return ErrorResponse(404, "run_not_found", status.message());
    }
  }
  switch (status.code()) {
    case StatusCode::kOk:
      return ErrorResponse(500, "internal", "an error without an error (a bug)");
    case StatusCode::kInvalidArgument:
      return ErrorResponse(400, "invalid_argument", status.message());
    case StatusCode::kNotFound:
      return ErrorResponse(404, "not_found", status.message());
    case StatusCode::kAlreadyExists:
      return ErrorResponse(409, "already_exists", status.message());
    case StatusCode::kUnauthenticated:
      return ErrorResponse(401, "unauthenticated", status.message());
    case StatusCode::kPermissionDenied:
      return ErrorResponse(403, "permission_denied", status.message());
    case StatusCode::kUnavailable:
    case StatusCode::kDeadlineExceeded:
      return ServerErrorResponse(503, "unavailable", "the server's storage is unavailable right now; retry shortly",
                                 status);
    case StatusCode::kResourceExhausted:
      return ServerErrorResponse(507, "insufficient_storage",
                                 "the server's disk is full: nothing was stored; retry once its operator has freed "
                                 "space",
                                 status);
    case StatusCode::kDataLoss:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kInternal:
      break;
  }
  return ServerErrorResponse(500, "internal", "the server failed; its log has the details", status);
}

RangeSpec ParseRange(std::string_view header, std::uint64_t size) {
  RangeSpec whole;
  header = Trim(header);
  if (header.empty()) return whole;
  std::size_t eq = header.find('=');
  if (eq == std::string_view::npos) return {RangeSpec::Kind::kMalformed};
  std::string unit(Trim(header.substr(0, eq)));
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::tolower(c); });
  if (unit != "bytes") return whole;  // a unit we do not serve: ignore the header (RFC 9110 14.2)
  std::string_view spec = Trim(header.substr(eq + 1));
  if (spec.find(',') != std::string_view::npos) return whole;  // several ranges: we send the whole file
  std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return {RangeSpec::Kind::kMalformed};
  std::string_view a = Trim(spec.substr(0, dash));
  std::string_view b = Trim(spec.substr(dash + 1));
  if (a.empty()) {  // suffix: the last N bytes
    std::optional<std::uint64_t> n = ParseDecimal<std::uint64_t>(b);
    if (!n) return {RangeSpec::Kind::kMalformed};
    if (*n == 0 || size == 0) return {RangeSpec::Kind::kUnsatisfiable};
    return {RangeSpec::Kind::kPartial, size - std::min(*n, size), size - 1};
  }
  std::optional<std::uint64_t> first = ParseDecimal<std::uint64_t>(a);
  if (!first) return {RangeSpec::Kind::kMalformed};
  std::uint64_t last = size == 0 ? 0 : size - 1;
  if (!b.empty()) {
    std::optional<std::uint64_t> l = ParseDecimal<std::uint64_t>(b);
    if (!l || *l < *first) return {RangeSpec::Kind::kMalformed};
    last = std::min(last, *l);
  }
  if (*first >= size) return {RangeSpec::Kind::kUnsatisfiable};
  return {RangeSpec::Kind::kPartial, *first, last};
}

Api::Api(MetadataStore* metadata, BlobStore* blobs, const Authenticator* auth, BlobUrlSigner* url_signer,
         std::chrono::seconds presign_ttl, UploadSessions* uploads, std::chrono::seconds run_stale_after)
    : metadata_(metadata),
      blobs_(blobs),
      auth_(auth),
      url_signer_(url_signer),
      presign_ttl_(presign_ttl),
      uploads_(uploads),
      run_stale_after_(run_stale_after),
      md5_indexer_(std::make_unique<graphql::Md5Indexer>(metadata, blobs)) {}

Api::~Api() = default;

Call Api::Begin(const HttpRequest& req) const {
  Call call;
  auto answer = [&call](HttpResponse r) -> Call {
    call.response = std::move(r);
    return std::move(call);
  };

  std::string_view target = req.target;
  std::size_t qpos = target.find('?');
  std::string_view path = target.substr(0, qpos);
  std::string_view raw_query = qpos == std::string_view::npos ? std::string_view() : target.substr(qpos + 1);
  if (path == "/graphql") return BeginGraphql(req, call);
  if (path.substr(0, kApiPrefix.size()) != kApiPrefix) {
    return answer(ErrorResponse(404, "not_found", "no such route: " + std::string(path)));
  }
  const std::string_view rest = path.substr(kApiPrefix.size());
  const std::vector<std::string_view> seg = Split(rest, '/');
  const std::string& m = req.method;

  // 1. Route (404 / 405).
  std::string_view allow;
  std::string_view raw_name;  // the {path} part, still encoded
  if (rest == "health") {
    call.route = Route::kHealth;
    allow = "GET";
  } else if (rest == "whoami") {
    call.route = Route::kWhoami;
    allow = "GET";
  } else if (rest == "keys") {
    call.route = Route::kCreateKey;
    allow = "POST";
  } else if (seg[0] == "uploads" && seg.size() >= 2 && seg.size() <= 4) {
    // /uploads/{id}, /uploads/{id}/complete, /uploads/{id}/parts/{n}
    if (seg.size() == 2) {
      call.route = m == "DELETE" ? Route::kDeleteUpload : Route::kGetUpload;
      allow = "GET, DELETE";
    } else if (seg.size() == 3 && seg[2] == "complete") {
      call.route = Route::kCompleteUpload;
      allow = "POST";
    } else if (seg.size() == 4 && seg[2] == "parts") {
      call.route = Route::kPutPart;
      allow = "PUT";
    }
  } else if (seg.size() >= 3 && seg[0] == "runs") {
    if (seg.size() == 3) {
      call.route = Route::kListRuns;
      allow = "GET";
    } else if (seg.size() == 4) {
      call.route = m == "PUT" ? Route::kPutRun : Route::kGetRun;
      allow = "GET, PUT";
    } else if (seg.size() == 5 && seg[4] == "files") {
      call.route = Route::kListFiles;
      allow = "GET";
    } else if (seg.size() >= 6 && (seg[4] == "files" || seg[4] == "meta" || seg[4] == "versions" || seg[4] == "uploads")) {
      // Everything after ".../{r}/{kind}/" is the file name.
      std::size_t offset = 0;
      for (int i = 0; i < 5; ++i) offset += seg[i].size() + 1;
      raw_name = rest.substr(offset);
      if (seg[4] == "files") {
        call.route = m == "PUT" ? Route::kPutFile : Route::kGetFile;
        allow = "GET, HEAD, PUT";
      } else if (seg[4] == "meta") {
        call.route = Route::kGetMeta;
        allow = "GET";
      } else if (seg[4] == "uploads") {
        call.route = Route::kCreateUpload;
        allow = "POST";
      } else {
        call.route = Route::kListVersions;
        allow = "GET";
      }
    }
  }
  if (call.route == Route::kNone) {
    return answer(ErrorResponse(404, "not_found", "no such route: " + std::string(path)));
  }
  if (!Allows(allow, m)) return answer(MethodNotAllowed(m, allow));

  if (call.route == Route::kHealth) return answer(JsonResponse(200, Json{{"ok", true}}));

  // 2. Authenticate (401).
  StatusOr<Principal> who = auth_->Authenticate(req.authorization);
  if (!who.ok()) return answer(StatusResponse(who.status()));
  call.principal = *who;

  if (call.route == Route::kWhoami) {
    return answer(JsonResponse(200, Json{{"entity", call.principal.admin ? Json(nullptr) : Json(call.principal.entity)},
                                         {"admin", call.principal.admin},
                                         {"read_only", call.principal.read_only}}));
  }
  if (call.route == Route::kCreateKey) {
    if (!call.principal.admin) {
      return answer(ErrorResponse(403, "permission_denied", "only the admin key may create keys"));
    }
    return call;  // needs the body
  }
  if (seg[0] == "uploads") {
    return BeginSessionRoute(std::move(call), req, seg[1], seg.size() == 4 ? seg[3] : std::string_view());
  }

  // 3. Decode and validate the run path and file name (400).
  StatusOr<std::map<std::string, std::string>> query = ParseQuery(raw_query);
  if (!query.ok()) return answer(StatusResponse(query.status()));
  StatusOr<std::string> entity = DecodeId(seg[1], "entity");
  if (!entity.ok()) return answer(StatusResponse(entity.status()));
  StatusOr<std::string> project = DecodeId(seg[2], "project");
  if (!project.ok()) return answer(StatusResponse(project.status()));
  call.run.entity = *entity;
  call.run.project = *project;
  if (seg.size() >= 4) {
    StatusOr<std::string> run_id = DecodeId(seg[3], "run id");
    if (!run_id.ok()) return answer(StatusResponse(run_id.status()));
    call.run.run_id = *run_id;
  }
  if (!raw_name.empty() || seg.size() >= 6) {
    std::optional<std::string> name = UrlDecode(raw_name);
    if (!name) {
      return answer(ErrorResponse(400, "invalid_argument",
                                  "malformed percent-encoding in file name \"" + std::string(raw_name) + "\""));
    }
    if (Status s = ValidateFileName(*name); !s.ok()) return answer(StatusResponse(s));
    call.name = std::move(*name);
  }

  // 4. Authorise (403).
  const bool write =
      call.route == Route::kPutRun || call.route == Route::kPutFile || call.route == Route::kCreateUpload;
  if (Status s = Authenticator::CheckAccess(call.principal, call.run.entity, write); !s.ok()) {
    return answer(StatusResponse(s));
  }

  // 5. The route.
  switch (call.route) {
    case Route::kPutRun:
    case Route::kCreateUpload:
      return call;  // needs the body
    case Route::kGetRun: {
      StatusOr<RunRecord> run = metadata_->GetRun(call.run);
      if (!run.ok()) return answer(StatusResponse(run.status()));
      return answer(JsonResponse(200, RunJson(*run, run_stale_after_)));
    }
    case Route::kListRuns: {
      StatusOr<int> limit = ParseLimit(*query);
      if (!limit.ok()) return answer(StatusResponse(limit.status()));
      StatusOr<Page<RunRecord>> page =
          metadata_->ListRuns(call.run.entity, call.run.project, QueryValue(*query, "cursor"), *limit);
      if (!page.ok()) return answer(StatusResponse(page.status()));
      Json runs = Json::array();
      for (const RunRecord& r : page->items) runs.push_back(RunJson(r, run_stale_after_));
      return answer(JsonResponse(200, Json{{"runs", std::move(runs)}, {"next_cursor", CursorJson(page->next_cursor)}}));
    }
    case Route::kListFiles: {
      StatusOr<int> limit = ParseLimit(*query);
      if (!limit.ok()) return answer(StatusResponse(limit.status()));
      StatusOr<Page<FileVersionRecord>> page =
          metadata_->ListFiles(call.run, QueryValue(*query, "prefix"), QueryValue(*query, "cursor"), *limit);
      if (!page.ok()) return answer(StatusResponse(page.status()));
      Json files = Json::array();
      for (const FileVersionRecord& f : page->items) files.push_back(FileJson(f));
      return answer(
          JsonResponse(200, Json{{"files", std::move(files)}, {"next_cursor", CursorJson(page->next_cursor)}}));
    }
    case Route::kGetMeta: {
      StatusOr<std::optional<std::int64_t>> version = ParseVersion(*query);
      if (!version.ok()) return answer(StatusResponse(version.status()));
      StatusOr<std::optional<FileVersionRecord>> file = metadata_->GetFile(call.run, call.name, *version);
      if (!file.ok()) return answer(StatusResponse(file.status()));
      if (!file->has_value()) {
        return answer(ErrorResponse(404, "file_not_found",
                                    "run " + call.run.entity + "/" + call.run.project + "/" + call.run.run_id +
                                        " has no file " + call.name +
                                        (version->has_value() ? " version " + std::to_string(**version) : "")));
      }
      return answer(JsonResponse(200, FileJson(**file)));
    }
    case Route::kListVersions: {
      StatusOr<std::vector<FileVersionRecord>> versions = metadata_->ListVersions(call.run, call.name);
      if (!versions.ok()) return answer(StatusResponse(versions.status()));
      Json list = Json::array();
      for (const FileVersionRecord& f : *versions) list.push_back(FileJson(f));
      return answer(JsonResponse(200, Json{{"versions", std::move(list)}}));
    }
    case Route::kGetFile: {
      StatusOr<std::optional<std::int64_t>> version = ParseVersion(*query);
      if (!version.ok()) return answer(StatusResponse(version.status()));
      return answer(GetFileBytes(call, req, *version));
    }
    case Route::kPutFile: {
      if (!req.content_length.has_value() && !req.by_reference) {
        return answer(ErrorResponse(411, "length_required",
                                    "an upload needs a Content-Length header (chunked uploads are not accepted)"));
      }
      std::string sha(Trim(req.sha256));
      std::transform(sha.begin(), sha.end(), sha.begin(), [](unsigned char c) { return std::tolower(c); });
      if (!IsSha256Hex(sha)) {
        return answer(ErrorResponse(
            400, "invalid_argument",
            req.sha256.empty() ? "an upload needs an X-Cairn-Sha256 header with the file's hex SHA-256"
                               : "X-Cairn-Sha256 \"" + req.sha256 + "\" is not a hex SHA-256 (64 hex digits)"));
      }
      if (req.by_reference) return answer(CommitByReference(call, sha, req));
      // The run must exist before a byte of the body is accepted.
      StatusOr<RunRecord> run = metadata_->GetRun(call.run);
      if (!run.ok()) return answer(StatusResponse(run.status()));
      StatusOr<std::unique_ptr<BlobWriter>> writer = blobs_->NewWriter();
      if (!writer.ok()) return answer(StatusResponse(writer.status()));
      call.sha256 = std::move(sha);
      call.declared_size = *req.content_length;
      call.upload = std::move(writer).value();
      return call;
    }
    default:
      return answer(ErrorResponse(500, "internal", "unhandled route (a bug)"));
  }
}

HttpResponse Api::GetFileBytes(const Call& call, const HttpRequest& req, std::optional<std::int64_t> version) const {
  StatusOr<std::optional<FileVersionRecord>> found = metadata_->GetFile(call.run, call.name, version);
  if (!found.ok()) return StatusResponse(found.status());
  if (!found->has_value()) {
    return ErrorResponse(404, "file_not_found",
                         "run " + call.run.entity + "/" + call.run.project + "/" + call.run.run_id + " has no file " +
                             call.name + (version.has_value() ? " version " + std::to_string(*version) : ""));
  }
  const FileVersionRecord& file = **found;
  const std::string etag = "\"" + file.sha256 + "\"";

  RangeSpec range = ParseRange(req.range, file.size);
  if (range.kind != RangeSpec::Kind::kWhole && !req.if_range.empty() && Trim(req.if_range) != etag) {
    range = RangeSpec{};  // the client's copy is of another version: send all of this one
  }
  if (range.kind == RangeSpec::Kind::kMalformed) {
    return ErrorResponse(400, "invalid_argument",
                         "malformed Range header \"" + req.range + "\": use bytes=A-B, bytes=A- or bytes=-N");
  }
  if (range.kind == RangeSpec::Kind::kUnsatisfiable) {
    HttpResponse r =
        ErrorResponse(416, "range_not_satisfiable",
                      "range \"" + req.range + "\" is outside the file's " + std::to_string(file.size) + " bytes");
    r.headers.emplace_back("Content-Range", "bytes */" + std::to_string(file.size));
    return r;
  }

  HttpResponse r;
  r.content_type = "application/octet-stream";
  r.headers.emplace_back("ETag", etag);
  r.headers.emplace_back("Accept-Ranges", "bytes");
  r.headers.emplace_back("X-Cairn-Sha256", file.sha256);
  r.headers.emplace_back("X-Cairn-Version", std::to_string(file.version));
  r.headers.emplace_back("X-Cairn-Size", std::to_string(file.size));
  std::uint64_t offset = 0;
  std::uint64_t length = file.size;
  if (range.kind == RangeSpec::Kind::kPartial) {
    r.status = 206;
    offset = range.first;
    length = range.last - range.first + 1;
    r.headers.emplace_back("Content-Range", "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) +
                                                "/" + std::to_string(file.size));
  }
  r.stream_length = length;
  if (req.method == "HEAD") {
    r.head_only = true;
    return r;
  }
  if (url_signer_ != nullptr) {
    // The client fetches the bytes from the object store itself (its Range
    // header goes along with the redirect) and checks them against
    // X-Cairn-Sha256 as always.
    StatusOr<std::string> url = url_signer_->PresignGet(file.sha256, presign_ttl_);
    if (!url.ok()) return StatusResponse(url.status());
    r.status = 307;
    r.stream_length = 0;
    r.headers.emplace_back("Location", *url);
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  }
  StatusOr<std::unique_ptr<BlobReader>> reader = blobs_->Open(file.sha256, offset, length);
  if (!reader.ok()) {
    // The metadata points at a blob the store does not have, or not whole:
    // retrying will not help (data_loss); anything else may be transient.
    const StatusCode code = reader.status().code();
    if (code == StatusCode::kNotFound || code == StatusCode::kInvalidArgument || code == StatusCode::kDataLoss) {
      return ServerErrorResponse(500, "data_loss",
                                 "the stored bytes of " + call.name + " version " + std::to_string(file.version) +
                                     " are missing or damaged on the server: its operator can run `cairn fsck`; "
                                     "saving the same file again repairs it",
                                 reader.status());
    }
    return ServerErrorResponse(500, "internal",
                               "the bytes of " + call.name + " version " + std::to_string(file.version) +
                                   " cannot be read right now; retry (the server's log has the details)",
                               reader.status());
  }
  r.stream = std::move(reader).value();
  return r;
}

HttpResponse Api::Finish(Call& call, std::string_view body) const {
  Json json = Json::object();
  if (!Trim(body).empty()) {
    json = Json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded() || !json.is_object()) {
      return ErrorResponse(400, "invalid_argument", "the request body must be a JSON object");
    }
  }
  if (call.route == Route::kGraphql) return FinishGraphql(call, body);
  switch (call.route) {
    case Route::kCreateKey: {
      auto entity = json.find("entity");
      if (entity == json.end() || !entity->is_string()) {
        return ErrorResponse(400, "invalid_argument", "the body needs \"entity\": the entity the key may touch");
      }
      const std::string name = entity->get<std::string>();
      if (Status s = ValidateId(name, "entity"); !s.ok()) return StatusResponse(s);
      bool read_only = false;
      if (auto ro = json.find("read_only"); ro != json.end()) {
        if (!ro->is_boolean()) return ErrorResponse(400, "invalid_argument", "\"read_only\" must be true or false");
        read_only = ro->get<bool>();
      }
      StatusOr<std::string> key = auth_->CreateKey(name, read_only);
      if (!key.ok()) return StatusResponse(key.status());
      return JsonResponse(201, Json{{"key", *key}, {"entity", name}, {"read_only", read_only}});
    }
    case Route::kPutRun: {
      ResumeMode mode = ResumeMode::kNever;
      if (auto resume = json.find("resume"); resume != json.end()) {
        const std::string value = resume->is_string() ? resume->get<std::string>() : std::string();
        if (value == "never") {
          mode = ResumeMode::kNever;
        } else if (value == "allow") {
          mode = ResumeMode::kAllow;
        } else if (value == "must") {
          mode = ResumeMode::kMust;
        } else {
          return ErrorResponse(400, "invalid_argument",
                               "\"resume\" must be \"never\", \"allow\" or \"must\", not " + Dump(*resume));
        }
      }
      StatusOr<RunUpdate> update = ParseRunUpdate(json);  // run_update.cc
      if (!update.ok()) return StatusResponse(update.status());
      bool created = false;
      StatusOr<RunRecord> run = metadata_->CreateOrResumeRun(call.run, mode, &created);
      if (run.ok() && (!update->config_patch.empty() || !update->state.empty())) {
        run = metadata_->UpdateRun(call.run, *update);
      }
      if (!run.ok()) return StatusResponse(run.status());
      return JsonResponse(created ? 201 : 200, RunJson(*run, run_stale_after_));
    }
    case Route::kCreateUpload:
      return FinishCreateUpload(call, json);
    default:
      return ErrorResponse(500, "internal", "this route takes no body (a bug)");
  }
}

HttpResponse Api::FinishUpload(Call& call) const {
  if (!call.upload) return ErrorResponse(500, "internal", "no upload in progress (a bug)");
  if (call.route == Route::kPutPart) return FinishPart(call);
  Status s = call.upload->Commit(call.sha256, call.declared_size);
  call.upload.reset();
  if (s.code() == StatusCode::kDataLoss) return ErrorResponse(400, "digest_mismatch", s.message());
  if (!s.ok()) return StatusResponse(s);
  // Blob first, metadata second: a crash in between leaves an unreferenced
  // blob, never a version without bytes.
  StatusOr<FileVersionRecord> version = metadata_->CommitVersion(call.run, call.name, call.sha256, call.declared_size);
  if (!version.ok()) return StatusResponse(version.status());
  md5_indexer_->Enqueue(call.sha256, call.declared_size);
  return JsonResponse(201, FileJson(*version));
}

// The W&B endpoint answers in GraphQL's error form, which W&B clients read.
HttpResponse GraphqlHttpResponse(const graphql::Response& r) {
  HttpResponse out;
  out.status = r.http_status;
  out.body = r.body.dump(-1, ' ', false, graphql::Json::error_handler_t::replace);
  return out;
}

Call Api::BeginGraphql(const HttpRequest& req, Call& call) const {
  call.route = Route::kGraphql;
  if (req.method != "POST") {
    HttpResponse r = GraphqlHttpResponse(
        graphql::ErrorOnly(405, "POST the query as JSON {\"query\": \"...\", \"variables\": {...}} to /graphql"));
    r.headers.emplace_back("Allow", "POST");
    call.response = std::move(r);
    return std::move(call);
  }
  // 401 is what W&B clients take for a bad key.
  StatusOr<Principal> who = auth_->Authenticate(req.authorization);
  if (!who.ok()) {
    const int status = who.status().code() == StatusCode::kUnauthenticated ? 401 : 503;
    call.response = GraphqlHttpResponse(graphql::ErrorOnly(status, who.status().message()));
    return std::move(call);
  }
  call.principal = *who;
  const std::string proto = req.forwarded_proto == "https" ? "https" : "http";
  call.base_url = proto + "://" + (req.host.empty() ? std::string("localhost") : req.host);
  return std::move(call);  // needs the body
}

HttpResponse Api::FinishGraphql(const Call& call, std::string_view body) const {
  graphql::WandbContext context{.metadata = metadata_,
                                .blobs = blobs_,
                                .url_signer = url_signer_,
                                .presign_ttl = presign_ttl_,
                                .principal = call.principal,
                                .base_url = call.base_url,
                                .md5_indexer = md5_indexer_.get(),
                                .run_stale_after = run_stale_after_};
  return GraphqlHttpResponse(graphql::Execute(body, *graphql::NewWandbQuery(context)));
}

}  // namespace cairn::internal
