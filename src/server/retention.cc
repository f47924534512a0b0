#include "server/retention.h"

#include <fnmatch.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <utility>

#include "common/fs.h"

namespace cairn::internal {

namespace {

// Versions removed per transaction: bounds how long a pass holds a run's lock.
constexpr std::size_t kDeleteBatch = 256;
constexpr std::size_t kMaxPatternBytes = 1024;

// The policy that applies to `name`: the longest matching pattern, then the
// bytewise first (`policies` are sorted by pattern). Null when none matches.
const RetentionPolicy* PolicyFor(const std::vector<RetentionPolicy>& policies, const std::string& name) {
  const RetentionPolicy* best = nullptr;
  for (const RetentionPolicy& p : policies) {
    if (::fnmatch(p.pattern.c_str(), name.c_str(), 0) != 0) continue;
    if (best == nullptr || p.pattern.size() > best->pattern.size()) best = &p;
  }
  return best;
}

// The versions of one file, oldest first: versions[begin, end).
void PlanFile(const RetentionPolicy& p, const std::vector<ProjectVersion>& versions, std::size_t begin,
              std::size_t end, long long now_ms, std::vector<RetentionRemoval>& out) {
  const std::size_t n = end - begin;
  for (std::size_t i = begin; i + 1 < end; ++i) {  // never the last: the latest version
    const std::size_t from_newest = n - 1 - (i - begin);  // 0 is the latest
    const bool kept_by_count = p.keep_last > 0 && from_newest < static_cast<std::size_t>(p.keep_last);
    const bool kept_by_age = p.max_age_ms > 0 && now_ms - versions[i].version.created_ms < p.max_age_ms;
    if (!kept_by_count && !kept_by_age) out.push_back({versions[i].run_id, versions[i].version, p.pattern});
  }
}

void Audit(MetadataStore& metadata, const std::string& entity, const std::string& project,
           const RetentionPassOptions& options, const RetentionPassResult& result) {
  AuditEvent e{.time_ms = NowMs(),
               .actor = options.actor,
               .key_id = options.key_id,
               .action = "retention.apply",
               .entity = entity,
               .target = entity + "/" + project,
               .count = static_cast<std::int64_t>(result.removed.size()),
               .bytes = static_cast<std::int64_t>(result.bytes)};
  if (Status s = metadata.AppendAudit(e); !s.ok()) {
    std::fprintf(stderr, "cairn: audit log: retention pass over %s/%s not recorded: %s\n", entity.c_str(),
                 project.c_str(), s.ToString().c_str());
  }
}

// Deletes the planned versions, per run, in batches; fills result.removed
// with what was actually deleted.
Status DeletePlanned(MetadataStore& metadata, const std::string& entity, const std::string& project,
                     const std::vector<RetentionRemoval>& plan, RetentionPassResult& result) {
  std::map<std::string, std::vector<const RetentionRemoval*>> by_run;
  for (const RetentionRemoval& r : plan) by_run[r.run_id].push_back(&r);
  for (const auto& [run_id, removals] : by_run) {
    for (std::size_t at = 0; at < removals.size(); at += kDeleteBatch) {
      std::vector<VersionRef> refs;
      std::map<std::pair<std::string, std::int64_t>, std::string> pattern_of;
      for (std::size_t i = at; i < std::min(removals.size(), at + kDeleteBatch); ++i) {
        refs.push_back({removals[i]->version.name, removals[i]->version.version});
        pattern_of[{removals[i]->version.name, removals[i]->version.version}] = removals[i]->pattern;
      }
      StatusOr<std::vector<FileVersionRecord>> deleted =
          metadata.DeleteVersionsIfNotLatest(RunKey{entity, project, run_id}, refs);
      if (MissingRunPathPart(deleted.status()).has_value()) break;  // the run went meanwhile
      if (!deleted.ok()) return deleted.status();
      for (FileVersionRecord& v : *deleted) {
        result.bytes += v.size;
        std::string pattern = pattern_of[{v.name, v.version}];
        result.removed.push_back({run_id, std::move(v), std::move(pattern)});
      }
    }
  }
  return OkStatus();
}

}  // namespace

Status ValidateRetentionPolicy(const RetentionPolicy& p) {
  if (p.pattern.empty() || p.pattern.size() > kMaxPatternBytes) {
    return InvalidArgumentError("the pattern must be a glob of 1 to 1024 bytes, e.g. 'ckpt/*' (default '*')");
  }
  if (p.keep_last < 0) return InvalidArgumentError("keep_last must be 1 or more (the newest versions kept)");
  if (p.max_age_ms < 0) return InvalidArgumentError("the max age must be positive, e.g. 30d or 12h");
  if (p.keep_last == 0 && p.max_age_ms == 0) {
    return InvalidArgumentError("a policy needs a rule: keep_last (e.g. 3) and/or a max age (e.g. 30d)");
  }
  return OkStatus();
}

std::vector<RetentionPolicy> EffectivePolicies(const std::vector<RetentionPolicy>& of_entity,
                                               const std::string& project) {
  std::vector<RetentionPolicy> own, defaults;
  for (const RetentionPolicy& p : of_entity) {
    if (p.project == project) own.push_back(p);
    if (p.project.empty()) defaults.push_back(p);
  }
  return own.empty() ? defaults : own;
}

std::vector<RetentionRemoval> PlanRetention(const std::vector<RetentionPolicy>& policies,
                                            const std::vector<ProjectVersion>& versions, long long now_ms) {
  std::vector<RetentionRemoval> out;
  if (policies.empty()) return out;
  for (std::size_t begin = 0; begin < versions.size();) {
    std::size_t end = begin + 1;
    while (end < versions.size() && versions[end].run_id == versions[begin].run_id &&
           versions[end].version.name == versions[begin].version.name) {
      ++end;
    }
    if (const RetentionPolicy* p = PolicyFor(policies, versions[begin].version.name)) {
      PlanFile(*p, versions, begin, end, now_ms, out);
    }
    begin = end;
  }
  return out;
}

StatusOr<RetentionPassResult> ApplyRetention(MetadataStore& metadata, const std::string& entity,
                                             const std::string& project, const RetentionPassOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  RetentionPassResult result;
  Status status = [&]() -> Status {
    CAIRN_ASSIGN_OR_RETURN(std::vector<RetentionPolicy> of_entity, metadata.ListRetentionPolicies(entity));
    result.policies = EffectivePolicies(of_entity, project);
    CAIRN_ASSIGN_OR_RETURN(std::vector<ProjectVersion> versions, metadata.ListProjectVersions(entity, project));
    std::vector<RetentionRemoval> plan = PlanRetention(result.policies, versions, NowMs());
    if (options.dry_run) {
      for (const RetentionRemoval& r : plan) result.bytes += r.version.size;
      result.removed = std::move(plan);
      return OkStatus();
    }
    return DeletePlanned(metadata, entity, project, plan, result);
  }();
  if (!options.dry_run) {
    if (!result.removed.empty()) Audit(metadata, entity, project, options, result);
    if (options.metrics != nullptr) {
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      options.metrics->ObserveRetentionPass(options.trigger, status.ok(), seconds,
                                            static_cast<std::int64_t>(result.removed.size()), result.bytes);
    }
  }
  if (!status.ok()) return status;
  return result;
}

RetentionScheduler::RetentionScheduler(Options options) : options_(std::move(options)) {
  if (options_.interval.count() > 0 && options_.metadata != nullptr) thread_ = std::thread([this] { Loop(); });
}

RetentionScheduler::~RetentionScheduler() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RetentionScheduler::Loop() {
  MutexLock lock(mu_);
  for (;;) {
    if (cv_.wait_for(lock.unique(), options_.interval, [this]() CAIRN_REQUIRES(mu_) { return stop_; })) return;
    lock.Unlock();
    RunPass();
    lock.Lock();
  }
}

void RetentionScheduler::RunPass() {
  auto log = [this](const std::string& line) {
    if (options_.log) options_.log(line);
  };
  StatusOr<std::vector<RetentionPolicy>> all = options_.metadata->ListRetentionPolicies("");
  if (!all.ok()) return log("retention: cannot list the policies: " + all.status().ToString());
  std::set<std::pair<std::string, std::string>> projects;
  std::set<std::string> entities_with_default;
  for (const RetentionPolicy& p : *all) {
    if (!p.project.empty()) projects.insert({p.entity, p.project});
    if (p.project.empty()) entities_with_default.insert(p.entity);
  }
  for (const std::string& entity : entities_with_default) {
    StatusOr<std::vector<ProjectRecord>> of = options_.metadata->ListProjects(entity);
    if (!of.ok()) continue;  // an entity with a default but no saves yet
    for (const ProjectRecord& p : *of) projects.insert({entity, p.name});
  }
  for (const auto& [entity, project] : projects) {
    {
      MutexLock lock(mu_);
      if (stop_) return;
    }
    StatusOr<RetentionPassResult> r = ApplyRetention(
        *options_.metadata, entity, project,
        {.trigger = "background", .actor = "server", .metrics = options_.metrics});
    if (!r.ok()) {
      if (!MissingRunPathPart(r.status()).has_value()) log("retention: " + entity + "/" + project + ": " +
                                                           r.status().ToString());
      continue;
    }
    if (!r->removed.empty()) {
      log("retention: " + entity + "/" + project + ": removed " + std::to_string(r->removed.size()) +
          " versions (" + std::to_string(r->bytes) + " bytes; cairn gc reclaims them)");
    }
  }
}

}  // namespace cairn::internal
