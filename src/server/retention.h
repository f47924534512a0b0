// Retention (docs/operations.md; decision in docs/adr/0022-operations.md):
// which file versions a project's policies remove, removing them, and the
// background pass of `cairn server --retention-interval`. Free of Boost.
//
// Which policies apply: a project's own policies when it has any, else its
// entity's defaults (project ""). Of a file, the policy whose pattern matches
// its name applies; when several match, the longest pattern (then the
// bytewise first). A version is kept when any rule of that policy keeps it
// (among the newest keep_last, or younger than max_age); the latest version
// of every file is always kept. Removal goes through
// MetadataStore::DeleteVersionsIfNotLatest, so replicas applying at once never
// double-delete and a racing save is never lost.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "cairn/status.h"
#include "common/thread_annotations.h"
#include "server/metrics.h"
#include "store/metadata_store.h"

namespace cairn::internal {

// A version a pass removes (or, dry, would remove).
struct RetentionRemoval {
  std::string run_id;
  FileVersionRecord version;
  std::string pattern;  // of the policy that removes it
};

// kInvalidArgument naming the field when the policy cannot be stored: no
// rule, keep_last < 0, max_age_ms < 0, an empty or over-long pattern.
Status ValidateRetentionPolicy(const RetentionPolicy& policy);

// The policies that apply to `project` out of every policy of its entity
// (ListRetentionPolicies(entity)): its own, else the entity's defaults.
std::vector<RetentionPolicy> EffectivePolicies(const std::vector<RetentionPolicy>& of_entity,
                                               const std::string& project);

// Pure: what `policies` remove from `versions` (sorted by run id, name,
// version, as ListProjectVersions returns them) at `now_ms`.
std::vector<RetentionRemoval> PlanRetention(const std::vector<RetentionPolicy>& policies,
                                            const std::vector<ProjectVersion>& versions, long long now_ms);

struct RetentionPassOptions {
  bool dry_run = false;                 // plan only: nothing removed, nothing audited
  std::string_view trigger = "request";  // metrics label: "request" or "background"
  std::string actor;                    // audit log: who asked ("server" for the background pass)
  std::string key_id;                   // audit log
  metrics::ServerMetrics* metrics = nullptr;  // null: not counted
};

struct RetentionPassResult {
  std::vector<RetentionPolicy> policies;  // the policies applied (EffectivePolicies)
  std::vector<RetentionRemoval> removed;  // dry run: what would go
  std::uint64_t bytes = 0;                // sum of removed versions' sizes
};

// One pass over entity/project: plans at the current time, then (unless
// dry) deletes per run in one transaction each, audit-logs the pass when it
// removed something ("retention.apply", count and bytes) and counts it in
// metrics. A version removed meanwhile by someone else is skipped. kNotFound
// naming the entity or project when missing.
StatusOr<RetentionPassResult> ApplyRetention(MetadataStore& metadata, const std::string& entity,
                                             const std::string& project, const RetentionPassOptions& options);

// Runs ApplyRetention over every project that has a policy (its own or its
// entity's default) every `interval`, on its own thread, so request threads
// never wait for it. Stops on destruction (a pass in progress ends after the
// project it is on).
class RetentionScheduler {
 public:
  struct Options {
    std::chrono::milliseconds interval{0};  // <= 0: no thread, nothing runs
    MetadataStore* metadata = nullptr;      // must outlive the scheduler
    metrics::ServerMetrics* metrics = nullptr;
    std::function<void(const std::string&)> log;  // one line per pass that removed something, and per failure
  };
  explicit RetentionScheduler(Options options);
  ~RetentionScheduler();
  RetentionScheduler(const RetentionScheduler&) = delete;
  RetentionScheduler& operator=(const RetentionScheduler&) = delete;

  // One pass over every project with a policy, now, on the calling thread.
  void RunPass() CAIRN_EXCLUDES(mu_);

 private:
  void Loop() CAIRN_EXCLUDES(mu_);

  const Options options_;
  Mutex mu_;
  std::condition_variable cv_;
  bool stop_ CAIRN_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: starts after the members it uses
};

}  // namespace cairn::internal
