// PostgresMetadataStore: deleting file versions and runs
// (docs/adr/0021-accounts-and-deletion.md). The run's row is locked first
// (as CommitVersion does), so a deletion and a commit to one run serialise;
// blobs stay for `cairn gc`.
#include <algorithm>
#include <string>
#include <utility>

#include "common/fs.h"
#include "store/postgres/pg_connection.h"

namespace cairn::internal {

StatusOr<std::vector<FileVersionRecord>> PostgresMetadataStore::DeleteFile(const RunKey& run, const std::string& name,
                                                                           std::optional<std::int64_t> version) {
  std::vector<FileVersionRecord> deleted;
  Status s = Run(Access::kTransaction, [&](PgConnection& conn) -> Status {
    StatusOr<std::int64_t> locked = LockRun(conn, run);
    if (!locked.ok()) return locked.status();
    const std::string run_id = std::to_string(*locked);
    StatusOr<PgResult> r = conn.Query(
        "DELETE FROM file_versions WHERE run = $1 AND name = $2 AND ($3::bigint = -1 OR version = $3::bigint)"
        " RETURNING version, size, sha256, created_ms, created_by",
        {run_id, name, std::to_string(version.value_or(-1))});
    if (!r.ok()) return r.status();
    deleted.clear();
    for (int i = 0; i < r->rows(); ++i) deleted.push_back(FileRow(*r, i, name, 0));
    std::sort(deleted.begin(), deleted.end(),
              [](const FileVersionRecord& a, const FileVersionRecord& b) { return a.version < b.version; });
    if (deleted.empty()) return OkStatus();
    return conn
        .Query("UPDATE runs SET updated_ms = GREATEST(updated_ms, $2) WHERE id = $1", {run_id, std::to_string(NowMs())})
        .status();
  });
  if (!s.ok()) return s;
  return deleted;
}

StatusOr<std::int64_t> PostgresMetadataStore::DeleteRun(const RunKey& run) {
  std::int64_t versions = 0;
  Status s = Run(Access::kTransaction, [&](PgConnection& conn) -> Status {
    StatusOr<std::int64_t> locked = LockRun(conn, run);
    if (!locked.ok()) return locked.status();
    const std::string run_id = std::to_string(*locked);
    StatusOr<PgResult> r = conn.Query("WITH d AS (DELETE FROM file_versions WHERE run = $1 RETURNING 1)"
                                      " SELECT COUNT(*) FROM d",
                                      {run_id});
    if (!r.ok()) return r.status();
    versions = r->Int(0, 0);
    return conn.Query("DELETE FROM runs WHERE id = $1", {run_id}).status();
  });
  if (!s.ok()) return s;
  return versions;
}

}  // namespace cairn::internal
