// The upload routes beyond a plain PUT (docs/http-api.md, "Commits by
// reference" and "Uploads in parts"; docs/adr/0008-uploads-by-reference-and-in-parts.md).
#include <charconv>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/sha256.h"
#include "server/graphql/blob_md5.h"
#include "server/handlers.h"

namespace cairn::internal {
namespace {

using Json = nlohmann::json;
using Route = Call::Route;

constexpr std::uint64_t kDefaultPartSize = 64ull << 20;

HttpResponse SessionResponse(int status, const UploadSession& s, std::chrono::seconds ttl) {
  HttpResponse r;
  r.status = status;
  r.body = Json{{"upload_id", s.id},
                {"name", s.name},
                {"sha256", s.sha256},
                {"size", s.size},
                {"part_size", s.part_size},
                {"part_count", s.part_count()},
                {"parts_received", s.parts_received},
                {"expires_at", FormatTimeMs(s.touched_ms + ttl.count() * 1000)}}
               .dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

HttpResponse SessionError(const Status& s) {
  if (s.code() == StatusCode::kNotFound) return ErrorResponse(404, "upload_not_found", s.message());
  return StatusResponse(s);
}

}  // namespace

HttpResponse Api::CommitByReference(const Call& call, const std::string& sha256, const HttpRequest& req) const {
  if (req.content_length.value_or(0) != 0) {
    return ErrorResponse(400, "invalid_argument",
                         "a commit by reference (X-Cairn-By-Reference: 1) has an empty body; drop the header to "
                         "send the bytes");
  }
  if (!req.cairn_size) {
    return ErrorResponse(400, "invalid_argument",
                         "a commit by reference needs X-Cairn-Size: the file's size in bytes (decimal)");
  }
  StatusOr<RunRecord> run = metadata_->GetRun(call.run);
  if (!run.ok()) return StatusResponse(run.status());
  // Only digests this entity already committed, so a key never gains bytes
  // it could not read already; and only blobs the store still holds whole.
  StatusOr<std::optional<std::uint64_t>> held = metadata_->FindEntityBlob(call.run.entity, sha256);
  if (!held.ok()) return StatusResponse(held.status());
  bool usable = held->has_value() && **held == *req.cairn_size;
  if (usable) {
    StatusOr<std::optional<std::uint64_t>> stored = blobs_->Stat(sha256);
    if (!stored.ok()) return StatusResponse(stored.status());
    usable = stored->has_value() && **stored == *req.cairn_size;
  }
  if (!usable) {
    return ErrorResponse(412, "not_held",
                         "entity " + call.run.entity + " holds no copy of SHA-256 " + sha256 + " (" +
                             std::to_string(*req.cairn_size) + " bytes): send the bytes in a normal upload");
  }
  StatusOr<FileVersionRecord> version = metadata_->CommitVersion(call.run, call.name, sha256, *req.cairn_size);
  if (!version.ok()) return StatusResponse(version.status());
  return FileResponse(201, *version);
}

HttpResponse Api::FinishCreateUpload(const Call& call, const nlohmann::json& body) const {
  if (uploads_ == nullptr) return ErrorResponse(404, "not_found", "this server does not take uploads in parts");
  auto sha = body.find("sha256");
  auto size = body.find("size");
  if (sha == body.end() || !sha->is_string() || !IsSha256Hex(sha->get<std::string>()) || size == body.end() ||
      !size->is_number_unsigned()) {
    return ErrorResponse(400, "invalid_argument",
                         "the body needs \"sha256\" (the whole file's lowercase hex SHA-256) and \"size\" (bytes), "
                         "and may have \"part_size\" (bytes, at least 1 MiB)");
  }
  std::uint64_t part_size = kDefaultPartSize;
  if (auto p = body.find("part_size"); p != body.end()) {
    if (!p->is_number_unsigned()) return ErrorResponse(400, "invalid_argument", "\"part_size\" must be a byte count");
    part_size = p->get<std::uint64_t>();
  }
  StatusOr<RunRecord> run = metadata_->GetRun(call.run);
  if (!run.ok()) return StatusResponse(run.status());
  StatusOr<UploadSession> session =
      uploads_->Create(call.run, call.name, sha->get<std::string>(), size->get<std::uint64_t>(), part_size);
  if (!session.ok()) return StatusResponse(session.status());
  return SessionResponse(201, *session, uploads_->ttl());
}

Call Api::BeginSessionRoute(Call call, const HttpRequest& req, std::string_view id, std::string_view part) const {
  auto answer = [&call](HttpResponse r) -> Call {
    call.response = std::move(r);
    return std::move(call);
  };
  if (uploads_ == nullptr) return answer(ErrorResponse(404, "not_found", "this server does not take uploads in parts"));
  StatusOr<UploadSession> session = uploads_->Get(std::string(id));
  if (!session.ok()) return answer(SessionError(session.status()));
  // A session belongs to its run: only keys that may write there touch it.
  if (Status s = Authenticator::CheckAccess(call.principal, session->run.entity, /*write=*/true); !s.ok()) {
    return answer(StatusResponse(s));
  }
  call.run = session->run;
  call.name = session->name;
  switch (call.route) {
    case Route::kGetUpload:
      return answer(SessionResponse(200, *session, uploads_->ttl()));
    case Route::kDeleteUpload: {
      uploads_->Remove(session->id);
      HttpResponse r;
      r.status = 204;
      return answer(std::move(r));
    }
    case Route::kCompleteUpload:
      return answer(CompleteUpload(*session));
    case Route::kPutPart: {
      std::uint64_t n = 0;
      auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), n);
      if (part.empty() || ec != std::errc() || ptr != part.data() + part.size()) {
        return answer(ErrorResponse(400, "invalid_argument", "part number \"" + std::string(part) + "\" is not a number"));
      }
      if (n >= session->part_count()) {
        return answer(ErrorResponse(400, "invalid_argument",
                                    "part " + std::to_string(n) + " is out of range: this upload has parts 0-" +
                                        std::to_string(session->part_count() - 1)));
      }
      if (req.content_length != session->PartLength(n)) {
        return answer(ErrorResponse(400, "invalid_argument",
                                    "part " + std::to_string(n) + " must be sent with Content-Length: " +
                                        std::to_string(session->PartLength(n))));
      }
      std::string sha(req.sha256);  // optional: the part's own digest
      if (!sha.empty() && !IsSha256Hex(sha)) {
        return answer(ErrorResponse(400, "invalid_argument", "X-Cairn-Sha256 of a part must be its lowercase hex SHA-256"));
      }
      StatusOr<std::unique_ptr<BlobWriter>> writer = uploads_->NewPartWriter(*session, n);
      if (!writer.ok()) return answer(SessionError(writer.status()));
      call.part = n;
      call.sha256 = std::move(sha);
      call.declared_size = session->PartLength(n);
      call.upload = std::move(writer).value();
      return call;
    }
    default:
      return answer(ErrorResponse(500, "internal", "unhandled upload route (a bug)"));
  }
}

