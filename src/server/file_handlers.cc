// Files of a run: list, metadata, versions, download (GET/HEAD with ranges,
// or a redirect to a presigned URL), upload (a streamed PUT verified before
// it commits, or a commit by reference). docs/http-api.md, "Files".
// The router has decoded and validated the run path and the file name and
// checked the key's access.
#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/sha256.h"
#include "server/file_json.h"
#include "server/handlers.h"

namespace cairn::internal {
namespace {

using Json = nlohmann::json;

StatusOr<std::optional<std::int64_t>> ParseVersion(const QueryParams& query) {
  auto it = query.find("version");
  if (it == query.end() || it->second.empty()) return std::optional<std::int64_t>();
  std::optional<std::int64_t> v = ParseDecimal<std::int64_t>(it->second);
  if (!v || *v < 1) return InvalidArgumentError("version \"" + it->second + "\" must be an integer >= 1");
  return v;
}

HttpResponse FileNotFound(const Call& call, std::optional<std::int64_t> version) {
  return ErrorResponse(404, "file_not_found",
                       "run " + call.run.entity + "/" + call.run.project + "/" + call.run.run_id + " has no file " +
                           call.name + (version.has_value() ? " version " + std::to_string(*version) : ""));
}

// The headers of a download, and its range (416 / 400 answered here).
RangeSpec DownloadRange(const HttpRequest& req, const FileVersionRecord& file, HttpResponse& r) {
  const std::string etag = "\"" + file.sha256 + "\"";
  RangeSpec range = ParseRange(req.range, file.size);
  if (range.kind != RangeSpec::Kind::kWhole && !req.if_range.empty() && TrimSpace(req.if_range) != etag) {
    range = RangeSpec{};  // the client's copy is of another version: send all of this one
  }
  if (range.kind == RangeSpec::Kind::kMalformed) {
    r = ErrorResponse(400, "invalid_argument",
                      "malformed Range header \"" + req.range + "\": use bytes=A-B, bytes=A- or bytes=-N");
    return range;
  }
  if (range.kind == RangeSpec::Kind::kUnsatisfiable) {
    r = ErrorResponse(416, "range_not_satisfiable",
                      "range \"" + req.range + "\" is outside the file's " + std::to_string(file.size) + " bytes");
    r.headers.emplace_back("Content-Range", "bytes */" + std::to_string(file.size));
    return range;
  }
  r.content_type = "application/octet-stream";
  r.headers.emplace_back("ETag", etag);
  r.headers.emplace_back("Accept-Ranges", "bytes");
  r.headers.emplace_back("X-Cairn-Sha256", file.sha256);
  r.headers.emplace_back("X-Cairn-Version", std::to_string(file.version));
  r.headers.emplace_back("X-Cairn-Size", std::to_string(file.size));
  r.stream_length = file.size;
  if (range.kind == RangeSpec::Kind::kPartial) {
    r.status = 206;
    r.stream_length = range.last - range.first + 1;
    r.headers.emplace_back("Content-Range", "bytes " + std::to_string(range.first) + "-" + std::to_string(range.last) +
                                                "/" + std::to_string(file.size));
  }
  return range;
}

HttpResponse BlobReadError(const Call& call, const FileVersionRecord& file, const Status& status) {
  // The metadata points at a blob the store does not have, or not whole:
  // retrying will not help (data_loss); anything else may be transient.
  const StatusCode code = status.code();
  if (code == StatusCode::kNotFound || code == StatusCode::kInvalidArgument || code == StatusCode::kDataLoss) {
    return ServerErrorResponse(500, "data_loss",
                               "the stored bytes of " + call.name + " version " + std::to_string(file.version) +
                                   " are missing or damaged on the server: its operator can run `cairn fsck`; "
                                   "saving the same file again repairs it",
                               status);
  }
  return ServerErrorResponse(500, "internal",
                             "the bytes of " + call.name + " version " + std::to_string(file.version) +
                                 " cannot be read right now; retry (the server's log has the details)",
                             status);
}

HttpResponse FileBytes(const Services& s, const Call& call, std::optional<std::int64_t> version) {
  StatusOr<std::optional<FileVersionRecord>> found = s.metadata->GetFile(call.run, call.name, version);
  if (!found.ok()) return StatusResponse(found.status());
  if (!found->has_value()) return FileNotFound(call, version);
  const FileVersionRecord& file = **found;
  HttpResponse r;
  const RangeSpec range = DownloadRange(call.request, file, r);
  if (range.kind == RangeSpec::Kind::kMalformed || range.kind == RangeSpec::Kind::kUnsatisfiable) return r;
  if (call.request.method == "HEAD") {
    r.head_only = true;
    return r;
  }
  if (s.url_signer != nullptr) {
    // The client fetches the bytes from the object store itself (its Range
    // header goes along with the redirect) and checks them against
    // X-Cairn-Sha256 as always.
    // The object store names the file (a browser ignores the `download`
    // attribute of a link that redirects to another origin).
    const std::string basename = call.name.substr(call.name.rfind('/') + 1);
    StatusOr<std::string> url =
        s.url_signer->PresignGet(file.sha256, s.presign_ttl, ContentDispositionAttachment(basename));
    if (!url.ok()) return StatusResponse(url.status());
    r.status = 307;
    r.stream_length = 0;
    r.headers.emplace_back("Location", *url);
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  }
  const std::uint64_t offset = range.kind == RangeSpec::Kind::kPartial ? range.first : 0;
  StatusOr<std::unique_ptr<BlobReader>> reader = s.blobs->Open(file.sha256, offset, r.stream_length);
  if (!reader.ok()) return BlobReadError(call, file, reader.status());
  r.stream = std::move(reader).value();
  return r;
}

// X-Cairn-By-Reference: 1 — a new version from a blob the entity already
// committed (docs/adr/0008-uploads-by-reference-and-in-parts.md).
HttpResponse CommitByReference(const Services& s, const Call& call, const std::string& sha256) {
  const HttpRequest& req = call.request;
  if (req.content_length.value_or(0) != 0) {
    return ErrorResponse(400, "invalid_argument",
                         "a commit by reference (X-Cairn-By-Reference: 1) has an empty body; drop the header to "
                         "send the bytes");
  }
  if (!req.cairn_size) {
    return ErrorResponse(400, "invalid_argument",
                         "a commit by reference needs X-Cairn-Size: the file's size in bytes (decimal)");
  }
  StatusOr<RunRecord> run = s.metadata->GetRun(call.run);
  if (!run.ok()) return StatusResponse(run.status());
  // Only digests this entity already committed, so a key never gains bytes
  // it could not read already; and only blobs the store still holds whole.
  StatusOr<std::optional<std::uint64_t>> held = s.metadata->FindEntityBlob(call.run.entity, sha256);
  if (!held.ok()) return StatusResponse(held.status());
  bool usable = held->has_value() && **held == *req.cairn_size;
  if (usable) {
    StatusOr<std::optional<std::uint64_t>> stored = s.blobs->Stat(sha256);
    if (!stored.ok()) return StatusResponse(stored.status());
    usable = stored->has_value() && **stored == *req.cairn_size;
  }
  if (!usable) {
    return ErrorResponse(412, "not_held",
                         "entity " + call.run.entity + " holds no copy of SHA-256 " + sha256 + " (" +
                             std::to_string(*req.cairn_size) + " bytes): send the bytes in a normal upload");
  }
  StatusOr<FileVersionRecord> version = s.metadata->CommitVersion(call.run, call.name, sha256, *req.cairn_size,
                                                                call.principal.Actor());
  if (!version.ok()) return StatusResponse(version.status());
  s.upload_events->Committed({.run = call.run,
                              .name = call.name,
                              .sha256 = sha256,
                              .size = *req.cairn_size,
                              .version = version->version,
                              .by_reference = true});
  return FileResponse(201, *version);
}

}  // namespace

HttpResponse FileResponse(int status, const FileVersionRecord& file) { return JsonResponse(status, FileJson(file)); }

void HandleListFiles(const Services& s, Call& call) {
  StatusOr<int> limit = ParsePageLimit(call.query);
  if (!limit.ok()) return call.Fail(limit.status());
  StatusOr<Page<FileVersionRecord>> page =
      s.metadata->ListFiles(call.run, QueryValue(call.query, "prefix"), QueryValue(call.query, "cursor"), *limit);
  if (!page.ok()) return call.Fail(page.status());
  // Written straight into the body (FilePageJson): the same bytes as the
  // Json tree would give, at a fraction of a 1,000-file page's server time.
  HttpResponse r;
  r.body = FilePageJson(page->items, page->next_cursor);
  call.Answer(std::move(r));
}

void HandleGetMeta(const Services& s, Call& call) {
  StatusOr<std::optional<std::int64_t>> version = ParseVersion(call.query);
  if (!version.ok()) return call.Fail(version.status());
  StatusOr<std::optional<FileVersionRecord>> file = s.metadata->GetFile(call.run, call.name, *version);
  if (!file.ok()) return call.Fail(file.status());
  if (!file->has_value()) return call.Answer(FileNotFound(call, *version));
  call.Answer(JsonResponse(200, FileJson(**file)));
}

void HandleListVersions(const Services& s, Call& call) {
  StatusOr<std::vector<FileVersionRecord>> versions = s.metadata->ListVersions(call.run, call.name);
  if (!versions.ok()) return call.Fail(versions.status());
  // ?md5=1 (the web UI): each version's MD5 when the server has computed it
  // (in the background, for W&B clients), else null.
  const bool with_md5 = QueryValue(call.query, "md5") == "1";
  Json list = Json::array();
  for (const FileVersionRecord& f : *versions) {
    Json v = FileJson(f);
    if (with_md5) {
      StatusOr<std::optional<std::string>> md5 = s.metadata->GetBlobMd5(f.sha256);
      v["md5"] = md5.ok() && md5->has_value() ? Json(**md5) : Json(nullptr);
    }
    list.push_back(std::move(v));
  }
  call.Answer(JsonResponse(200, Json{{"versions", std::move(list)}}));
}

void HandleGetFile(const Services& s, Call& call) {
  StatusOr<std::optional<std::int64_t>> version = ParseVersion(call.query);
  if (!version.ok()) return call.Fail(version.status());
  call.Answer(FileBytes(s, call, *version));
}

void HandleOpenUpload(const Services& s, Call& call) {
  const HttpRequest& req = call.request;
  if (!req.content_length.has_value() && !req.by_reference) {
    return call.Answer(ErrorResponse(411, "length_required",
                                     "an upload needs a Content-Length header (chunked uploads are not accepted)"));
  }
  std::string sha(TrimSpace(req.sha256));
  std::transform(sha.begin(), sha.end(), sha.begin(), [](unsigned char c) { return std::tolower(c); });
  if (!IsSha256Hex(sha)) {
    return call.Answer(ErrorResponse(
        400, "invalid_argument",
        req.sha256.empty() ? "an upload needs an X-Cairn-Sha256 header with the file's hex SHA-256"
                           : "X-Cairn-Sha256 \"" + req.sha256 + "\" is not a hex SHA-256 (64 hex digits)"));
  }
  if (req.by_reference) return call.Answer(CommitByReference(s, call, sha));
  // The run must exist before a byte of the body is accepted.
  StatusOr<RunRecord> run = s.metadata->GetRun(call.run);
  if (!run.ok()) return call.Fail(run.status());
  // Over the entity's quota: refused before a byte is read or stored.
  if (auto refusal = QuotaRefusal(s, call.run.entity, sha, *req.content_length)) return call.Answer(std::move(*refusal));
  StatusOr<std::unique_ptr<BlobWriter>> writer = s.blobs->NewWriter();
  if (!writer.ok()) return call.Fail(writer.status());
  call.sha256 = std::move(sha);
  call.declared_size = *req.content_length;
  call.upload = std::move(writer).value();
}

HttpResponse HandleCommitUpload(const Services& s, Call& call, const Json& /*body*/, std::string_view /*raw*/) {
  Status st = call.upload->Commit(call.sha256, call.declared_size);
  call.upload.reset();
  if (st.code() == StatusCode::kDataLoss) return ErrorResponse(400, "digest_mismatch", st.message());
  if (!st.ok()) return StatusResponse(st);
  // Blob first, metadata second: a crash in between leaves an unreferenced
  // blob, never a version without bytes.
  StatusOr<FileVersionRecord> version = s.metadata->CommitVersion(call.run, call.name, call.sha256, call.declared_size,
                                                                call.principal.Actor());
  if (!version.ok()) return StatusResponse(version.status());
  s.upload_events->Committed({.run = call.run,
                              .name = call.name,
                              .sha256 = call.sha256,
                              .size = call.declared_size,
                              .version = version->version});
  return FileResponse(201, *version);
}

RangeSpec ParseRange(std::string_view header, std::uint64_t size) {
  RangeSpec whole;
  header = TrimSpace(header);
  if (header.empty()) return whole;
  std::size_t eq = header.find('=');
  if (eq == std::string_view::npos) return {RangeSpec::Kind::kMalformed};
  std::string unit(TrimSpace(header.substr(0, eq)));
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::tolower(c); });
  if (unit != "bytes") return whole;  // a unit we do not serve: ignore the header (RFC 9110 14.2)
  std::string_view spec = TrimSpace(header.substr(eq + 1));
  if (spec.find(',') != std::string_view::npos) return whole;  // several ranges: we send the whole file
  std::size_t dash = spec.find('-');
  if (dash == std::string_view::npos) return {RangeSpec::Kind::kMalformed};
  std::string_view a = TrimSpace(spec.substr(0, dash));
  std::string_view b = TrimSpace(spec.substr(dash + 1));
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

}  // namespace cairn::internal
