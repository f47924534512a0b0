#include "store/sqlite/sqlite_metadata_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <utility>

#include "common/fs.h"
#include "store/migrations.h"
#include "store/sqlite/sqlite_statement.h"
#include "store/web_cursor.h"

namespace cairn::internal {
namespace {

constexpr int kMaxPageSize = 1000;
// The store's durability (Configure; PutBlobMd5 restores it): a WAL commit is
// fsynced before COMMIT returns.
constexpr const char* kSynchronousFull = "PRAGMA synchronous=FULL";

int ClampLimit(int limit) { return std::clamp(limit, 1, kMaxPageSize); }

}  // namespace

Status SqliteStatus(int rc, sqlite3* db, std::string_view what) {
  std::string msg = std::string(what) + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return OkStatus();
    case SQLITE_FULL:
      return ResourceExhaustedError(msg + " (the disk holding the database is full; free some space)");
    case SQLITE_NOMEM:
      return ResourceExhaustedError(msg);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return UnavailableError(msg + " (the database is busy; retry)");
    case SQLITE_IOERR:
      return UnavailableError(msg + " (I/O error on the database file)");
    case SQLITE_CONSTRAINT:
      return AlreadyExistsError(msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return DataLossError(msg + " (the database file is damaged; restore it from a backup)");
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return FailedPreconditionError(msg + " (check the data directory and its permissions)");
    default:
      return InternalError(msg);
  }
}

StatusOr<std::unique_ptr<SqliteMetadataStore>> SqliteMetadataStore::Open(const std::filesystem::path& path,
                                                                         const SqliteOptions& options) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Status s = SqliteStatus(rc, db, "open database " + path.string());
    sqlite3_close(db);
    return s;
  }
  std::unique_ptr<SqliteMetadataStore> store(new SqliteMetadataStore(db));
  MutexLock lock(store->mu_);
  CAIRN_SQL_RETURN_IF_ERROR(store->Configure(options));
  CAIRN_SQL_RETURN_IF_ERROR(store->Migrate());
  return store;
}

SqliteMetadataStore::~SqliteMetadataStore() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

Status SqliteMetadataStore::Exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  sqlite3_free(err);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db_, "sqlite exec");
  return OkStatus();
}

Status SqliteMetadataStore::Configure(const SqliteOptions& options) {
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, options.busy_timeout_ms);
  CAIRN_SQL_RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
  // FULL: a WAL commit is fsynced before COMMIT returns, so a version that
  // the server acknowledged survives power loss.
  CAIRN_SQL_RETURN_IF_ERROR(Exec(kSynchronousFull));
  CAIRN_SQL_RETURN_IF_ERROR(Exec("PRAGMA foreign_keys=ON"));
  return OkStatus();
}

namespace {

// The migration runner's view of this store's connection (the caller holds mu_).
class SqliteMigrationSession final : public MigrationSession {
 public:
  explicit SqliteMigrationSession(sqlite3* db) : db_(db) {}
  SqlDialect dialect() const override { return SqlDialect::kSqlite; }
  Status BeginExclusive() override { return Exec("BEGIN IMMEDIATE"); }
  Status Exec(std::string_view sql) override {
    const std::string text(sql);
    char* err = nullptr;
    int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err);
    sqlite3_free(err);
    return rc == SQLITE_OK ? OkStatus() : SqliteStatus(rc, db_, "sqlite migration");
  }
  StatusOr<std::int64_t> QueryInt(std::string_view sql) override {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
    if (rc != SQLITE_OK) return SqliteStatus(rc, db_, "prepare statement");
    rc = sqlite3_step(stmt);
    std::int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqliteStatus(rc, db_, "sqlite query");
    return v;
  }
  Status Commit() override { return Exec("COMMIT"); }
  void Rollback() override { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); }

 private:
  sqlite3* db_;
};

}  // namespace

Status SqliteMetadataStore::Migrate() {
  SqliteMigrationSession session(db_);
  return RunMigrations(session);
}

int SqliteMetadataStore::SchemaVersion() {
  MutexLock lock(mu_);
  StatusOr<sqlite3_stmt*> st = Prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!st.ok()) return -1;
  Stmt q(db_, *st);
  StatusOr<bool> row = q.Step();
  return row.ok() && *row ? static_cast<int>(q.Int(0)) : -1;
}

StatusOr<sqlite3_stmt*> SqliteMetadataStore::Prepare(const char* sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return it->second;
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(rc, db_, "prepare statement");
  statements_.emplace(sql, stmt);
  return stmt;
}

