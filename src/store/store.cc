#include "store/store.h"

#include <system_error>

#include "common/fs.h"
#include "store/local/local_blob_store.h"
#include "store/postgres/postgres_metadata_store.h"
#include "store/s3/s3_blob_store.h"
#include "store/sqlite/sqlite_metadata_store.h"

namespace cairn::internal {
namespace {

std::string_view PartName(RunPathPart part) {
  switch (part) {
    case RunPathPart::kEntity:
      return "entity";
    case RunPathPart::kProject:
      return "project";
    case RunPathPart::kRun:
      return "run";
  }
  return "run";
}

}  // namespace

Status RunPathNotFoundError(RunPathPart part, const RunKey& run) {
  std::string what;
  switch (part) {
    case RunPathPart::kEntity:
      what = run.entity;
      break;
    case RunPathPart::kProject:
      what = run.entity + "/" + run.project;
      break;
    case RunPathPart::kRun:
      what = run.entity + "/" + run.project + "/" + run.run_id;
      break;
  }
  std::string msg = std::string(PartName(part)) + " " + what + " does not exist: check the run path";
  if (part != RunPathPart::kRun) msg += " (entities and projects are created by their first run)";
  return Status(StatusCode::kNotFound, std::move(msg), std::string(PartName(part)) + "_not_found");
}

std::optional<RunPathPart> MissingRunPathPart(const Status& status) {
  if (status.code() != StatusCode::kNotFound) return std::nullopt;
  for (RunPathPart part : {RunPathPart::kEntity, RunPathPart::kProject, RunPathPart::kRun}) {
    if (status.reason() == std::string(PartName(part)) + "_not_found") return part;
  }
  return std::nullopt;
}

StatusOr<Store> OpenStore(const StoreOptions& options) {
  if (options.data_dir.empty()) return InvalidArgumentError("the data directory is required (--data DIR)");
  const bool postgres = options.db_url.rfind("postgresql://", 0) == 0 || options.db_url.rfind("postgres://", 0) == 0;
  if (!options.db_url.empty() && !postgres) {
    return InvalidArgumentError("database URL \"" + RedactDbUrl(options.db_url) +
                                "\" is not supported: use postgresql://user:password@host:port/db, or leave it empty "
                                "for SQLite in the data directory");
  }
  const bool s3 = options.blobs_url.rfind("s3://", 0) == 0;
  if (!options.blobs_url.empty() && !s3) {
    return InvalidArgumentError("blob store URL \"" + options.blobs_url +
                                "\" is not supported: use s3://bucket/prefix?endpoint=...&region=..., or leave it "
                                "empty to store blobs in the data directory");
  }
  if (options.s3_presign && !s3) {
    return InvalidArgumentError("presigned downloads (--s3-presign) need an s3:// blob store (--blobs)");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    Status s = ErrnoStatus(ec.value(), "create data directory", options.data_dir);
    return FailedPreconditionError(s.message());
  }
  Store store;
  if (postgres) {
    StatusOr<std::unique_ptr<PostgresMetadataStore>> db = PostgresMetadataStore::Open(options.db_url);
    if (!db.ok()) return db.status();
    store.metadata = std::move(db).value();
    store.description = "metadata in PostgreSQL " + RedactDbUrl(options.db_url);
  } else {
    StatusOr<std::unique_ptr<SqliteMetadataStore>> db = SqliteMetadataStore::Open(options.data_dir / "cairn.db");
    if (!db.ok()) return db.status();
    store.metadata = std::move(db).value();
    store.description = "metadata in SQLite " + (options.data_dir / "cairn.db").string();
  }
  if (s3) {
    StatusOr<std::unique_ptr<S3BlobStore>> blobs =
        S3BlobStore::Open(options.blobs_url, {.staging_dir = options.data_dir / "s3-staging"});
    if (!blobs.ok()) return blobs.status();
    if (options.s3_presign) store.url_signer = blobs->get();
    store.blobs = std::move(blobs).value();
    store.description += ", blobs in " + options.blobs_url + (options.s3_presign ? " (presigned downloads)" : "");
  } else {
    StatusOr<std::unique_ptr<LocalBlobStore>> blobs =
        LocalBlobStore::Open(options.data_dir / "blobs", {.clear_uploads = !options.beside_server});
    if (!blobs.ok()) return blobs.status();
    store.blobs = std::move(blobs).value();
    store.description += ", blobs in " + (options.data_dir / "blobs").string();
  }
  return store;
}

}  // namespace cairn::internal
