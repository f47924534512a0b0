#include "store/store.h"

#include <system_error>

#include "common/fs.h"
#include "store/local/local_blob_store.h"
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
  return NotFoundError(std::move(msg));
}

std::optional<RunPathPart> MissingRunPathPart(const Status& status) {
  if (status.code() != StatusCode::kNotFound) return std::nullopt;
  const std::string& m = status.message();
  const bool names_missing = m.find(" does not exist: check the run path") != std::string::npos;
  if (!names_missing) return std::nullopt;
  for (RunPathPart part : {RunPathPart::kEntity, RunPathPart::kProject, RunPathPart::kRun}) {
    std::string prefix = std::string(PartName(part)) + " ";
    if (m.compare(0, prefix.size(), prefix) == 0) return part;
  }
  return std::nullopt;
}

StatusOr<Store> OpenStore(const StoreOptions& options) {
  if (options.data_dir.empty()) return InvalidArgumentError("the data directory is required (--data DIR)");
  if (!options.db_url.empty()) {
    return InvalidArgumentError("database URL \"" + options.db_url +
                                "\" is not supported yet: leave it empty to use SQLite in the data directory");
  }
  if (!options.blobs_url.empty()) {
    return InvalidArgumentError("blob store URL \"" + options.blobs_url +
                                "\" is not supported yet: leave it empty to store blobs in the data directory");
  }
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    Status s = ErrnoStatus(ec.value(), "create data directory", options.data_dir);
    return FailedPreconditionError(s.message());
  }
  Store store;
  StatusOr<std::unique_ptr<SqliteMetadataStore>> db = SqliteMetadataStore::Open(options.data_dir / "cairn.db");
  if (!db.ok()) return db.status();
  store.metadata = std::move(db).value();
  StatusOr<std::unique_ptr<LocalBlobStore>> blobs = LocalBlobStore::Open(options.data_dir / "blobs");
  if (!blobs.ok()) return blobs.status();
  store.blobs = std::move(blobs).value();
  return store;
}

}  // namespace cairn::internal