HttpResponse Api::FinishPart(Call& call) const {
  Status s = call.upload->Commit(call.sha256, call.declared_size);
  call.upload.reset();
  if (s.code() == StatusCode::kDataLoss) return ErrorResponse(400, "digest_mismatch", s.message());
  if (!s.ok()) return SessionError(s);
  HttpResponse r;
  r.body = Json{{"part", call.part}, {"size", call.declared_size}}.dump();
  return r;
}

HttpResponse Api::CompleteUpload(const UploadSession& session) const {
  Status s = uploads_->AssembleInto(session, *blobs_);
  if (s.code() == StatusCode::kFailedPrecondition) return ErrorResponse(409, "parts_missing", s.message());
  if (s.code() == StatusCode::kDataLoss) {
    return ErrorResponse(400, "digest_mismatch",
                         s.message() + " (the upload was discarded: start a new one; did the file change?)");
  }
  if (!s.ok()) return SessionError(s);
  // Blob first, metadata second (docs/adr/0003).
  StatusOr<FileVersionRecord> version = metadata_->CommitVersion(session.run, session.name, session.sha256, session.size);
  if (!version.ok()) return StatusResponse(version.status());
  uploads_->Remove(session.id);
  md5_indexer_->Enqueue(session.sha256, session.size);
  return FileResponse(201, *version);
}

}  // namespace cairn::internal
