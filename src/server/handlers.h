// The handlers of docs/http-api.md, one file per resource, and Api: the route
// table (routes.cc) over the stores (private to src/server; free of Boost:
// the connection code in connection.cc owns sockets, parsing and timeouts).
//
// A request is handled in two steps so that nothing is read before it has
// been routed, authenticated and checked (router.h has the steps):
//   1. Begin() with the request's headers. It either answers at once
//      (Call::response: errors, every GET/HEAD) or asks for the body:
//      - Call::upload set: stream the body into it, then FinishUpload();
//      - otherwise: read the (JSON) body, at most Call::body_limit() bytes,
//        then Finish().
//   2. If the connection fails while the body is read, just destroy the Call:
//      its BlobWriter cancels and nothing is committed.
//
// Api is thread-safe; a Call belongs to one connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string_view>

#include "cairn/status.h"
#include "server/audit.h"
#include "server/auth.h"
#include "server/http.h"
#include "server/router.h"
#include "server/upload_events.h"
#include "server/upload_sessions.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace cairn::internal {
namespace graphql {
class Md5Indexer;
}
class Ops;  // ops.h

// What the handlers work with; everything outlives the Api.
struct Services {
  MetadataStore* metadata = nullptr;
  BlobStore* blobs = nullptr;
  const Authenticator* auth = nullptr;
  // With a signer, file downloads (GET) answer 307 to a presigned URL valid
  // for presign_ttl instead of streaming the bytes.
  BlobUrlSigner* url_signer = nullptr;
  std::chrono::seconds presign_ttl{300};
  // Null: the routes of uploads in parts answer 404.
  UploadSessions* uploads = nullptr;
  // A "running" run without a heartbeat for this long shows as "crashed".
  std::chrono::seconds run_stale_after{60};
  // Every committed file version is announced here (upload_events.h).
  const UploadEvents* upload_events = nullptr;
  // The W&B endpoint waits for a blob this indexer is hashing rather than
  // reading it twice (graphql_handler.cc only).
  graphql::Md5Indexer* md5_indexer = nullptr;
  // The audit log's writer (router step and account handlers); null: none.
  AuditLog* audit = nullptr;
  // Web UI sessions (sessions.h); null: cookies are ignored.
  const WebSessions* sessions = nullptr;
  // Metrics, readiness and their options (ops.h); null: /metrics answers 404.
  Ops* ops = nullptr;
};

// The route table: every route the server answers, in one place (routes.cc).
std::vector<Route> ApiRoutes();

// --- The handlers (BeginFn / FinishFn of router.h), by resource ---
// keys_handlers.cc: the server itself.
void HandleHealth(const Services& s, Call& call);
void HandleWhoami(const Services& s, Call& call);
// account_handlers.cc: users, teams, service accounts, keys, sign-in, audit log.
HttpResponse HandleCreateUser(const Services& s, Call& call, const nlohmann::json& body, std::string_view raw);
void HandleListUsers(const Services& s, Call& call);
HttpResponse HandleCreateTeam(const Services& s, Call& call, const nlohmann::json& body, std::string_view raw);
void HandleListTeams(const Services& s, Call& call);
HttpResponse HandleSetMember(const Services& s, Call& call, const nlohmann::json& body, std::string_view raw);
void HandleRemoveMember(const Services& s, Call& call);
HttpResponse HandleCreateServiceAccount(const Services& s, Call& call, const nlohmann::json& body,
                                        std::string_view raw);
