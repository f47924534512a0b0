// PostgresMetadataStore: retention policies and the conditional deletes that
// apply them (docs/adr/0022-operations.md). A pruning transaction locks the
// run's row first, as CommitVersion and DeleteFile do, so it serialises with
// saves and with other replicas pruning the same run; each delete rechecks,
// under that lock, that its version is still there and still not the latest.
#include <string>
#include <utility>

#include "common/fs.h"
#include "store/postgres/pg_connection.h"

namespace cairn::internal {

StatusOr<std::vector<RetentionPolicy>> PostgresMetadataStore::ListRetentionPolicies(const std::string& entity) {
  std::vector<RetentionPolicy> out;
  Status s = Run(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query(
        "SELECT entity, project, pattern, keep_last, max_age_ms, updated_ms FROM retention_policies"
        " WHERE $1 = '' OR entity = $1 ORDER BY entity, project, pattern",
        {entity});
    if (!r.ok()) return r.status();
    out.clear();
    for (int i = 0; i < r->rows(); ++i) {
      out.push_back(RetentionPolicy{.entity = r->Text(i, 0),
                                    .project = r->Text(i, 1),
                                    .pattern = r->Text(i, 2),
                                    .keep_last = r->Int(i, 3),
                                    .max_age_ms = r->Int(i, 4),
                                    .updated_ms = r->Int(i, 5)});
    }
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

Status PostgresMetadataStore::SetRetentionPolicy(const RetentionPolicy& p) {
  return Run(Access::kTransaction, [&](PgConnection& conn) -> Status {
    return conn
        .Query("INSERT INTO retention_policies(entity, project, pattern, keep_last, max_age_ms, updated_ms)"
               " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (entity, project, pattern) DO UPDATE SET"
               " keep_last = excluded.keep_last, max_age_ms = excluded.max_age_ms, updated_ms = excluded.updated_ms",
               {p.entity, p.project, p.pattern, std::to_string(p.keep_last), std::to_string(p.max_age_ms),
                std::to_string(NowMs())})
        .status();
  });
}

StatusOr<std::int64_t> PostgresMetadataStore::ClearRetentionPolicies(const std::string& entity,
                                                                     const std::string& project,
                                                                     const std::optional<std::string>& pattern) {
  std::int64_t removed = 0;
  Status s = Run(Access::kTransaction, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query(
        "WITH d AS (DELETE FROM retention_policies WHERE entity = $1 AND project = $2"
        " AND ($3 = '0' OR pattern = $4) RETURNING 1) SELECT COUNT(*) FROM d",
        {entity, project, pattern ? "1" : "0", pattern.value_or("")});
    if (!r.ok()) return r.status();
    removed = r->Int(0, 0);
    return OkStatus();
  });
  if (!s.ok()) return s;
  return removed;
}

StatusOr<std::vector<ProjectVersion>> PostgresMetadataStore::ListProjectVersions(const std::string& entity,
                                                                                 const std::string& project) {
  std::vector<ProjectVersion> out;
  Status s = Run(Access::kRead, [&](PgConnection& conn) -> Status {
    // One statement: one snapshot.
    StatusOr<PgResult> r = conn.Query(
        "SELECT r.run_id, f.name, f.version, f.size, f.sha256, f.created_ms, f.created_by, e.id, p.id FROM entities e"
        " LEFT JOIN projects p ON p.entity_id = e.id AND p.name = $2 LEFT JOIN runs r ON r.project_id = p.id"
        " LEFT JOIN file_versions f ON f.run = r.id WHERE e.name = $1"
        " ORDER BY r.run_id COLLATE \"C\", f.name COLLATE \"C\", f.version",
        {entity, project});
    if (!r.ok()) return r.status();
    out.clear();
    if (r->rows() == 0) return RunPathNotFoundError(RunPathPart::kEntity, RunKey{entity, project, ""});
    if (r->IsNull(0, 8)) return RunPathNotFoundError(RunPathPart::kProject, RunKey{entity, project, ""});
    for (int i = 0; i < r->rows(); ++i) {
      if (r->IsNull(i, 1)) continue;  // a project without runs, or a run without files
      out.push_back(ProjectVersion{r->Text(i, 0), FileRow(*r, i, r->Text(i, 1), 2)});
    }
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<std::vector<FileVersionRecord>> PostgresMetadataStore::DeleteVersionsIfNotLatest(
    const RunKey& run, const std::vector<VersionRef>& versions) {
  std::vector<FileVersionRecord> deleted;
  Status s = Run(Access::kTransaction, [&](PgConnection& conn) -> Status {
    deleted.clear();
    StatusOr<std::int64_t> locked = LockRun(conn, run);
    if (!locked.ok()) return locked.status();
    const std::string run_id = std::to_string(*locked);
    for (const VersionRef& v : versions) {
      StatusOr<PgResult> r = conn.Query(
          "DELETE FROM file_versions f WHERE f.run = $1 AND f.name = $2 AND f.version = $3::bigint AND EXISTS"
          " (SELECT 1 FROM file_versions n WHERE n.run = $1 AND n.name = $2 AND n.version > $3::bigint)"
          " RETURNING version, size, sha256, created_ms, created_by",
          {run_id, v.name, std::to_string(v.version)});
      if (!r.ok()) return r.status();
      if (r->rows() > 0) deleted.push_back(FileRow(*r, 0, v.name, 0));
    }
    return OkStatus();
  });
  if (!s.ok()) return s;
  return deleted;
}

}  // namespace cairn::internal
