// What the operations routes (/metrics, /healthz, /readyz, quotas) work
// with: the metrics registry, the readiness probe of the stores, and their
// options (private to src/server; free of Boost). docs/operations.md is the
// operator's view; docs/adr/0022-operations.md the decisions.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "cairn/status.h"
#include "common/thread_annotations.h"
#include "server/metrics.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace cairn::internal {

struct OpsOptions {
  // GET /metrics needs the admin key (default false: open, for a scraper on
  // a private network; the metrics carry no names and no keys).
  bool metrics_key_required = false;
  // /readyz: each store must answer a probe within this (default 2 s).
  std::chrono::milliseconds ready_deadline{2000};
  // cairn_storage_used_bytes is recomputed at most this often (default 60 s:
  // it reads every blob reference).
  std::chrono::seconds storage_refresh{60};
};

// Owned by the server; outlives the Api and every request. Thread-safe.
class Ops {
 public:
  // `metadata` and `blobs` are the stores as the handlers see them; they must
  // outlive the Ops. Registers the server's metrics and cairn_build_info.
  Ops(OpsOptions options, MetadataStore* metadata, BlobStore* blobs);
  // Waits for probes still running (bounded by the stores' own timeouts).
  ~Ops();
  Ops(const Ops&) = delete;
  Ops& operator=(const Ops&) = delete;

  const OpsOptions& options() const { return options_; }
  metrics::Registry& registry() { return registry_; }
  metrics::ServerMetrics& metrics() { return metrics_; }

  // Whether the metadata store and then the blob store each answered a
  // cheap read within options().ready_deadline. A probe that overran keeps
  // running in the background; until it ends, its part reports not ready at
  // once (no pile-up of stuck probes).
  struct Readiness {
    std::string failing;  // "" when ready; else "metadata store" or "blob store"
    std::string message;  // for the client: the part and "failed" / "did not answer within N ms"
    std::string detail;   // for the server's log only (a store error may name hosts or paths)
  };
  Readiness CheckReady();

 private:
  struct Probe;  // one per store
  Readiness RunProbe(Probe& probe);
  void RefreshStorage();

  const OpsOptions options_;
  MetadataStore* metadata_;
  BlobStore* blobs_;
  metrics::Registry registry_;
  metrics::ServerMetrics metrics_;
  std::unique_ptr<Probe> metadata_probe_;
  std::unique_ptr<Probe> blob_probe_;

  Mutex storage_mu_;
  std::chrono::steady_clock::time_point storage_at_ CAIRN_GUARDED_BY(storage_mu_);
  bool storage_known_ CAIRN_GUARDED_BY(storage_mu_) = false;
  double storage_bytes_ CAIRN_GUARDED_BY(storage_mu_) = 0;
  double storage_blobs_ CAIRN_GUARDED_BY(storage_mu_) = 0;
};

}  // namespace cairn::internal
