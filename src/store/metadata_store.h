// MetadataStore: runs, file versions, and (AccountStore, account_store.h)
// users, teams, keys and the audit log. The embedded default is
// SQLite (sqlite/); PostgreSQL (postgres/) serves several server replicas.
// Every method is one transaction; implementations are thread-safe. Both
// share one schema-migration mechanism (migrations.h).
//
// Nothing outside src/store/ knows which backend is in use: the server gets a
// MetadataStore from OpenStore() (store.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cairn/status.h"
#include "store/account_store.h"

namespace cairn::internal {

struct RunKey {
  std::string entity;
  std::string project;
  std::string run_id;
};

struct RunRecord {
  std::string entity;
  std::string project;
  std::string run_id;
  long long created_ms = 0;
  long long updated_ms = 0;
  // A JSON object as compact text (common/run_config.h); "{}" when none.
  std::string config = "{}";
  // As stored: "running" or "finished" (common/run_config.h); readers see
  // EffectiveRunState(state, heartbeat_ms, now, stale-after).
  std::string state = "finished";
  long long heartbeat_ms = 0;  // last UpdateRun(state "running"); 0 never
};

// What UpdateRun changes; empty fields are left as they are.
struct RunUpdate {
  // A JSON object whose top-level keys replace the stored config's
  // (MergeRunConfig).
  std::string config_patch;
  // "running": a process holds the run (heartbeat_ms = now). "finished".
  std::string state;
};

struct ProjectRecord {
  std::string entity;
  std::string name;
  long long created_ms = 0;
};

struct FileVersionRecord {
  std::string name;
  std::int64_t version = 0;  // 1-based, per (run, name), in commit order
  std::uint64_t size = 0;
  std::string sha256;        // blob key
  long long created_ms = 0;
  // Who saved it: Principal::Actor() of the key that committed the version
  // ("user:alice", "sa:team/ci", "admin"); "" when unknown (versions
  // committed before schema version 12, or by an unauthenticated server).
  std::string created_by;
};

// One file of MetadataStore::CommitVersions: a blob that is already durable.
struct NewVersion {
  std::string name;
  std::string sha256;
  std::uint64_t size = 0;
  std::string created_by;  // FileVersionRecord::created_by
};

// A signed-in browser session (docs/adr/0023-web-ui.md), stored by the
// SHA-256 of its token only, so that every server replica sharing the store
// knows it and a leaked database holds no usable token.
struct SessionRecord {
  std::string token_hash;  // lowercase hex SHA-256 of the session token
  // Who signed in: "key:<SHA-256 of the API key>", or "userkey:<SHA-256>" for
  // a password sign-in's own key (the key is checked again on every request,
  // so revoking it ends its sessions).
  std::string subject;
  long long created_ms = 0;
  long long expires_ms = 0;  // FindSession ignores the session from then on
};

// A run with what the web UI lists beside it: its files (latest versions).
struct RunSummary {
  RunRecord run;
  std::int64_t files = 0;   // distinct file names
  std::uint64_t bytes = 0;  // sum of the latest versions' sizes
};

// A file's latest version and how many versions it has.
struct FileSummary {
  FileVersionRecord latest;
  std::int64_t versions = 0;
};

// One blob that file versions refer to (MetadataStore::ListBlobReferences).
struct BlobReference {
  std::string sha256;
  std::uint64_t size = 0;      // as the versions record it
  std::int64_t versions = 0;   // how many versions refer to it
  std::string example;         // one of them: "entity/project/run_id:name vN"
};

enum class ResumeMode { kNever, kAllow, kMust };

// The part of a run path that a kNotFound from this interface refers to.
// Every backend builds those errors with RunPathNotFoundError() so that the
// HTTP layer can answer entity_not_found / project_not_found / run_not_found
// without knowing the backend.
enum class RunPathPart { kEntity, kProject, kRun };

// kNotFound whose message names the missing part, e.g.
//   "project alice/mnist does not exist: check the run path ...",
// and whose reason() is "entity_not_found", "project_not_found" or
// "run_not_found".
Status RunPathNotFoundError(RunPathPart part, const RunKey& run);

// Which part a Status built by RunPathNotFoundError() names, by its reason()
// (never by its message); nullopt for any other Status (including OK and
// other kNotFound errors).
std::optional<RunPathPart> MissingRunPathPart(const Status& status);

// A retention policy (docs/operations.md, docs/adr/0022-operations.md): of
// every file whose name matches `pattern`, a version is kept when any rule
// keeps it -- it is among the newest `keep_last` versions of its file, or it
// is younger than `max_age_ms` -- and the latest version of every file is
// always kept. At least one rule is set.
struct RetentionPolicy {
  std::string entity;
  std::string project;        // empty: the entity's default (used by projects that have none of their own)
  std::string pattern = "*";  // fnmatch(3) glob without FNM_PATHNAME: `*` also matches `/`
  std::int64_t keep_last = 0;   // 0: no keep-last rule; else >= 1
  std::int64_t max_age_ms = 0;  // 0: no age rule; else > 0
  long long updated_ms = 0;
};

// One version of a file of some run in a project (for retention).
struct ProjectVersion {
  std::string run_id;
  FileVersionRecord version;
};

// A version a retention pass asks to remove.
struct VersionRef {
  std::string name;
  std::int64_t version = 0;
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_cursor;  // empty: no more pages
};

class MetadataStore : public AccountStore {
 public:
  ~MetadataStore() override = default;

