// Decorators that time every call of a MetadataStore or BlobStore and report
// it to a StoreObserver (the server's metrics), without the backends or the
// handlers knowing (docs/adr/0022-operations.md). Header-only: each method is
// a forwarding line.
//
// What is measured: the call itself. A BlobWriter's Append/Commit and a
// BlobReader's Read are reported per call as "writer_append",
// "writer_commit" and "reader_read"; the optional capabilities
// (LocalFileAdopter, GroupedBlobWriting, LocalFileRange, BlobUrlSigner) keep
// working through the decorator: the adopter and groups are forwarded (or
// decline when the inner store has none), readers are handed out unwrapped so
// that sendfile(2) still applies.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/status.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace cairn::internal {

// Receives one sample per store call. Thread-safe (called from every thread).
class StoreObserver {
 public:
  virtual ~StoreObserver() = default;
  // `store` is "metadata" or "blob"; `operation` a snake_case method name.
  virtual void ObserveStoreCall(std::string_view store, std::string_view operation, double seconds,
                                const Status& status) = 0;
};

namespace metered_internal {

inline Status StatusOf(const Status& s) { return s; }
template <typename T>
Status StatusOf(const StatusOr<T>& s) {
  return s.status();
}

// Runs `fn`, reports its duration and Status, returns its result.
template <typename Fn>
auto Timed(StoreObserver* observer, std::string_view store, std::string_view op, Fn&& fn) {
  const auto start = std::chrono::steady_clock::now();
  auto result = fn();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  observer->ObserveStoreCall(store, op, took.count(), StatusOf(result));
  return result;
}

class MeteredBlobWriter final : public BlobWriter {
 public:
  MeteredBlobWriter(std::unique_ptr<BlobWriter> inner, StoreObserver* observer)
      : inner_(std::move(inner)), observer_(observer) {}
  Status Append(const void* data, std::size_t n) override {
    return Timed(observer_, "blob", "writer_append", [&] { return inner_->Append(data, n); });
  }
  Status Commit(const std::string& sha256, std::uint64_t size) override {
    return Timed(observer_, "blob", "writer_commit", [&] { return inner_->Commit(sha256, size); });
  }
  void Cancel() override { inner_->Cancel(); }
  std::uint64_t size() const override { return inner_->size(); }

 private:
  std::unique_ptr<BlobWriter> inner_;
  StoreObserver* observer_;
};

// A group of the inner store (GroupedBlobWriting), its writers and Sync() timed.
class MeteredBlobGroup final : public BlobGroup {
 public:
  MeteredBlobGroup(std::unique_ptr<BlobGroup> inner, StoreObserver* observer)
      : inner_(std::move(inner)), observer_(observer) {}
  StatusOr<std::unique_ptr<BlobWriter>> NewWriter() override {
    auto w = Timed(observer_, "blob", "new_writer", [&] { return inner_->NewWriter(); });
    if (!w.ok()) return w;
    return std::unique_ptr<BlobWriter>(std::make_unique<MeteredBlobWriter>(std::move(*w), observer_));
  }
  Status Sync() override { return Timed(observer_, "blob", "group_sync", [&] { return inner_->Sync(); }); }

 private:
  std::unique_ptr<BlobGroup> inner_;
  StoreObserver* observer_;
};

}  // namespace metered_internal

// `inner` and `observer` must outlive the decorator.
class MeteredBlobStore final : public BlobStore, public LocalFileAdopter, public GroupedBlobWriting {
 public:
  MeteredBlobStore(BlobStore* inner, StoreObserver* observer) : inner_(inner), observer_(observer) {}