namespace {
constexpr const char* kFindRunSql =
    "SELECT e.id, p.id, r.id, r.created_ms, r.updated_ms, r.config, r.state, r.heartbeat_ms FROM entities e"
    " LEFT JOIN projects p ON p.entity_id = e.id AND p.name = ?2"
    " LEFT JOIN runs r ON r.project_id = p.id AND r.run_id = ?3"
    " WHERE e.name = ?1";
}  // namespace

StatusOr<std::int64_t> SqliteMetadataStore::FindRunRowId(const RunKey& run) {
  StatusOr<sqlite3_stmt*> st = Prepare(kFindRunSql);
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  q.Bind(1, run.entity).Bind(2, run.project).Bind(3, run.run_id);
  StatusOr<bool> row = q.Step();
  if (!row.ok()) return row.status();
  if (!*row) return RunPathNotFoundError(RunPathPart::kEntity, run);
  if (q.IsNull(1)) return RunPathNotFoundError(RunPathPart::kProject, run);
  if (q.IsNull(2)) return RunPathNotFoundError(RunPathPart::kRun, run);
  return q.Int(2);
}

StatusOr<RunRecord> SqliteMetadataStore::LoadRun(const RunKey& run) {
  StatusOr<sqlite3_stmt*> st = Prepare(kFindRunSql);
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  q.Bind(1, run.entity).Bind(2, run.project).Bind(3, run.run_id);
  StatusOr<bool> row = q.Step();
  if (!row.ok()) return row.status();
  if (!*row) return RunPathNotFoundError(RunPathPart::kEntity, run);
  if (q.IsNull(1)) return RunPathNotFoundError(RunPathPart::kProject, run);
  if (q.IsNull(2)) return RunPathNotFoundError(RunPathPart::kRun, run);
  return RunRecord{run.entity, run.project, run.run_id, q.Int(3), q.Int(4), q.Text(5), q.Text(6), q.Int(7)};
}

StatusOr<RunRecord> SqliteMetadataStore::CreateOrResumeRun(const RunKey& run, ResumeMode mode, bool* created) {
  if (created != nullptr) *created = false;
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/true));
  StatusOr<RunRecord> existing = LoadRun(run);
  const long long now = NowMs();
  if (existing.ok()) {
    if (mode == ResumeMode::kNever) {
      return AlreadyExistsError("run " + run.entity + "/" + run.project + "/" + run.run_id +
                                " already exists: resume it (resume \"allow\" or \"must\") or pick another id");
    }
    // Resuming counts as activity on the run.
    RunRecord rec = std::move(existing).value();
    rec.updated_ms = std::max(rec.updated_ms, now);
    StatusOr<sqlite3_stmt*> st = Prepare(
        "UPDATE runs SET updated_ms = ?1 WHERE run_id = ?2 AND project_id ="
        " (SELECT p.id FROM projects p JOIN entities e ON e.id = p.entity_id WHERE e.name = ?3 AND p.name = ?4)");
    if (!st.ok()) return st.status();
    {
      Stmt q(db_, *st);
      CAIRN_SQL_RETURN_IF_ERROR(
          q.Bind(1, std::int64_t{rec.updated_ms}).Bind(2, run.run_id).Bind(3, run.entity).Bind(4, run.project).Run());
    }
    CAIRN_SQL_RETURN_IF_ERROR(txn.Commit());
    return rec;
  }
  if (!MissingRunPathPart(existing.status()).has_value()) return existing.status();  // a real error
  if (mode == ResumeMode::kMust) return existing.status();

  // Entities and projects come into being on the first run write.
  const char* inserts[] = {
      "INSERT OR IGNORE INTO entities(name, created_ms) VALUES (?1, ?4)",
      "INSERT OR IGNORE INTO projects(entity_id, name, created_ms)"
      " SELECT id, ?2, ?4 FROM entities WHERE name = ?1",
      "INSERT INTO runs(project_id, run_id, created_ms, updated_ms)"
      " SELECT p.id, ?3, ?4, ?4 FROM projects p JOIN entities e ON e.id = p.entity_id"
      " WHERE e.name = ?1 AND p.name = ?2",
  };
  for (const char* sql : inserts) {
    StatusOr<sqlite3_stmt*> st = Prepare(sql);
    if (!st.ok()) return st.status();
    Stmt q(db_, *st);
    // Every statement's highest parameter is ?4, so all four indexes exist;
    // the ones a statement does not reference are ignored.
    q.Bind(1, run.entity).Bind(2, run.project).Bind(3, run.run_id).Bind(4, std::int64_t{now});
    CAIRN_SQL_RETURN_IF_ERROR(q.Run());
  }
  CAIRN_SQL_RETURN_IF_ERROR(txn.Commit());
  if (created != nullptr) *created = true;
  return RunRecord{run.entity, run.project, run.run_id, now, now};
}

