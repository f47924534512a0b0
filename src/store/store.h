// The one place that chooses storage backends.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "cairn/status.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace cairn::internal {

struct StoreOptions {
  std::filesystem::path data_dir;  // holds cairn.db (SQLite), blobs/ and S3 upload staging
  // empty: SQLite under data_dir; postgresql://user:pass@host:port/db (or
  // postgres://): PostgreSQL, shared by replicas.
  std::string db_url;
  // empty: local disk under data_dir/blobs; s3://bucket/prefix?endpoint=...
  // &region=...: an S3-compatible bucket (credentials from AWS_* variables).
  std::string blobs_url;
  // Let clients download blobs straight from the object store (presigned
  // URLs). Needs an s3:// blob store. Default off: bytes go through the server.
  bool s3_presign = false;
  // Opened by an operator tool (`cairn fsck`, `cairn gc`) that may run beside
  // a live server: leave uploads in progress alone. Default false (a server).
  bool beside_server = false;
};

struct Store {
  std::unique_ptr<MetadataStore> metadata;
  std::unique_ptr<BlobStore> blobs;
  // Set when s3_presign was asked for; points into `blobs`.
  BlobUrlSigner* url_signer = nullptr;
  // For the log: which backends, where (passwords redacted).
  std::string description;
};

// Opens (creating when needed) the configured backends; kInvalidArgument on
// an unknown URL scheme, kFailedPrecondition when the data dir is unusable,
// the backends' own errors (kUnavailable when a server does not answer).
StatusOr<Store> OpenStore(const StoreOptions& options);

}  // namespace cairn::internal
