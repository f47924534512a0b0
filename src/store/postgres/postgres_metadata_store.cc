#include "store/postgres/postgres_metadata_store.h"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <thread>
#include <unordered_map>
#include <utility>

#include "common/fs.h"
#include "common/run_config.h"
#include "store/migrations.h"
#include "store/postgres/pg_connection.h"
#include "store/web_cursor.h"

namespace cairn::internal {
namespace {

constexpr int kMaxPageSize = 1000;
// pg_advisory_xact_lock key held by schema migrations ("cairn" in ASCII).
constexpr const char* kMigrationLockSql = "SELECT pg_advisory_xact_lock(426610140782)";

int ClampLimit(int limit) { return std::clamp(limit, 1, kMaxPageSize); }


std::string TrimMessage(std::string m) {
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

bool IsRetryableSqlState(std::string_view state) { return state == "40001" || state == "40P01"; }

}  // namespace

std::string RedactDbUrl(std::string_view url) {
  // scheme://user:password@host...: hide what lies between the first ':'
  // after "//" and the '@'.
  const std::size_t start = url.find("//");
  if (start == std::string_view::npos) return std::string(url);
  const std::size_t at = url.find('@', start + 2);
  if (at == std::string_view::npos) return std::string(url);
  const std::size_t colon = url.find(':', start + 2);
  if (colon == std::string_view::npos || colon > at) return std::string(url);
  return std::string(url.substr(0, colon + 1)) + "***" + std::string(url.substr(at));
}

Status PgStatus(const pg_result* result, const pg_conn* conn, std::string_view what) {
  if (result != nullptr) {
    switch (PQresultStatus(result)) {
      case PGRES_COMMAND_OK:
      case PGRES_TUPLES_OK:
      case PGRES_EMPTY_QUERY:
        return OkStatus();
      default:
        break;
    }
  }
  const char* state_c = result != nullptr ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const std::string state = state_c != nullptr ? state_c : "";
  std::string detail = result != nullptr ? PQresultErrorMessage(result) : "";
  if (detail.empty() && conn != nullptr) detail = PQerrorMessage(conn);
  std::string msg = std::string(what) + ": " + TrimMessage(detail);
  if (!state.empty()) msg += " (SQLSTATE " + state + ")";
  if (state.empty()) {
    // No server answer: the connection failed.
    if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
      if (detail.find("password authentication failed") != std::string::npos ||
          detail.find("does not exist") != std::string::npos || detail.find("no pg_hba.conf") != std::string::npos) {
        return FailedPreconditionError(msg + "; check the database URL (--db / CAIRN_DB_URL)");
      }
      return UnavailableError(msg + "; check that PostgreSQL is running and reachable");
    }
    return InternalError(msg);
  }
  if (state == "40001" || state == "40P01") return UnavailableError(msg + " (concurrent update; retry)");
  if (state == "23505") return AlreadyExistsError(msg);
  const std::string cls = state.substr(0, 2);
  if (cls == "08" || state == "57P01" || state == "57P02" || state == "57P03") {
    return UnavailableError(msg + "; check that PostgreSQL is running and reachable");
  }
  if (cls == "53")
    return ResourceExhaustedError(msg + " (the database server is out of a resource: disk, memory or connections)");
  if (cls == "28" || cls == "3D" || state == "42501") {
    return FailedPreconditionError(msg + "; check the database URL and the role's privileges");
  }
  if (cls == "23") return FailedPreconditionError(msg);
  if (cls == "22") return InvalidArgumentError(msg);
  return InternalError(msg);
}

namespace {

// The migration runner's view of one connection.
class PgMigrationSession final : public MigrationSession {
 public:
  explicit PgMigrationSession(PgConnection& conn) : conn_(conn) {}
  SqlDialect dialect() const override { return SqlDialect::kPostgres; }
  Status BeginExclusive() override {
    if (Status s = conn_.Exec("BEGIN"); !s.ok()) return s;
    return conn_.Exec(kMigrationLockSql);
  }
  Status Exec(std::string_view sql) override { return conn_.Exec(sql); }
  StatusOr<std::int64_t> QueryInt(std::string_view sql) override {
    StatusOr<PgResult> r = conn_.ExecQuery(sql);
    if (!r.ok()) return r.status();
    return r->rows() > 0 ? r->Int(0, 0) : 0;
  }
  Status Commit() override { return conn_.Exec("COMMIT"); }
  void Rollback() override { (void)conn_.Exec("ROLLBACK"); }