StatusOr<RunRecord> SqliteMetadataStore::GetRun(const RunKey& run) {
  MutexLock lock(mu_);
  return LoadRun(run);
}

StatusOr<std::int64_t> SqliteMetadataStore::FindProjectId(const std::string& entity, const std::string& project) {
  CAIRN_ASSIGN_OR_RETURN(
      Stmt q, Stmt::Of(*this,
                       "SELECT e.id, p.id FROM entities e LEFT JOIN projects p ON p.entity_id = e.id AND p.name = ?2"
                       " WHERE e.name = ?1"));
  q.Bind(1, entity).Bind(2, project);
  CAIRN_ASSIGN_OR_RETURN(const bool row, q.Step());
  const RunKey key{entity, project, ""};
  if (!row) return RunPathNotFoundError(RunPathPart::kEntity, key);
  if (q.IsNull(1)) return RunPathNotFoundError(RunPathPart::kProject, key);
  return q.Int(1);
}

StatusOr<Page<RunRecord>> SqliteMetadataStore::ListRuns(const std::string& entity, const std::string& project,
                                                        const std::string& cursor, int limit) {
  limit = ClampLimit(limit);
  StatusOr<RunCursor> after = ParseOldestFirstCursor(cursor);
  if (!after.ok()) return after.status();
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/false));
  CAIRN_ASSIGN_OR_RETURN(const std::int64_t project_id, FindProjectId(entity, project));
  StatusOr<sqlite3_stmt*> st = Prepare(
      "SELECT run_id, created_ms, updated_ms, config, state, heartbeat_ms FROM runs"
      " WHERE project_id = ?1 AND (created_ms, run_id) > (?2, ?3)"
      " ORDER BY created_ms, run_id LIMIT ?4");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  q.Bind(1, project_id).Bind(2, after->created_ms).Bind(3, after->run_id).Bind(4, std::int64_t{limit} + 1);
  Page<RunRecord> page;
  for (;;) {
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_cursor = RunCursorAfter(page.items.back());
      break;
    }
    page.items.push_back(RunRecord{entity, project, q.Text(0), q.Int(1), q.Int(2), q.Text(3), q.Text(4), q.Int(5)});
  }
  return page;
}

StatusOr<std::optional<FileVersionRecord>> SqliteMetadataStore::GetFile(const RunKey& run, const std::string& name,
                                                                        std::optional<std::int64_t> version) {
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/false));
  StatusOr<std::int64_t> run_row = FindRunRowId(run);
  if (!run_row.ok()) return run_row.status();
  StatusOr<sqlite3_stmt*> st = version.has_value() ? Prepare(
                                                         "SELECT version, size, sha256, created_ms, created_by FROM file_versions"
                                                         " WHERE run = ?1 AND name = ?2 AND version = ?3")
                                                   : Prepare(
                                                         "SELECT version, size, sha256, created_ms, created_by FROM file_versions"
                                                         " WHERE run = ?1 AND name = ?2 ORDER BY version DESC LIMIT 1");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  q.Bind(1, *run_row).Bind(2, name);
  if (version.has_value()) q.Bind(3, *version);
  StatusOr<bool> row = q.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<FileVersionRecord>();
  return std::optional<FileVersionRecord>(
      FileVersionRecord{name, q.Int(0), static_cast<std::uint64_t>(q.Int(1)), q.Text(2), q.Int(3), q.Text(4)});
}

