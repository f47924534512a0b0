#include "server/ops.h"

#include <condition_variable>
#include <future>
#include <thread>
#include <utility>

#ifndef CAIRN_VERSION
#define CAIRN_VERSION "unknown"
#endif

namespace cairn::internal {

namespace {
// A digest no blob has: the probes read "nothing" cheaply.
const std::string kProbeDigest(64, '0');
}  // namespace

// One store's probe: at most one call in flight.
struct Ops::Probe {
  std::string part;                 // "metadata store", "blob store"
  std::function<Status()> call;     // a cheap read
  Mutex mu;
  std::condition_variable done_cv;  // signalled when `running` drops
  bool running CAIRN_GUARDED_BY(mu) = false;
};

Ops::Ops(OpsOptions options, MetadataStore* metadata, BlobStore* blobs)
    : options_(options),
      metadata_(metadata),
      blobs_(blobs),
      metrics_(registry_),
      metadata_probe_(std::make_unique<Probe>()),
      blob_probe_(std::make_unique<Probe>()) {
  metadata_probe_->part = "metadata store";
  metadata_probe_->call = [this] { return metadata_->GetBlobMd5(kProbeDigest).status(); };
  blob_probe_->part = "blob store";
  blob_probe_->call = [this] { return blobs_->Stat(kProbeDigest).status(); };

  registry_.Add("cairn_build_info", "The running cairn's version (always 1).", metrics::Type::kGauge, {"version"})
      .GaugeFor({CAIRN_VERSION})
      .Set(1);
  const double started =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  registry_.Add("cairn_process_start_time_seconds", "When the server started (unix seconds).", metrics::Type::kGauge)
      .GaugeFor({})
      .Set(started);
  registry_.AddGaugeFunction("cairn_storage_used_bytes",
                             "Bytes of the distinct blobs that file versions refer to (refreshed at most every "
                             "storage_refresh; orphans awaiting gc are not counted).",
                             [this] {
                               RefreshStorage();
                               MutexLock lock(storage_mu_);
                               return storage_bytes_;
                             });
  registry_.AddGaugeFunction("cairn_storage_blobs", "Distinct blobs that file versions refer to.", [this] {
    RefreshStorage();
    MutexLock lock(storage_mu_);
    return storage_blobs_;
  });
}

Ops::~Ops() {
  for (Probe* p : {metadata_probe_.get(), blob_probe_.get()}) {
    MutexLock lock(p->mu);
    p->done_cv.wait(lock.unique(), [p]() CAIRN_REQUIRES(p->mu) { return !p->running; });
  }
}

void Ops::RefreshStorage() {
  {
    MutexLock lock(storage_mu_);
    if (storage_known_ && std::chrono::steady_clock::now() - storage_at_ < options_.storage_refresh) return;
  }
  StatusOr<std::vector<BlobReference>> refs = metadata_->ListBlobReferences();
  MutexLock lock(storage_mu_);
  storage_at_ = std::chrono::steady_clock::now();
  if (!refs.ok()) return;  // keep the last value; the store error is counted by the metered store
  double bytes = 0;
  for (const BlobReference& r : *refs) bytes += static_cast<double>(r.size);
  storage_bytes_ = bytes;
  storage_blobs_ = static_cast<double>(refs->size());
  storage_known_ = true;
}

Ops::Readiness Ops::RunProbe(Probe& probe) {
  const auto too_slow = [&](std::string detail) {
    return Readiness{.failing = probe.part,
                     .message = probe.part + " did not answer within " +
                                std::to_string(options_.ready_deadline.count()) + " ms",
                     .detail = std::move(detail)};
  };
  {
    MutexLock lock(probe.mu);
    if (probe.running) return too_slow("the previous probe is still waiting");
    probe.running = true;
  }
  auto result = std::make_shared<std::promise<Status>>();
  std::future<Status> answer = result->get_future();
  std::thread([&probe, result] {
    Status st = probe.call();
    result->set_value(std::move(st));
    MutexLock lock(probe.mu);
    probe.running = false;
    probe.done_cv.notify_all();
  }).detach();
  if (answer.wait_for(options_.ready_deadline) != std::future_status::ready) return too_slow("probe timed out");
  Status st = answer.get();
  if (!st.ok()) return Readiness{.failing = probe.part, .message = probe.part + " failed", .detail = st.ToString()};
  return {};
}

Ops::Readiness Ops::CheckReady() {
  Readiness r = RunProbe(*metadata_probe_);
  if (!r.failing.empty()) return r;
  return RunProbe(*blob_probe_);
}

}  // namespace cairn::internal
