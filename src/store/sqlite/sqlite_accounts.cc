// SqliteMetadataStore: the AccountStore part (store/account_store.h): users,
// teams, service accounts, keys, run creators and the audit log.
#include <algorithm>
#include <utility>

#include "common/fs.h"
#include "store/metadata_store.h"
#include "store/sqlite/sqlite_metadata_store.h"
#include "store/sqlite/sqlite_statement.h"

namespace cairn::internal {
// A key row of kKeyColumns.
KeyRecord SqliteMetadataStore::KeyRow(Stmt& q) {
  return KeyRecord{.key_hash = q.Text(0),
                   .entity = q.Text(1),
                   .admin = q.Int(2) != 0,
                   .read_only = q.Int(3) != 0,
                   .created_ms = q.Int(4),
                   .id = q.Text(5),
                   .name = q.Text(6),
                   .user = q.Text(7),
                   .service_account = q.Text(8),
                   .expires_ms = q.Int(9),
                   .last_used_ms = q.Int(10),
                   .revoked_ms = q.Int(11)};
}

StatusOr<bool> SqliteMetadataStore::NameTaken(const std::string& name) {
  CAIRN_ASSIGN_OR_RETURN(
      Stmt q,
      Stmt::Of(*this, "SELECT 1 FROM users WHERE name = ?1 UNION ALL SELECT 1 FROM teams WHERE name = ?1 LIMIT 1"));
  q.Bind(1, name);
  return q.Step();
}

Status SqliteMetadataStore::CreateUser(const UserRecord& user) {
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/true));
  StatusOr<bool> taken = NameTaken(user.name);
  if (!taken.ok()) return taken.status();
  if (*taken) return AlreadyExistsError("the name " + user.name + " is taken by a user or a team: choose another");
  StatusOr<sqlite3_stmt*> st =
      Prepare("INSERT INTO users(name, password_hash, admin, created_ms) VALUES (?1, ?2, ?3, ?4)");
  if (!st.ok()) return st.status();
  {
    Stmt q(db_, *st);
    CAIRN_SQL_RETURN_IF_ERROR(q.Bind(1, user.name)
                                  .Bind(2, user.password_hash)
                                  .Bind(3, std::int64_t{user.admin ? 1 : 0})
                                  .Bind(4, std::int64_t{user.created_ms != 0 ? user.created_ms : NowMs()})
                                  .Run());
  }
  return txn.Commit();
}

StatusOr<std::optional<UserRecord>> SqliteMetadataStore::FindUser(const std::string& name) {
  MutexLock lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(Stmt q,
                         Stmt::Of(*this, "SELECT name, password_hash, admin, created_ms FROM users WHERE name = ?1"));
  q.Bind(1, name);
  StatusOr<bool> row = q.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<UserRecord>();
  return std::optional<UserRecord>(UserRecord{q.Text(0), q.Text(1), q.Int(2) != 0, q.Int(3)});
}

StatusOr<std::vector<UserRecord>> SqliteMetadataStore::ListUsers() {
  MutexLock lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(Stmt q,
                         Stmt::Of(*this, "SELECT name, password_hash, admin, created_ms FROM users ORDER BY name"));
  std::vector<UserRecord> out;
  for (;;) {
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(UserRecord{q.Text(0), q.Text(1), q.Int(2) != 0, q.Int(3)});
  }
  return out;
}

Status SqliteMetadataStore::CreateTeam(const std::string& name) {
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/true));
  StatusOr<bool> taken = NameTaken(name);
  if (!taken.ok()) return taken.status();
  if (*taken) return AlreadyExistsError("the name " + name + " is taken by a user or a team: choose another");
  StatusOr<sqlite3_stmt*> st = Prepare("INSERT INTO teams(name, created_ms) VALUES (?1, ?2)");
  if (!st.ok()) return st.status();
  {
    Stmt q(db_, *st);
    CAIRN_SQL_RETURN_IF_ERROR(q.Bind(1, name).Bind(2, std::int64_t{NowMs()}).Run());
  }
  return txn.Commit();
}

