// PostgresMetadataStore: the AccountStore part (store/account_store.h):
// users, teams, service accounts, keys, run creators and the audit log.
#include <algorithm>
#include <string>
#include <utility>

#include "common/fs.h"
#include "store/postgres/pg_connection.h"

namespace cairn::internal {
namespace {

using Params = std::vector<std::string>;

std::string Bool(bool b) { return b ? "true" : "false"; }

KeyRecord KeyRow(const PgResult& r, int i) {
  return KeyRecord{.key_hash = r.Text(i, 0),
                   .entity = r.Text(i, 1),
                   .admin = r.Bool(i, 2),
                   .read_only = r.Bool(i, 3),
                   .created_ms = r.Int(i, 4),
                   .id = r.Text(i, 5),
                   .name = r.Text(i, 6),
                   .user = r.Text(i, 7),
                   .service_account = r.Text(i, 8),
                   .expires_ms = r.Int(i, 9),
                   .last_used_ms = r.Int(i, 10),
                   .revoked_ms = r.Int(i, 11)};
}

#define CAIRN_KEY_COLUMNS                                                                               \
  "SELECT key_hash, entity, admin, read_only, created_ms, id, name, user_name, service_account, expires_ms," \
  " last_used_ms, revoked_ms FROM account_keys"

// Users and teams share one namespace; the advisory lock serialises creators
// on every replica so that two cannot take one name at once.
Status ClaimName(PgConnection& conn, const std::string& name) {
  StatusOr<PgResult> lock = conn.Query("SELECT pg_advisory_xact_lock(426610140783)");
  if (!lock.ok()) return lock.status();
  StatusOr<PgResult> r =
      conn.Query("SELECT 1 FROM users WHERE name = $1 UNION ALL SELECT 1 FROM teams WHERE name = $1", {name});
  if (!r.ok()) return r.status();
  if (r->rows() > 0) return AlreadyExistsError("the name " + name + " is taken by a user or a team: choose another");
  return OkStatus();
}

}  // namespace

Status PostgresMetadataStore::CreateUser(const UserRecord& user) {
  return Run(Access::kTransaction, [&](PgConnection& conn) -> Status {
    if (Status s = ClaimName(conn, user.name); !s.ok()) return s;
    return conn
        .Query("INSERT INTO users(name, password_hash, admin, created_ms) VALUES ($1, $2, $3, $4)",
               {user.name, user.password_hash, Bool(user.admin),
                std::to_string(user.created_ms != 0 ? user.created_ms : NowMs())})
        .status();
  });
}

StatusOr<std::optional<UserRecord>> PostgresMetadataStore::FindUser(const std::string& name) {
  std::optional<UserRecord> out;
  Status s = Run(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r =
        conn.Query("SELECT name, password_hash, admin, created_ms FROM users WHERE name = $1", {name});
    if (!r.ok()) return r.status();
    if (r->rows() > 0) out = UserRecord{r->Text(0, 0), r->Text(0, 1), r->Bool(0, 2), r->Int(0, 3)};
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<std::vector<UserRecord>> PostgresMetadataStore::ListUsers() {
  std::vector<UserRecord> out;
  Status s = Run(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query("SELECT name, password_hash, admin, created_ms FROM users ORDER BY name");
    if (!r.ok()) return r.status();
    out.clear();
    for (int i = 0; i < r->rows(); ++i) out.push_back(UserRecord{r->Text(i, 0), r->Text(i, 1), r->Bool(i, 2), r->Int(i, 3)});
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

Status PostgresMetadataStore::CreateTeam(const std::string& name) {
  return Run(Access::kTransaction, [&](PgConnection& conn) -> Status {
    if (Status s = ClaimName(conn, name); !s.ok()) return s;
    return conn.Query("INSERT INTO teams(name, created_ms) VALUES ($1, $2)", {name, std::to_string(NowMs())}).status();
  });
}

StatusOr<std::vector<TeamRecord>> PostgresMetadataStore::ListTeams() {
  std::vector<TeamRecord> out;
  Status s = Run(Access::kTransaction, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> teams = conn.Query("SELECT name, created_ms FROM teams ORDER BY name");
    if (!teams.ok()) return teams.status();
    StatusOr<PgResult> members = conn.Query("SELECT team, user_name, role FROM team_members ORDER BY team, user_name");
    if (!members.ok()) return members.status();
    out.clear();
    for (int i = 0; i < teams->rows(); ++i) out.push_back(TeamRecord{teams->Text(i, 0), teams->Int(i, 1), {}});
    for (int i = 0; i < members->rows(); ++i) {
      const std::string team = members->Text(i, 0);
      auto it = std::find_if(out.begin(), out.end(), [&](const TeamRecord& t) { return t.name == team; });
      if (it != out.end()) it->members.push_back(TeamMember{members->Text(i, 1), members->Text(i, 2)});
    }
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<bool> PostgresMetadataStore::IsTeam(const std::string& name) {
  bool out = false;
  Status s = Run(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query("SELECT 1 FROM teams WHERE name = $1", {name});
    if (!r.ok()) return r.status();
    out = r->rows() > 0;
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<std::string> PostgresMetadataStore::SetMember(const std::string& team, const std::string& user,
                                                       const std::string& role) {
  std::string previous;
  Status s = Run(Access::kTransaction, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query(
        "SELECT (SELECT 1 FROM teams WHERE name = $1), (SELECT 1 FROM users WHERE name = $2),"
        " (SELECT role FROM team_members WHERE team = $1 AND user_name = $2)",
        {team, user});
    if (!r.ok()) return r.status();
    if (r->IsNull(0, 0)) return NotFoundError("there is no team " + team + ": create it with `cairn teams create`");
    if (r->IsNull(0, 1)) return NotFoundError("there is no user " + user + ": create it with `cairn users create`");
    previous = r->IsNull(0, 2) ? "" : r->Text(0, 2);
    return conn
        .Query("INSERT INTO team_members(team, user_name, role) VALUES ($1, $2, $3)"
               " ON CONFLICT (team, user_name) DO UPDATE SET role = excluded.role",
               {team, user, role})
        .status();
  });
  if (!s.ok()) return s;
  return previous;
}

StatusOr<bool> PostgresMetadataStore::RemoveMember(const std::string& team, const std::string& user) {
  bool out = false;
  Status s = Run(Access::kTransaction, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r =
        conn.Query("DELETE FROM team_members WHERE team = $1 AND user_name = $2 RETURNING 1", {team, user});
    if (!r.ok()) return r.status();
    out = r->rows() > 0;
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<std::vector<std::pair<std::string, std::string>>> PostgresMetadataStore::RolesOf(const std::string& user) {
  std::vector<std::pair<std::string, std::string>> out;
  Status s = Run(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query("SELECT team, role FROM team_members WHERE user_name = $1 ORDER BY team", {user});
    if (!r.ok()) return r.status();
    out.clear();
    for (int i = 0; i < r->rows(); ++i) out.emplace_back(r->Text(i, 0), r->Text(i, 1));
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

Status PostgresMetadataStore::CreateServiceAccount(const std::string& entity, const std::string& name,
                                                   bool if_missing) {
  Status s = Run(Access::kTransaction, [&](PgConnection& conn) -> Status {
    const Params p = {entity, name, std::to_string(NowMs())};
    return (if_missing ? conn.Query("INSERT INTO service_accounts(entity, name, created_ms) VALUES ($1, $2, $3)"
                                    " ON CONFLICT (entity, name) DO NOTHING",
                                    p)
                       : conn.Query("INSERT INTO service_accounts(entity, name, created_ms) VALUES ($1, $2, $3)", p))
        .status();
  });
  if (s.code() == StatusCode::kAlreadyExists) {
    return AlreadyExistsError("service account " + entity + "/" + name + " already exists");
  }
  return s;
}

StatusOr<bool> PostgresMetadataStore::ServiceAccountExists(const std::string& entity, const std::string& name) {
  bool out = false;
  Status s = Run(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query("SELECT 1 FROM service_accounts WHERE entity = $1 AND name = $2", {entity, name});
    if (!r.ok()) return r.status();
    out = r->rows() > 0;
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

Status PostgresMetadataStore::PutKey(const KeyRecord& key) {
  Status s = Run(Access::kTransaction, [&](PgConnection& conn) -> Status {
    return conn
        .Query("INSERT INTO account_keys(key_hash, entity, admin, read_only, created_ms, id, name, user_name,"
               " service_account, expires_ms, last_used_ms, revoked_ms)"
               " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 0, 0)",
               {key.key_hash, key.entity, Bool(key.admin), Bool(key.read_only),
                std::to_string(key.created_ms != 0 ? key.created_ms : NowMs()),
                key.id.empty() ? KeyIdFromHash(key.key_hash) : key.id, key.name, key.user, key.service_account,
                std::to_string(key.expires_ms)})
        .status();
  });
  if (s.code() == StatusCode::kAlreadyExists) return AlreadyExistsError("an API key with that hash or id already exists");
  return s;
}

StatusOr<std::optional<KeyRecord>> PostgresMetadataStore::FindKey(const std::string& key_hash) {
  std::optional<KeyRecord> out;
  Status s = Run(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query(CAIRN_KEY_COLUMNS " WHERE key_hash = $1", {key_hash});
    if (!r.ok()) return r.status();
    if (r->rows() > 0) out = KeyRow(*r, 0);
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<std::optional<KeyRecord>> PostgresMetadataStore::FindKeyById(const std::string& id) {
  std::optional<KeyRecord> out;
  Status s = Run(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query(CAIRN_KEY_COLUMNS " WHERE id = $1", {id});
    if (!r.ok()) return r.status();
    if (r->rows() > 0) out = KeyRow(*r, 0);
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<std::vector<KeyRecord>> PostgresMetadataStore::ListKeys() {
  std::vector<KeyRecord> out;
  Status s = Run(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query(CAIRN_KEY_COLUMNS " ORDER BY created_ms, id");
    if (!r.ok()) return r.status();
    out.clear();
    for (int i = 0; i < r->rows(); ++i) out.push_back(KeyRow(*r, i));
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<bool> PostgresMetadataStore::RevokeKey(const std::string& id, long long now_ms) {
  bool out = false;
  Status s = Run(Access::kTransaction, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query(
        "UPDATE account_keys SET revoked_ms = $2 WHERE id = $1 AND revoked_ms = 0 RETURNING 1", {id, std::to_string(now_ms)});
    if (!r.ok()) return r.status();
    out = r->rows() > 0;
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

Status PostgresMetadataStore::TouchKey(const std::string& id, long long now_ms) {
  return Run(Access::kRead, [&](PgConnection& conn) -> Status {
    return conn.Query("UPDATE account_keys SET last_used_ms = $2 WHERE id = $1", {id, std::to_string(now_ms)}).status();
  });
}

Status PostgresMetadataStore::SetRunCreator(const RunKey& run, const std::string& actor) {
  return Run(Access::kTransaction, [&](PgConnection& conn) -> Status {
    StatusOr<std::int64_t> locked = LockRun(conn, run);
    if (!locked.ok()) return locked.status();
    return conn.Query("UPDATE runs SET created_by = $2 WHERE id = $1", {std::to_string(*locked), actor}).status();
  });
}

StatusOr<std::string> PostgresMetadataStore::GetRunCreator(const RunKey& run) {
  std::string out;
  Status s = Run(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<FoundRun> found = FindRun(conn, run);
    if (!found.ok()) return found.status();
    StatusOr<PgResult> r = conn.Query("SELECT created_by FROM runs WHERE id = $1", {std::to_string(found->id)});
    if (!r.ok()) return r.status();
    out = r->rows() > 0 ? r->Text(0, 0) : "";
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

Status PostgresMetadataStore::AppendAudit(const AuditEvent& e) {
  return Run(Access::kRead, [&](PgConnection& conn) -> Status {
    return conn
        .Query("INSERT INTO audit_log(time_ms, actor, key_id, action, entity, target, address, hits, bytes, summary_key)"
               " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULLIF($10, ''))"
               " ON CONFLICT (summary_key) DO UPDATE SET hits = audit_log.hits + excluded.hits,"
               " bytes = audit_log.bytes + excluded.bytes",
               {std::to_string(e.time_ms != 0 ? e.time_ms : NowMs()), e.actor, e.key_id, e.action, e.entity, e.target,
                e.address, std::to_string(e.count), std::to_string(e.bytes), e.summary_key})
        .status();
  });
}

StatusOr<std::vector<AuditEvent>> PostgresMetadataStore::ListAudit(const std::string& entity, long long since_ms,
                                                                   int limit) {
  std::vector<AuditEvent> out;
  Status s = Run(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query(
        "SELECT id, time_ms, actor, key_id, action, entity, target, address, hits, bytes, COALESCE(summary_key, '')"
        " FROM audit_log WHERE time_ms >= $1 AND ($2 = '' OR entity = $2) ORDER BY id DESC LIMIT $3",
        {std::to_string(since_ms), entity, std::to_string(std::max(1, limit))});
    if (!r.ok()) return r.status();
    out.clear();
    for (int i = r->rows() - 1; i >= 0; --i) {
      out.push_back(AuditEvent{r->Int(i, 0), r->Int(i, 1), r->Text(i, 2), r->Text(i, 3), r->Text(i, 4), r->Text(i, 5),
                               r->Text(i, 6), r->Text(i, 7), r->Int(i, 8), r->Int(i, 9), r->Text(i, 10)});
    }
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace cairn::internal
