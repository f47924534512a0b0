// Every route of docs/http-api.md, in one table (router.h explains the
// patterns and the steps a request passes before its handler runs).
//
// To add a route: one line below, and its handler in the file of its resource,
// declared in handlers.h. A route without a body has a BeginFn that answers;
// a route with a JSON body has a FinishFn (and optionally a BeginFn that checks
// the headers before the body is read); a streamed upload has both: the
// BeginFn opens Call::upload, the FinishFn commits it.
#include <nlohmann/json.hpp>

#include "server/graphql/blob_md5.h"
#include "server/handlers.h"
#include "server/ops.h"

namespace cairn::internal {

// The table is data, one line a route, in one place (docs/adr/0016-server-router.md):
// exempt from the 80-line rule for functions.
// NOLINTNEXTLINE(readability-function-size)
std::vector<Route> ApiRoutes() {
  constexpr auto kNoKey = AuthPolicy::kNone;
  constexpr auto kRead = EntityAccess::kRead;
  constexpr auto kWrite = EntityAccess::kWrite;
  constexpr auto kJson = BodyKind::kJson;
  constexpr auto kStream = BodyKind::kStream;
  // Routes of one path are listed in the order their methods appear in Allow.
  return {
      {"GET", "/api/v1/health", HandleHealth, nullptr, {.auth = kNoKey}},
      {"GET", "/api/v1/whoami", HandleWhoami},
      // Watching the server (docs/operations.md); /metrics checks a key itself with --metrics-key-required.
      {"GET", "/metrics", HandleMetrics, nullptr, {.auth = kNoKey}},
      {"GET", "/healthz", HandleHealthz, nullptr, {.auth = kNoKey}},
      {"GET", "/readyz", HandleReadyz, nullptr, {.auth = kNoKey}},
      // Per-entity storage quotas: anyone who may read the entity sees it; the admin sets it.
      {"GET", "/api/v1/quotas/{entity}", HandleGetQuota, nullptr, {.access = kRead}},
      {"PUT",
       "/api/v1/quotas/{entity}",
       nullptr,
       HandlePutQuota,
       {.auth = AuthPolicy::kAdmin, .access = kRead, .body = kJson, .action = "set quotas"}},
      // Retention policies of a project, or an entity's default (no {project}): anyone who may read the
      // entity sees them; retention_handlers.cc lets an admin of the entity (or the server admin) change them.
      {"GET", "/api/v1/retention/{entity}", HandleGetRetention, nullptr, {.access = kRead}},
      {"PUT", "/api/v1/retention/{entity}", nullptr, HandlePutRetention, {.access = kRead, .body = kJson}},
      {"DELETE", "/api/v1/retention/{entity}", HandleClearRetention, nullptr, {.access = kRead}},
      {"GET", "/api/v1/retention/{entity}/{project}", HandleGetRetention, nullptr, {.access = kRead}},
      {"PUT", "/api/v1/retention/{entity}/{project}", nullptr, HandlePutRetention, {.access = kRead, .body = kJson}},
      {"DELETE", "/api/v1/retention/{entity}/{project}", HandleClearRetention, nullptr, {.access = kRead}},
      {"POST",
       "/api/v1/retention/{entity}/{project}/apply",
       nullptr,
       HandleApplyRetention,
       {.access = kRead, .body = kJson}},
      // Accounts (account_handlers.cc checks who may).
      {"POST", "/api/v1/login", nullptr, HandleLogin, {.auth = kNoKey, .body = kJson, .audit = "user.login"}},
      {"GET", "/api/v1/users", HandleListUsers},
      {"POST",
       "/api/v1/users",
       nullptr,
       HandleCreateUser,
       {.auth = AuthPolicy::kAdmin, .body = kJson, .action = "create users", .audit = "user.create"}},
      {"GET", "/api/v1/teams", HandleListTeams},
      {"POST", "/api/v1/teams", nullptr, HandleCreateTeam, {.body = kJson, .audit = "team.create"}},
      {"PUT", "/api/v1/teams/{entity}/members/{user}", nullptr, HandleSetMember, {.body = kJson, .audit = "member.set"}},
      {"DELETE", "/api/v1/teams/{entity}/members/{user}", HandleRemoveMember, nullptr, {.audit = "member.remove"}},
      {"POST",
       "/api/v1/teams/{entity}/service-accounts",
       nullptr,
       HandleCreateServiceAccount,
       {.body = kJson, .audit = "service_account.create"}},
      {"GET", "/api/v1/keys", HandleListKeys},
      {"POST", "/api/v1/keys", nullptr, HandleCreateKey, {.body = kJson, .audit = "key.create"}},
      {"DELETE", "/api/v1/keys/{id}", HandleRevokeKey, nullptr, {.audit = "key.revoke"}},
      {"GET", "/api/v1/audit", HandleListAudit},
      // Runs.
      {"GET", "/api/v1/runs/{entity}/{project}", HandleListRuns, nullptr, {.access = kRead}},
      {"GET", "/api/v1/runs/{entity}/{project}/{run}", HandleGetRun, nullptr, {.access = kRead}},
      {"PUT",
       "/api/v1/runs/{entity}/{project}/{run}",
       nullptr,
       HandlePutRun,
       {.access = kWrite, .body = kJson, .audit = "run.create"}},
      {"DELETE", "/api/v1/runs/{entity}/{project}/{run}", HandleDeleteRun, nullptr, {.access = kWrite, .audit = "run.delete"}},
      // Files of a run.
      {"GET", "/api/v1/runs/{entity}/{project}/{run}/files", HandleListFiles, nullptr, {.access = kRead}},
      {"GET",
       "/api/v1/runs/{entity}/{project}/{run}/files/{path...}",
       HandleGetFile,
       nullptr,
       {.access = kRead, .audit = "file.download", .audit_summary = true}},
      {"HEAD", "/api/v1/runs/{entity}/{project}/{run}/files/{path...}", HandleGetFile, nullptr, {.access = kRead}},
      {"PUT",
       "/api/v1/runs/{entity}/{project}/{run}/files/{path...}",
       HandleOpenUpload,
       HandleCommitUpload,
       {.access = kWrite, .body = kStream, .audit = "file.save"}},
      {"DELETE",
       "/api/v1/runs/{entity}/{project}/{run}/files/{path...}",
       HandleDeleteFile,
       nullptr,
       {.access = kWrite, .audit = "file.delete"}},
      {"GET", "/api/v1/runs/{entity}/{project}/{run}/meta/{path...}", HandleGetMeta, nullptr, {.access = kRead}},
      {"GET",
       "/api/v1/runs/{entity}/{project}/{run}/versions/{path...}",
       HandleListVersions,
       nullptr,
       {.access = kRead}},
      {"PUT",
       "/api/v1/runs/{entity}/{project}/{run}/batch",
       HandleOpenBatch,
       HandleCommitBatch,
       {.access = kWrite, .body = kStream}},
      // Uploads in parts (a session checks access to its own run).
      {"POST",
       "/api/v1/runs/{entity}/{project}/{run}/uploads/{path...}",
       nullptr,
       HandleCreateUpload,
       {.access = kWrite, .body = kJson}},
      {"GET", "/api/v1/uploads/{id}", HandleGetUpload},
      {"DELETE", "/api/v1/uploads/{id}", HandleDeleteUpload},
      {"POST", "/api/v1/uploads/{id}/complete", HandleCompleteUpload, nullptr, {.audit = "file.save"}},
      {"PUT", "/api/v1/uploads/{id}/parts/{part}", HandleOpenPart, HandleCommitPart, {.body = kStream}},
      // The web UI's sessions and summaries (docs/adr/0023-web-ui.md).
      {"POST", "/api/v1/session", nullptr, HandleSignIn, {.auth = kNoKey, .body = kJson, .body_limit = 4096}},
      {"GET", "/api/v1/session", HandleGetSession},
      {"DELETE", "/api/v1/session", HandleSignOut},
      {"GET", "/api/v1/entities", HandleListEntities},
      {"GET", "/api/v1/entities/{entity}/projects", HandleListProjects, nullptr, {.access = kRead}},
      {"GET", "/api/v1/projects/{entity}/{project}/runs", HandleRunSummaries, nullptr, {.access = kRead}},
      {"GET", "/api/v1/runs/{entity}/{project}/{run}/tree", HandleFileTree, nullptr, {.access = kRead}},
      // The W&B-compatible endpoint (docs/wandb.md).
      {"POST",
       "/graphql",
       nullptr,
       HandleGraphql,
       {.body = kJson,
        .errors = &kGraphqlErrors,
        .usage = "POST the query as JSON {\"query\": \"...\", \"variables\": {...}} to /graphql"}},
      // The web UI: its assets, and its pages (last: they match only paths no
      // route above matched; each answers the same index.html).
      {"GET", "/assets/{file}", HandleWebAsset, nullptr, {.auth = kNoKey, .page = true}},
      {"GET", "/", HandleWebPage, nullptr, {.auth = kNoKey, .page = true}},
      {"GET", "/~/{page}", HandleWebPage, nullptr, {.auth = kNoKey, .page = true}},
      {"GET", "/{entity}", HandleWebPage, nullptr, {.auth = kNoKey, .page = true}},
      {"GET", "/{entity}/{project}", HandleWebPage, nullptr, {.auth = kNoKey, .page = true}},
      {"GET", "/{entity}/{project}/runs/{run}", HandleWebPage, nullptr, {.auth = kNoKey, .page = true}},
      {"GET", "/{entity}/{project}/runs/{run}/files/{path...}", HandleWebPage, nullptr, {.auth = kNoKey, .page = true}},
  };
}

Api::Api(MetadataStore* metadata, BlobStore* blobs, const Authenticator* auth, BlobUrlSigner* url_signer,
         std::chrono::seconds presign_ttl, UploadSessions* uploads, std::chrono::seconds run_stale_after, Ops* ops)
    : md5_indexer_(std::make_unique<graphql::Md5Indexer>(metadata, blobs)),
      audit_(std::make_unique<AuditLog>(metadata)),
      sessions_(metadata, auth),
      services_{.metadata = metadata,
                .blobs = blobs,
                .auth = auth,
                .url_signer = url_signer,
                .presign_ttl = presign_ttl,
                .uploads = uploads,
                .run_stale_after = run_stale_after,
                .upload_events = &upload_events_,
                .md5_indexer = md5_indexer_.get(),
                .audit = audit_.get(),
                .sessions = &sessions_,
                .ops = ops},
      router_(ApiRoutes()) {
  upload_events_.Subscribe(md5_indexer_.get());
  if (ops != nullptr) {
    graphql::Md5Indexer* indexer = md5_indexer_.get();
    ops->registry().AddGaugeFunction("cairn_md5_indexer_queue_length",
                                     "Committed blobs waiting for (or in) the background MD5 indexer (W&B clients).",
                                     [indexer] { return static_cast<double>(indexer->QueueLength()); });
  }
}

Api::~Api() = default;

}  // namespace cairn::internal
