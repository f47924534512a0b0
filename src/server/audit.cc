#include "server/audit.h"

#include <cstdio>
#include <utility>
#include <vector>

#include "common/fs.h"
#include "server/router.h"

namespace cairn::internal {
namespace {

constexpr long long kFlushEveryMs = 1000;

std::string RunText(const RunKey& run) {
  if (run.project.empty()) return run.entity;
  return run.entity + "/" + run.project + "/" + run.run_id;
}

// A file download counts as one file when it starts at byte 0 (the ranged
// parts of one parallel download are one file).
bool StartsAtZero(const HttpRequest& req) { return req.range.empty() || req.range.starts_with("bytes=0-"); }

}  // namespace

AuditLog::~AuditLog() { Flush(); }

void AuditLog::Record(const Call& call, const HttpResponse& response) {
  if (call.route == nullptr || call.route->options.audit.empty()) return;
  if (response.status < 200 || response.status > 299) return;
  // A run PUT that resumes (every heartbeat does) is not news: only creation.
  if (call.route->options.audit == "run.create" && response.status != 201) return;
  AuditEvent e;
  e.time_ms = NowMs();
  e.actor = call.principal.Actor();
  e.key_id = call.principal.key_id;
  e.action = std::string(call.route->options.audit);
  e.entity = call.run.entity;
  e.target = !call.audit_target.empty() ? call.audit_target
             : call.name.empty()        ? RunText(call.run)
                                        : RunText(call.run) + ":" + call.name;
  e.address = call.request.peer;
  if (!call.route->options.audit_summary) return Append(e);
  e.target = RunText(call.run);
  e.count = StartsAtZero(call.request) ? 1 : 0;
  e.bytes = static_cast<std::int64_t>(response.head_only ? 0 : response.stream_length);
  Summarise(std::move(e));
}

void AuditLog::AuthFailure(const Call& call, const std::string& actor) {
  AuditEvent e;
  e.time_ms = NowMs();
  e.actor = actor;
  e.action = "auth.fail";
  e.target = actor.empty() ? "an API key" : actor;
  e.address = call.request.peer;
  Summarise(std::move(e));
}

void AuditLog::Summarise(AuditEvent e) {
  const long long minute = e.time_ms / 60'000;
  e.summary_key = e.action + "|" + e.actor + "|" + e.target + "|" + e.address + "|" + std::to_string(minute);
  bool flush = false;
  {
    MutexLock lock(mu_);
    auto [it, inserted] = pending_.try_emplace(e.summary_key, e);
    if (!inserted) {
      it->second.count += e.count;
      it->second.bytes += e.bytes;
    }
    flush = e.time_ms - last_flush_ms_ >= kFlushEveryMs;
  }
  if (flush) Flush();
}

void AuditLog::Flush() {
  std::map<std::string, AuditEvent> batch;
  {
    MutexLock lock(mu_);
    batch.swap(pending_);
    last_flush_ms_ = NowMs();
  }
  for (const auto& [key, event] : batch) Append(event);
}

void AuditLog::Append(const AuditEvent& event) {
  if (Status s = metadata_->AppendAudit(event); !s.ok()) {
    std::fprintf(stderr, "cairn server: could not write the audit log (%s %s): %s\n", event.action.c_str(),
                 event.target.c_str(), s.message().c_str());
  }
}

}  // namespace cairn::internal
