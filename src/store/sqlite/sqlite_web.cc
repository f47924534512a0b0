// SqliteMetadataStore: what the web UI reads (entities, run and file
// summaries) and its sessions (docs/adr/0023-web-ui.md).
#include <limits>
#include <utility>

#include "common/fs.h"
#include "store/sqlite/sqlite_metadata_store.h"
#include "store/sqlite/sqlite_statement.h"
#include "store/web_cursor.h"

namespace cairn::internal {

StatusOr<std::vector<std::string>> SqliteMetadataStore::ListEntities() {
  MutexLock lock(mu_);
  StatusOr<sqlite3_stmt*> st = Prepare("SELECT name FROM entities ORDER BY name");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  std::vector<std::string> out;
  for (;;) {
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(q.Text(0));
  }
  return out;
}

StatusOr<Page<RunSummary>> SqliteMetadataStore::SummarizeRuns(const std::string& entity, const std::string& project,
                                                              const std::string& id_contains,
                                                              const std::string& cursor, int limit) {
  StatusOr<RunCursor> after = ParseNewestFirstCursor(cursor);
  if (!after.ok()) return after.status();
  limit = ClampSummaryLimit(limit);
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/false));
  CAIRN_ASSIGN_OR_RETURN(const std::int64_t project_id, FindProjectId(entity, project));
  StatusOr<sqlite3_stmt*> st = Prepare(kSummarizeRunsSqlite);
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  q.Bind(1, project_id).Bind(2, id_contains).Bind(3, after->created_ms).Bind(4, after->run_id);
  q.Bind(5, std::int64_t{limit} + 1);
  Page<RunSummary> page;
  for (;;) {
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_cursor = RunCursorAfter(page.items.back().run);
      break;
    }
    page.items.push_back(
        RunSummary{RunRecord{entity, project, q.Text(0), q.Int(1), q.Int(2), q.Text(3), q.Text(4), q.Int(5)}, q.Int(6),
                   static_cast<std::uint64_t>(q.Int(7))});
  }
  return page;
}

StatusOr<std::vector<FileSummary>> SqliteMetadataStore::SummarizeFiles(const RunKey& run) {
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/false));
  StatusOr<std::int64_t> run_row = FindRunRowId(run);
  if (!run_row.ok()) return run_row.status();
  StatusOr<sqlite3_stmt*> st = Prepare(kSummarizeFilesSql);
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  q.Bind(1, *run_row);
  std::vector<FileSummary> out;
  for (;;) {
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(FileSummary{
        FileVersionRecord{q.Text(0), q.Int(1), static_cast<std::uint64_t>(q.Int(2)), q.Text(3), q.Int(4), q.Text(5)}, q.Int(6)});
  }
  return out;
}

Status SqliteMetadataStore::PutSession(const SessionRecord& session) {
  MutexLock lock(mu_);
  StatusOr<sqlite3_stmt*> st =
      Prepare("INSERT INTO web_sessions(token_hash, subject, created_ms, expires_ms) VALUES (?1, ?2, ?3, ?4)");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  return q.Bind(1, session.token_hash)
      .Bind(2, session.subject)
      .Bind(3, std::int64_t{session.created_ms})
      .Bind(4, std::int64_t{session.expires_ms})
      .Run();
}

StatusOr<std::optional<SessionRecord>> SqliteMetadataStore::FindSession(const std::string& token_hash,
                                                                        long long now_ms) {
  MutexLock lock(mu_);
  StatusOr<sqlite3_stmt*> st = Prepare(
      "SELECT token_hash, subject, created_ms, expires_ms FROM web_sessions WHERE token_hash = ?1 AND expires_ms > ?2");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  q.Bind(1, token_hash).Bind(2, std::int64_t{now_ms});
  StatusOr<bool> row = q.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<SessionRecord>();
  return std::optional<SessionRecord>(SessionRecord{q.Text(0), q.Text(1), q.Int(2), q.Int(3)});
}

Status SqliteMetadataStore::DeleteSession(const std::string& token_hash) {
  MutexLock lock(mu_);
  // Expired sessions go too: sign-outs keep the table small.
  StatusOr<sqlite3_stmt*> st = Prepare("DELETE FROM web_sessions WHERE token_hash = ?1 OR expires_ms < ?2");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  return q.Bind(1, token_hash).Bind(2, std::int64_t{NowMs()}).Run();
}

StatusOr<std::vector<SessionRecord>> SqliteMetadataStore::DeleteExpiredSessions(long long now_ms) {
  MutexLock lock(mu_);
  StatusOr<sqlite3_stmt*> st = Prepare(
      "DELETE FROM web_sessions WHERE expires_ms <= ?1 RETURNING token_hash, subject, created_ms, expires_ms");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  q.Bind(1, std::int64_t{now_ms});
  std::vector<SessionRecord> out;
  for (;;) {
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(SessionRecord{q.Text(0), q.Text(1), q.Int(2), q.Int(3)});
  }
  return out;
}

}  // namespace cairn::internal
