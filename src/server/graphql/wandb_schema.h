// The W&B-compatible schema behind POST /graphql (docs/wandb.md): the part of
// W&B's API that the stock client's restore, file listing and file download
// use, answered from Cairn's stores.
//
//   Query.viewer: User                 the key's user (entity = the key's entity)
//   Query.project(name, entityName)    Project, null when absent (alias: model)
//   Project.run(name): Run             null when absent (alias: bucket)
//   Project.runs(filters, after, first, order), Project.runCount(filters)
//                                      run discovery (wandb_runs.h)
//   Query.models(entityName, after, first)  the entity's projects
//   Run.fileCount, Run.files(names, after, first, pattern): FileConnection
//   File: id name url(upload) directUrl sizeBytes mimetype updatedAt md5
//
// Every other field of these types resolves to null or the neutral value a
// client expects (summaryMetrics "{}", tags [], ...); Run.state and
// Run.config come from the store. Access follows
// the key: another entity's project is null with a permission error.
//
// File.md5 comes from blob_md5.h (stored, else computed on demand).
// Private to src/server; free of Boost.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "server/auth.h"
#include "server/graphql/blob_md5.h"
#include "server/graphql/executor.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace cairn::internal::graphql {

struct WandbContext {
  MetadataStore* metadata = nullptr;
  BlobStore* blobs = nullptr;
  // With a signer, File.directUrl is a presigned object-store URL (File.url
  // stays Cairn's download route, which redirects to the same place).
  BlobUrlSigner* url_signer = nullptr;
  std::chrono::seconds presign_ttl{300};
  Principal principal;
  // Scheme and authority the client reached us at ("http://host:port"): the
  // prefix of every File.url.
  std::string base_url;
  // When set, File.md5 waits for a blob this indexer is hashing instead of
  // reading it a second time.
  Md5Indexer* md5_indexer = nullptr;
  // A "running" run without a heartbeat for this long reads as "crashed".
  std::chrono::seconds run_stale_after{60};
};

// The Query object for one request.
std::shared_ptr<Object> NewWandbQuery(const WandbContext& context);

}  // namespace cairn::internal::graphql
