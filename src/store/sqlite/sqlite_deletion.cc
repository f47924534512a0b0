// SqliteMetadataStore: deleting file versions and runs
// (docs/adr/0021-accounts-and-deletion.md). Rows go in one IMMEDIATE
// transaction; blobs stay for `cairn gc`.
#include <utility>

#include "common/fs.h"
#include "store/sqlite/sqlite_metadata_store.h"
#include "store/sqlite/sqlite_statement.h"

namespace cairn::internal {

StatusOr<std::vector<FileVersionRecord>> SqliteMetadataStore::DeleteFile(const RunKey& run, const std::string& name,
                                                                         std::optional<std::int64_t> version) {
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/true));
  StatusOr<std::int64_t> run_row = FindRunRowId(run);
  if (!run_row.ok()) return run_row.status();
  // -1 matches every version.
  const std::int64_t which = version.value_or(-1);
  std::vector<FileVersionRecord> deleted;
  {
    StatusOr<sqlite3_stmt*> st = Prepare(
        "SELECT version, size, sha256, created_ms FROM file_versions"
        " WHERE run = ?1 AND name = ?2 AND (?3 = -1 OR version = ?3) ORDER BY version");
    if (!st.ok()) return st.status();
    Stmt q(db_, *st);
    q.Bind(1, *run_row).Bind(2, name).Bind(3, which);
    for (;;) {
      StatusOr<bool> row = q.Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      deleted.push_back(FileVersionRecord{name, q.Int(0), static_cast<std::uint64_t>(q.Int(1)), q.Text(2), q.Int(3)});
    }
  }
  if (deleted.empty()) return deleted;
  {
    StatusOr<sqlite3_stmt*> st =
        Prepare("DELETE FROM file_versions WHERE run = ?1 AND name = ?2 AND (?3 = -1 OR version = ?3)");
    if (!st.ok()) return st.status();
    Stmt q(db_, *st);
    CAIRN_SQL_RETURN_IF_ERROR(q.Bind(1, *run_row).Bind(2, name).Bind(3, which).Run());
  }
  {
    StatusOr<sqlite3_stmt*> st = Prepare("UPDATE runs SET updated_ms = MAX(updated_ms, ?2) WHERE id = ?1");
    if (!st.ok()) return st.status();
    Stmt q(db_, *st);
    CAIRN_SQL_RETURN_IF_ERROR(q.Bind(1, *run_row).Bind(2, std::int64_t{NowMs()}).Run());
  }
  CAIRN_SQL_RETURN_IF_ERROR(txn.Commit());
  return deleted;
}

StatusOr<std::int64_t> SqliteMetadataStore::DeleteRun(const RunKey& run) {
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/true));
  StatusOr<std::int64_t> run_row = FindRunRowId(run);
  if (!run_row.ok()) return run_row.status();
  {
    StatusOr<sqlite3_stmt*> st = Prepare("DELETE FROM file_versions WHERE run = ?1");
    if (!st.ok()) return st.status();
    Stmt q(db_, *st);
    CAIRN_SQL_RETURN_IF_ERROR(q.Bind(1, *run_row).Run());
  }
  const std::int64_t versions = sqlite3_changes64(db_);
  {
    StatusOr<sqlite3_stmt*> st = Prepare("DELETE FROM runs WHERE id = ?1");
    if (!st.ok()) return st.status();
    Stmt q(db_, *st);
    CAIRN_SQL_RETURN_IF_ERROR(q.Bind(1, *run_row).Run());
  }
  CAIRN_SQL_RETURN_IF_ERROR(txn.Commit());
  return versions;
}

}  // namespace cairn::internal
