// SqliteMetadataStore: retention policies and the conditional deletes that
// apply them (docs/adr/0022-operations.md). A pruning transaction is
// IMMEDIATE, so it serialises with every commit (SQLite has one writer).
#include <utility>

#include "common/fs.h"
#include "store/sqlite/sqlite_metadata_store.h"
#include "store/sqlite/sqlite_statement.h"

namespace cairn::internal {

StatusOr<std::vector<RetentionPolicy>> SqliteMetadataStore::ListRetentionPolicies(const std::string& entity) {
  MutexLock lock(mu_);
  StatusOr<sqlite3_stmt*> st = Prepare(
      "SELECT entity, project, pattern, keep_last, max_age_ms, updated_ms FROM retention_policies"
      " WHERE ?1 = '' OR entity = ?1 ORDER BY entity, project, pattern");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  q.Bind(1, entity);
  std::vector<RetentionPolicy> out;
  for (;;) {
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(RetentionPolicy{.entity = q.Text(0),
                                  .project = q.Text(1),
                                  .pattern = q.Text(2),
                                  .keep_last = q.Int(3),
                                  .max_age_ms = q.Int(4),
                                  .updated_ms = q.Int(5)});
  }
  return out;
}

Status SqliteMetadataStore::SetRetentionPolicy(const RetentionPolicy& p) {
  MutexLock lock(mu_);
  StatusOr<sqlite3_stmt*> st = Prepare(
      "INSERT INTO retention_policies(entity, project, pattern, keep_last, max_age_ms, updated_ms)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (entity, project, pattern) DO UPDATE SET"
      " keep_last = excluded.keep_last, max_age_ms = excluded.max_age_ms, updated_ms = excluded.updated_ms");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  return q.Bind(1, p.entity)
      .Bind(2, p.project)
      .Bind(3, p.pattern)
      .Bind(4, p.keep_last)
      .Bind(5, p.max_age_ms)
      .Bind(6, std::int64_t{NowMs()})
      .Run();
}

StatusOr<std::int64_t> SqliteMetadataStore::ClearRetentionPolicies(const std::string& entity,
                                                                   const std::string& project,
                                                                   const std::optional<std::string>& pattern) {
  MutexLock lock(mu_);
  StatusOr<sqlite3_stmt*> st = Prepare(
      "DELETE FROM retention_policies WHERE entity = ?1 AND project = ?2 AND (?3 = 0 OR pattern = ?4)");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  CAIRN_SQL_RETURN_IF_ERROR(
      q.Bind(1, entity).Bind(2, project).Bind(3, std::int64_t{pattern ? 1 : 0}).Bind(4, pattern.value_or("")).Run());
  return static_cast<std::int64_t>(sqlite3_changes64(db_));
}

StatusOr<std::vector<ProjectVersion>> SqliteMetadataStore::ListProjectVersions(const std::string& entity,
                                                                               const std::string& project) {
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/false));
  std::vector<ProjectVersion> out;
  bool project_found = false;
  {
    StatusOr<sqlite3_stmt*> st = Prepare(
        "SELECT r.run_id, f.name, f.version, f.size, f.sha256, f.created_ms FROM entities e"
        " JOIN projects p ON p.entity_id = e.id LEFT JOIN runs r ON r.project_id = p.id"
        " LEFT JOIN file_versions f ON f.run = r.id WHERE e.name = ?1 AND p.name = ?2"
        " ORDER BY r.run_id, f.name, f.version");
    if (!st.ok()) return st.status();
    Stmt q(db_, *st);
    q.Bind(1, entity).Bind(2, project);
    for (;;) {
      StatusOr<bool> row = q.Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      project_found = true;
      if (q.IsNull(1)) continue;  // a project without runs, or a run without files
      out.push_back(ProjectVersion{
          q.Text(0), FileVersionRecord{q.Text(1), q.Int(2), static_cast<std::uint64_t>(q.Int(3)), q.Text(4), q.Int(5)}});
    }
  }
  if (!project_found) {
    StatusOr<sqlite3_stmt*> st = Prepare("SELECT 1 FROM entities WHERE name = ?1");
    if (!st.ok()) return st.status();
    Stmt q(db_, *st);
    q.Bind(1, entity);
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    return RunPathNotFoundError(*row ? RunPathPart::kProject : RunPathPart::kEntity, RunKey{entity, project, ""});
  }
  CAIRN_SQL_RETURN_IF_ERROR(txn.Commit());
  return out;
}

StatusOr<std::vector<FileVersionRecord>> SqliteMetadataStore::DeleteVersionsIfNotLatest(
    const RunKey& run, const std::vector<VersionRef>& versions) {
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/true));
  StatusOr<std::int64_t> run_row = FindRunRowId(run);
  if (!run_row.ok()) return run_row.status();
  std::vector<FileVersionRecord> deleted;
  for (const VersionRef& v : versions) {
    // The recheck: the row is still there and a newer version of its file exists.
    StatusOr<sqlite3_stmt*> st = Prepare(
        "SELECT size, sha256, created_ms FROM file_versions f WHERE run = ?1 AND name = ?2 AND version = ?3"
        " AND EXISTS (SELECT 1 FROM file_versions n WHERE n.run = ?1 AND n.name = ?2 AND n.version > ?3)");
    if (!st.ok()) return st.status();
    Stmt q(db_, *st);
    q.Bind(1, *run_row).Bind(2, v.name).Bind(3, v.version);
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) continue;
    deleted.push_back(FileVersionRecord{v.name, v.version, static_cast<std::uint64_t>(q.Int(0)), q.Text(1), q.Int(2)});
    StatusOr<sqlite3_stmt*> del = Prepare("DELETE FROM file_versions WHERE run = ?1 AND name = ?2 AND version = ?3");
    if (!del.ok()) return del.status();
    Stmt d(db_, *del);
    CAIRN_SQL_RETURN_IF_ERROR(d.Bind(1, *run_row).Bind(2, v.name).Bind(3, v.version).Run());
  }
  CAIRN_SQL_RETURN_IF_ERROR(txn.Commit());
  return deleted;
}

}  // namespace cairn::internal