 private:
  PgConnection& conn_;
};

}  // namespace

// A connection checked out of the pool; returned (or discarded when broken)
// by the destructor.
class PostgresMetadataStore::Lease {
 public:
  Lease(PostgresMetadataStore* store, std::unique_ptr<PgConnection> conn) : store_(store), conn_(std::move(conn)) {}
  Lease(Lease&& o) noexcept : store_(o.store_), conn_(std::move(o.conn_)) {}
  ~Lease() {
    if (conn_) store_->Release(std::move(conn_));
  }
  PgConnection& operator*() { return *conn_; }
  PgConnection* operator->() { return conn_.get(); }

 private:
  PostgresMetadataStore* store_;
  std::unique_ptr<PgConnection> conn_;
};

PostgresMetadataStore::PostgresMetadataStore(std::string url, const PostgresOptions& options)
    : url_(std::move(url)), options_(options) {}

PostgresMetadataStore::~PostgresMetadataStore() = default;

StatusOr<std::unique_ptr<PostgresMetadataStore>> PostgresMetadataStore::Open(const std::string& url,
                                                                             const PostgresOptions& options) {
  std::unique_ptr<PostgresMetadataStore> store(new PostgresMetadataStore(url, options));
  StatusOr<Lease> lease = store->Acquire();
  if (!lease.ok()) return lease.status();
  PgMigrationSession session(**lease);
  if (Status s = RunMigrations(session); !s.ok()) return s;
  return store;
}

StatusOr<PostgresMetadataStore::Lease> PostgresMetadataStore::Acquire() {
  std::unique_lock<std::mutex> lock(mu_);
  const int max_open = std::max(1, options_.pool_size);
  released_.wait(lock, [&] { return !idle_.empty() || open_ < max_open; });
  if (!idle_.empty()) {
    std::unique_ptr<PgConnection> conn = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(conn));
  }
  ++open_;
  lock.unlock();
  StatusOr<std::unique_ptr<PgConnection>> conn = PgConnection::Connect(url_, options_.connect_timeout_s);
  if (!conn.ok()) {
    lock.lock();
    --open_;
    released_.notify_one();
    return conn.status();
  }
  return Lease(this, std::move(conn).value());
}

void PostgresMetadataStore::Release(std::unique_ptr<PgConnection> conn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (conn->healthy()) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;  // broken: the next Acquire() opens a fresh one
  }
  released_.notify_one();
}

Status PostgresMetadataStore::Run(Access access, const std::function<Status(PgConnection&)>& body) {
  return Execute(access, body);
}

template <typename Body>
Status PostgresMetadataStore::Execute(Access access, Body&& body) {
  std::mt19937 rng(std::random_device{}());
  const bool txn = access == Access::kTransaction;
  const int attempts = std::max(2, options_.max_txn_attempts);
  Status s;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    StatusOr<Lease> lease = Acquire();
    if (!lease.ok()) return lease.status();
    PgConnection& conn = **lease;
    bool begun = true;
    if (txn) {
      s = conn.Exec("BEGIN");
      begun = s.ok();
    }
    if (begun) s = body(conn);
    if (s.ok() && txn) s = conn.Exec("COMMIT");
    if (s.ok()) return s;
    const std::string state = conn.last_sqlstate();
    if (txn && begun && conn.healthy()) (void)conn.Exec("ROLLBACK");
    // Serialization failures and deadlocks rolled everything back: retry
    // from the start. A pooled connection that died while idle (server
    // restart) fails at its first statement: retry on a fresh one when that
    // cannot repeat a write (reads, or a transaction that never began).
    const bool broken = !conn.healthy() && (!txn || !begun);
    if (!(IsRetryableSqlState(state) || broken) || attempt == attempts) return s;
    if (!broken) {
      std::uniform_int_distribution<int> jitter_ms(1, 5 * attempt);
      std::this_thread::sleep_for(std::chrono::milliseconds(jitter_ms(rng)));
    }
  }
  return s;
}

