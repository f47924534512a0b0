// PostgresMetadataStore: the web UI's reads and sessions (docs/adr/0023-web-ui.md).
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/fs.h"
#include "store/postgres/pg_execute.h"
#include "store/web_cursor.h"

namespace cairn::internal {

StatusOr<std::vector<std::string>> PostgresMetadataStore::ListEntities() {
  std::vector<std::string> out;
  Status s = Execute(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query("SELECT name FROM entities ORDER BY name", {});
    if (!r.ok()) return r.status();
    out.clear();
    for (int i = 0; i < r->rows(); ++i) out.push_back(r->Text(i, 0));
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<Page<RunSummary>> PostgresMetadataStore::SummarizeRuns(const std::string& entity, const std::string& project,
                                                                const std::string& id_contains,
                                                                const std::string& cursor, int limit) {
  StatusOr<RunCursor> after = ParseNewestFirstCursor(cursor);
  if (!after.ok()) return after.status();
  limit = ClampSummaryLimit(limit);
  Page<RunSummary> page;
  Status s = Execute(Access::kTransaction, [&](PgConnection& conn) -> Status {
    StatusOr<std::int64_t> project_id = FindProject(conn, entity, project);
    if (!project_id.ok()) return project_id.status();
    StatusOr<PgResult> r =
        conn.Query(kSummarizeRunsPostgres, {std::to_string(*project_id), id_contains, std::to_string(after->created_ms),
                                            after->run_id, std::to_string(limit + 1)});
    if (!r.ok()) return r.status();
    page = {};
    for (int i = 0; i < r->rows(); ++i) {
      if (i == limit) {
        page.next_cursor = RunCursorAfter(page.items.back().run);
        break;
      }
      page.items.push_back(RunSummary{RunRecord{entity, project, r->Text(i, 0), r->Int(i, 1), r->Int(i, 2),
                                                r->Text(i, 3), r->Text(i, 4), r->Int(i, 5)},
                                      r->Int(i, 6), static_cast<std::uint64_t>(r->Int(i, 7))});
    }
    return OkStatus();
  });
  if (!s.ok()) return s;
  return page;
}

StatusOr<std::vector<FileSummary>> PostgresMetadataStore::SummarizeFiles(const RunKey& run) {
  std::vector<FileSummary> out;
  Status s = Execute(Access::kTransaction, [&](PgConnection& conn) -> Status {
    StatusOr<FoundRun> found = FindRun(conn, run);
    if (!found.ok()) return found.status();
    StatusOr<PgResult> r = conn.Query(kSummarizeFilesPostgres, {std::to_string(found->id)});
    if (!r.ok()) return r.status();
    out.clear();
    out.reserve(static_cast<std::size_t>(r->rows()));
    for (int i = 0; i < r->rows(); ++i) out.push_back(FileSummary{FileRow(*r, i, r->Text(i, 0), 1), r->Int(i, 6)});
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

Status PostgresMetadataStore::PutSession(const SessionRecord& session) {
  return Execute(Access::kTransaction, [&](PgConnection& conn) -> Status {
    return conn
        .Query("INSERT INTO web_sessions(token_hash, subject, created_ms, expires_ms) VALUES ($1, $2, $3, $4)",
               {session.token_hash, session.subject, std::to_string(session.created_ms),
                std::to_string(session.expires_ms)})
        .status();
  });
}

StatusOr<std::optional<SessionRecord>> PostgresMetadataStore::FindSession(const std::string& token_hash,
                                                                          long long now_ms) {
  std::optional<SessionRecord> out;
  Status s = Execute(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query(
        "SELECT token_hash, subject, created_ms, expires_ms FROM web_sessions"
        " WHERE token_hash = $1 AND expires_ms > $2::bigint",
        {token_hash, std::to_string(now_ms)});
    if (!r.ok()) return r.status();
    out.reset();
    if (r->rows() > 0) out = SessionRecord{r->Text(0, 0), r->Text(0, 1), r->Int(0, 2), r->Int(0, 3)};
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

Status PostgresMetadataStore::DeleteSession(const std::string& token_hash) {
  return Execute(Access::kTransaction, [&](PgConnection& conn) -> Status {
    return conn
        .Query("DELETE FROM web_sessions WHERE token_hash = $1 OR expires_ms < $2::bigint",
               {token_hash, std::to_string(NowMs())})
        .status();
  });
}

StatusOr<std::vector<SessionRecord>> PostgresMetadataStore::DeleteExpiredSessions(long long now_ms) {
  std::vector<SessionRecord> out;
  Status s = Execute(Access::kTransaction, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query(
        "DELETE FROM web_sessions WHERE expires_ms <= $1::bigint RETURNING token_hash, subject, created_ms, expires_ms",
        {std::to_string(now_ms)});
    if (!r.ok()) return r.status();
    out.clear();
    for (int i = 0; i < r->rows(); ++i) out.push_back(SessionRecord{r->Text(i, 0), r->Text(i, 1), r->Int(i, 2), r->Int(i, 3)});
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace cairn::internal
