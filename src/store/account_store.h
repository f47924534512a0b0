// AccountStore: users, teams and their members, service accounts, API keys,
// run creators and the audit log, in the metadata database
// (docs/adr/0021-accounts-and-deletion.md). MetadataStore extends it, so
// each backend (sqlite/, postgres/) implements it in its *_accounts.cc; the
// conformance suite (account_store_conformance_test.cc) holds them to the
// same behaviour.
//
// Every method is one transaction and thread-safe. Nothing here decides who
// may do what: that is the server's (src/server/auth.h). Secrets never reach
// this interface: keys are stored by the SHA-256 of their secret, users by an
// argon2id hash of their password.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cairn/status.h"

namespace cairn::internal {

struct RunKey;

struct UserRecord {
  std::string name;           // also an entity name
  std::string password_hash;  // argon2id, encoded ("$argon2id$v=19$...")
  bool admin = false;         // a server admin
  long long created_ms = 0;
};

// Roles in a team, weakest first ("viewer", "member", "admin" in text).
struct TeamMember {
  std::string user;
  std::string role;
};

struct TeamRecord {
  std::string name;  // also an entity name
  long long created_ms = 0;
  std::vector<TeamMember> members;  // by user name
};

struct ServiceAccountRecord {
  std::string entity;  // the team (or, for keys of the old form, any entity)
  std::string name;
  long long created_ms = 0;
};

struct KeyRecord {
  std::string key_hash;  // lowercase hex SHA-256 of the secret
  // Service-account keys: the entity they act on; user keys: the user's name;
  // empty for admin keys.
  std::string entity;
  bool admin = false;      // an admin key (the operator's; never made by the API)
  bool read_only = false;  // scope "read" (else "write")
  long long created_ms = 0;
  // Since schema 6:
  std::string id;               // public id ("k" + 12 hex), shown in listings; set by PutKey when empty
  std::string name;             // a label
  std::string user;             // the owning user; empty for service-account keys
  std::string service_account;  // the owning service account's name (in `entity`); empty for user keys
  long long expires_ms = 0;     // 0: never
  long long last_used_ms = 0;   // 0: never
  long long revoked_ms = 0;     // 0: not revoked
};

// The public id of a key: "k" + the first 12 hex digits of its hash (the
// migration from api_keys derives ids the same way, in SQL).
inline std::string KeyIdFromHash(const std::string& key_hash) { return "k" + key_hash.substr(0, 12); }

// One line of the audit log. Summaries (downloads, failed authentications)
// carry a summary_key: appending one whose key exists adds its count and
// bytes to that row instead of adding a row.
struct AuditEvent {
  std::int64_t id = 0;  // assigned by AppendAudit
  long long time_ms = 0;
  std::string actor;   // "user:NAME", "sa:ENTITY/NAME", "admin", or "" (unknown)
  std::string key_id;  // never a secret
  std::string action;  // "file.save", "run.delete", "key.create", ...
  std::string entity;  // the entity acted on, "" when none
  std::string target;  // what was acted on ("e/p/r:name v3", a key id, a user)
  std::string address;
  std::int64_t count = 1;
  std::int64_t bytes = 0;
  std::string summary_key;  // empty: a plain event
};

class AccountStore {
 public:
  virtual ~AccountStore() = default;

  // Users and teams share the entity namespace: kAlreadyExists when the name
  // is taken by either.
  virtual Status CreateUser(const UserRecord& user) = 0;
  virtual StatusOr<std::optional<UserRecord>> FindUser(const std::string& name) = 0;
  // By name. The password hashes are included: callers never show them.
  virtual StatusOr<std::vector<UserRecord>> ListUsers() = 0;

  virtual Status CreateTeam(const std::string& name) = 0;
  // By name, members by user name.
  virtual StatusOr<std::vector<TeamRecord>> ListTeams() = 0;
  virtual StatusOr<bool> IsTeam(const std::string& name) = 0;
  // Adds `user` to `team` with `role`, or changes their role. kNotFound
  // naming the team or the user when either does not exist. Returns the
  // previous role ("" when the user was not a member).
  virtual StatusOr<std::string> SetMember(const std::string& team, const std::string& user,
                                          const std::string& role) = 0;
  // false when the user was not a member.
  virtual StatusOr<bool> RemoveMember(const std::string& team, const std::string& user) = 0;
  // Every team `user` belongs to, with the role.
  virtual StatusOr<std::vector<std::pair<std::string, std::string>>> RolesOf(const std::string& user) = 0;

  // kAlreadyExists when it exists, unless `if_missing` (then OK).
  virtual Status CreateServiceAccount(const std::string& entity, const std::string& name, bool if_missing) = 0;
  virtual StatusOr<bool> ServiceAccountExists(const std::string& entity, const std::string& name) = 0;

  // API keys, stored by hash only. PutKey: kAlreadyExists for a hash or id
  // that exists.
  virtual Status PutKey(const KeyRecord& key) = 0;
  // Revoked and expired keys are found too: the caller says why they fail.
  virtual StatusOr<std::optional<KeyRecord>> FindKey(const std::string& key_hash) = 0;
  virtual StatusOr<std::optional<KeyRecord>> FindKeyById(const std::string& id) = 0;
  // Every key, oldest first.
  virtual StatusOr<std::vector<KeyRecord>> ListKeys() = 0;
  // Sets revoked_ms (once). false when there is no such key or it was
  // already revoked.
  virtual StatusOr<bool> RevokeKey(const std::string& id, long long now_ms) = 0;
  // Records a use (last_used_ms = now_ms).
  virtual Status TouchKey(const std::string& id, long long now_ms) = 0;

  // Who created a run ("user:NAME" / "sa:ENTITY/NAME"; "" when unknown, as
  // for runs made before schema 5). kNotFound naming the missing part.
  virtual Status SetRunCreator(const RunKey& run, const std::string& actor) = 0;
  virtual StatusOr<std::string> GetRunCreator(const RunKey& run) = 0;

  // Appends an event (or adds to its summary row). Append-only otherwise.
  virtual Status AppendAudit(const AuditEvent& event) = 0;
  // Events at or after `since_ms`, of `entity` (all when empty), oldest
  // first, at most `limit` (the newest ones when there are more).
  virtual StatusOr<std::vector<AuditEvent>> ListAudit(const std::string& entity, long long since_ms, int limit) = 0;
};

}  // namespace cairn::internal
