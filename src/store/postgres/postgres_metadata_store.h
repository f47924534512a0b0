// PostgresMetadataStore: the MetadataStore on a PostgreSQL server (libpq),
// for several `cairn server` replicas sharing one database.
//
// Schema: the numbered migrations of store/migrations.h (the same list and
// runner as SQLite), applied at Open() under an advisory lock so that
// replicas starting together do not race.
//
// Transactions: READ COMMITTED. CommitVersion locks the run's row
// (SELECT ... FOR UPDATE) before reading max(version), so concurrent commits
// of one run, from any replica, are serialised and get distinct, consecutive
// versions; the UNIQUE (run, name, version) constraint backs this up. A
// transaction that fails with serialization_failure (40001) or
// deadlock_detected (40P01) is retried from the start, a bounded number of
// times. A commit that returned OK is durable as the server is configured.
//
// Connections: a pool of at most `pool_size`, opened lazily; a connection
// that broke is discarded and replaced on next use. Every statement is
// prepared once per connection. All methods are thread-safe.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "common/thread_annotations.h"
#include "store/metadata_store.h"

struct pg_conn;
struct pg_result;

namespace cairn::internal {

struct PostgresOptions {
  // Most connections open at once. Default 8: the server's worker threads
  // rarely all touch the database at the same instant; more costs PostgreSQL
  // memory per replica.
  int pool_size = 8;
  // Attempts of a transaction that hits a serialization failure or deadlock.
  // Default 8, with a short randomised backoff in between.
  int max_txn_attempts = 8;
  // How long to wait for a connection at Open() (seconds). Default 10.
  int connect_timeout_s = 10;
};

class PgConnection;

class PostgresMetadataStore final : public MetadataStore {
 public:
  // Connects to `url` (postgresql://user:pass@host:port/db?param=...) and
  // migrates the schema. kUnavailable when the server cannot be reached,
  // kFailedPrecondition when it refuses the login or the schema is newer.
  static StatusOr<std::unique_ptr<PostgresMetadataStore>> Open(const std::string& url,
                                                               const PostgresOptions& options = {});
  ~PostgresMetadataStore() override;

  PostgresMetadataStore(const PostgresMetadataStore&) = delete;
  PostgresMetadataStore& operator=(const PostgresMetadataStore&) = delete;

