// The W&B-compatible schema behind POST /graphql (docs/wandb.md): the part of
// W&B's API that the stock client's restore, file listing and file download
// use, answered from Cairn's stores.
//
//   Query.viewer: User                 the key's user (entity = the key's entity)
//   Query.project(name, entityName)    Project, null when absent (alias: model)
//   Project.run(name): Run             null when absent (alias: bucket)
//   Run.fileCount, Run.files(names, after, first, pattern): FileConnection
//   File: id name url(upload) directUrl sizeBytes mimetype updatedAt md5
//
// Every other field of these types resolves to null or the neutral value a
// client expects (state "finished", config "{}", tags [], ...). Access follows
// the key: another entity's project is null with a permission error.
//
// MD5 (base64 of the raw digest, as W&B reports it) is computed on the first
// request that needs it, by streaming the blob while checking its SHA-256, and
// kept in the MetadataStore (GetBlobMd5/PutBlobMd5), so uploads never pay
// for it. Private to src/server; free of Boost.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "server/auth.h"
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
};

// The Query object for one request.
std::shared_ptr<Object> NewWandbQuery(const WandbContext& context);

// The base64 MD5 of the blob `sha256` of `size` bytes: recorded, or computed
// now (streaming; kDataLoss when the bytes do not match the SHA-256) and
// recorded.
StatusOr<std::string> BlobMd5Base64(MetadataStore& metadata, BlobStore& blobs, const std::string& sha256,
                                    std::uint64_t size);

}  // namespace cairn::internal::graphql