StatusOr<std::vector<TeamRecord>> SqliteMetadataStore::ListTeams() {
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/false));
  std::vector<TeamRecord> out;
  {
    CAIRN_ASSIGN_OR_RETURN(Stmt q, Stmt::Of(*this, "SELECT name, created_ms FROM teams ORDER BY name"));
    for (;;) {
      StatusOr<bool> row = q.Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      out.push_back(TeamRecord{q.Text(0), q.Int(1), {}});
    }
  }
  CAIRN_ASSIGN_OR_RETURN(Stmt q,
                         Stmt::Of(*this, "SELECT team, user_name, role FROM team_members ORDER BY team, user_name"));
  for (;;) {
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    const std::string team = q.Text(0);
    auto it = std::find_if(out.begin(), out.end(), [&](const TeamRecord& t) { return t.name == team; });
    if (it != out.end()) it->members.push_back(TeamMember{q.Text(1), q.Text(2)});
  }
  return out;
}

StatusOr<bool> SqliteMetadataStore::IsTeam(const std::string& name) {
  MutexLock lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(Stmt q, Stmt::Of(*this, "SELECT 1 FROM teams WHERE name = ?1"));
  q.Bind(1, name);
  return q.Step();
}

StatusOr<std::string> SqliteMetadataStore::SetMember(const std::string& team, const std::string& user,
                                                     const std::string& role) {
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/true));
  std::string previous;
  {
    CAIRN_ASSIGN_OR_RETURN(
        Stmt q, Stmt::Of(*this,
                         "SELECT (SELECT 1 FROM teams WHERE name = ?1), (SELECT 1 FROM users WHERE name = ?2),"
                         " (SELECT role FROM team_members WHERE team = ?1 AND user_name = ?2)"));
    q.Bind(1, team).Bind(2, user);
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (q.IsNull(0)) return NotFoundError("there is no team " + team + ": create it with `cairn teams create`");
    if (q.IsNull(1)) return NotFoundError("there is no user " + user + ": create it with `cairn users create`");
    previous = q.Text(2);
  }
  StatusOr<sqlite3_stmt*> st = Prepare(
      "INSERT INTO team_members(team, user_name, role) VALUES (?1, ?2, ?3)"
      " ON CONFLICT (team, user_name) DO UPDATE SET role = excluded.role");
  if (!st.ok()) return st.status();
  {
    Stmt q(db_, *st);
    CAIRN_SQL_RETURN_IF_ERROR(q.Bind(1, team).Bind(2, user).Bind(3, role).Run());
  }
  CAIRN_SQL_RETURN_IF_ERROR(txn.Commit());
  return previous;
}

StatusOr<bool> SqliteMetadataStore::RemoveMember(const std::string& team, const std::string& user) {
  MutexLock lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(Stmt q, Stmt::Of(*this, "DELETE FROM team_members WHERE team = ?1 AND user_name = ?2"));
  CAIRN_SQL_RETURN_IF_ERROR(q.Bind(1, team).Bind(2, user).Run());
  return sqlite3_changes(db_) > 0;
}

StatusOr<std::vector<std::pair<std::string, std::string>>> SqliteMetadataStore::RolesOf(const std::string& user) {
  MutexLock lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(Stmt q,
                         Stmt::Of(*this, "SELECT team, role FROM team_members WHERE user_name = ?1 ORDER BY team"));
  q.Bind(1, user);
  std::vector<std::pair<std::string, std::string>> out;
  for (;;) {
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.emplace_back(q.Text(0), q.Text(1));
  }
  return out;
}

