// SqliteMetadataStore: committing versions, one or many in one transaction
// (the batch route of docs/http-api.md: N small files cost one WAL fsync).
#include <cstdint>
#include <limits>

#include "common/fs.h"
#include "store/sqlite/sqlite_metadata_store.h"
#include "store/sqlite/sqlite_statement.h"

namespace cairn::internal {

// One version in the caller's IMMEDIATE transaction: max(version)+1 and the
// insert under the write lock, so concurrent commits (from any process) get
// distinct, consecutive versions. The one place that numbers versions.
StatusOr<FileVersionRecord> SqliteMetadataStore::InsertNextVersion(std::int64_t run_row, const NewVersion& f,
                                                                   long long now) {
  FileVersionRecord rec{f.name, 0, f.size, f.sha256, now, f.created_by};
  {
    StatusOr<sqlite3_stmt*> st =
        Prepare("SELECT COALESCE(MAX(version), 0) FROM file_versions WHERE run = ?1 AND name = ?2");
    if (!st.ok()) return st.status();
    Stmt q(db_, *st);
    q.Bind(1, run_row).Bind(2, f.name);
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    rec.version = q.Int(0) + 1;
  }
  StatusOr<sqlite3_stmt*> st = Prepare(
      "INSERT INTO file_versions(run, name, version, size, sha256, created_ms, created_by)"
      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  CAIRN_SQL_RETURN_IF_ERROR(q.Bind(1, run_row)
                                .Bind(2, f.name)
                                .Bind(3, rec.version)
                                .Bind(4, static_cast<std::int64_t>(f.size))
                                .Bind(5, f.sha256)
                                .Bind(6, std::int64_t{now})
                                .Bind(7, f.created_by)
                                .Run());
  return rec;
}

// One version is a batch of one (same checks, lock and run update).
StatusOr<FileVersionRecord> SqliteMetadataStore::CommitVersion(const RunKey& run, const std::string& name,
                                                               const std::string& sha256, std::uint64_t size,
                                                               const std::string& created_by) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<FileVersionRecord> out,
                         CommitVersions(run, {NewVersion{name, sha256, size, created_by}}));
  return std::move(out.front());
}

StatusOr<std::vector<FileVersionRecord>> SqliteMetadataStore::CommitVersions(const RunKey& run,
                                                                             const std::vector<NewVersion>& files) {
  for (const NewVersion& f : files) {
    if (f.size > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return InvalidArgumentError("file size " + std::to_string(f.size) + " of " + f.name + " is too large");
    }
  }
  MutexLock lock(mu_);
  Txn txn(this);
  // IMMEDIATE: InsertNextVersion numbers versions under the write lock.
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/true));
  StatusOr<std::int64_t> run_row = FindRunRowId(run);
  if (!run_row.ok()) return run_row.status();
  const long long now = NowMs();
  std::vector<FileVersionRecord> out;
  out.reserve(files.size());
  for (const NewVersion& f : files) {
    CAIRN_ASSIGN_OR_RETURN(FileVersionRecord rec, InsertNextVersion(*run_row, f, now));
    out.push_back(std::move(rec));
  }
  {
    StatusOr<sqlite3_stmt*> st = Prepare("UPDATE runs SET updated_ms = MAX(updated_ms, ?2) WHERE id = ?1");
    if (!st.ok()) return st.status();
    Stmt q(db_, *st);
    CAIRN_SQL_RETURN_IF_ERROR(q.Bind(1, *run_row).Bind(2, std::int64_t{now}).Run());
  }
  CAIRN_SQL_RETURN_IF_ERROR(txn.Commit());
  return out;
}

}  // namespace cairn::internal