namespace {
constexpr const char* kFindRunSql =
    "SELECT e.id, p.id, r.id, r.created_ms, r.updated_ms, r.config, r.state, r.heartbeat_ms FROM entities e"
    " LEFT JOIN projects p ON p.entity_id = e.id AND p.name = $2"
    " LEFT JOIN runs r ON r.project_id = p.id AND r.run_id = $3"
    " WHERE e.name = $1";
}  // namespace

// Resolves a run, or the kNotFound naming the missing part.
StatusOr<FoundRun> FindRun(PgConnection& conn, const RunKey& run) {
  StatusOr<PgResult> r = conn.Query(kFindRunSql, {run.entity, run.project, run.run_id});
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return RunPathNotFoundError(RunPathPart::kEntity, run);
  if (r->IsNull(0, 1)) return RunPathNotFoundError(RunPathPart::kProject, run);
  if (r->IsNull(0, 2)) return RunPathNotFoundError(RunPathPart::kRun, run);
  return FoundRun{r->Int(0, 2), RunRecord{run.entity, run.project, run.run_id, r->Int(0, 3), r->Int(0, 4),
                                          r->Text(0, 5), r->Text(0, 6), r->Int(0, 7)}};
}

// Columns from first_col: version, size, sha256, created_ms, created_by.
FileVersionRecord FileRow(const PgResult& r, int row, std::string name, int first_col) {
  return FileVersionRecord{std::move(name),
                           r.Int(row, first_col),
                           static_cast<std::uint64_t>(r.Int(row, first_col + 1)),
                           r.Text(row, first_col + 2),
                           r.Int(row, first_col + 3),
                           r.Text(row, first_col + 4)};
}

// Locks the run's row until the transaction ends (writers of one run queue
// here) and returns its id, or the kNotFound naming the missing part.
StatusOr<std::int64_t> LockRun(PgConnection& conn, const RunKey& run) {
  StatusOr<PgResult> locked = conn.Query(
      "SELECT r.id FROM runs r JOIN projects p ON p.id = r.project_id JOIN entities e ON e.id = p.entity_id"
      " WHERE e.name = $1 AND p.name = $2 AND r.run_id = $3 FOR UPDATE OF r",
      {run.entity, run.project, run.run_id});
  if (!locked.ok()) return locked.status();
  if (locked->rows() == 0) {
    StatusOr<FoundRun> found = FindRun(conn, run);  // names the missing part
    return found.ok() ? InternalError("run row vanished while locking it (a bug)") : found.status();
  }
  return locked->Int(0, 0);
}

namespace {

// One version in the caller's transaction, which holds LockRun on the run:
// max(version)+1 and the insert in one statement. The one place that numbers
// versions.
StatusOr<FileVersionRecord> InsertNextVersion(PgConnection& conn, const std::string& run_id, const NewVersion& f,
                                              long long now) {
  StatusOr<PgResult> ins = conn.Query(
      "INSERT INTO file_versions(run, name, version, size, sha256, created_ms, created_by)"
      " SELECT $1, $2, COALESCE(MAX(version), 0) + 1, $3, $4, $5, $6 FROM file_versions WHERE run = $1 AND name = $2"
      " RETURNING version",
      {run_id, f.name, std::to_string(f.size), f.sha256, std::to_string(now), f.created_by});
  if (!ins.ok()) return ins.status();
  return FileVersionRecord{f.name, ins->Int(0, 0), f.size, f.sha256, now, f.created_by};
}

}  // namespace