Status SqliteMetadataStore::CreateServiceAccount(const std::string& entity, const std::string& name, bool if_missing) {
  MutexLock lock(mu_);
  StatusOr<sqlite3_stmt*> st =
      if_missing ? Prepare(
                       "INSERT INTO service_accounts(entity, name, created_ms) VALUES (?1, ?2, ?3)"
                       " ON CONFLICT (entity, name) DO NOTHING")
                 : Prepare("INSERT INTO service_accounts(entity, name, created_ms) VALUES (?1, ?2, ?3)");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  Status s = q.Bind(1, entity).Bind(2, name).Bind(3, std::int64_t{NowMs()}).Run();
  if (s.code() == StatusCode::kAlreadyExists) {
    return AlreadyExistsError("service account " + entity + "/" + name + " already exists");
  }
  return s;
}

StatusOr<bool> SqliteMetadataStore::ServiceAccountExists(const std::string& entity, const std::string& name) {
  MutexLock lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(Stmt q, Stmt::Of(*this, "SELECT 1 FROM service_accounts WHERE entity = ?1 AND name = ?2"));
  q.Bind(1, entity).Bind(2, name);
  return q.Step();
}

Status SqliteMetadataStore::PutKey(const KeyRecord& key) {
  MutexLock lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(
      Stmt q, Stmt::Of(*this,
                       "INSERT INTO account_keys(key_hash, entity, admin, read_only, created_ms, id, name, user_name,"
                       " service_account, expires_ms, last_used_ms, revoked_ms)"
                       " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, 0)"));
  Status s = q.Bind(1, key.key_hash)
                 .Bind(2, key.entity)
                 .Bind(3, std::int64_t{key.admin ? 1 : 0})
                 .Bind(4, std::int64_t{key.read_only ? 1 : 0})
                 .Bind(5, std::int64_t{key.created_ms != 0 ? key.created_ms : NowMs()})
                 .Bind(6, key.id.empty() ? KeyIdFromHash(key.key_hash) : key.id)
                 .Bind(7, key.name)
                 .Bind(8, key.user)
                 .Bind(9, key.service_account)
                 .Bind(10, std::int64_t{key.expires_ms})
                 .Run();
  if (s.code() == StatusCode::kAlreadyExists)
    return AlreadyExistsError("an API key with that hash or id already exists");
  return s;
}

StatusOr<std::optional<KeyRecord>> SqliteMetadataStore::FindKeyWhere(const char* sql, const std::string& value) {
  MutexLock lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(Stmt q, Stmt::Of(*this, sql));
  q.Bind(1, value);
  StatusOr<bool> row = q.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<KeyRecord>();
  return std::optional<KeyRecord>(KeyRow(q));
}

StatusOr<std::optional<KeyRecord>> SqliteMetadataStore::FindKey(const std::string& key_hash) {
  return FindKeyWhere(
      "SELECT key_hash, entity, admin, read_only, created_ms, id, name, user_name, service_account, expires_ms,"
      " last_used_ms, revoked_ms FROM account_keys WHERE key_hash = ?1",
      key_hash);
}

StatusOr<std::optional<KeyRecord>> SqliteMetadataStore::FindKeyById(const std::string& id) {
  return FindKeyWhere(
      "SELECT key_hash, entity, admin, read_only, created_ms, id, name, user_name, service_account, expires_ms,"
      " last_used_ms, revoked_ms FROM account_keys WHERE id = ?1",
      id);
}

StatusOr<std::vector<KeyRecord>> SqliteMetadataStore::ListKeys() {
  MutexLock lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(
      Stmt q,
      Stmt::Of(
          *this,
          "SELECT key_hash, entity, admin, read_only, created_ms, id, name, user_name, service_account, expires_ms,"
          " last_used_ms, revoked_ms FROM account_keys ORDER BY created_ms, id"));
  std::vector<KeyRecord> out;
  for (;;) {
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(KeyRow(q));
  }
  return out;
}