  StatusOr<RunRecord> CreateOrResumeRun(const RunKey& run, ResumeMode mode, bool* created) override;
  StatusOr<RunRecord> GetRun(const RunKey& run) override;
  // The cursor is "<created_ms>:<run_id>" of the last run of the previous page.
  StatusOr<Page<RunRecord>> ListRuns(const std::string& entity, const std::string& project, const std::string& cursor,
                                     int limit) override;
  StatusOr<RunRecord> UpdateRun(const RunKey& run, const RunUpdate& update) override;
  StatusOr<std::vector<ProjectRecord>> ListProjects(const std::string& entity) override;
  StatusOr<FileVersionRecord> CommitVersion(const RunKey& run, const std::string& name, const std::string& sha256,
                                            std::uint64_t size, const std::string& created_by = "") override;
  StatusOr<std::vector<FileVersionRecord>> CommitVersions(const RunKey& run,
                                                          const std::vector<NewVersion>& files) override;
  StatusOr<std::optional<FileVersionRecord>> GetFile(const RunKey& run, const std::string& name,
                                                     std::optional<std::int64_t> version) override;
  // The cursor is the last name of the previous page.
  StatusOr<Page<FileVersionRecord>> ListFiles(const RunKey& run, const std::string& prefix, const std::string& cursor,
                                              int limit) override;
  StatusOr<std::vector<FileVersionRecord>> ListVersions(const RunKey& run, const std::string& name) override;
  StatusOr<std::vector<BlobReference>> ListBlobReferences() override;
  // postgres_deletion.cc
  StatusOr<std::vector<FileVersionRecord>> DeleteFile(const RunKey& run, const std::string& name,
                                                      std::optional<std::int64_t> version) override;
  StatusOr<std::int64_t> DeleteRun(const RunKey& run) override;
  // sqlite_accounts.cc / postgres_accounts.cc: the AccountStore part.
  Status CreateUser(const UserRecord& user) override;
  StatusOr<std::optional<UserRecord>> FindUser(const std::string& name) override;
  StatusOr<std::vector<UserRecord>> ListUsers() override;
  Status CreateTeam(const std::string& name) override;
  StatusOr<std::vector<TeamRecord>> ListTeams() override;
  StatusOr<bool> IsTeam(const std::string& name) override;
  StatusOr<std::string> SetMember(const std::string& team, const std::string& user, const std::string& role) override;
  StatusOr<bool> RemoveMember(const std::string& team, const std::string& user) override;
  StatusOr<std::vector<std::pair<std::string, std::string>>> RolesOf(const std::string& user) override;
  Status CreateServiceAccount(const std::string& entity, const std::string& name, bool if_missing) override;
  StatusOr<bool> ServiceAccountExists(const std::string& entity, const std::string& name) override;
  Status PutKey(const KeyRecord& key) override;
  StatusOr<std::optional<KeyRecord>> FindKey(const std::string& key_hash) override;
  StatusOr<std::optional<KeyRecord>> FindKeyById(const std::string& id) override;
  StatusOr<std::vector<KeyRecord>> ListKeys() override;
  StatusOr<bool> RevokeKey(const std::string& id, long long now_ms) override;
  Status TouchKey(const std::string& id, long long now_ms) override;
  Status SetRunCreator(const RunKey& run, const std::string& actor) override;
  StatusOr<std::string> GetRunCreator(const RunKey& run) override;
  Status AppendAudit(const AuditEvent& event) override;
  StatusOr<std::vector<AuditEvent>> ListAudit(const std::string& entity, long long since_ms, int limit) override;
  StatusOr<std::optional<std::uint64_t>> FindEntityBlob(const std::string& entity,
                                                        const std::string& sha256) override;
  // The web UI's reads and sessions (postgres_metadata_store.cc).
  StatusOr<std::vector<std::string>> ListEntities() override;
  StatusOr<Page<RunSummary>> SummarizeRuns(const std::string& entity, const std::string& project,
                                           const std::string& id_contains, const std::string& cursor,
                                           int limit) override;
  StatusOr<std::vector<FileSummary>> SummarizeFiles(const RunKey& run) override;
  Status PutSession(const SessionRecord& session) override;
  StatusOr<std::optional<SessionRecord>> FindSession(const std::string& token_hash, long long now_ms) override;
  Status DeleteSession(const std::string& token_hash) override;
  StatusOr<std::vector<SessionRecord>> DeleteExpiredSessions(long long now_ms) override;
  StatusOr<std::optional<std::string>> GetBlobMd5(const std::string& sha256) override;
  Status PutBlobMd5(const std::string& sha256, const std::string& md5_base64) override;
  // Quotas (docs/operations.md): postgres_metadata_store.cc / the store's quota methods.
  StatusOr<std::optional<std::uint64_t>> GetQuota(const std::string& entity) override;
  Status SetQuota(const std::string& entity, std::optional<std::uint64_t> bytes) override;
  StatusOr<std::uint64_t> EntityUsedBytes(const std::string& entity) override;
  // Retention policies (sqlite_retention.cc / postgres_retention.cc).
  StatusOr<std::vector<RetentionPolicy>> ListRetentionPolicies(const std::string& entity) override;
  Status SetRetentionPolicy(const RetentionPolicy& policy) override;
  StatusOr<std::int64_t> ClearRetentionPolicies(const std::string& entity, const std::string& project,
                                                const std::optional<std::string>& pattern) override;
  StatusOr<std::vector<ProjectVersion>> ListProjectVersions(const std::string& entity,
                                                            const std::string& project) override;
  StatusOr<std::vector<FileVersionRecord>> DeleteVersionsIfNotLatest(const RunKey& run,
                                                                     const std::vector<VersionRef>& versions) override;

  // The schema version the database is at (-1 on error).
  int SchemaVersion();

 private:
  class Lease;

  PostgresMetadataStore(std::string url, const PostgresOptions& options);

  // Checks a connection out of the pool (opening one when allowed), waiting
  // while all are in use.
  StatusOr<Lease> Acquire();
  void Release(std::unique_ptr<PgConnection> conn);

  enum class Access {
    kRead,         // autocommit statements that only read (a row deleted between two of them is just absent)
    kTransaction,  // BEGIN ... COMMIT
  };
  // Runs `body(PgConnection&)` on a pooled connection -- in a transaction
  // that commits when it returns OK and rolls back otherwise, for
  // kTransaction -- retrying on 40001/40P01 and on a connection found dead
  // before anything was written.
  template <typename Body>
  Status Execute(Access access, Body&& body);
  // Execute() for the store's other source files (pg_connection.h).
  Status Run(Access access, const std::function<Status(PgConnection&)>& body);

  const std::string url_;
  const PostgresOptions options_;
  Mutex mu_;
  std::condition_variable released_;
  std::vector<std::unique_ptr<PgConnection>> idle_ CAIRN_GUARDED_BY(mu_);
  int open_ CAIRN_GUARDED_BY(mu_) = 0;  // idle + leased
};

// The one place a libpq outcome becomes a Status. `result` may be null (the
// connection failed before a result); `conn` supplies the message then.
// SQLSTATE classes: 08 / 57P0x (connection, shutdown) and 40001 / 40P01
// -> kUnavailable; 23505 -> kAlreadyExists; 23 -> kFailedPrecondition;
// 22 -> kInvalidArgument; 53 -> kResourceExhausted; 28 / 3D (login, no
// such database) -> kFailedPrecondition; anything else kInternal.
Status PgStatus(const pg_result* result, const pg_conn* conn, std::string_view what);

// `url` with the password replaced by "***", for messages and logs.
std::string RedactDbUrl(std::string_view url);

}  // namespace cairn::internal
