// SqliteMetadataStore: the embedded MetadataStore, one SQLite database file.
//
// Durability: WAL journal with synchronous=FULL, so a commit that returned OK
// survives a power loss. Schema changes are the numbered migrations of
// store/migrations.h (shared with PostgreSQL), recorded in
// schema_migrations(version) and applied, in order and each in its own
// transaction, when the store is opened; a database written by a newer Cairn
// (unknown version) is refused with kFailedPrecondition.
//
// Thread-safety: all methods may be called concurrently; one connection is
// shared behind a mutex (SQLite serialises writers anyway). Other processes
// may open the same file: writes take the database lock up front (BEGIN
// IMMEDIATE) and wait up to busy_timeout for it, then fail with kUnavailable.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "cairn/status.h"
#include "common/thread_annotations.h"
#include "store/metadata_store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace cairn::internal {

struct SqliteOptions {
  // How long a statement waits for another connection's lock before failing
  // with kUnavailable. Default 5 s: long enough for any Cairn transaction.
  int busy_timeout_ms = 5000;
};

class SqliteMetadataStore final : public MetadataStore {
 public:
  // Opens (creating when missing) the database at `path` and migrates it to
  // the current schema. kFailedPrecondition when the file cannot be opened or
  // is from a newer version; kDataLoss when it is not a database.
  static StatusOr<std::unique_ptr<SqliteMetadataStore>> Open(const std::filesystem::path& path,
                                                             const SqliteOptions& options = {});
  ~SqliteMetadataStore() override;

  SqliteMetadataStore(const SqliteMetadataStore&) = delete;
  SqliteMetadataStore& operator=(const SqliteMetadataStore&) = delete;

  StatusOr<RunRecord> CreateOrResumeRun(const RunKey& run, ResumeMode mode, bool* created) override;
  StatusOr<RunRecord> GetRun(const RunKey& run) override;
  // The cursor is "<created_ms>:<run_id>" of the last run of the previous page.
  StatusOr<Page<RunRecord>> ListRuns(const std::string& entity, const std::string& project, const std::string& cursor,
                                     int limit) override;
  StatusOr<RunRecord> UpdateRun(const RunKey& run, const RunUpdate& update) override;  // sqlite_runs.cc
  StatusOr<std::vector<ProjectRecord>> ListProjects(const std::string& entity) override;  // sqlite_runs.cc
  StatusOr<FileVersionRecord> CommitVersion(const RunKey& run, const std::string& name, const std::string& sha256,
                                            std::uint64_t size,
                                            const std::string& created_by = "") override;  // sqlite_versions.cc
  StatusOr<std::vector<FileVersionRecord>> CommitVersions(const RunKey& run,
                                                          const std::vector<NewVersion>& files) override;  // sqlite_versions.cc
  StatusOr<std::optional<FileVersionRecord>> GetFile(const RunKey& run, const std::string& name,
                                                     std::optional<std::int64_t> version) override;
  // The cursor is the last name of the previous page.
  StatusOr<Page<FileVersionRecord>> ListFiles(const RunKey& run, const std::string& prefix, const std::string& cursor,
                                              int limit) override;
  StatusOr<std::vector<FileVersionRecord>> ListVersions(const RunKey& run, const std::string& name) override;
  StatusOr<std::vector<BlobReference>> ListBlobReferences() override;
  // sqlite_deletion.cc
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
  // The web UI's reads and sessions (sqlite_web.cc).
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
  // Quotas (docs/operations.md): sqlite_quotas.cc / the store's quota methods.
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

  // The schema version the database is at after Open().
  int SchemaVersion();

 private:
  class Stmt;
  class Txn;

  explicit SqliteMetadataStore(sqlite3* db) : db_(db) {}

  // The helpers below use the connection: the caller holds mu_.
  Status Configure(const SqliteOptions& options) CAIRN_REQUIRES(mu_);
  Status Migrate() CAIRN_REQUIRES(mu_);
  Status Exec(const char* sql) CAIRN_REQUIRES(mu_);
  // A cached prepared statement for `sql` (a string literal), reset on use.
  StatusOr<sqlite3_stmt*> Prepare(const char* sql) CAIRN_REQUIRES(mu_);
  // Resolves a run to its rowid, or the kNotFound naming the missing part.
  StatusOr<std::int64_t> FindRunRowId(const RunKey& run) CAIRN_REQUIRES(mu_);
  // In an IMMEDIATE transaction (sqlite_versions.cc).
  StatusOr<FileVersionRecord> InsertNextVersion(std::int64_t run_row, const NewVersion& f, long long now)
      CAIRN_REQUIRES(mu_);
  StatusOr<RunRecord> LoadRun(const RunKey& run) CAIRN_REQUIRES(mu_);
  // The row id of project `project` of `entity`, or the kNotFound naming the
  // missing part.
  StatusOr<std::int64_t> FindProjectId(const std::string& entity, const std::string& project) CAIRN_REQUIRES(mu_);
  // sqlite_accounts.cc: whether a user or a team has `name`.
  StatusOr<bool> NameTaken(const std::string& name) CAIRN_REQUIRES(mu_);
  // Takes mu_ itself.
  StatusOr<std::optional<KeyRecord>> FindKeyWhere(const char* sql, const std::string& value) CAIRN_EXCLUDES(mu_);
  static KeyRecord KeyRow(Stmt& q);

  Mutex mu_;
  sqlite3* db_ CAIRN_GUARDED_BY(mu_);
  std::unordered_map<const char*, sqlite3_stmt*> statements_ CAIRN_GUARDED_BY(mu_);
};

// The one place a SQLite result code becomes a Status: SQLITE_FULL ->
// kResourceExhausted, BUSY/LOCKED -> kUnavailable, CONSTRAINT ->
// kAlreadyExists, CORRUPT/NOTADB -> kDataLoss, CANTOPEN/PERM/READONLY ->
// kFailedPrecondition, anything else kInternal. `what` names the operation.
Status SqliteStatus(int rc, sqlite3* db, std::string_view what);

}  // namespace cairn::internal
