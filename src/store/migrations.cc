#include "store/migrations.h"

#include <string>

#include "common/fs.h"

namespace cairn::internal {
namespace {

struct Migration {
  int version;
  const char* sqlite;
  const char* postgres;
};

// Both dialects describe the same tables. PostgreSQL compares text with the
// database's collation unless told otherwise; names and ids are COLLATE "C"
// so that ordering and cursors are bytewise, exactly as in SQLite.
constexpr Migration kMigrations[] = {
    {1,
     R"sql(
CREATE TABLE entities (
  id         INTEGER PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  created_ms INTEGER NOT NULL
);
CREATE TABLE projects (
  id         INTEGER PRIMARY KEY,
  entity_id  INTEGER NOT NULL REFERENCES entities(id),
  name       TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  UNIQUE (entity_id, name)
);
CREATE TABLE runs (
  id         INTEGER PRIMARY KEY,
  project_id INTEGER NOT NULL REFERENCES projects(id),
  run_id     TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  updated_ms INTEGER NOT NULL,
  UNIQUE (project_id, run_id)
);
CREATE INDEX runs_by_created ON runs (project_id, created_ms, run_id);
CREATE TABLE file_versions (
  id         INTEGER PRIMARY KEY,
  run        INTEGER NOT NULL REFERENCES runs(id),
  name       TEXT NOT NULL,
  version    INTEGER NOT NULL,
  size       INTEGER NOT NULL,
  sha256     TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  UNIQUE (run, name, version)
);
CREATE TABLE api_keys (
  key_hash   TEXT PRIMARY KEY,
  entity     TEXT NOT NULL,
  admin      INTEGER NOT NULL,
  read_only  INTEGER NOT NULL,
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
     R"sql(
CREATE TABLE entities (
  id         BIGSERIAL PRIMARY KEY,
  name       TEXT COLLATE "C" NOT NULL UNIQUE,
  created_ms BIGINT NOT NULL
);
CREATE TABLE projects (
  id         BIGSERIAL PRIMARY KEY,
  entity_id  BIGINT NOT NULL REFERENCES entities(id),
  name       TEXT COLLATE "C" NOT NULL,
  created_ms BIGINT NOT NULL,
  UNIQUE (entity_id, name)
);
CREATE TABLE runs (
  id         BIGSERIAL PRIMARY KEY,
  project_id BIGINT NOT NULL REFERENCES projects(id),
  run_id     TEXT COLLATE "C" NOT NULL,
  created_ms BIGINT NOT NULL,
  updated_ms BIGINT NOT NULL,
  UNIQUE (project_id, run_id)
);
CREATE INDEX runs_by_created ON runs (project_id, created_ms, run_id);
CREATE TABLE file_versions (
  id         BIGSERIAL PRIMARY KEY,
  run        BIGINT NOT NULL REFERENCES runs(id),
  name       TEXT COLLATE "C" NOT NULL,
  version    BIGINT NOT NULL,
  size       BIGINT NOT NULL,
  sha256     TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  UNIQUE (run, name, version)
);
CREATE TABLE api_keys (
  key_hash   TEXT PRIMARY KEY,
  entity     TEXT NOT NULL,
  admin      BOOLEAN NOT NULL,
  read_only  BOOLEAN NOT NULL,
  created_ms BIGINT NOT NULL
);
)sql"},
    // 2: MD5 digests of blobs, for W&B clients (docs/wandb.md). Keyed by the
    // blob's SHA-256; filled lazily, so a blob may have no row yet.
    {2,
     R"sql(
CREATE TABLE blob_md5 (
  sha256     TEXT PRIMARY KEY,
  md5        TEXT NOT NULL,
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
     R"sql(
CREATE TABLE blob_md5 (
  sha256     TEXT PRIMARY KEY,
  md5        TEXT NOT NULL,
  created_ms BIGINT NOT NULL
);
)sql"},
    // 3: commits by reference (docs/adr/0008) look a digest up within one
    // entity: an index by digest keeps that one probe per upload.
    {3, "CREATE INDEX file_versions_by_sha256 ON file_versions (sha256, run);",
     "CREATE INDEX file_versions_by_sha256 ON file_versions (sha256, run);"},
    // 4: a run's config (a JSON object as text) and state for W&B clients'
    // runs() queries (docs/wandb.md). Runs made before this were not held by
    // a process that reports heartbeats: they are "finished".
    {4,
     R"sql(
ALTER TABLE runs ADD COLUMN config TEXT NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN state TEXT NOT NULL DEFAULT 'finished';
ALTER TABLE runs ADD COLUMN heartbeat_ms INTEGER NOT NULL DEFAULT 0;
)sql",
     R"sql(
ALTER TABLE runs ADD COLUMN config TEXT NOT NULL DEFAULT '{}';
ALTER TABLE runs ADD COLUMN state TEXT NOT NULL DEFAULT 'finished';
ALTER TABLE runs ADD COLUMN heartbeat_ms BIGINT NOT NULL DEFAULT 0;
)sql"},
    // 5: who created a run ("user:NAME" / "sa:ENTITY/NAME"), so that a team
    // member may delete the runs they made (docs/adr/0021). Older runs have
    // no creator: only an admin of their entity deletes them.
    {5, "ALTER TABLE runs ADD COLUMN created_by TEXT NOT NULL DEFAULT '';",
     "ALTER TABLE runs ADD COLUMN created_by TEXT NOT NULL DEFAULT '';"},
    // 6: accounts (docs/adr/0021): users, teams and roles, service accounts,
    // and keys with an id, a name, an owner, a scope, an expiry, last use and
    // revocation. Every api_keys row moves to account_keys, owned by the
    // service account ENTITY/default, so keys made before keep working.
    {6,
     R"sql(
CREATE TABLE users (
  name          TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  admin         INTEGER NOT NULL,
  created_ms    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE teams (
  name       TEXT PRIMARY KEY,
  created_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE team_members (
  team      TEXT NOT NULL REFERENCES teams(name),
  user_name TEXT NOT NULL REFERENCES users(name),
  role      TEXT NOT NULL,
  PRIMARY KEY (team, user_name)
) WITHOUT ROWID;
CREATE INDEX team_members_by_user ON team_members (user_name);
CREATE TABLE service_accounts (
  entity     TEXT NOT NULL,
  name       TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (entity, name)
) WITHOUT ROWID;
CREATE TABLE account_keys (
  id              TEXT PRIMARY KEY,
  key_hash        TEXT NOT NULL UNIQUE,
  name            TEXT NOT NULL,
  entity          TEXT NOT NULL,
  user_name       TEXT NOT NULL,
  service_account TEXT NOT NULL,
  admin           INTEGER NOT NULL,
  read_only       INTEGER NOT NULL,
  created_ms      INTEGER NOT NULL,
  expires_ms      INTEGER NOT NULL,
  last_used_ms    INTEGER NOT NULL,
  revoked_ms      INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO service_accounts(entity, name, created_ms)
  SELECT entity, 'default', MIN(created_ms) FROM api_keys WHERE admin = 0 GROUP BY entity;
INSERT INTO account_keys(id, key_hash, name, entity, user_name, service_account, admin, read_only, created_ms,
                         expires_ms, last_used_ms, revoked_ms)
  SELECT 'k' || substr(key_hash, 1, 12), key_hash, 'from api_keys', entity, '',
         CASE WHEN admin = 0 THEN 'default' ELSE '' END, admin, read_only, created_ms, 0, 0, 0
  FROM api_keys;
DROP TABLE api_keys;
)sql",
     R"sql(
CREATE TABLE users (
  name          TEXT COLLATE "C" PRIMARY KEY,
  password_hash TEXT NOT NULL,
  admin         BOOLEAN NOT NULL,
  created_ms    BIGINT NOT NULL
);
CREATE TABLE teams (
  name       TEXT COLLATE "C" PRIMARY KEY,
  created_ms BIGINT NOT NULL
);
CREATE TABLE team_members (
  team      TEXT COLLATE "C" NOT NULL REFERENCES teams(name),
  user_name TEXT COLLATE "C" NOT NULL REFERENCES users(name),
  role      TEXT NOT NULL,
  PRIMARY KEY (team, user_name)
);
CREATE INDEX team_members_by_user ON team_members (user_name);
CREATE TABLE service_accounts (
  entity     TEXT COLLATE "C" NOT NULL,
  name       TEXT COLLATE "C" NOT NULL,
  created_ms BIGINT NOT NULL,
  PRIMARY KEY (entity, name)
);
CREATE TABLE account_keys (
  id              TEXT COLLATE "C" PRIMARY KEY,
  key_hash        TEXT NOT NULL UNIQUE,
  name            TEXT NOT NULL,
  entity          TEXT COLLATE "C" NOT NULL,
  user_name       TEXT COLLATE "C" NOT NULL,
  service_account TEXT COLLATE "C" NOT NULL,
  admin           BOOLEAN NOT NULL,
  read_only       BOOLEAN NOT NULL,
  created_ms      BIGINT NOT NULL,
  expires_ms      BIGINT NOT NULL,
  last_used_ms    BIGINT NOT NULL,
  revoked_ms      BIGINT NOT NULL
);
INSERT INTO service_accounts(entity, name, created_ms)
  SELECT entity, 'default', MIN(created_ms) FROM api_keys WHERE NOT admin GROUP BY entity;
INSERT INTO account_keys(id, key_hash, name, entity, user_name, service_account, admin, read_only, created_ms,
                         expires_ms, last_used_ms, revoked_ms)
  SELECT 'k' || substr(key_hash, 1, 12), key_hash, 'from api_keys', entity, '',
         CASE WHEN admin THEN '' ELSE 'default' END, admin, read_only, created_ms, 0, 0, 0
  FROM api_keys;
DROP TABLE api_keys;
)sql"},
    // 7: the audit log (docs/adr/0021), append-only. Summary rows (downloads,
    // failed authentications: one per actor, target and minute) have a
    // summary_key and grow their hits and bytes instead of adding rows.
    {7,
     R"sql(
CREATE TABLE audit_log (
  id          INTEGER PRIMARY KEY,
  time_ms     INTEGER NOT NULL,
  actor       TEXT NOT NULL,
  key_id      TEXT NOT NULL,
  action      TEXT NOT NULL,
  entity      TEXT NOT NULL,
  target      TEXT NOT NULL,
  address     TEXT NOT NULL,
  hits        INTEGER NOT NULL,
  bytes       INTEGER NOT NULL,
  summary_key TEXT UNIQUE
);
CREATE INDEX audit_log_by_time ON audit_log (time_ms);
CREATE INDEX audit_log_by_entity ON audit_log (entity, time_ms);
)sql",
     R"sql(
CREATE TABLE audit_log (
  id          BIGSERIAL PRIMARY KEY,
  time_ms     BIGINT NOT NULL,
  actor       TEXT NOT NULL,
  key_id      TEXT NOT NULL,
  action      TEXT NOT NULL,
  entity      TEXT COLLATE "C" NOT NULL,
  target      TEXT NOT NULL,
  address     TEXT NOT NULL,
  hits        BIGINT NOT NULL,
  bytes       BIGINT NOT NULL,
  summary_key TEXT UNIQUE
);
CREATE INDEX audit_log_by_time ON audit_log (time_ms);
CREATE INDEX audit_log_by_entity ON audit_log (entity, time_ms);
)sql"},
    // 8: browser sessions of the web UI (docs/adr/0023-web-ui.md), by the
    // SHA-256 of the token. 
    {8,
     R"sql(
CREATE TABLE web_sessions (
  token_hash TEXT PRIMARY KEY,
  subject    TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
     R"sql(
CREATE TABLE web_sessions (
  token_hash TEXT PRIMARY KEY,
  subject    TEXT NOT NULL,
  created_ms BIGINT NOT NULL,
  expires_ms BIGINT NOT NULL
);
)sql"},
    // 9: the web UI lists a project's runs newest first.
    {9, "CREATE INDEX runs_by_created_desc ON runs (project_id, created_ms DESC, run_id DESC);",
     "CREATE INDEX runs_by_created_desc ON runs (project_id, created_ms DESC, run_id DESC);"},
    // 10: per-entity storage quotas (docs/operations.md), by entity name so
    // that a limit can be set before the entity's first save.
    {10,
     "CREATE TABLE entity_quotas (entity TEXT PRIMARY KEY, max_bytes INTEGER NOT NULL, updated_ms INTEGER NOT NULL);",
     "CREATE TABLE entity_quotas (entity TEXT PRIMARY KEY, max_bytes BIGINT NOT NULL, updated_ms BIGINT NOT NULL);"},
    // 11: retention policies (docs/adr/0022-operations.md), by names so that a
    // policy can precede the project; project '' is the entity's default.
    {11,
     "CREATE TABLE retention_policies (entity TEXT NOT NULL, project TEXT NOT NULL, pattern TEXT NOT NULL, "
     "keep_last INTEGER NOT NULL, max_age_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL, "
     "PRIMARY KEY (entity, project, pattern));",
     "CREATE TABLE retention_policies (entity TEXT COLLATE \"C\" NOT NULL, project TEXT COLLATE \"C\" NOT NULL, "
     "pattern TEXT COLLATE \"C\" NOT NULL, keep_last BIGINT NOT NULL, max_age_ms BIGINT NOT NULL, "
     "updated_ms BIGINT NOT NULL, PRIMARY KEY (entity, project, pattern));"},
    // 12: who saved each version (FileVersionRecord::created_by); '' for
    // versions saved before (shown as unknown).
    {12, "ALTER TABLE file_versions ADD COLUMN created_by TEXT NOT NULL DEFAULT '';",
     "ALTER TABLE file_versions ADD COLUMN created_by TEXT NOT NULL DEFAULT '';"},
};

// Valid in both dialects (SQLite accepts BIGINT as an integer type).
constexpr const char* kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_ms BIGINT NOT NULL)";
constexpr const char* kCurrentVersion = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations";

// Rolls back unless Commit() was reached.
class ScopedTxn {
 public:
  explicit ScopedTxn(MigrationSession& s) : s_(s) {}
  ~ScopedTxn() {
    if (open_) s_.Rollback();
  }
  Status Begin() {
    Status st = s_.BeginExclusive();
    open_ = st.ok();
    return st;
  }
  Status Commit() {
    Status st = s_.Commit();
    if (st.ok()) open_ = false;
    return st;
  }

 private:
  MigrationSession& s_;
  bool open_ = false;
};

Status TooNew(std::int64_t current) {
  return FailedPreconditionError("the database has schema version " + std::to_string(current) +
                                 ", newer than this server supports (" + std::to_string(LatestSchemaVersion()) +
                                 "); upgrade cairn");
}

}  // namespace

int LatestSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

StatusOr<int> CurrentSchemaVersion(MigrationSession& session) {
  StatusOr<std::int64_t> v = session.QueryInt(kCurrentVersion);
  if (!v.ok()) return v.status();
  return static_cast<int>(*v);
}

Status RunMigrations(MigrationSession& session) {
  {
    // Under the migrators' lock: two PostgreSQL sessions racing on CREATE
    // TABLE IF NOT EXISTS can otherwise both try to create it.
    ScopedTxn txn(session);
    if (Status s = txn.Begin(); !s.ok()) return s;
    if (Status s = session.Exec(kCreateMigrationsTable); !s.ok()) return s;
    if (Status s = txn.Commit(); !s.ok()) return s;
  }
  for (const Migration& m : kMigrations) {
    ScopedTxn txn(session);
    if (Status s = txn.Begin(); !s.ok()) return s;
    StatusOr<std::int64_t> current = session.QueryInt(kCurrentVersion);
    if (!current.ok()) return current.status();
    if (*current > LatestSchemaVersion()) return TooNew(*current);
    if (*current >= m.version) continue;  // applied earlier (by us or another process)
    const char* sql = session.dialect() == SqlDialect::kSqlite ? m.sqlite : m.postgres;
    if (Status s = session.Exec(sql); !s.ok()) return s;
    if (Status s = session.Exec("INSERT INTO schema_migrations(version, applied_ms) VALUES (" +
                                std::to_string(m.version) + ", " + std::to_string(NowMs()) + ")");
        !s.ok()) {
      return s;
    }
    if (Status s = txn.Commit(); !s.ok()) return s;
  }
  return OkStatus();
}

}  // namespace cairn::internal
