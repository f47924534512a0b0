// A small in-tree Prometheus registry (text exposition format 0.0.4) and the
// server's own metrics (private to src/server; free of Boost).
//
// Why in-tree: Debian's prometheus-cpp pulls an HTTP server we do not need
// (we serve /metrics from our router) and the subset used here — counters,
// gauges, fixed-bucket histograms, labels — is a couple of hundred lines
// (docs/adr/0022-operations.md).
//
// Thread-safety: every method is thread-safe. A metric handle returned by
// Family::With() stays valid as long as the Registry lives; hot paths may
// keep it. Label values are never entity, project, run or file names, nor
// keys: callers pass route templates, methods, status classes, results.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "common/thread_annotations.h"
#include "store/metered_store.h"

namespace cairn::internal::metrics {

class Counter {
 public:
  void Add(double by = 1) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double by) { value_.fetch_add(by, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

// Fixed upper bounds (ascending; +Inf is implicit).
class Histogram {
 public:
  explicit Histogram(const std::vector<double>& bounds);
  void Observe(double v);
  // Cumulative counts per bound then +Inf, the sum and the count.
  void Snapshot(std::vector<std::uint64_t>* cumulative, double* sum) const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // bounds_.size() + 1
  std::atomic<double> sum_{0};
};

enum class Type { kCounter, kGauge, kHistogram };

// One metric name with its label names; a child per distinct label values.
class Family {
 public:
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
         std::vector<double> bounds = {});
  // The child for these label values (as many as label names; created on
  // first use). Aborts on a wrong count: that is a bug, not input.
  metrics::Counter& CounterFor(const std::vector<std::string>& values);
  metrics::Gauge& GaugeFor(const std::vector<std::string>& values);
  metrics::Histogram& HistogramFor(const std::vector<std::string>& values);
  // Appends # HELP, # TYPE and one line per child (and bucket) to `out`.
  void Render(std::string& out) const;

 private:
  struct Child {
    std::unique_ptr<metrics::Counter> counter;
    std::unique_ptr<metrics::Gauge> gauge;
    std::unique_ptr<metrics::Histogram> histogram;
  };
  Child& Get(const std::vector<std::string>& values);

  const std::string name_, help_;
  const Type type_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;
  mutable Mutex mu_;
  std::map<std::vector<std::string>, Child> children_ CAIRN_GUARDED_BY(mu_);
};

class Registry {
 public:
  // Name rules: [a-zA-Z_:][a-zA-Z0-9_:]*, unique (a duplicate aborts).
  Family& Add(std::string name, std::string help, Type type, std::vector<std::string> label_names = {},
              std::vector<double> bounds = {});
  // A gauge read at scrape time (e.g. a queue's length).
  void AddGaugeFunction(std::string name, std::string help, std::function<double()> read);
  // The text exposition format, families in registration order.
  std::string Render() const;

 private:
  struct GaugeFunction {
    std::string name, help;
    std::function<double()> read;
  };
  mutable Mutex mu_;
  std::vector<std::unique_ptr<Family>> families_ CAIRN_GUARDED_BY(mu_);
  std::vector<GaugeFunction> functions_ CAIRN_GUARDED_BY(mu_);
};

// A number as Prometheus reads it ("+Inf", "NaN", shortest round-trip form).
std::string FormatValue(double v);
// A label value with \, " and newline escaped.
std::string EscapeLabel(std::string_view v);

// Latency buckets in seconds: 0.5 ms .. 60 s.
const std::vector<double>& LatencyBuckets();

// What one HTTP request contributes (connection.cc fills it).
struct RequestSample {
  // The route's pattern (never the path): a string with static storage
  // duration (a Route's literal, or "unmatched"): its address is a cache key.
  std::string_view route = "unmatched";
  std::string_view method;
  int status = 0;
  double seconds = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
};

// The server's metrics (docs/operations.md lists them), registered once.
// Also the observer of the metered stores (store/metered_store.h). The hot
// paths cache metric handles per thread, keyed by this object's address: at
// most one ServerMetrics per process at a time (one server per process).
class ServerMetrics : public StoreObserver {
 public:
  explicit ServerMetrics(Registry& registry);
  void ObserveRequest(const RequestSample& s);
  // `store` and `operation` are literals (their addresses are cache keys).
  void ObserveStoreCall(std::string_view store, std::string_view operation, double seconds,
                        const Status& status) override;
  // A save refused before any byte was stored (quota).
  void CountQuotaRefusal() { quota_refusals_.CounterFor({}).Add(); }
  // One retention pass over one project (server/retention.h). `trigger`:
  // "background" or "request"; ok false when it failed part-way (what it
  // removed before still counts).
  void ObserveRetentionPass(std::string_view trigger, bool ok, double seconds, std::int64_t versions,
                            std::uint64_t bytes);

 private:
  Family& requests_;
  Family& duration_;
  Family& received_;
  Family& sent_;
  Family& uploads_;
  Family& restores_;
  Family& store_duration_;
  Family& store_errors_;
  Family& quota_refusals_;
  Family& retention_passes_;
  Family& retention_duration_;
  Family& retention_versions_;
  Family& retention_bytes_;
};

// "2xx", "4xx", ...
std::string StatusClass(int status);

}  // namespace cairn::internal::metrics
