// Session::SaveFiles (session.h): many files on several connections, small
// ones in batches (Client::UploadBatch, docs/adr/0020-batch-saves.md), large
// ones alone (Client::Upload: by reference or in parts).
#include <algorithm>
#include <atomic>
#include <thread>

#include "cairn/session.h"
#include "sdk/internal/client.h"
#include "sdk/internal/session_impl.h"

namespace cairn {
namespace {

// What one request saves: a large file alone, or up to kBatchFiles
// consecutive small files in one request with one metadata commit.
struct Unit {
  std::size_t first = 0;
  std::size_t count = 1;
  bool batch = false;
};
constexpr std::uint64_t kBatchMaxFileBytes = 1 << 20;
constexpr std::size_t kBatchFiles = 256;
constexpr std::uint64_t kBatchBytes = 16 << 20;

std::vector<Unit> Units(const std::vector<SaveItem>& items) {
  std::vector<Unit> units;
  std::uint64_t batch_bytes = 0;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].size > kBatchMaxFileBytes) {
      units.push_back({i, 1, false});
      continue;
    }
    Unit* last = units.empty() ? nullptr : &units.back();
    if (last != nullptr && last->batch && last->first + last->count == i && last->count < kBatchFiles &&
        batch_bytes + items[i].size <= kBatchBytes) {
      ++last->count;
      batch_bytes += items[i].size;
    } else {
      units.push_back({i, 1, true});
      batch_bytes = items[i].size;
    }
  }
  // A file alone keeps Upload's commit by reference.
  for (Unit& u : units) u.batch = u.batch && u.count > 1;
  return units;
}

// Requests at once: given, else CAIRN_PARALLEL_FILES (tunables), else 8.
int ParallelFiles(int given, int from_env) {
  if (given > 0) return std::min(given, 64);
  return from_env > 0 ? std::min(from_env, 64) : 8;
}

using Results = std::vector<std::optional<StatusOr<FileInfo>>>;

// Saves one unit into `results`; false when it failed.
bool SaveUnit(internal::Client& client, const RunPath& run, const std::vector<SaveItem>& items, const Unit& unit,
              const ProgressCallback& progress, Results& results) {
  if (unit.batch) {
    std::vector<internal::Client::BatchItem> batch;
    for (std::size_t i = unit.first; i < unit.first + unit.count; ++i) batch.push_back({items[i].name, items[i].local});
    StatusOr<std::vector<FileInfo>> saved = client.UploadBatch(run, batch);
    for (std::size_t k = 0; k < unit.count; ++k) {
      const std::size_t i = unit.first + k;
      if (saved.ok() && progress) progress({items[i].name, (*saved)[k].size, (*saved)[k].size});
      results[i] = saved.ok() ? StatusOr<FileInfo>((*saved)[k]) : StatusOr<FileInfo>(saved.status());
    }
    return saved.ok();
  }
  const SaveItem& item = items[unit.first];
  internal::ProgressFn on_bytes;
  if (progress) {
    on_bytes = [&progress, &item](std::uint64_t done, std::uint64_t total) { progress({item.name, done, total}); };
  }
  StatusOr<FileInfo> saved = client.Upload(run, item.name, item.local, on_bytes);
  const bool ok = saved.ok();
  if (ok && progress) progress({item.name, saved->size, saved->size});
  results[unit.first] = std::move(saved);
  return ok;
}

}  // namespace

Results Session::SaveFiles(const RunPath& run, const std::vector<SaveItem>& items,
                           const SaveFilesOptions& options) const {
  internal::Client& client = *impl_->client;
  const std::vector<Unit> units = Units(items);
  Results results(items.size());  // nullopt: not attempted
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  const auto worker = [&] {
    for (std::size_t u; !failed.load() && (u = next++) < units.size();) {
      // After a failure the others in flight finish; no new one starts.
      if (!SaveUnit(client, run, items, units[u], options.progress, results)) failed = true;
    }
  };
  std::vector<std::thread> threads;
  const int n = std::min<int>(ParallelFiles(options.parallel_files, client.tunables().parallel_files),
                              static_cast<int>(units.size()));
  for (int t = 1; t < n; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  return results;
}

}  // namespace cairn