StatusOr<bool> SqliteMetadataStore::RevokeKey(const std::string& id, long long now_ms) {
  MutexLock lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(Stmt q,
                         Stmt::Of(*this, "UPDATE account_keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms = 0"));
  CAIRN_SQL_RETURN_IF_ERROR(q.Bind(1, id).Bind(2, std::int64_t{now_ms}).Run());
  return sqlite3_changes(db_) > 0;
}

Status SqliteMetadataStore::TouchKey(const std::string& id, long long now_ms) {
  MutexLock lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(Stmt q, Stmt::Of(*this, "UPDATE account_keys SET last_used_ms = ?2 WHERE id = ?1"));
  return q.Bind(1, id).Bind(2, std::int64_t{now_ms}).Run();
}

Status SqliteMetadataStore::SetRunCreator(const RunKey& run, const std::string& actor) {
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/true));
  StatusOr<std::int64_t> run_row = FindRunRowId(run);
  if (!run_row.ok()) return run_row.status();
  StatusOr<sqlite3_stmt*> st = Prepare("UPDATE runs SET created_by = ?2 WHERE id = ?1");
  if (!st.ok()) return st.status();
  {
    Stmt q(db_, *st);
    CAIRN_SQL_RETURN_IF_ERROR(q.Bind(1, *run_row).Bind(2, actor).Run());
  }
  return txn.Commit();
}

StatusOr<std::string> SqliteMetadataStore::GetRunCreator(const RunKey& run) {
  MutexLock lock(mu_);
  Txn txn(this);
  CAIRN_SQL_RETURN_IF_ERROR(txn.Begin(/*immediate=*/false));
  StatusOr<std::int64_t> run_row = FindRunRowId(run);
  if (!run_row.ok()) return run_row.status();
  CAIRN_ASSIGN_OR_RETURN(Stmt q, Stmt::Of(*this, "SELECT created_by FROM runs WHERE id = ?1"));
  q.Bind(1, *run_row);
  StatusOr<bool> row = q.Step();
  if (!row.ok()) return row.status();
  return *row ? q.Text(0) : std::string();
}

Status SqliteMetadataStore::AppendAudit(const AuditEvent& e) {
  MutexLock lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(
      Stmt q,
      Stmt::Of(
          *this,
          "INSERT INTO audit_log(time_ms, actor, key_id, action, entity, target, address, hits, bytes, summary_key)"
          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULLIF(?10, ''))"
          " ON CONFLICT (summary_key) DO UPDATE SET hits = hits + excluded.hits, bytes = bytes + excluded.bytes"));
  return q.Bind(1, std::int64_t{e.time_ms != 0 ? e.time_ms : NowMs()})
      .Bind(2, e.actor)
      .Bind(3, e.key_id)
      .Bind(4, e.action)
      .Bind(5, e.entity)
      .Bind(6, e.target)
      .Bind(7, e.address)
      .Bind(8, e.count)
      .Bind(9, e.bytes)
      .Bind(10, e.summary_key)
      .Run();
}

StatusOr<std::vector<AuditEvent>> SqliteMetadataStore::ListAudit(const std::string& entity, long long since_ms,
                                                                 int limit) {
  MutexLock lock(mu_);
  CAIRN_ASSIGN_OR_RETURN(
      Stmt q,
      Stmt::Of(
          *this,
          "SELECT id, time_ms, actor, key_id, action, entity, target, address, hits, bytes, COALESCE(summary_key, '')"
          " FROM audit_log WHERE time_ms >= ?1 AND (?2 = '' OR entity = ?2) ORDER BY id DESC LIMIT ?3"));
  q.Bind(1, std::int64_t{since_ms}).Bind(2, entity).Bind(3, std::int64_t{std::max(1, limit)});
  std::vector<AuditEvent> out;
  for (;;) {
    StatusOr<bool> row = q.Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    out.push_back(AuditEvent{q.Int(0), q.Int(1), q.Text(2), q.Text(3), q.Text(4), q.Text(5), q.Text(6), q.Text(7),
                             q.Int(8), q.Int(9), q.Text(10)});
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace cairn::internal
