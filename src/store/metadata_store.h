// MetadataStore: runs, file versions and API keys. The embedded default is
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
};

// One file of MetadataStore::CommitVersions: a blob that is already durable.
struct NewVersion {
  std::string name;
  std::string sha256;
  std::uint64_t size = 0;
};

struct KeyRecord {
  std::string key_hash;  // lowercase hex SHA-256 of the key
  std::string entity;    // the one entity the key may touch; empty for admin keys
  bool admin = false;
  bool read_only = false;
  long long created_ms = 0;
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

template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_cursor;  // empty: no more pages
};

class MetadataStore {
 public:
  virtual ~MetadataStore() = default;

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
  virtual StatusOr<FileVersionRecord> CommitVersion(const RunKey& run, const std::string& name,
                                                    const std::string& sha256, std::uint64_t size) = 0;

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

  // API keys, stored by hash only.
  virtual Status PutKey(const KeyRecord& key) = 0;
  virtual StatusOr<std::optional<KeyRecord>> FindKey(const std::string& key_hash) = 0;

  // The base64 MD5 of blob `sha256` (for W&B clients), when recorded; nullopt
  // otherwise. Recording is idempotent: the first value stays (every caller
  // computes the same digest from the same bytes).
  virtual StatusOr<std::optional<std::string>> GetBlobMd5(const std::string& sha256) = 0;
  virtual Status PutBlobMd5(const std::string& sha256, const std::string& md5_base64) = 0;
};

}  // namespace cairn::internal
