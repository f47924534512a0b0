#include "server/metrics.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <unordered_map>

namespace cairn::internal::metrics {

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(std::begin(buf), std::end(buf), v);
  return ec == std::errc() ? std::string(buf, end) : std::string("NaN");
}

std::string EscapeLabel(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                               0.1,    0.25,  0.5,    1,     2.5,  5,     10,   30, 60};
  return kBuckets;
}

std::string StatusClass(int status) {
  if (status < 100 || status > 599) return "other";
  return std::to_string(status / 100) + "xx";
}

Histogram::Histogram(const std::vector<double>& bounds)
    : bounds_(bounds), counts_(new std::atomic<std::uint64_t>[bounds.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

void Histogram::Snapshot(std::vector<std::uint64_t>* cumulative, double* sum) const {
  cumulative->assign(bounds_.size() + 1, 0);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    (*cumulative)[i] = total;
  }
  *sum = sum_.load(std::memory_order_relaxed);
}

Family::Family(std::string name, std::string help, Type type, std::vector<std::string> label_names,
               std::vector<double> bounds)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      bounds_(std::move(bounds)) {}

Family::Child& Family::Get(const std::vector<std::string>& values) {
  if (values.size() != label_names_.size()) std::abort();  // a bug in the caller
  MutexLock lock(mu_);
  auto [it, inserted] = children_.try_emplace(values);
  if (inserted) {
    switch (type_) {
      case Type::kCounter:
        it->second.counter = std::make_unique<metrics::Counter>();
        break;
      case Type::kGauge:
        it->second.gauge = std::make_unique<metrics::Gauge>();
        break;
      case Type::kHistogram:
        it->second.histogram = std::make_unique<metrics::Histogram>(bounds_);
        break;
    }
  }
  return it->second;
}

Counter& Family::CounterFor(const std::vector<std::string>& values) {
  Child& c = Get(values);
  if (!c.counter) std::abort();
  return *c.counter;
}
Gauge& Family::GaugeFor(const std::vector<std::string>& values) {
  Child& c = Get(values);
  if (!c.gauge) std::abort();
  return *c.gauge;
}
Histogram& Family::HistogramFor(const std::vector<std::string>& values) {
  Child& c = Get(values);
  if (!c.histogram) std::abort();
  return *c.histogram;
}

namespace {

// {a="x",b="y"} plus an optional extra label (le); "" when there is none.
std::string Labels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                   std::string_view extra_name = {}, std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty()) return "";
  std::string out = "{";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i] + "=\"" + EscapeLabel(values[i]) + "\"";
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += std::string(extra_name) + "=\"" + std::string(extra_value) + "\"";
  }
  return out + "}";
}