  StatusOr<std::unique_ptr<BlobWriter>> NewWriter() override {
    auto w = metered_internal::Timed(observer_, "blob", "new_writer", [&] { return inner_->NewWriter(); });
    if (!w.ok()) return w;
    return std::unique_ptr<BlobWriter>(
        std::make_unique<metered_internal::MeteredBlobWriter>(std::move(*w), observer_));
  }
  StatusOr<std::optional<std::uint64_t>> Stat(const std::string& sha256) override {
    return metered_internal::Timed(observer_, "blob", "stat", [&] { return inner_->Stat(sha256); });
  }
  StatusOr<std::unique_ptr<BlobReader>> Open(const std::string& sha256, std::uint64_t offset,
                                             std::uint64_t length) override {
    return metered_internal::Timed(observer_, "blob", "open", [&] { return inner_->Open(sha256, offset, length); });
  }
  Status ListBlobs(const std::function<Status(const BlobInfo&)>& fn) override {
    return metered_internal::Timed(observer_, "blob", "list_blobs", [&] { return inner_->ListBlobs(fn); });
  }
  StatusOr<bool> RemoveBlob(const std::string& sha256, long long modified_before_ms) override {
    return metered_internal::Timed(observer_, "blob", "remove_blob", [&] { return inner_->RemoveBlob(sha256, modified_before_ms); });
  }
  // LocalFileAdopter: forwarded; kFailedPrecondition (the caller copies
  // through a writer) when the inner store cannot adopt files.
  Status Adopt(const std::filesystem::path& file, const std::string& sha256, std::uint64_t size) override {
    auto* adopter = dynamic_cast<LocalFileAdopter*>(inner_);
    if (adopter == nullptr) return FailedPreconditionError("this blob store cannot adopt local files");
    return metered_internal::Timed(observer_, "blob", "adopt", [&] { return adopter->Adopt(file, sha256, size); });
  }
  // GroupedBlobWriting: the inner store's group, metered; null (each blob
  // durable at its own Commit) when the inner store has no groups. Without
  // this a metered server lost the batch route's grouped durability.
  std::unique_ptr<BlobGroup> NewGroup() override {
    auto* grouped = dynamic_cast<GroupedBlobWriting*>(inner_);
    if (grouped == nullptr) return nullptr;
    std::unique_ptr<BlobGroup> group = grouped->NewGroup();
    if (group == nullptr) return nullptr;
    return std::make_unique<metered_internal::MeteredBlobGroup>(std::move(group), observer_);
  }

 private:
  BlobStore* inner_;
  StoreObserver* observer_;
};

// `inner` and `observer` must outlive the decorator.
class MeteredMetadataStore final : public MetadataStore {
 public:
  MeteredMetadataStore(MetadataStore* inner, StoreObserver* observer) : inner_(inner), observer_(observer) {}

 private:
  // Times one operation of the metadata store as `op`.
  template <typename F>
  auto T(const char* op, F&& f) {
    return metered_internal::Timed(observer_, "metadata", op, std::forward<F>(f));
  }

 public:

  StatusOr<RunRecord> CreateOrResumeRun(const RunKey& run, ResumeMode mode, bool* created) override {
    return metered_internal::Timed(observer_, "metadata", "create_or_resume_run", [&] { return inner_->CreateOrResumeRun(run, mode, created); });
  }
  StatusOr<RunRecord> GetRun(const RunKey& run) override {
    return metered_internal::Timed(observer_, "metadata", "get_run", [&] { return inner_->GetRun(run); });
  }
  StatusOr<Page<RunRecord>> ListRuns(const std::string& entity, const std::string& project, const std::string& cursor,
                                     int limit) override {
    return metered_internal::Timed(observer_, "metadata", "list_runs", [&] { return inner_->ListRuns(entity, project, cursor, limit); });
  }
  StatusOr<RunRecord> UpdateRun(const RunKey& run, const RunUpdate& update) override {
    return metered_internal::Timed(observer_, "metadata", "update_run", [&] { return inner_->UpdateRun(run, update); });
  }
  StatusOr<std::vector<ProjectRecord>> ListProjects(const std::string& entity) override {
    return metered_internal::Timed(observer_, "metadata", "list_projects", [&] { return inner_->ListProjects(entity); });
  }
  StatusOr<FileVersionRecord> CommitVersion(const RunKey& run, const std::string& name, const std::string& sha256,
                                            std::uint64_t size, const std::string& created_by = "") override {
    return metered_internal::Timed(observer_, "metadata", "commit_version",
                                   [&] { return inner_->CommitVersion(run, name, sha256, size, created_by); });
  }
  StatusOr<std::vector<FileVersionRecord>> CommitVersions(const RunKey& run,
                                                          const std::vector<NewVersion>& files) override {
    return T("commit_versions", [&] { return inner_->CommitVersions(run, files); });
  }
  StatusOr<std::optional<FileVersionRecord>> GetFile(const RunKey& run, const std::string& name,
                                                     std::optional<std::int64_t> version) override {
    return metered_internal::Timed(observer_, "metadata", "get_file", [&] { return inner_->GetFile(run, name, version); });
  }
  StatusOr<Page<FileVersionRecord>> ListFiles(const RunKey& run, const std::string& prefix, const std::string& cursor,
                                              int limit) override {
    return metered_internal::Timed(observer_, "metadata", "list_files", [&] { return inner_->ListFiles(run, prefix, cursor, limit); });
  }
  StatusOr<std::vector<FileVersionRecord>> ListVersions(const RunKey& run, const std::string& name) override {
    return metered_internal::Timed(observer_, "metadata", "list_versions", [&] { return inner_->ListVersions(run, name); });
  }
  StatusOr<std::optional<std::uint64_t>> FindEntityBlob(const std::string& entity,
                                                        const std::string& sha256) override {
    return metered_internal::Timed(observer_, "metadata", "find_entity_blob", [&] { return inner_->FindEntityBlob(entity, sha256); });
  }
  StatusOr<std::vector<BlobReference>> ListBlobReferences() override {
    return metered_internal::Timed(observer_, "metadata", "list_blob_references", [&] { return inner_->ListBlobReferences(); });
  }
  StatusOr<std::vector<FileVersionRecord>> DeleteFile(const RunKey& run, const std::string& name,
                                                      std::optional<std::int64_t> version) override {
    return metered_internal::Timed(observer_, "metadata", "delete_file",
                                   [&] { return inner_->DeleteFile(run, name, version); });
  }
  StatusOr<std::int64_t> DeleteRun(const RunKey& run) override {
    return metered_internal::Timed(observer_, "metadata", "delete_run", [&] { return inner_->DeleteRun(run); });
  }
  Status PutKey(const KeyRecord& key) override {
    return metered_internal::Timed(observer_, "metadata", "put_key", [&] { return inner_->PutKey(key); });
  }
  StatusOr<std::optional<KeyRecord>> FindKey(const std::string& key_hash) override {
    return metered_internal::Timed(observer_, "metadata", "find_key", [&] { return inner_->FindKey(key_hash); });
  }
  StatusOr<std::optional<std::string>> GetBlobMd5(const std::string& sha256) override {
    return metered_internal::Timed(observer_, "metadata", "get_blob_md5", [&] { return inner_->GetBlobMd5(sha256); });
  }
  Status PutBlobMd5(const std::string& sha256, const std::string& md5_base64) override {
    return metered_internal::Timed(observer_, "metadata", "put_blob_md5", [&] { return inner_->PutBlobMd5(sha256, md5_base64); });
  }
  StatusOr<std::optional<std::uint64_t>> GetQuota(const std::string& entity) override {
    return metered_internal::Timed(observer_, "metadata", "get_quota", [&] { return inner_->GetQuota(entity); });
  }
  Status SetQuota(const std::string& entity, std::optional<std::uint64_t> bytes) override {
    return metered_internal::Timed(observer_, "metadata", "set_quota", [&] { return inner_->SetQuota(entity, bytes); });
  }
  StatusOr<std::uint64_t> EntityUsedBytes(const std::string& entity) override {
    return metered_internal::Timed(observer_, "metadata", "entity_used_bytes",
                                   [&] { return inner_->EntityUsedBytes(entity); });
  }

