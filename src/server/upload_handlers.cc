// Uploads in parts (docs/http-api.md, "Uploads in parts";
// docs/adr/0008-uploads-by-reference-and-in-parts.md). Creating one is scoped
// to its run by the router; the other routes name a session, which belongs to
// its run: only keys that may write there touch it.
#include <charconv>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/sha256.h"
#include "server/handlers.h"

namespace cairn::internal {
namespace {

using Json = nlohmann::json;

constexpr std::uint64_t kDefaultPartSize = 64ull << 20;

HttpResponse SessionResponse(int status, const UploadSession& s, std::chrono::seconds ttl) {
  return JsonResponse(status, Json{{"upload_id", s.id},
                                   {"name", s.name},
                                   {"sha256", s.sha256},
                                   {"size", s.size},
                                   {"part_size", s.part_size},
                                   {"part_count", s.part_count()},
                                   {"parts_received", s.parts_received},
                                   {"expires_at", FormatTimeMs(s.touched_ms + ttl.count() * 1000)}});
}

HttpResponse SessionError(const Status& s) {
  if (s.code() == StatusCode::kNotFound) return ErrorResponse(404, "upload_not_found", s.message());
  return StatusResponse(s);
}

HttpResponse NoUploadsInParts() {
  return ErrorResponse(404, "not_found", "this server does not take uploads in parts");
}

// The session named by {id}, once the key's write access to its run is
// checked; nullopt when the Call was answered.
std::optional<UploadSession> SessionOf(const Services& s, Call& call) {
  if (s.uploads == nullptr) {
    call.Answer(NoUploadsInParts());
    return std::nullopt;
  }
  StatusOr<UploadSession> session = s.uploads->Get(std::string(call.Param("id")));
  if (!session.ok()) {
    call.Answer(SessionError(session.status()));
    return std::nullopt;
  }
  if (Status st = Authenticator::CheckAccess(call.principal, session->run.entity, /*write=*/true); !st.ok()) {
    call.Fail(st);
    return std::nullopt;
  }
  call.run = session->run;
  call.name = session->name;
  return *std::move(session);
}

}  // namespace

HttpResponse HandleCreateUpload(const Services& s, Call& call, const Json& body, std::string_view /*raw*/) {
  if (s.uploads == nullptr) return NoUploadsInParts();
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
  StatusOr<RunRecord> run = s.metadata->GetRun(call.run);
  if (!run.ok()) return StatusResponse(run.status());
  // Over the entity's quota: refused before a part is staged.
  if (auto refusal = QuotaRefusal(s, call.run.entity, sha->get<std::string>(), size->get<std::uint64_t>())) {
    return std::move(*refusal);
  }
  StatusOr<UploadSession> session =
      s.uploads->Create(call.run, call.name, sha->get<std::string>(), size->get<std::uint64_t>(), part_size);
  if (!session.ok()) return StatusResponse(session.status());
  return SessionResponse(201, *session, s.uploads->ttl());
}

void HandleGetUpload(const Services& s, Call& call) {
  if (std::optional<UploadSession> session = SessionOf(s, call)) {
    call.Answer(SessionResponse(200, *session, s.uploads->ttl()));
  }
}

void HandleDeleteUpload(const Services& s, Call& call) {
  if (std::optional<UploadSession> session = SessionOf(s, call)) {
    s.uploads->Remove(session->id);
    HttpResponse r;
    r.status = 204;
    call.Answer(std::move(r));
  }
}

void HandleCompleteUpload(const Services& s, Call& call) {
  std::optional<UploadSession> session = SessionOf(s, call);
  if (!session) return;
  Status st = s.uploads->AssembleInto(*session, *s.blobs);
  if (st.code() == StatusCode::kFailedPrecondition)
    return call.Answer(ErrorResponse(409, "parts_missing", st.message()));
  if (st.code() == StatusCode::kDataLoss) {
    return call.Answer(ErrorResponse(
        400, "digest_mismatch", st.message() + " (the upload was discarded: start a new one; did the file change?)"));
  }
  if (!st.ok()) return call.Answer(SessionError(st));
  // Blob first, metadata second (docs/adr/0003).
  StatusOr<FileVersionRecord> version =
      s.metadata->CommitVersion(session->run, session->name, session->sha256, session->size,
                                call.principal.Actor());
  if (!version.ok()) return call.Fail(version.status());
  s.uploads->Remove(session->id);
  s.upload_events->Committed({.run = session->run,
                              .name = session->name,
                              .sha256 = session->sha256,
                              .size = session->size,
                              .version = version->version});
  call.Answer(FileResponse(201, *version));
}

void HandleOpenPart(const Services& s, Call& call) {
  std::optional<UploadSession> session = SessionOf(s, call);
  if (!session) return;
  const std::string_view part = call.Param("part");
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), n);
  if (part.empty() || ec != std::errc() || ptr != part.data() + part.size()) {
    return call.Answer(
        ErrorResponse(400, "invalid_argument", "part number \"" + std::string(part) + "\" is not a number"));
  }
  if (n >= session->part_count()) {
    return call.Answer(ErrorResponse(400, "invalid_argument",
                                     "part " + std::to_string(n) + " is out of range: this upload has parts 0-" +
                                         std::to_string(session->part_count() - 1)));
  }
  if (call.request.content_length != session->PartLength(n)) {
    return call.Answer(ErrorResponse(
        400, "invalid_argument",
        "part " + std::to_string(n) + " must be sent with Content-Length: " + std::to_string(session->PartLength(n))));
  }
  std::string sha(call.request.sha256);  // optional: the part's own digest
  if (!sha.empty() && !IsSha256Hex(sha)) {
    return call.Answer(
        ErrorResponse(400, "invalid_argument", "X-Cairn-Sha256 of a part must be its lowercase hex SHA-256"));
  }
  StatusOr<std::unique_ptr<BlobWriter>> writer = s.uploads->NewPartWriter(*session, n);
  if (!writer.ok()) return call.Answer(SessionError(writer.status()));
  call.part = n;
  call.sha256 = std::move(sha);
  call.declared_size = session->PartLength(n);
  call.upload = std::move(writer).value();
}

HttpResponse HandleCommitPart(const Services& /*s*/, Call& call, const Json& /*body*/, std::string_view /*raw*/) {
  Status st = call.upload->Commit(call.sha256, call.declared_size);
  call.upload.reset();
  if (st.code() == StatusCode::kDataLoss) return ErrorResponse(400, "digest_mismatch", st.message());
  if (!st.ok()) return SessionError(st);
  return JsonResponse(200, Json{{"part", call.part}, {"size", call.declared_size}});
}

}  // namespace cairn::internal