int PostgresMetadataStore::SchemaVersion() {
  int version = -1;
  Status s = Execute(Access::kRead, [&](PgConnection& conn) -> Status {
    PgMigrationSession session(conn);
    StatusOr<int> v = CurrentSchemaVersion(session);
    if (!v.ok()) return v.status();
    version = *v;
    return OkStatus();
  });
  return s.ok() ? version : -1;
}

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
  std::int64_t after_ms = std::numeric_limits<std::int64_t>::min();
  std::string after_id;
  if (!cursor.empty()) {
    std::size_t colon = cursor.find(':');
    const char* end = cursor.data() + (colon == std::string::npos ? cursor.size() : colon);
    auto [ptr, ec] = std::from_chars(cursor.data(), end, after_ms);
    if (colon == std::string::npos || ec != std::errc() || ptr != end) {
      return InvalidArgumentError("malformed cursor \"" + cursor + "\": pass the next_cursor of a previous page");
    }
    after_id = cursor.substr(colon + 1);
  }
  const RunKey key{entity, project, ""};
  Page<RunRecord> page;
  Status s = Execute(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> proj = conn.Query(
        "SELECT e.id, p.id FROM entities e LEFT JOIN projects p ON p.entity_id = e.id AND p.name = $2"
        " WHERE e.name = $1",
        {entity, project});
    if (!proj.ok()) return proj.status();
    if (proj->rows() == 0) return RunPathNotFoundError(RunPathPart::kEntity, key);
    if (proj->IsNull(0, 1)) return RunPathNotFoundError(RunPathPart::kProject, key);
    StatusOr<PgResult> r = conn.Query(
        "SELECT run_id, created_ms, updated_ms, config, state, heartbeat_ms FROM runs"
        " WHERE project_id = $1 AND (created_ms, run_id) > ($2::bigint, $3::text)"
        " ORDER BY created_ms, run_id LIMIT $4",
        {std::to_string(proj->Int(0, 1)), std::to_string(after_ms), after_id, std::to_string(limit + 1)});
    if (!r.ok()) return r.status();
    page = {};
    for (int i = 0; i < r->rows(); ++i) {
      if (i == limit) {
        const RunRecord& last = page.items.back();
        page.next_cursor = std::to_string(last.created_ms) + ":" + last.run_id;
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

// One version is a batch of one (same checks, lock and run update).
StatusOr<FileVersionRecord> PostgresMetadataStore::CommitVersion(const RunKey& run, const std::string& name,
                                                                 const std::string& sha256, std::uint64_t size,
                                                                 const std::string& created_by) {
  CAIRN_ASSIGN_OR_RETURN(std::vector<FileVersionRecord> out,
                         CommitVersions(run, {NewVersion{name, sha256, size, created_by}}));
  return std::move(out.front());
}

StatusOr<std::vector<FileVersionRecord>> PostgresMetadataStore::CommitVersions(const RunKey& run,
                                                                               const std::vector<NewVersion>& files) {
  for (const NewVersion& f : files) {
    if (f.size > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return InvalidArgumentError("file size " + std::to_string(f.size) + " of " + f.name + " is too large");
    }
  }
  std::vector<FileVersionRecord> out;
  Status s = Execute(Access::kTransaction, [&](PgConnection& conn) -> Status {
    out.clear();  // a retried transaction starts over
    // Lock the run's row: commits to one run queue here, so that
    // max(version)+1 in InsertNextVersion (a fresh snapshot per statement
    // under READ COMMITTED) sees every version committed before us.
    StatusOr<std::int64_t> locked = LockRun(conn, run);
    if (!locked.ok()) return locked.status();
    const std::string run_id = std::to_string(*locked);
    const long long now = NowMs();
    for (const NewVersion& f : files) {
      CAIRN_ASSIGN_OR_RETURN(FileVersionRecord rec, InsertNextVersion(conn, run_id, f, now));
      out.push_back(std::move(rec));
    }
    return conn.Query("UPDATE runs SET updated_ms = GREATEST(updated_ms, $2) WHERE id = $1", {run_id, std::to_string(now)})
        .status();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<std::optional<FileVersionRecord>> PostgresMetadataStore::GetFile(const RunKey& run, const std::string& name,
                                                                          std::optional<std::int64_t> version) {
  std::optional<FileVersionRecord> out;
  Status s = Execute(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<FoundRun> found = FindRun(conn, run);
    if (!found.ok()) return found.status();
    const std::string run_id = std::to_string(found->id);
    StatusOr<PgResult> r = version.has_value() ? conn.Query(
                                                     "SELECT version, size, sha256, created_ms, created_by FROM file_versions"
                                                     " WHERE run = $1 AND name = $2 AND version = $3",
                                                     {run_id, name, std::to_string(*version)})
                                               : conn.Query(
                                                     "SELECT version, size, sha256, created_ms, created_by FROM file_versions"
                                                     " WHERE run = $1 AND name = $2 ORDER BY version DESC LIMIT 1",
                                                     {run_id, name});
    if (!r.ok()) return r.status();
    if (r->rows() > 0) out = FileRow(*r, 0, name, 0);
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<Page<FileVersionRecord>> PostgresMetadataStore::ListFiles(const RunKey& run, const std::string& prefix,
                                                                   const std::string& cursor, int limit) {
  limit = ClampLimit(limit);
  Page<FileVersionRecord> page;
  Status s = Execute(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<FoundRun> found = FindRun(conn, run);
    if (!found.ok()) return found.status();
    // Names are COLLATE "C" (bytewise, as in SQLite); the cursor is the last
    // name returned; the prefix bound lets the (run, name, version) index seek.
    // The latest version by a per-name probe (as in SQLite) rather than
    // DISTINCT ON (name ... version DESC): that order is not the index's, so
    // it sorted every version after the cursor before the LIMIT applied
    // (7.7 ms vs 1.8 ms for a page of 1,000 in a store of 1M versions).
    StatusOr<PgResult> r = conn.Query(
        "SELECT f.name, f.version, f.size, f.sha256, f.created_ms, f.created_by FROM file_versions f"
        " WHERE f.run = $1 AND f.name > $2 AND f.name >= $3 AND starts_with(f.name, $3)"
        " AND f.version = (SELECT MAX(g.version) FROM file_versions g WHERE g.run = f.run AND g.name = f.name)"
        " ORDER BY f.name LIMIT $4",
        {std::to_string(found->id), cursor, prefix, std::to_string(limit + 1)});
    if (!r.ok()) return r.status();
    page = {};
    for (int i = 0; i < r->rows(); ++i) {
      if (i == limit) {
        page.next_cursor = page.items.back().name;
        break;
      }
      page.items.push_back(FileRow(*r, i, r->Text(i, 0), 1));
    }
    return OkStatus();
  });
  if (!s.ok()) return s;
  return page;
}

StatusOr<std::vector<FileVersionRecord>> PostgresMetadataStore::ListVersions(const RunKey& run,
                                                                             const std::string& name) {
  std::vector<FileVersionRecord> out;
  Status s = Execute(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<FoundRun> found = FindRun(conn, run);
    if (!found.ok()) return found.status();
    StatusOr<PgResult> r = conn.Query(
        "SELECT version, size, sha256, created_ms, created_by FROM file_versions WHERE run = $1 AND name = $2"
        " ORDER BY version",
        {std::to_string(found->id), name});
    if (!r.ok()) return r.status();
    out.clear();
    for (int i = 0; i < r->rows(); ++i) out.push_back(FileRow(*r, i, name, 0));
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<std::vector<BlobReference>> PostgresMetadataStore::ListBlobReferences() {
  std::vector<BlobReference> out;
  Status s = Execute(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query(kBlobReferencesSql, {});
    if (!r.ok()) return r.status();
    out.clear();
    for (int i = 0; i < r->rows(); ++i) {
      out.push_back(BlobReference{r->Text(i, 0), static_cast<std::uint64_t>(r->Int(i, 1)), r->Int(i, 2), r->Text(i, 3)});
    }
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<std::optional<std::uint64_t>> PostgresMetadataStore::FindEntityBlob(const std::string& entity,
                                                                             const std::string& sha256) {
  std::optional<std::uint64_t> out;
  Status s = Execute(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query(
        "SELECT f.size FROM file_versions f JOIN runs r ON f.run = r.id JOIN projects p ON r.project_id = p.id "
        "JOIN entities e ON p.entity_id = e.id WHERE f.sha256 = $1 AND e.name = $2 LIMIT 1",
        {sha256, entity});
    if (!r.ok()) return r.status();
    out.reset();
    if (r->rows() > 0) out = static_cast<std::uint64_t>(r->Int(0, 0));
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<std::optional<std::string>> PostgresMetadataStore::GetBlobMd5(const std::string& sha256) {
  std::optional<std::string> out;
  Status s = Execute(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query("SELECT md5 FROM blob_md5 WHERE sha256 = $1", {sha256});
    if (!r.ok()) return r.status();
    if (r->rows() > 0) out = r->Text(0, 0);
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

Status PostgresMetadataStore::PutBlobMd5(const std::string& sha256, const std::string& md5_base64) {
  return Execute(Access::kTransaction, [&](PgConnection& conn) -> Status {
    return conn
        .Query("INSERT INTO blob_md5(sha256, md5, created_ms) VALUES ($1, $2, $3) ON CONFLICT (sha256) DO NOTHING",
               {sha256, md5_base64, std::to_string(NowMs())})
        .status();
  });
}

// --- The web UI's reads and sessions (docs/adr/0023-web-ui.md) ---

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
  const RunKey key{entity, project, ""};
  Page<RunSummary> page;
  Status s = Execute(Access::kTransaction, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> proj = conn.Query(
        "SELECT e.id, p.id FROM entities e LEFT JOIN projects p ON p.entity_id = e.id AND p.name = $2"
        " WHERE e.name = $1",
        {entity, project});
    if (!proj.ok()) return proj.status();
    if (proj->rows() == 0) return RunPathNotFoundError(RunPathPart::kEntity, key);
    if (proj->IsNull(0, 1)) return RunPathNotFoundError(RunPathPart::kProject, key);
    StatusOr<PgResult> r = conn.Query(kSummarizeRunsPostgres, {std::to_string(proj->Int(0, 1)), id_contains,
                                                               std::to_string(after->created_ms), after->run_id,
                                                               std::to_string(limit + 1)});
    if (!r.ok()) return r.status();
    page = {};
    for (int i = 0; i < r->rows(); ++i) {
      if (i == limit) {
        page.next_cursor = NewestFirstCursor(page.items.back().run);
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
    for (int i = 0; i < r->rows(); ++i) out.push_back(FileSummary{FileRow(*r, i, r->Text(i, 0), 1), r->Int(i, 5)});
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

// --- Per-entity storage quotas (docs/operations.md) ---
namespace cairn::internal {

StatusOr<std::optional<std::uint64_t>> PostgresMetadataStore::GetQuota(const std::string& entity) {
  std::optional<std::uint64_t> out;
  Status s = Execute(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query("SELECT max_bytes FROM entity_quotas WHERE entity = $1", {entity});
    if (!r.ok()) return r.status();
    out.reset();
    if (r->rows() > 0) out = static_cast<std::uint64_t>(r->Int(0, 0));
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

Status PostgresMetadataStore::SetQuota(const std::string& entity, std::optional<std::uint64_t> bytes) {
  return Execute(Access::kTransaction, [&](PgConnection& conn) -> Status {
    if (!bytes) return conn.Query("DELETE FROM entity_quotas WHERE entity = $1", {entity}).status();
    return conn
        .Query("INSERT INTO entity_quotas(entity, max_bytes, updated_ms) VALUES ($1, $2, $3) "
               "ON CONFLICT (entity) DO UPDATE SET max_bytes = excluded.max_bytes, updated_ms = excluded.updated_ms",
               {entity, std::to_string(*bytes), std::to_string(NowMs())})
        .status();
  });
}

StatusOr<std::uint64_t> PostgresMetadataStore::EntityUsedBytes(const std::string& entity) {
  std::uint64_t out = 0;
  Status s = Execute(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query(kEntityUsedBytesSql, {entity});
    if (!r.ok()) return r.status();
    out = r->rows() > 0 ? static_cast<std::uint64_t>(r->Int(0, 0)) : 0;
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace cairn::internal