  // Accounts (account_store.h).
  Status CreateUser(const UserRecord& user) override { return T("create_user", [&] { return inner_->CreateUser(user); }); }
  StatusOr<std::optional<UserRecord>> FindUser(const std::string& name) override {
    return T("find_user", [&] { return inner_->FindUser(name); });
  }
  StatusOr<std::vector<UserRecord>> ListUsers() override { return T("list_users", [&] { return inner_->ListUsers(); }); }
  Status CreateTeam(const std::string& name) override { return T("create_team", [&] { return inner_->CreateTeam(name); }); }
  StatusOr<std::vector<TeamRecord>> ListTeams() override { return T("list_teams", [&] { return inner_->ListTeams(); }); }
  StatusOr<bool> IsTeam(const std::string& name) override { return T("is_team", [&] { return inner_->IsTeam(name); }); }
  StatusOr<std::string> SetMember(const std::string& team, const std::string& user, const std::string& role) override {
    return T("set_member", [&] { return inner_->SetMember(team, user, role); });
  }
  StatusOr<bool> RemoveMember(const std::string& team, const std::string& user) override {
    return T("remove_member", [&] { return inner_->RemoveMember(team, user); });
  }
  StatusOr<std::vector<std::pair<std::string, std::string>>> RolesOf(const std::string& user) override {
    return T("roles_of", [&] { return inner_->RolesOf(user); });
  }
  Status CreateServiceAccount(const std::string& entity, const std::string& name, bool if_missing) override {
    return T("create_service_account", [&] { return inner_->CreateServiceAccount(entity, name, if_missing); });
  }
  StatusOr<bool> ServiceAccountExists(const std::string& entity, const std::string& name) override {
    return T("service_account_exists", [&] { return inner_->ServiceAccountExists(entity, name); });
  }
  StatusOr<std::optional<KeyRecord>> FindKeyById(const std::string& id) override {
    return T("find_key_by_id", [&] { return inner_->FindKeyById(id); });
  }
  StatusOr<std::vector<KeyRecord>> ListKeys() override { return T("list_keys", [&] { return inner_->ListKeys(); }); }
  StatusOr<bool> RevokeKey(const std::string& id, long long now_ms) override {
    return T("revoke_key", [&] { return inner_->RevokeKey(id, now_ms); });
  }
  Status TouchKey(const std::string& id, long long now_ms) override {
    return T("touch_key", [&] { return inner_->TouchKey(id, now_ms); });
  }
  Status SetRunCreator(const RunKey& run, const std::string& actor) override {
    return T("set_run_creator", [&] { return inner_->SetRunCreator(run, actor); });
  }
  StatusOr<std::string> GetRunCreator(const RunKey& run) override {
    return T("get_run_creator", [&] { return inner_->GetRunCreator(run); });
  }
  Status AppendAudit(const AuditEvent& event) override {
    return T("append_audit", [&] { return inner_->AppendAudit(event); });
  }
  StatusOr<std::vector<AuditEvent>> ListAudit(const std::string& entity, long long since_ms, int limit) override {
    return T("list_audit", [&] { return inner_->ListAudit(entity, since_ms, limit); });
  }
  // The web UI's reads and sessions.
  StatusOr<std::vector<std::string>> ListEntities() override {
    return T("list_entities", [&] { return inner_->ListEntities(); });
  }
  StatusOr<Page<RunSummary>> SummarizeRuns(const std::string& entity, const std::string& project,
                                           const std::string& id_contains, const std::string& cursor,
                                           int limit) override {
    return T("summarize_runs", [&] { return inner_->SummarizeRuns(entity, project, id_contains, cursor, limit); });
  }
  StatusOr<std::vector<FileSummary>> SummarizeFiles(const RunKey& run) override {
    return T("summarize_files", [&] { return inner_->SummarizeFiles(run); });
  }
  Status PutSession(const SessionRecord& session) override {
    return T("put_session", [&] { return inner_->PutSession(session); });
  }
  StatusOr<std::optional<SessionRecord>> FindSession(const std::string& token_hash, long long now_ms) override {
    return T("find_session", [&] { return inner_->FindSession(token_hash, now_ms); });
  }
  Status DeleteSession(const std::string& token_hash) override {
    return T("delete_session", [&] { return inner_->DeleteSession(token_hash); });
  }
  StatusOr<std::vector<SessionRecord>> DeleteExpiredSessions(long long now_ms) override {
    return T("delete_expired_sessions", [&] { return inner_->DeleteExpiredSessions(now_ms); });
  }
  // Retention policies.
  StatusOr<std::vector<RetentionPolicy>> ListRetentionPolicies(const std::string& entity) override {
    return T("list_retention_policies", [&] { return inner_->ListRetentionPolicies(entity); });
  }
  Status SetRetentionPolicy(const RetentionPolicy& policy) override {
    return T("set_retention_policy", [&] { return inner_->SetRetentionPolicy(policy); });
  }
  StatusOr<std::int64_t> ClearRetentionPolicies(const std::string& entity, const std::string& project,
                                                const std::optional<std::string>& pattern) override {
    return T("clear_retention_policies", [&] { return inner_->ClearRetentionPolicies(entity, project, pattern); });
  }
  StatusOr<std::vector<ProjectVersion>> ListProjectVersions(const std::string& entity,
                                                            const std::string& project) override {
    return T("list_project_versions", [&] { return inner_->ListProjectVersions(entity, project); });
  }
  StatusOr<std::vector<FileVersionRecord>> DeleteVersionsIfNotLatest(const RunKey& run,
                                                                     const std::vector<VersionRef>& versions) override {
    return T("delete_versions_if_not_latest", [&] { return inner_->DeleteVersionsIfNotLatest(run, versions); });
  }

 private:
  MetadataStore* inner_;
  StoreObserver* observer_;
};

}  // namespace cairn::internal
