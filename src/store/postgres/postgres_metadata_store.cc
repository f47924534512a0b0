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
#include "store/postgres/pg_execute.h"
#include "store/web_cursor.h"

namespace cairn::internal {
namespace {

// pg_advisory_xact_lock key held by schema migrations ("cairn" in ASCII).
constexpr const char* kMigrationLockSql = "SELECT pg_advisory_xact_lock(426610140782)";

std::string TrimMessage(std::string m) {
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

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
  MutexLock lock(mu_);
  const int max_open = std::max(1, options_.pool_size);
  released_.wait(lock.unique(), [&]() CAIRN_REQUIRES(mu_) { return !idle_.empty() || open_ < max_open; });
  if (!idle_.empty()) {
    std::unique_ptr<PgConnection> conn = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(conn));
  }
  ++open_;
  lock.Unlock();
  StatusOr<std::unique_ptr<PgConnection>> conn = PgConnection::Connect(url_, options_.connect_timeout_s);
  if (!conn.ok()) {
    lock.Lock();
    --open_;
    released_.notify_one();
    return conn.status();
  }
  return Lease(this, std::move(conn).value());
}

void PostgresMetadataStore::Release(std::unique_ptr<PgConnection> conn) {
  MutexLock lock(mu_);
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

namespace {
constexpr auto kFindRunSql = SqlConcat(
    "SELECT e.id, p.id, r.id, r.created_ms, r.updated_ms, r.config, r.state, r.heartbeat_ms", kRunPathFrom,
    kRunPathWhere);
}  // namespace

Status RunPathStatus(const PgResult& r, const RunKey& run) {
  if (r.rows() == 0) return RunPathNotFoundError(RunPathPart::kEntity, run);
  if (r.IsNull(0, 1)) return RunPathNotFoundError(RunPathPart::kProject, run);
  if (r.IsNull(0, 2)) return RunPathNotFoundError(RunPathPart::kRun, run);
  return OkStatus();
}

// Resolves a run, or the kNotFound naming the missing part.
StatusOr<FoundRun> FindRun(PgConnection& conn, const RunKey& run) {
  StatusOr<PgResult> r = conn.Query(kFindRunSql.data(), {run.entity, run.project, run.run_id});
  if (!r.ok()) return r.status();
  CAIRN_RETURN_IF_ERROR(RunPathStatus(*r, run));
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

}  // namespace cairn::internal
