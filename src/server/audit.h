// The audit log's writer (docs/adr/0021-accounts-and-deletion.md): a step of
// the router, after a route's handler answered (router.h), and the failed
// authentications. Private to src/server; free of Boost.
//
// What a route records is its RouteOptions::audit action; a route marked
// audit_summary (downloads) adds to one row per (actor, action, target,
// minute) instead of a row per request. Summaries are kept in memory and
// written at most once a second (and by Flush(), and on destruction), so a
// burst of reads costs a few writes, not one per read. Everything else is
// written before the answer is sent. Thread-safe.
#pragma once

#include <map>
#include <string>

#include "common/thread_annotations.h"
#include "server/http.h"
#include "store/metadata_store.h"

namespace cairn::internal {

struct Call;

class AuditLog {
 public:
  // `metadata` must outlive the AuditLog.
  explicit AuditLog(MetadataStore* metadata) : metadata_(metadata) {}
  ~AuditLog();  // flushes
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Records `call` when its route has an audit action and `response` is a
  // success (2xx). A store failure is reported on stderr, never to the client.
  void Record(const Call& call, const HttpResponse& response);
  // A key or password that was refused (summarised per address and minute).
  // `actor`: who it claimed to be ("user:NAME"), "" for a key.
  void AuthFailure(const Call& call, const std::string& actor);
  // Writes the pending summaries now.
  void Flush();

 private:
  void Append(const AuditEvent& event);
  void Summarise(AuditEvent event);

  MetadataStore* metadata_;
  Mutex mu_;
  std::map<std::string, AuditEvent> pending_ CAIRN_GUARDED_BY(mu_);  // by summary_key
  long long last_flush_ms_ CAIRN_GUARDED_BY(mu_) = 0;
};

}  // namespace cairn::internal