StatusOr<Page<FileVersionRecord>> SqliteMetadataStore::ListFiles(const RunKey& run, const std::string& prefix,
                                                                 const std::string& cursor, int limit) {
  limit = ClampLimit(limit);
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/false));
  StatusOr<std::int64_t> run_row = FindRunRowId(run);
  if (!run_row.ok()) return run_row.status();
  // Names compare bytewise (BINARY collation); the cursor is the last name
  // returned, the prefix bound lets the (run, name, version) index seek.
  StatusOr<sqlite3_stmt*> st = Prepare(
      "SELECT f.name, f.version, f.size, f.sha256, f.created_ms, f.created_by FROM file_versions f"
      " WHERE f.run = ?1 AND f.name > ?2 AND f.name >= ?3 AND substr(f.name, 1, length(?3)) = ?3"
      " AND f.version = (SELECT MAX(g.version) FROM file_versions g WHERE g.run = f.run AND g.name = f.name)"
      " ORDER BY f.name LIMIT ?4");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  q.Bind(1, *run_row).Bind(2, cursor).Bind(3, prefix).Bind(4, std::int64_t{limit} + 1);
  Page<FileVersionRecord> page;
  for (;;) {
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    if (static_cast<int>(page.items.size()) == limit) {
      page.next_cursor = page.items.back().name;
      break;
    }
    page.items.push_back(
        FileVersionRecord{q.Text(0), q.Int(1), static_cast<std::uint64_t>(q.Int(2)), q.Text(3), q.Int(4), q.Text(5)});
  }
  return page;
}

StatusOr<std::vector<FileVersionRecord>> SqliteMetadataStore::ListVersions(const RunKey& run, const std::string& name) {
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/false));
  StatusOr<std::int64_t> run_row = FindRunRowId(run);
  if (!run_row.ok()) return run_row.status();
  StatusOr<sqlite3_stmt*> st = Prepare(
      "SELECT version, size, sha256, created_ms, created_by FROM file_versions WHERE run = ?1 AND name = ?2"
      " ORDER BY version");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  q.Bind(1, *run_row).Bind(2, name);
  std::vector<FileVersionRecord> out;
  for (;;) {
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(FileVersionRecord{name, q.Int(0), static_cast<std::uint64_t>(q.Int(1)), q.Text(2), q.Int(3), q.Text(4)});
  }
  return out;
}

StatusOr<std::vector<BlobReference>> SqliteMetadataStore::ListBlobReferences() {
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/false));
  StatusOr<sqlite3_stmt*> st = Prepare(kBlobReferencesSql);
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  std::vector<BlobReference> out;
  for (;;) {
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(BlobReference{q.Text(0), static_cast<std::uint64_t>(q.Int(1)), q.Int(2), q.Text(3)});
  }
  return out;
}

StatusOr<std::optional<std::uint64_t>> SqliteMetadataStore::FindEntityBlob(const std::string& entity,
                                                                           const std::string& sha256) {
  MutexLock lock(mu_);
  StatusOr<sqlite3_stmt*> st = Prepare(
      "SELECT f.size FROM file_versions f JOIN runs r ON f.run = r.id JOIN projects p ON r.project_id = p.id "
      "JOIN entities e ON p.entity_id = e.id WHERE f.sha256 = ?1 AND e.name = ?2 LIMIT 1");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  q.Bind(1, sha256).Bind(2, entity);
  StatusOr<bool> row = q.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::uint64_t>();
  return std::optional<std::uint64_t>(static_cast<std::uint64_t>(q.Int(0)));
}

StatusOr<std::optional<std::string>> SqliteMetadataStore::GetBlobMd5(const std::string& sha256) {
  MutexLock lock(mu_);
  StatusOr<sqlite3_stmt*> st = Prepare("SELECT md5 FROM blob_md5 WHERE sha256 = ?1");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  q.Bind(1, sha256);
  StatusOr<bool> row = q.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(q.Text(0));
}

// A blob's MD5 is derived data, computed again when it is missing: its
// commit is not fsynced (synchronous=NORMAL for this statement only). The
// WAL keeps commits in order, so a power loss can drop recent MD5s but never
// a version committed after them (the next FULL commit syncs the WAL). The
// server's indexer writes one per saved blob: a save of 10,000 small files
// cost 10,000 WAL fsyncs behind it.
Status SqliteMetadataStore::PutBlobMd5(const std::string& sha256, const std::string& md5_base64) {
  MutexLock lock(mu_);
  CAIRN_SQL_RETURN_IF_ERROR(Exec("PRAGMA synchronous=NORMAL"));
  Status put;
  if (StatusOr<sqlite3_stmt*> st = Prepare(
          "INSERT INTO blob_md5(sha256, md5, created_ms) VALUES (?1, ?2, ?3) ON CONFLICT (sha256) DO NOTHING");
      !st.ok()) {
    put = st.status();
  } else {
    Stmt q(db_, *st);
    put = q.Bind(1, sha256).Bind(2, md5_base64).Bind(3, std::int64_t{NowMs()}).Run();
  }
  CAIRN_SQL_RETURN_IF_ERROR(Exec(kSynchronousFull));
  return put;
}

}  // namespace cairn::internal