  // Creates the run (and its entity/project on first write) or resumes it,
  // per `mode`: kNever on an existing run -> kAlreadyExists; kMust on a
  // missing run -> kNotFound. `*created` says which happened.
  virtual StatusOr<RunRecord> CreateOrResumeRun(const RunKey& run, ResumeMode mode, bool* created) = 0;

  // kNotFound naming what is missing: the entity, the project or the run.
  virtual StatusOr<RunRecord> GetRun(const RunKey& run) = 0;

  // Runs of a project ordered by (created, id); `cursor` is an opaque value
  // from a previous page. kNotFound when the project does not exist.
  virtual StatusOr<Page<RunRecord>> ListRuns(const std::string& entity, const std::string& project,
                                             const std::string& cursor, int limit) = 0;

  // Merges a config patch and/or sets the state, in one transaction; returns
  // the run as it now is. A new run starts "finished" with config "{}".
  // kNotFound naming what is missing; kInvalidArgument when the merged config
  // exceeds kMaxRunConfigBytes or a field is malformed.
  virtual StatusOr<RunRecord> UpdateRun(const RunKey& run, const RunUpdate& update) = 0;

  // Every project of `entity`, by name (bytewise). kNotFound when the entity
  // does not exist.
  virtual StatusOr<std::vector<ProjectRecord>> ListProjects(const std::string& entity) = 0;

  // Commits a new version of `name` pointing at an already durable blob.
  // Versions are assigned atomically (two concurrent commits get distinct,
  // consecutive numbers). kNotFound when the run does not exist.
  // `created_by`: who saves it (FileVersionRecord::created_by).
  virtual StatusOr<FileVersionRecord> CommitVersion(const RunKey& run, const std::string& name,
                                                    const std::string& sha256, std::uint64_t size,
                                                    const std::string& created_by = "") = 0;

  // Commits a new version of every file in `files`, in order, in one
  // transaction: all of them or none (one durable commit for many small
  // files, docs/adr/0020). A name listed twice gets two consecutive versions.
  // Returns the records in the order of `files`. kNotFound when the run does
  // not exist; kInvalidArgument for a size over INT64_MAX (nothing committed).
  virtual StatusOr<std::vector<FileVersionRecord>> CommitVersions(const RunKey& run,
                                                                  const std::vector<NewVersion>& files) = 0;

  // The latest version of `name`, or `version`. nullopt when the run exists
  // but has no such file/version; kNotFound when the run does not exist.
  virtual StatusOr<std::optional<FileVersionRecord>> GetFile(const RunKey& run, const std::string& name,
                                                             std::optional<std::int64_t> version) = 0;

  // The latest version of every file whose name starts with `prefix`, ordered
  // by name; cursor is opaque.
  virtual StatusOr<Page<FileVersionRecord>> ListFiles(const RunKey& run, const std::string& prefix,
                                                      const std::string& cursor, int limit) = 0;

  // Every version of `name`, oldest first (empty when none).
  virtual StatusOr<std::vector<FileVersionRecord>> ListVersions(const RunKey& run, const std::string& name) = 0;

  // The size recorded by some committed version, in any run of `entity`,
  // whose content has digest `sha256`; nullopt when the entity has none.
  // Lets a commit by reference (docs/adr/0008) stay within what the entity's
  // keys could already read.
  virtual StatusOr<std::optional<std::uint64_t>> FindEntityBlob(const std::string& entity,
                                                                const std::string& sha256) = 0;

  // Every blob that some file version refers to, one entry per digest, in
  // no particular order (for `cairn fsck` and `cairn gc`). One consistent
  // snapshot.
  virtual StatusOr<std::vector<BlobReference>> ListBlobReferences() = 0;

  // --- Deletion (docs/adr/0021-accounts-and-deletion.md) ---
  // Rows are removed in one transaction, so what is deleted is invisible at
  // once to every reader (and every replica); the blobs stay until `cairn gc`
  // finds that no remaining version refers to them.