HttpResponse HandleCreateKey(const Services& s, Call& call, const nlohmann::json& body, std::string_view raw);
void HandleListKeys(const Services& s, Call& call);
void HandleRevokeKey(const Services& s, Call& call);
HttpResponse HandleLogin(const Services& s, Call& call, const nlohmann::json& body, std::string_view raw);
void HandleListAudit(const Services& s, Call& call);
// run_handlers.cc
void HandleGetRun(const Services& s, Call& call);
void HandleListRuns(const Services& s, Call& call);
HttpResponse HandlePutRun(const Services& s, Call& call, const nlohmann::json& body, std::string_view raw);
// file_handlers.cc
void HandleListFiles(const Services& s, Call& call);
void HandleGetMeta(const Services& s, Call& call);
void HandleListVersions(const Services& s, Call& call);
void HandleGetFile(const Services& s, Call& call);  // GET and HEAD
void HandleOpenUpload(const Services& s, Call& call);
HttpResponse HandleCommitUpload(const Services& s, Call& call, const nlohmann::json& body, std::string_view raw);
// delete_handlers.cc: deleting a run, a file, or one version of a file.
void HandleDeleteRun(const Services& s, Call& call);
void HandleDeleteFile(const Services& s, Call& call);  // ?version=N: that version only
// batch_handlers.cc: many small files in one request, one transaction.
void HandleOpenBatch(const Services& s, Call& call);
HttpResponse HandleCommitBatch(const Services& s, Call& call, const nlohmann::json& body, std::string_view raw);
// upload_handlers.cc: uploads in parts.
HttpResponse HandleCreateUpload(const Services& s, Call& call, const nlohmann::json& body, std::string_view raw);
void HandleGetUpload(const Services& s, Call& call);
void HandleDeleteUpload(const Services& s, Call& call);
void HandleCompleteUpload(const Services& s, Call& call);
void HandleOpenPart(const Services& s, Call& call);
HttpResponse HandleCommitPart(const Services& s, Call& call, const nlohmann::json& body, std::string_view raw);
// web_handlers.cc: the web UI's pages, assets, sessions and summaries
// (docs/adr/0023-web-ui.md).
HttpResponse HandleSignIn(const Services& s, Call& call, const nlohmann::json& body, std::string_view raw);
void HandleGetSession(const Services& s, Call& call);
void HandleSignOut(const Services& s, Call& call);
void HandleListEntities(const Services& s, Call& call);
void HandleListProjects(const Services& s, Call& call);
void HandleRunSummaries(const Services& s, Call& call);
void HandleFileTree(const Services& s, Call& call);
void HandleWebPage(const Services& s, Call& call);
void HandleWebAsset(const Services& s, Call& call);
// ops_handlers.cc: watching the server (docs/operations.md).
void HandleMetrics(const Services& s, Call& call);
void HandleHealthz(const Services& s, Call& call);
void HandleReadyz(const Services& s, Call& call);
// ops_handlers.cc: per-entity storage quotas.
void HandleGetQuota(const Services& s, Call& call);
HttpResponse HandlePutQuota(const Services& s, Call& call, const nlohmann::json& body, std::string_view raw);
// A 403 quota_exceeded answer (saying what is used and allowed) when saving
// `size` new bytes with digest `sha256` would take `entity` past its quota;
// nullopt when it fits, when there is no quota, or when the entity already
// holds that blob (it adds nothing). Called before any byte is stored.
std::optional<HttpResponse> QuotaRefusal(const Services& s, const std::string& entity, const std::string& sha256,
                                         std::uint64_t size);
// retention_handlers.cc: retention policies of a project (and an entity's
// default, on the routes without {project}); anyone who may read the entity
// sees them, an admin of the entity (or the server admin) sets, clears and
// applies them.
void HandleGetRetention(const Services& s, Call& call);
HttpResponse HandlePutRetention(const Services& s, Call& call, const nlohmann::json& body, std::string_view raw);
void HandleClearRetention(const Services& s, Call& call);  // ?pattern=GLOB: that policy only
HttpResponse HandleApplyRetention(const Services& s, Call& call, const nlohmann::json& body, std::string_view raw);
// graphql_handler.cc: the W&B-compatible endpoint (docs/wandb.md).
extern const ErrorStyle kGraphqlErrors;
HttpResponse HandleGraphql(const Services& s, Call& call, const nlohmann::json& body, std::string_view raw);

class Api {
 public:
  // The stores and the authenticator must outlive the Api. With a
  // `url_signer`, file downloads (GET) answer 307 to a presigned URL valid
  // for `presign_ttl` instead of streaming the bytes. Without `uploads`, the
  // routes of uploads in parts answer 404. Each committed blob's MD5 (for W&B
  // clients, docs/wandb.md) is computed by a background thread the Api owns.
  Api(MetadataStore* metadata, BlobStore* blobs, const Authenticator* auth, BlobUrlSigner* url_signer = nullptr,
      std::chrono::seconds presign_ttl = std::chrono::seconds(300), UploadSessions* uploads = nullptr,
      std::chrono::seconds run_stale_after = std::chrono::seconds(60), Ops* ops = nullptr);
  ~Api();

  Call Begin(const HttpRequest& request) const { return router_.Begin(services_, request); }
  // For a Call without response and without upload: `body` is the request body.
  HttpResponse Finish(Call& call, std::string_view body) const { return router_.Finish(services_, call, body); }
  // For an upload whose body was received completely: verify, publish, commit.
  HttpResponse FinishUpload(Call& call) const { return router_.FinishUpload(services_, call); }

 private:
  std::unique_ptr<graphql::Md5Indexer> md5_indexer_;  // subscribed to upload_events_
  std::unique_ptr<AuditLog> audit_;
  WebSessions sessions_;
  UploadEvents upload_events_;
  Services services_;
  Router router_;
};

// The config and state fields of a run PUT's body (docs/http-api.md):
// "config" a JSON object (merged into the stored one), "state" "running" (a
// heartbeat) or "finished". kInvalidArgument naming the field otherwise.
StatusOr<RunUpdate> ParseRunUpdate(const nlohmann::json& body);

// A file version as every route shows it (docs/http-api.md, Objects).
HttpResponse FileResponse(int status, const FileVersionRecord& file);

// A single byte range resolved against a file size (RFC 9110 section 14).
struct RangeSpec {
  enum class Kind {
    kWhole,          // no Range header, another unit, or several ranges: send everything
    kPartial,        // [first, last] (inclusive)
    kUnsatisfiable,  // 416
    kMalformed,      // 400
  };
  Kind kind = Kind::kWhole;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};
// Parses "bytes=A-B", "bytes=A-" and "bytes=-N" against `size`.
RangeSpec ParseRange(std::string_view header, std::uint64_t size);

}  // namespace cairn::internal