const char* TypeName(Type t) {
  switch (t) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

void Family::Render(std::string& out) const {
  out += "# HELP " + name_ + " " + help_ + "\n# TYPE " + name_ + " " + TypeName(type_) + "\n";
  MutexLock lock(mu_);
  for (const auto& [values, child] : children_) {
    if (child.counter) {
      out += name_ + Labels(label_names_, values) + " " + FormatValue(child.counter->value()) + "\n";
    } else if (child.gauge) {
      out += name_ + Labels(label_names_, values) + " " + FormatValue(child.gauge->value()) + "\n";
    } else if (child.histogram) {
      std::vector<std::uint64_t> cumulative;
      double sum = 0;
      child.histogram->Snapshot(&cumulative, &sum);
      for (std::size_t i = 0; i < cumulative.size(); ++i) {
        const std::string le = i < bounds_.size() ? FormatValue(bounds_[i]) : "+Inf";
        out += name_ + "_bucket" + Labels(label_names_, values, "le", le) + " " + std::to_string(cumulative[i]) +
               "\n";
      }
      out += name_ + "_sum" + Labels(label_names_, values) + " " + FormatValue(sum) + "\n";
      out += name_ + "_count" + Labels(label_names_, values) + " " + std::to_string(cumulative.back()) + "\n";
    }
  }
}

Family& Registry::Add(std::string name, std::string help, Type type, std::vector<std::string> label_names,
                      std::vector<double> bounds) {
  MutexLock lock(mu_);
  families_.push_back(std::make_unique<Family>(std::move(name), std::move(help), type, std::move(label_names),
                                               std::move(bounds)));
  return *families_.back();
}

void Registry::AddGaugeFunction(std::string name, std::string help, std::function<double()> read) {
  MutexLock lock(mu_);
  functions_.push_back({std::move(name), std::move(help), std::move(read)});
}

std::string Registry::Render() const {
  std::string out;
  MutexLock lock(mu_);
  for (const auto& f : families_) f->Render(out);
  for (const auto& g : functions_) {
    out += "# HELP " + g.name + " " + g.help + "\n# TYPE " + g.name + " gauge\n";
    out += g.name + " " + FormatValue(g.read()) + "\n";
  }
  return out;
}

ServerMetrics::ServerMetrics(Registry& r)
    : requests_(r.Add("cairn_http_requests_total", "HTTP requests answered, by route template, method and status class.",
                      Type::kCounter, {"route", "method", "code"})),
      duration_(r.Add("cairn_http_request_duration_seconds",
                      "Time from a request's first header byte to the end of its answer.", Type::kHistogram,
                      {"route", "method"}, LatencyBuckets())),
      received_(r.Add("cairn_http_received_bytes_total", "Request body bytes received, by route template.",
                      Type::kCounter, {"route"})),
      sent_(r.Add("cairn_http_sent_bytes_total", "Response body bytes sent, by route template.", Type::kCounter,
                  {"route"})),
      uploads_(r.Add("cairn_uploads_total",
                     "File uploads (whole, by reference, or completed in parts) by result: committed, "
                     "denied (403: no access or over quota), rejected (other 4xx, e.g. digest mismatch), failed "
                     "(5xx).",
                     Type::kCounter, {"result"})),
      restores_(r.Add("cairn_restores_total",
                      "File downloads (GET/HEAD of a file) by result: ok, redirected (presigned URL), "
                      "not_found, rejected (other 4xx), failed (5xx).",
                      Type::kCounter, {"result"})),
      store_duration_(r.Add("cairn_store_operation_duration_seconds",
                            "Metadata and blob store calls, by store and operation.", Type::kHistogram,
                            {"store", "operation"}, LatencyBuckets())),
      store_errors_(r.Add("cairn_store_errors_total",
                          "Store calls that failed, by store, operation and status code (not found is not an "
                          "error here).",
                          Type::kCounter, {"store", "operation", "code"})),
      quota_refusals_(r.Add("cairn_quota_refusals_total",
                            "Saves refused before any byte was stored because the entity is over its quota.",
                            Type::kCounter)),
      retention_passes_(r.Add("cairn_retention_passes_total",
                              "Retention passes over one project, by trigger (background, request) and result "
                              "(ok, failed).",
                              Type::kCounter, {"trigger", "result"})),
      retention_duration_(r.Add("cairn_retention_pass_duration_seconds",
                                "Time of a retention pass over one project (planning and deleting).",
                                Type::kHistogram, {"trigger"}, LatencyBuckets())),
      retention_versions_(r.Add("cairn_retention_removed_versions_total",
                                "File versions removed by retention passes (their blobs go with cairn gc).",
                                Type::kCounter)),
      retention_bytes_(r.Add("cairn_retention_removed_bytes_total",
                             "Bytes of the file versions removed by retention passes, as the versions record them "
                             "(a blob shared with a kept version frees nothing).",
                             Type::kCounter)) {}

void ServerMetrics::ObserveRetentionPass(std::string_view trigger, bool ok, double seconds, std::int64_t versions,
                                         std::uint64_t bytes) {
  const std::string t(trigger);
  retention_passes_.CounterFor({t, ok ? "ok" : "failed"}).Add();
  retention_duration_.HistogramFor({t}).Observe(seconds);
  retention_versions_.CounterFor({}).Add(static_cast<double>(versions));
  retention_bytes_.CounterFor({}).Add(static_cast<double>(bytes));
}

namespace {

bool IsUploadRoute(std::string_view method, std::string_view route) {
  if (method == "PUT" && route == "/api/v1/runs/{entity}/{project}/{run}/files/{path...}") return true;
  return method == "POST" && route == "/api/v1/uploads/{id}/complete";
}

bool IsRestoreRoute(std::string_view method, std::string_view route) {
  return (method == "GET" || method == "HEAD") && route == "/api/v1/runs/{entity}/{project}/{run}/files/{path...}";
}

std::string_view UploadResult(int status) {
  if (status >= 200 && status < 300) return "committed";
  if (status == 403) return "denied";  // no access, or over the entity's quota
  if (status >= 400 && status < 500) return "rejected";
  return "failed";
}

std::string_view RestoreResult(int status) {
  if (status == 200 || status == 206 || status == 304) return "ok";
  if (status == 307) return "redirected";
  if (status == 404) return "not_found";
  if (status >= 400 && status < 500) return "rejected";
  return "failed";
}

}  // namespace

namespace {

// The handles of one (route, method, status) or (store, operation), cached
// per thread so that the hot path takes no lock and builds no strings: the
// route, store and operation names are string literals with stable
// addresses; a method is one of a handful.
struct RequestHandles {
  Counter* requests = nullptr;
  Histogram* duration = nullptr;
  Counter* received = nullptr;
  Counter* sent = nullptr;
  Counter* result = nullptr;  // uploads or restores, when the route is one
};
struct HotKey {
  const void* owner;
  const void* a;
  const void* b;
  int c;
  bool operator==(const HotKey&) const = default;
};
struct HotKeyHash {
  std::size_t operator()(const HotKey& k) const {
    std::size_t h = std::hash<const void*>()(k.owner);
    h = h * 31 + std::hash<const void*>()(k.a);
    h = h * 31 + std::hash<const void*>()(k.b);
    return h * 31 + static_cast<std::size_t>(k.c);
  }
};

// A stable address for a method name (nullptr: not one of ours; the slow
// path then builds the label).
const void* MethodId(std::string_view method) {
  static constexpr std::string_view kMethods[] = {"GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"};
  for (const auto& m : kMethods) {
    if (m == method) return &m;
  }
  return nullptr;
}

}  // namespace

void ServerMetrics::ObserveRequest(const RequestSample& s) {
  thread_local std::unordered_map<HotKey, RequestHandles, HotKeyHash> cache;
  const void* method_id = MethodId(s.method);
  const HotKey key{this, s.route.data(), method_id, s.status};
  RequestHandles* h = nullptr;
  if (method_id != nullptr) {
    if (auto it = cache.find(key); it != cache.end()) h = &it->second;
  }
  RequestHandles fresh;
  if (h == nullptr) {
    const std::string route(s.route);
    const std::string method(s.method);
    fresh.requests = &requests_.CounterFor({route, method, StatusClass(s.status)});
    fresh.duration = &duration_.HistogramFor({route, method});
    fresh.received = &received_.CounterFor({route});
    fresh.sent = &sent_.CounterFor({route});
    if (IsUploadRoute(s.method, s.route)) {
      fresh.result = &uploads_.CounterFor({std::string(UploadResult(s.status))});
    } else if (IsRestoreRoute(s.method, s.route)) {
      fresh.result = &restores_.CounterFor({std::string(RestoreResult(s.status))});
    }
    // Only routes of the table (literals) are cached: "unmatched" too is a literal.
    if (method_id != nullptr && cache.size() < 4096) cache.emplace(key, fresh);
    h = &fresh;
  }
  h->requests->Add();
  h->duration->Observe(s.seconds);
  if (s.bytes_in > 0) h->received->Add(static_cast<double>(s.bytes_in));
  if (s.bytes_out > 0) h->sent->Add(static_cast<double>(s.bytes_out));
  if (h->result != nullptr) h->result->Add();
}

void ServerMetrics::ObserveStoreCall(std::string_view store, std::string_view operation, double seconds,
                                     const Status& status) {
  thread_local std::unordered_map<HotKey, Histogram*, HotKeyHash> cache;
  const HotKey key{this, store.data(), operation.data(), 0};
  Histogram* histogram = nullptr;
  if (auto it = cache.find(key); it != cache.end()) {
    histogram = it->second;
  } else {
    histogram = &store_duration_.HistogramFor({std::string(store), std::string(operation)});
    if (cache.size() < 4096) cache.emplace(key, histogram);
  }
  histogram->Observe(seconds);
  if (!status.ok() && status.code() != StatusCode::kNotFound) {
    store_errors_.CounterFor({std::string(store), std::string(operation), std::string(StatusCodeName(status.code()))})
        .Add();
  }
}

}  // namespace cairn::internal::metrics
