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
  std::filesystem::path data_dir;  // holds cairn.db (SQLite) and blobs/
  std::string db_url;              // empty: SQLite under data_dir
  std::string blobs_url;           // empty: local disk under data_dir/blobs
};

struct Store {
  std::unique_ptr<MetadataStore> metadata;
  std::unique_ptr<BlobStore> blobs;
};

// Opens (creating when needed) the configured backends; kInvalidArgument on
// an unknown URL scheme, kFailedPrecondition when the data dir is unusable.
StatusOr<Store> OpenStore(const StoreOptions& options);

}  // namespace cairn::internal