  // Deletes version `version` of `name`, or every version of it when
  // nullopt. Returns the deleted versions, oldest first; empty when the run
  // has no such file/version (nothing changed). kNotFound naming the missing
  // part when the run does not exist. Idempotent in effect.
  virtual StatusOr<std::vector<FileVersionRecord>> DeleteFile(const RunKey& run, const std::string& name,
                                                              std::optional<std::int64_t> version) = 0;
  // Deletes the run and every version of every file in it (its entity and
  // project stay). Returns how many versions were deleted. kNotFound naming
  // the missing part when the run does not exist.
  virtual StatusOr<std::int64_t> DeleteRun(const RunKey& run) = 0;

  // --- For the web UI (docs/adr/0023-web-ui.md) ---
  // Every entity, by name (bytewise).
  virtual StatusOr<std::vector<std::string>> ListEntities() = 0;
  // Runs of a project, newest first (created, then run id descending), whose
  // id contains `id_contains` (every run when empty), with their file counts
  // and sizes. `cursor` is opaque ("" for the first page). kNotFound naming
  // the entity or project when missing.
  virtual StatusOr<Page<RunSummary>> SummarizeRuns(const std::string& entity, const std::string& project,
                                                   const std::string& id_contains, const std::string& cursor,
                                                   int limit) = 0;
  // Every file of a run (its latest version and version count), by name, in
  // one consistent read. kNotFound naming what is missing.
  virtual StatusOr<std::vector<FileSummary>> SummarizeFiles(const RunKey& run) = 0;
  // Sessions. PutSession: kAlreadyExists on a duplicate hash. FindSession:
  // nullopt when unknown or expired at `now_ms`. DeleteSession: idempotent.
  virtual Status PutSession(const SessionRecord& session) = 0;
  virtual StatusOr<std::optional<SessionRecord>> FindSession(const std::string& token_hash, long long now_ms) = 0;
  virtual Status DeleteSession(const std::string& token_hash) = 0;
  // Deletes every session expired at `now_ms` (expires_ms <= now_ms) and
  // returns them, so that the caller can end what they held (their keys).
  virtual StatusOr<std::vector<SessionRecord>> DeleteExpiredSessions(long long now_ms) = 0;

  // The base64 MD5 of blob `sha256` (for W&B clients), when recorded; nullopt
  // otherwise. Recording is idempotent: the first value stays (every caller
  // computes the same digest from the same bytes).
  virtual StatusOr<std::optional<std::string>> GetBlobMd5(const std::string& sha256) = 0;
  virtual Status PutBlobMd5(const std::string& sha256, const std::string& md5_base64) = 0;

  // --- Per-entity storage quotas (docs/operations.md) ---
  // The entity's limit in bytes; nullopt when it has none. The entity need
  // not exist (a quota may be set before its first save).
  virtual StatusOr<std::optional<std::uint64_t>> GetQuota(const std::string& entity) = 0;
  // Sets (a value) or removes (nullopt) the entity's limit. Idempotent.
  virtual Status SetQuota(const std::string& entity, std::optional<std::uint64_t> bytes) = 0;
  // Bytes the entity's versions refer to, each distinct blob counted once per
  // entity (a blob shared by two entities counts for both). 0 for an unknown
  // entity. One consistent snapshot.
  virtual StatusOr<std::uint64_t> EntityUsedBytes(const std::string& entity) = 0;
  // --- Retention policies (docs/adr/0022-operations.md) ---
  // Every policy of `entity` (its default and its projects'), or of every
  // entity when `entity` is empty, ordered by entity, project, pattern.
  virtual StatusOr<std::vector<RetentionPolicy>> ListRetentionPolicies(const std::string& entity) = 0;
  // Creates or replaces the policy of (entity, project, pattern). The entity
  // and project need not exist. The caller validates the rules.
  virtual Status SetRetentionPolicy(const RetentionPolicy& policy) = 0;
  // Removes the policy of (entity, project, pattern), or every policy of
  // (entity, project) when `pattern` is nullopt; returns how many went.
  virtual StatusOr<std::int64_t> ClearRetentionPolicies(const std::string& entity, const std::string& project,
                                                        const std::optional<std::string>& pattern) = 0;
  // Every version of every file of every run of the project, by run id, name
  // and version, in one consistent read. kNotFound naming the missing part.
  virtual StatusOr<std::vector<ProjectVersion>> ListProjectVersions(const std::string& entity,
                                                                    const std::string& project) = 0;
  // Deletes each listed version that still exists and is still not the
  // latest version of its file, in one transaction that serialises with
  // commits to the run; returns what it deleted (a version already gone, or
  // one that has become the latest, is skipped without error). So two
  // replicas pruning at once never both delete a row, and a racing save is
  // never lost. kNotFound naming the missing part when the run is gone.
  virtual StatusOr<std::vector<FileVersionRecord>> DeleteVersionsIfNotLatest(const RunKey& run,
                                                                             const std::vector<VersionRef>& versions) = 0;
};

}  // namespace cairn::internal
