// SqliteMetadataStore: a run's config and state, and the projects of an
// entity (for W&B clients' runs() and projects() queries, docs/wandb.md).
#include <utility>

#include "common/fs.h"
#include "common/run_config.h"
#include "store/sqlite/sqlite_metadata_store.h"
#include "store/sqlite/sqlite_statement.h"

namespace cairn::internal {

StatusOr<RunRecord> SqliteMetadataStore::UpdateRun(const RunKey& run, const RunUpdate& update) {
  if (!update.state.empty() && update.state != kRunRunning && update.state != kRunFinished) {
    return InvalidArgumentError("run state must be \"running\" or \"finished\", not \"" + update.state + "\"");
  }
  MutexLock lock(mu_);
  Txn txn(this);
  // IMMEDIATE: the config is read, merged and written under the write lock.
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/true));
  StatusOr<RunRecord> rec = LoadRun(run);
  if (!rec.ok()) return rec.status();
  if (!update.config_patch.empty()) {
    StatusOr<std::string> merged = MergeRunConfig(rec->config, update.config_patch);
    if (!merged.ok()) return merged.status();
    rec->config = std::move(*merged);
  }
  if (!update.state.empty()) {
    rec->state = update.state;
    if (update.state == kRunRunning) rec->heartbeat_ms = NowMs();
  }
  StatusOr<sqlite3_stmt*> st = Prepare(
      "UPDATE runs SET config = ?1, state = ?2, heartbeat_ms = ?3 WHERE run_id = ?4 AND project_id ="
      " (SELECT p.id FROM projects p JOIN entities e ON e.id = p.entity_id WHERE e.name = ?5 AND p.name = ?6)");
  if (!st.ok()) return st.status();
  {
    Stmt q(db_, *st);
    CAIRN_SQL_RETURN_IF_ERROR(q.Bind(1, rec->config)
                                  .Bind(2, rec->state)
                                  .Bind(3, std::int64_t{rec->heartbeat_ms})
                                  .Bind(4, run.run_id)
                                  .Bind(5, run.entity)
                                  .Bind(6, run.project)
                                  .Run());
  }
  CAIRN_SQL_RETURN_IF_ERROR(txn.Commit());
  return rec;
}

StatusOr<std::vector<ProjectRecord>> SqliteMetadataStore::ListProjects(const std::string& entity) {
  MutexLock lock(mu_);
  StatusOr<sqlite3_stmt*> st = Prepare(
      "SELECT e.id, p.name, p.created_ms FROM entities e LEFT JOIN projects p ON p.entity_id = e.id"
      " WHERE e.name = ?1 ORDER BY p.name");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  q.Bind(1, entity);
  std::vector<ProjectRecord> out;
  bool entity_found = false;
  for (;;) {
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    entity_found = true;
    if (!q.IsNull(1)) out.push_back(ProjectRecord{entity, q.Text(1), q.Int(2)});
  }
  if (!entity_found) return RunPathNotFoundError(RunPathPart::kEntity, RunKey{entity, "", ""});
  return out;
}

}  // namespace cairn::internal
