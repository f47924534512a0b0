// PostgresMetadataStore: creating, resuming, reading, listing and updating runs,
// and listing projects.
#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/fs.h"
#include "common/run_config.h"
#include "store/postgres/pg_execute.h"
#include "store/web_cursor.h"

namespace cairn::internal {

StatusOr<RunRecord> PostgresMetadataStore::CreateOrResumeRun(const RunKey& run, ResumeMode mode, bool* created) {
  if (created != nullptr) *created = false;
  RunRecord out;
  bool made = false;
  Status s = Execute(Access::kTransaction, [&](PgConnection& conn) -> Status {
    made = false;
    // Twice at most: when a concurrent transaction creates the run between
    // our lookup and our insert, the second lookup sees it (READ COMMITTED).
    for (int pass = 0; pass < 2; ++pass) {
      const long long now = NowMs();
      StatusOr<FoundRun> existing = FindRun(conn, run);
      if (existing.ok()) {
        if (mode == ResumeMode::kNever) {
          return AlreadyExistsError("run " + run.entity + "/" + run.project + "/" + run.run_id +
                                    " already exists: resume it (resume \"allow\" or \"must\") or pick another id");
        }
        StatusOr<PgResult> r = conn.Query(
            "UPDATE runs SET updated_ms = GREATEST(updated_ms, $2) WHERE id = $1 RETURNING created_ms, updated_ms",
            {std::to_string(existing->id), std::to_string(now)});
        if (!r.ok()) return r.status();
        out = existing->record;
        if (r->rows() > 0) out.updated_ms = r->Int(0, 1);
        return OkStatus();
      }
      if (!MissingRunPathPart(existing.status()).has_value()) return existing.status();  // a real error
      if (mode == ResumeMode::kMust) return existing.status();
      const std::vector<std::string> params{run.entity, run.project, run.run_id, std::to_string(now)};
      StatusOr<PgResult> e =
          conn.Query("INSERT INTO entities(name, created_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                     {run.entity, std::to_string(now)});
      if (!e.ok()) return e.status();
      StatusOr<PgResult> p = conn.Query(
          "INSERT INTO projects(entity_id, name, created_ms) SELECT id, $2, $3 FROM entities WHERE name = $1"
          " ON CONFLICT (entity_id, name) DO NOTHING",
          {run.entity, run.project, std::to_string(now)});
      if (!p.ok()) return p.status();
      StatusOr<PgResult> r = conn.Query(
          "INSERT INTO runs(project_id, run_id, created_ms, updated_ms)"
          " SELECT p.id, $3, $4, $4 FROM projects p JOIN entities e ON e.id = p.entity_id"
          " WHERE e.name = $1 AND p.name = $2 ON CONFLICT (project_id, run_id) DO NOTHING RETURNING id",
          params);
      if (!r.ok()) return r.status();
      if (r->rows() == 1) {
        out = RunRecord{run.entity, run.project, run.run_id, now, now};
        made = true;
        return OkStatus();
      }
    }
    return UnavailableError("run " + run.entity + "/" + run.project + "/" + run.run_id +
                            " is being created concurrently; retry");
  });
  if (!s.ok()) return s;
  if (created != nullptr) *created = made;
  return out;
}

StatusOr<std::int64_t> FindProject(PgConnection& conn, const std::string& entity, const std::string& project) {
  const RunKey key{entity, project, ""};
  StatusOr<PgResult> proj = conn.Query(
      "SELECT e.id, p.id FROM entities e LEFT JOIN projects p ON p.entity_id = e.id AND p.name = $2"
      " WHERE e.name = $1",
      {entity, project});
  if (!proj.ok()) return proj.status();
  if (proj->rows() == 0) return RunPathNotFoundError(RunPathPart::kEntity, key);
  if (proj->IsNull(0, 1)) return RunPathNotFoundError(RunPathPart::kProject, key);
  return proj->Int(0, 1);
}

StatusOr<RunRecord> PostgresMetadataStore::GetRun(const RunKey& run) {
  RunRecord out;
  Status s = Execute(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<FoundRun> found = FindRun(conn, run);
    if (!found.ok()) return found.status();
    out = found->record;
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<Page<RunRecord>> PostgresMetadataStore::ListRuns(const std::string& entity, const std::string& project,
                                                          const std::string& cursor, int limit) {
  limit = ClampLimit(limit);
  StatusOr<RunCursor> after = ParseOldestFirstCursor(cursor);
  if (!after.ok()) return after.status();
  Page<RunRecord> page;
  Status s = Execute(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<std::int64_t> project_id = FindProject(conn, entity, project);
    if (!project_id.ok()) return project_id.status();
    StatusOr<PgResult> r = conn.Query(
        "SELECT run_id, created_ms, updated_ms, config, state, heartbeat_ms FROM runs"
        " WHERE project_id = $1 AND (created_ms, run_id) > ($2::bigint, $3::text)"
        " ORDER BY created_ms, run_id LIMIT $4",
        {std::to_string(*project_id), std::to_string(after->created_ms), after->run_id, std::to_string(limit + 1)});
    if (!r.ok()) return r.status();
    page = {};
    for (int i = 0; i < r->rows(); ++i) {
      if (i == limit) {
        page.next_cursor = RunCursorAfter(page.items.back());
        break;
      }
      page.items.push_back(RunRecord{entity, project, r->Text(i, 0), r->Int(i, 1), r->Int(i, 2), r->Text(i, 3),
                                     r->Text(i, 4), r->Int(i, 5)});
    }
    return OkStatus();
  });
  if (!s.ok()) return s;
  return page;
}

StatusOr<RunRecord> PostgresMetadataStore::UpdateRun(const RunKey& run, const RunUpdate& update) {
  if (!update.state.empty() && update.state != kRunRunning && update.state != kRunFinished) {
    return InvalidArgumentError("run state must be \"running\" or \"finished\", not \"" + update.state + "\"");
  }
  RunRecord out;
  Status s = Execute(Access::kTransaction, [&](PgConnection& conn) -> Status {
    // Concurrent merges of the run's config queue on its row lock.
    StatusOr<std::int64_t> locked = LockRun(conn, run);
    if (!locked.ok()) return locked.status();
    StatusOr<FoundRun> found = FindRun(conn, run);
    if (!found.ok()) return found.status();
    out = found->record;
    if (!update.config_patch.empty()) {
      StatusOr<std::string> merged = MergeRunConfig(out.config, update.config_patch);
      if (!merged.ok()) return merged.status();
      out.config = std::move(*merged);
    }
    if (!update.state.empty()) {
      out.state = update.state;
      if (update.state == kRunRunning) out.heartbeat_ms = NowMs();
    }
    return conn
        .Query("UPDATE runs SET config = $2, state = $3, heartbeat_ms = $4 WHERE id = $1",
               {std::to_string(found->id), out.config, out.state, std::to_string(out.heartbeat_ms)})
        .status();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<std::vector<ProjectRecord>> PostgresMetadataStore::ListProjects(const std::string& entity) {
  std::vector<ProjectRecord> out;
  Status s = Execute(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query(
        "SELECT e.id, p.name, p.created_ms FROM entities e LEFT JOIN projects p ON p.entity_id = e.id"
        " WHERE e.name = $1 ORDER BY p.name",
        {entity});
    if (!r.ok()) return r.status();
    if (r->rows() == 0) return RunPathNotFoundError(RunPathPart::kEntity, RunKey{entity, "", ""});
    out.clear();
    for (int i = 0; i < r->rows(); ++i) {
      if (!r->IsNull(i, 1)) out.push_back(ProjectRecord{entity, r->Text(i, 1), r->Int(i, 2)});
    }
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace cairn::internal
