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

namespace cairn::internal {

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
      {"POST",
       "/api/v1/keys",
       nullptr,
       HandleCreateKey,
       {.auth = AuthPolicy::kAdmin, .body = kJson, .action = "create keys"}},
      // Runs.
      {"GET", "/api/v1/runs/{entity}/{project}", HandleListRuns, nullptr, {.access = kRead}},
      {"GET", "/api/v1/runs/{entity}/{project}/{run}", HandleGetRun, nullptr, {.access = kRead}},
      {"PUT", "/api/v1/runs/{entity}/{project}/{run}", nullptr, HandlePutRun, {.access = kWrite, .body = kJson}},
      // Files of a run.
      {"GET", "/api/v1/runs/{entity}/{project}/{run}/files", HandleListFiles, nullptr, {.access = kRead}},
      {"GET", "/api/v1/runs/{entity}/{project}/{run}/files/{path...}", HandleGetFile, nullptr, {.access = kRead}},
      {"HEAD", "/api/v1/runs/{entity}/{project}/{run}/files/{path...}", HandleGetFile, nullptr, {.access = kRead}},
      {"PUT",
       "/api/v1/runs/{entity}/{project}/{run}/files/{path...}",
       HandleOpenUpload,
       HandleCommitUpload,
       {.access = kWrite, .body = kStream}},
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
      {"POST", "/api/v1/uploads/{id}/complete", HandleCompleteUpload},
      {"PUT", "/api/v1/uploads/{id}/parts/{part}", HandleOpenPart, HandleCommitPart, {.body = kStream}},
      // The W&B-compatible endpoint (docs/wandb.md).
      {"POST",
       "/graphql",
       nullptr,
       HandleGraphql,
       {.body = kJson,
        .errors = &kGraphqlErrors,
        .usage = "POST the query as JSON {\"query\": \"...\", \"variables\": {...}} to /graphql"}},
  };
}

Api::Api(MetadataStore* metadata, BlobStore* blobs, const Authenticator* auth, BlobUrlSigner* url_signer,
         std::chrono::seconds presign_ttl, UploadSessions* uploads, std::chrono::seconds run_stale_after)
    : md5_indexer_(std::make_unique<graphql::Md5Indexer>(metadata, blobs)),
      services_{.metadata = metadata,
                .blobs = blobs,
                .auth = auth,
                .url_signer = url_signer,
                .presign_ttl = presign_ttl,
                .uploads = uploads,
                .run_stale_after = run_stale_after,
                .upload_events = &upload_events_,
                .md5_indexer = md5_indexer_.get()},
      router_(ApiRoutes()) {
  upload_events_.Subscribe(md5_indexer_.get());
}

Api::~Api() = default;

}  // namespace cairn::internal
