// The download engine: see downloader.h for the outline and
// docs/adr/0007-partial-files-and-content-cache.md for the formats.
#include "sdk/internal/downloader.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "common/fs.h"
#include "common/sha256.h"
#include "sdk/internal/client.h"
#include "sdk/internal/client_impl.h"
#include "sdk/internal/content_cache.h"
#include "sdk/internal/env.h"
#include "sdk/internal/connection.h"

namespace cairn::internal {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::uint64_t kMiB = 1 << 20;
constexpr int kSidecarFormat = 1;
// Reads of the partial while hashing its contiguous prefix.
constexpr std::size_t kHashChunkBytes = 1 << 20;
// The front ring: slots of bytes between the receiving thread and the
// hashing and writing threads (8 MiB at most per download, allocated as used).
constexpr std::size_t kSlotBytes = 1 << 20;
constexpr std::uint64_t kRingSlots = 8;
// The writer's pwrite size. The page cache sizes a file's folios by the
// write: 1 MiB and 256 KiB writes made large folios, taken from big free
// blocks, which the reference VM hands back to its host as soon as they are
// free (free page reporting) and must fault in again -- the copy then cost
// 2-3x the CPU. 64 KiB writes: 1.0 s per GiB every time (256 KiB: 1.4-3.2 s).
constexpr std::size_t kWriteBytes = 64 << 10;
// Writeback of the verified prefix is started every this many bytes.
constexpr std::uint64_t kWritebackChunkBytes = 8 << 20;
constexpr auto kWritebackPoll = std::chrono::milliseconds(5);
// How often the sidecar records progress (bytes since the last record are
// fetched again after a kill) and how often progress is reported.
constexpr auto kSidecarEvery = std::chrono::milliseconds(250);
constexpr auto kProgressEvery = std::chrono::milliseconds(100);

fs::path ParentOf(const fs::path& target) { return target.parent_path().empty() ? fs::path(".") : target.parent_path(); }

// [begin, end) byte ranges of the file.
struct Range {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

// What `.<name>.cairn-partial.json` says about the partial beside it: which
// file it is (sha256 + size; version for people) and which ranges hold
// received bytes.
struct Sidecar {
  std::string sha256;
  std::uint64_t size = 0;
  std::int64_t version = 0;
  std::vector<Range> done;
};

std::optional<Sidecar> ReadSidecar(const fs::path& path) {
  StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  try {
    if (j.at("format").get<int>() != kSidecarFormat) return std::nullopt;
    Sidecar s{.sha256 = j.at("sha256").get<std::string>(),
              .size = j.at("size").get<std::uint64_t>(),
              .version = j.at("version").get<std::int64_t>()};
    for (const auto& r : j.at("done")) {
      Range range{r.at(0).get<std::uint64_t>(), r.at(1).get<std::uint64_t>()};
      if (range.begin >= range.end || range.end > s.size) return std::nullopt;
      s.done.push_back(range);
    }
    std::sort(s.done.begin(), s.done.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
    for (std::size_t i = 1; i < s.done.size(); ++i) {
      if (s.done[i].begin < s.done[i - 1].end) return std::nullopt;  // overlapping: not ours
    }
    return s;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

// Replaces the sidecar by rename, without fsync: a killed process leaves the
// page cache behind, so the partial's bytes and the sidecar agree; after a
// power loss they may not, and the whole-file digest check catches it.
void WriteSidecar(const fs::path& path, const Sidecar& s) {
  nlohmann::json done = nlohmann::json::array();
  for (const Range& r : s.done) done.push_back({r.begin, r.end});
  const std::string text =
      nlohmann::json{{"format", kSidecarFormat}, {"sha256", s.sha256}, {"size", s.size}, {"version", s.version},
                     {"done", done}}
          .dump();
  const fs::path tmp = fs::path(path).concat(".tmp-" + RandomSuffix());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return;  // progress is not recorded; the download itself goes on
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) ::unlink(tmp.c_str());
}

// One ranged part being fetched: `received` bytes from `begin` have arrived
// (only its fetching thread touches it), `written` of them are on disk.
struct Part {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint64_t received = 0;
  std::atomic<std::uint64_t> written{0};
};

// Writes all of [data, data + n) at `offset`.
Status PwriteAll(int fd, const char* data, std::size_t n, std::uint64_t offset, const fs::path& path) {
  for (std::size_t off = 0; off < n;) {
    const ssize_t w = ::pwrite(fd, data + off, n - off, static_cast<off_t>(offset + off));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return ErrnoStatus(errno, "write", path);
    off += static_cast<std::size_t>(w);
  }
  return OkStatus();
}

// "bytes START-END/TOTAL" -> START.
std::optional<std::uint64_t> ContentRangeStart(const std::string& value) {
  unsigned long long start = 0, end = 0;
  if (std::sscanf(value.c_str(), "bytes %llu-%llu", &start, &end) != 2) return std::nullopt;
  return start;
}

// Holds one connection to `rate` bytes per second on average (0: no limit)
// by sleeping in its write callback; TCP flow control then slows the sender.
// libcurl's own limit (CURLOPT_MAX_RECV_SPEED_LARGE) is per request and
// lets short ranged requests through at full speed.
class Throttle {
 public:
  explicit Throttle(std::uint64_t rate) : rate_(rate) {}
  void Received(std::size_t n) {
    if (rate_ == 0) return;
    bytes_ += n;
    const auto due = start_ + std::chrono::duration_cast<Clock::duration>(
                                  std::chrono::duration<double>(static_cast<double>(bytes_) / static_cast<double>(rate_)));
    std::this_thread::sleep_until(due);
  }

 private:
  const std::uint64_t rate_;
  const Clock::time_point start_ = Clock::now();
  std::uint64_t bytes_ = 0;
};

// One download of one file into its partial: the shared state of the part
// workers and of the hashing (calling) thread.
class PartialDownload {
 public:
  PartialDownload(Connection& connection, const RunPath& run, const FileInfo& file, const fs::path& target,
                  const TransferOptions& transfer)
      : connection_(connection),
        file_(file),
        transfer_(transfer),
        partial_(PartialPath(target)),
        sidecar_(SidecarPath(target)),
        url_target_(FileTarget(run, file.name) + "?version=" + std::to_string(file.version)),
        what_("file " + file.name + " (version " + std::to_string(file.version) + ") of run " + run.ToString()) {}
  ~PartialDownload() {
    if (fd_ >= 0) ::close(fd_);
  }

  // Fetches what the partial lacks and hashes it all. OK: the partial holds
  // exactly the file and *digest is its SHA-256. On error the partial and
  // sidecar record what arrived (unless *discard, then the caller removes
  // them). `fresh`: ignore any existing partial.
  // `single`: one plain GET from zero, no ranges.
  Status Run(bool fresh, bool single, std::string* digest, bool* resumed, bool* discard);

  const fs::path& partial() const { return partial_; }
  // The server answered a ranged request with the whole file (If-Range did
  // not match, e.g. an object store's own ETag): only a plain GET will do.
  bool must_restart() {
    std::lock_guard<std::mutex> lock(mu_);
    return must_restart_;
  }
  int fd() const { return fd_; }

 private:
  Status FetchPart(Part& part, bool whole, Throttle& throttle);
  void Worker(bool whole);
  // The front ring. The part whose bytes reach the hashing front while
  // nothing else is in the ring sends the rest of its bytes through it: the
  // receiving thread only copies them into a slot, Run() hashes the slots in
  // order and WriteRing() writes them, so receiving, hashing and writing run
  // on three threads and no byte is read back. Other parts write their bytes
  // themselves and Run() reads them back when the front reaches them.
  // ToRing: false when `part` cannot use the ring now (the caller writes the
  // bytes); true when they were taken (or stop_ is set). May wait for a slot.
  bool ToRing(Part& part, std::uint64_t at, const char* data, std::size_t n);
  void FlushRing(const Part& part);  // hands over a partly filled slot
  void PublishSlot();                // caller holds mu_
  void WriteRing();                  // the writer thread
  std::uint64_t RingBacklog() const { return filled_ - std::min(hashed_slots_, written_slots_); }  // holds mu_
  // Bytes [0, n) are all on disk. Caller holds mu_.
  std::uint64_t ContiguousPrefix() const;
  Sidecar Snapshot() const;  // caller holds mu_
  std::uint64_t BytesOnDisk() const;
  // Until `done`: starts writeback of the hashed prefix every
  // kWritebackChunkBytes, so that the one fsync before the rename has little
  // left to wait for. Its own thread: sync_file_range blocks while the disk
  // is congested, and hashing must not wait for the disk.
  void StartWriteback(const std::atomic<bool>& done);
  void Report(std::uint64_t done) const {
    if (transfer_.progress) transfer_.progress({file_.name, done, file_.size});
  }

  Connection& connection_;
  const FileInfo& file_;
  const TransferOptions& transfer_;
  const fs::path partial_, sidecar_;
  const std::string url_target_, what_;
  int fd_ = -1;

  std::vector<Range> prior_;   // ranges the partial held when we started
  bool resumed_ = false;       // prior_ is not empty
  std::vector<Part> parts_;    // what we fetch now: the complement of prior_
  std::mutex mu_;
  std::condition_variable cv_;
  std::size_t next_part_ = 0;  // guarded by mu_
  int active_workers_ = 0;     // guarded by mu_
  Status error_;               // the first worker error; guarded by mu_
  bool must_restart_ = false;  // the server would not serve ranges of these bytes; guarded by mu_
  std::atomic<bool> stop_{false};
  // The SHA-256 of bytes [0, hashed_), computed by Run() alone: from ring
  // slots, else by reading the partial back.
  Sha256 hasher_;
  std::atomic<std::uint64_t> hashed_{0};

  // The front ring (see ToRing); all guarded by mu_. Slot i holds bytes
  // [offset, offset + size); slots [hashed_slots_, filled_) wait for Run(),
  // [written_slots_, filled_) for the writer; a slot is reused when both are
  // done with it. The one filling (index filled_) holds fill_ bytes so far.
  struct Slot {
    std::unique_ptr<char[]> data;
    std::uint64_t offset = 0;
    std::size_t size = 0;
    Part* part = nullptr;
  };
  std::vector<Slot> slots_ = std::vector<Slot>(kRingSlots);
  std::uint64_t filled_ = 0, hashed_slots_ = 0, written_slots_ = 0;
  std::size_t fill_ = 0;
  Part* ring_part_ = nullptr;  // the part sending its bytes through the ring
  std::uint64_t ring_end_ = 0;   // the offset after the last byte it put there
  std::condition_variable space_cv_;  // a slot came free, or stop_
  std::condition_variable write_cv_;  // a slot to write, or writer_exit_
  bool writer_exit_ = false;
};

Status PartialDownload::Run(bool fresh, bool single, std::string* digest, bool* resumed, bool* discard) {
  *resumed = false;
  *discard = false;
  std::optional<Sidecar> side = fresh ? std::nullopt : ReadSidecar(sidecar_);
  // Only a partial of these very bytes (same SHA-256 and size) is continued;
  // any other is discarded, never spliced.
  const bool keep = side && side->sha256 == file_.sha256 && side->size == file_.size && !side->done.empty();
  fd_ = ::open(partial_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | (keep ? 0 : O_TRUNC), 0644);
  if (fd_ < 0) return ErrnoStatus(errno, "create", partial_);
  struct stat sb {};
  if (keep && ::fstat(fd_, &sb) == 0) {
    for (const Range& r : side->done) {
      if (r.end <= static_cast<std::uint64_t>(sb.st_size)) prior_.push_back(r);  // bytes really there
    }
  }
  *resumed = resumed_ = !prior_.empty();
  if (!*resumed) ::unlink(sidecar_.c_str());

  // The missing ranges, cut into parts for a large file. A download from zero
  // of a small file is one plain GET.
  const bool parallel = !single && file_.size >= transfer_.parallel_min_bytes && transfer_.parallel_parts > 1;
  const std::uint64_t part_bytes = parallel ? transfer_.part_bytes : file_.size;
  std::vector<Range> missing;
  std::uint64_t pos = 0;
  for (const Range& r : prior_) {
    if (r.begin > pos) missing.push_back({pos, r.begin});
    pos = r.end;
  }
  if (pos < file_.size) missing.push_back({pos, file_.size});
  std::size_t count = 0;
  for (const Range& r : missing) count += (r.end - r.begin + part_bytes - 1) / part_bytes;
  parts_ = std::vector<Part>(count);
  std::size_t i = 0;
  for (const Range& r : missing) {
    for (std::uint64_t b = r.begin; b < r.end; b += part_bytes, ++i) {
      parts_[i].begin = b;
      parts_[i].end = std::min(r.end, b + part_bytes);
    }
  }
  const bool whole = !*resumed && parts_.size() == 1;  // no Range header needed

  const int workers = static_cast<int>(std::min<std::size_t>(parts_.size(), parallel ? transfer_.parallel_parts : 1));
  active_workers_ = workers;
  std::thread ring_writer([this] { WriteRing(); });
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) threads.emplace_back([this, whole] { Worker(whole); });

  // This thread hashes the file in order -- from ring slots, else reading the
  // partial back from the page cache (memory stays bounded whatever the order
  // parts finish in) -- records progress in the sidecar and reports it.
  ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::atomic<bool> hashing_done{false};
  // Only a download of at least one writeback chunk has anything to start
  // early; for the others the thread would only cost its start and its last
  // poll (up to kWritebackPoll per file: 5 ms of every small file).
  std::optional<std::thread> writeback;
  std::uint64_t to_fetch = 0;
  for (const Part& p : parts_) to_fetch += p.end - p.begin;
  if (to_fetch >= kWritebackChunkBytes) writeback.emplace([this, &hashing_done] { StartWriteback(hashing_done); });
  std::vector<char> buf;
  Status local_error;
  auto last_sidecar = Clock::now(), last_progress = Clock::now() - kProgressEvery;
  while (true) {
    std::uint64_t prefix;
    bool finished;
    const Slot* slot = nullptr;
    Sidecar snapshot;
    bool save_sidecar = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Done when the workers are, and every byte received is hashed and
      // written (or something failed: then nothing more matters). Waits for
      // work or for that -- not merely for the workers to end: the writer may
      // still be writing the last slots (a spin here once burnt a core while
      // the kernel throttled the writer on a slow disk).
      auto done = [&] {
        return active_workers_ == 0 && (stop_.load() || (hashed_slots_ == filled_ && written_slots_ == filled_ &&
                                                          ContiguousPrefix() <= hashed_.load()));
      };
      cv_.wait_for(lock, kProgressEvery,
                   [&] { return hashed_slots_ < filled_ || ContiguousPrefix() > hashed_.load() || done(); });
      if (hashed_slots_ < filled_ && slots_[hashed_slots_ % kRingSlots].offset == hashed_.load()) {
        slot = &slots_[hashed_slots_ % kRingSlots];
      }
      prefix = ContiguousPrefix();
      finished = done();
      if (Clock::now() - last_sidecar >= kSidecarEvery) {
        snapshot = Snapshot();
        save_sidecar = true;
      }
    }
    if (save_sidecar) {
      WriteSidecar(sidecar_, snapshot);
      last_sidecar = Clock::now();
    }
    if (slot != nullptr) {
      // The slot stays ours until hashed_slots_ moves past it.
      hasher_.Update(slot->data.get(), slot->size);
      hashed_ += slot->size;
      std::lock_guard<std::mutex> lock(mu_);
      ++hashed_slots_;
      space_cv_.notify_one();
      continue;
    }
    while (local_error.ok() && hashed_.load() < prefix) {
      const std::uint64_t at = hashed_.load();
      if (buf.empty()) buf.resize(kHashChunkBytes);
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), prefix - at));
      ssize_t n = ::pread(fd_, buf.data(), want, static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        local_error = n < 0 ? ErrnoStatus(errno, "read", partial_)
                            : DataLossError(partial_.string() + " is shorter than the bytes written to it");
        break;
      }
      hasher_.Update(buf.data(), static_cast<std::size_t>(n));
      hashed_ += static_cast<std::uint64_t>(n);
    }
    if (!local_error.ok() && !stop_.exchange(true)) {
      std::lock_guard<std::mutex> lock(mu_);
      if (error_.ok()) error_ = local_error;
      space_cv_.notify_all();
    }
    if (Clock::now() - last_progress >= kProgressEvery && !finished) {
      Report(BytesOnDisk());
      last_progress = Clock::now();
    }
    if (finished) break;
  }
  hashing_done = true;
  if (writeback) writeback->join();
  for (auto& t : threads) t.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    writer_exit_ = true;
    write_cv_.notify_all();
  }
  ring_writer.join();

  std::lock_guard<std::mutex> lock(mu_);
  if (must_restart_) {
    *discard = true;
    return error_;
  }
  if (!error_.ok()) {
    WriteSidecar(sidecar_, Snapshot());
    const std::uint64_t kept = BytesOnDisk();
    if (kept == 0 || error_.code() == StatusCode::kDataLoss) {
      *discard = true;
      return error_;
    }
    return Status(error_.code(), error_.message() + "; " + std::to_string(kept) + " of " +
                                     std::to_string(file_.size) + " bytes are kept in " + partial_.string() +
                                     ": run the restore again to continue from there");
  }
  const std::uint64_t hashed = hashed_.load();
  if (hashed != file_.size) {
    *discard = true;
    return DataLossError("integrity check failed for " + file_.name + ": expected " + std::to_string(file_.size) +
                         " bytes, got " + std::to_string(hashed) +
                         "; the stored copy may be corrupt; the local target was not changed");
  }
  *digest = hasher_.FinishHex();
  Report(file_.size);
  return OkStatus();
}

std::uint64_t PartialDownload::ContiguousPrefix() const {
  // prior_ and parts_ are both sorted and together tile [0, size).
  std::uint64_t pos = 0;
  std::size_t a = 0, b = 0;
  while (pos < file_.size) {
    if (a < prior_.size() && prior_[a].begin == pos) {
      pos = prior_[a++].end;
    } else if (b < parts_.size() && parts_[b].begin == pos) {
      const Part& p = parts_[b++];
      const std::uint64_t w = p.written.load();
      pos += w;
      if (p.begin + w < p.end) break;
    } else {
      break;
    }
  }
  return pos;
}

Sidecar PartialDownload::Snapshot() const {
  Sidecar s{.sha256 = file_.sha256, .size = file_.size, .version = file_.version, .done = prior_};
  for (const Part& p : parts_) {
    const std::uint64_t w = p.written.load();
    if (w > 0) s.done.push_back({p.begin, p.begin + w});
  }
  std::sort(s.done.begin(), s.done.end(), [](const Range& x, const Range& y) { return x.begin < y.begin; });
  return s;
}

void PartialDownload::StartWriteback(const std::atomic<bool>& done) {
  std::uint64_t flushed = 0;
  while (!done.load()) {
    // Hashed and on disk (ring slots may be hashed before they are written).
    std::uint64_t ready;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready = std::min(hashed_.load(), ContiguousPrefix());
    }
    if (ready < flushed + kWritebackChunkBytes) {
      std::this_thread::sleep_for(kWritebackPoll);
      continue;
    }
    ::sync_file_range(fd_, static_cast<off_t>(flushed), static_cast<off_t>(ready - flushed), SYNC_FILE_RANGE_WRITE);
    flushed = ready;
  }
}

bool PartialDownload::ToRing(Part& part, std::uint64_t at, const char* data, std::size_t n) {
  std::unique_lock<std::mutex> lock(mu_);
  if (ring_part_ != &part) {
    // Only at the hashing front, with the ring empty: then every byte before
    // `at` is hashed and these are the next ones.
    if (ring_part_ != nullptr || filled_ != hashed_slots_ || hashed_.load() != at) return false;
    ring_part_ = &part;
    ring_end_ = at;
  }
  while (n > 0) {
    space_cv_.wait(lock, [&] { return stop_.load() || RingBacklog() < kRingSlots; });
    if (stop_.load()) return true;
    Slot& slot = slots_[filled_ % kRingSlots];
    if (fill_ == 0) {
      if (!slot.data) slot.data.reset(new char[kSlotBytes]);
      slot.offset = ring_end_;
      slot.part = &part;
    }
    const std::size_t take = std::min(n, kSlotBytes - fill_);
    char* dst = slot.data.get() + fill_;
    // The slot being filled is this thread's alone until published (the
    // backlog check keeps the hasher and the writer off it): copy unlocked.
    lock.unlock();
    std::memcpy(dst, data, take);
    lock.lock();
    fill_ += take;
    ring_end_ += take;
    data += take;
    n -= take;
    if (fill_ == kSlotBytes || ring_end_ == part.end) PublishSlot();
  }
  if (ring_end_ == part.end) ring_part_ = nullptr;  // the next part may take the front
  return true;
}

void PartialDownload::FlushRing(const Part& part) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ring_part_ == &part && fill_ > 0) PublishSlot();
}

void PartialDownload::PublishSlot() {
  slots_[filled_ % kRingSlots].size = fill_;
  ++filled_;
  fill_ = 0;
  cv_.notify_one();
  write_cv_.notify_one();
}

void PartialDownload::WriteRing() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    write_cv_.wait(lock, [&] { return written_slots_ < filled_ || writer_exit_; });
    if (written_slots_ == filled_) break;  // writer_exit_, and nothing is left
    Slot& slot = slots_[written_slots_ % kRingSlots];
    lock.unlock();
    Status st;
    for (std::size_t off = 0; off < slot.size && st.ok(); off += kWriteBytes) {
      st = PwriteAll(fd_, slot.data.get() + off, std::min(kWriteBytes, slot.size - off), slot.offset + off, partial_);
    }
    lock.lock();
    if (!st.ok()) {
      if (error_.ok()) error_ = st;
      stop_ = true;
      space_cv_.notify_all();
      cv_.notify_all();
      break;
    }
    slot.part->written += slot.size;
    ++written_slots_;
    space_cv_.notify_one();
    cv_.notify_one();  // the bytes on disk grew: Run() may read on past them
  }
}

std::uint64_t PartialDownload::BytesOnDisk() const {
  std::uint64_t n = 0;
  for (const Range& r : prior_) n += r.end - r.begin;
  for (const Part& p : parts_) n += p.written.load();
  return n;
}

void PartialDownload::Worker(bool whole) {
  Throttle throttle(transfer_.max_recv_bytes_per_sec);
  while (!stop_.load()) {
    Part* part;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (next_part_ >= parts_.size()) break;
      part = &parts_[next_part_++];
    }
    Status st = FetchPart(*part, whole, throttle);
    if (!st.ok() && transfer_.cancelled && transfer_.cancelled()) {
      st = CancelledError("the restore of " + what_ + " was cancelled");  // a retry wait cut short by it
    }
    if (!st.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      if (error_.ok() && !stop_.load()) error_ = st;
      stop_ = true;
      space_cv_.notify_all();
      break;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  --active_workers_;
  cv_.notify_all();
}

Status PartialDownload::FetchPart(Part& part, bool whole, Throttle& throttle) {
  Status local_error;
  bool restart = false;  // a ranged request was answered with the whole file
  bool started = false;
  HttpClientRequest req;
  req.target = url_target_;
  req.follow_redirects = true;  // presigned object-store URLs; the digest is checked all the same
  // Polled by libcurl's progress callback (when the peer is silent) and for
  // every chunk: libcurl calls the progress callback only between batches of
  // up to 100 reads, seconds apart while the socket never drains.
  req.cancelled = transfer_.cancelled;
  req.on_body = [&](const HttpClientResponse& response, const char* data, std::size_t n) {
    if (stop_.load() || (transfer_.cancelled && transfer_.cancelled())) return false;
    const std::uint64_t at = part.begin + part.received;
    if (!started) {
      started = true;
      if (response.status == 200 && (!whole || at != 0)) {
        // If-Range did not match (or ranges are not served): these bytes
        // cannot be combined with what we have.
        restart = true;
        return false;
      }
      if (response.status == 206) {
        auto start = ContentRangeStart(response.Header("content-range"));
        if (!start || *start != at) {
          local_error = InternalError(what_ + ": the server answered the wrong range (Content-Range '" +
                                      response.Header("content-range") + "', expected start " + std::to_string(at) +
                                      ")");
          return false;
        }
      } else if (response.status != 200) {
        local_error = InternalError(what_ + ": unexpected HTTP " + std::to_string(response.status));
        return false;
      }
    }
    if (at + n > part.end) {
      local_error = DataLossError("integrity check failed for " + file_.name + ": the server sent more than the " +
                                  std::to_string(file_.size) +
                                  " bytes it announced; the stored copy may be corrupt; the local target was not "
                                  "changed");
      return false;
    }
    if (!ToRing(part, at, data, n)) {
      if (Status st = PwriteAll(fd_, data, n, at, partial_); !st.ok()) {
        local_error = st;
        return false;
      }
      part.written += n;
      // Run() has work only when the hashing front is in this part: waking
      // it for every chunk cost a futex wake and two context switches each.
      if (part.begin <= hashed_.load()) cv_.notify_one();
    }
    if (stop_.load()) return false;
    part.received += n;
    throttle.Received(n);
    return true;
  };

  // Each attempt asks for what is still missing; an attempt that brought
  // bytes restarts the retry budget; a connection that broke after the last
  // byte is done (the digest is checked at the end).
  const auto done = [&] { return part.begin + part.received == part.end; };
  CallOptions options{
      .cancelled = [&] { return stop_.load() || (transfer_.cancelled && transfer_.cancelled()); },
      .before_attempt =
          [&](HttpClientRequest& r) {
            const std::uint64_t at = part.begin + part.received;
            r.headers.clear();
            if (!(whole && at == 0)) {
              r.headers.push_back("Range: bytes=" + std::to_string(at) + "-" + std::to_string(part.end - 1));
              // Continuing bytes received earlier (by this call or one before
              // it): only if the stored bytes are still the ones we started
              // with, else the server answers 200 with all of them. The first
              // request of a fresh part needs no validator (the digest is
              // checked at the end), which keeps ranged parts working through
              // presigned object-store URLs, whose ETag is not our SHA-256.
              if (resumed_ || at > part.begin) r.headers.push_back("If-Range: \"" + file_.sha256 + "\"");
            }
            started = false;
            local_error = OkStatus();
          },
      .after_attempt = [&](const Outcome&) { FlushRing(part); },
      .done = done,
      .progress = [&] { return part.received; }};
  CallResult call = connection_.Call(req, options);
  if (transfer_.cancelled && transfer_.cancelled()) return CancelledError("the restore of " + what_ + " was cancelled");
  if (stop_.load()) return OkStatus();  // another part failed; it reports
  if (restart) {
    std::lock_guard<std::mutex> lock(mu_);
    must_restart_ = true;
    return FailedPreconditionError(what_ + ": the server would not send a range of it (If-Range did not match)");
  }
  if (!local_error.ok()) return local_error;  // disk full, corrupt stream: not retried
  if (done()) return OkStatus();
  if (auto* resp = std::get_if<HttpClientResponse>(&call.outcome)) {
    if (resp->status == 200 || resp->status == 206) {
      return UnavailableError(what_ + ": the server's answers keep ending early");
    }
    if (resp->status == 416) {
      return DataLossError(what_ + ": the server holds fewer than the " + std::to_string(file_.size) +
                           " bytes its metadata announces; the stored copy may be corrupt");
    }
    if (resp->status == 404 && ErrorCode(*resp) == "file_not_found") {
      return NotFoundError(what_ + " is no longer in the store (it was there a moment ago)");
    }
    return StatusFromResponse(*resp, req.method, connection_.Url(req.target), what_, connection_.has_api_key());
  }
  return std::get<TransportError>(call.outcome).status;
}

}  // namespace

StatusOr<TransferOptions> ResolveTransferOptions(const TransferOptions& given) {
  TransferOptions t = given;
  struct Field {
    std::uint64_t* value;
    const char* var;
    std::uint64_t fallback;
  };
  std::uint64_t parts = given.parallel_parts > 0 ? static_cast<std::uint64_t>(given.parallel_parts) : 0;
  for (Field f : {Field{&t.parallel_min_bytes, "CAIRN_PARALLEL_MIN_BYTES", 64 * kMiB},
                  Field{&t.part_bytes, "CAIRN_PART_BYTES", 16 * kMiB}, Field{&parts, "CAIRN_PARALLEL_PARTS", 1},
                  Field{&t.max_recv_bytes_per_sec, "CAIRN_MAX_RECV_BYTES_PER_SEC", 0}}) {
    if (*f.value != 0) continue;
    StatusOr<std::optional<std::uint64_t>> env = EnvWhole(f.var, 1);
    if (!env.ok()) return env.status();
    *f.value = env->value_or(f.fallback);
  }
  if (parts > 64) return InvalidArgumentError("parallel_parts (CAIRN_PARALLEL_PARTS) must be 1 to 64");
  t.parallel_parts = static_cast<int>(parts);
  if (t.part_bytes < kMiB) return InvalidArgumentError("part_bytes (CAIRN_PART_BYTES) must be at least 1 MiB");
  if (!t.cache_max_bytes) {
    StatusOr<std::optional<std::uint64_t>> env = EnvWhole("CAIRN_CACHE_MAX_BYTES", 0);
    if (!env.ok()) return env.status();
    t.cache_max_bytes = env->value_or(20 * 1024 * kMiB);
  }
  if (t.cache_fill.empty()) {
    const std::string fill = EnvString("CAIRN_CACHE_FILL");
    t.cache_fill = !fill.empty() ? fill : "reflink";
  }
  if (t.cache_fill != "reflink" && t.cache_fill != "copy") {
    return InvalidArgumentError("invalid cache_fill (CAIRN_CACHE_FILL) '" + t.cache_fill +
                                "': use reflink (fill the cache only where it costs no second write) or copy");
  }
  if (t.cache_dir.empty()) {
    const std::string dir = EnvString("CAIRN_CACHE_DIR");
    const std::string xdg = EnvString("XDG_CACHE_HOME");
    const std::string home = EnvString("HOME");
    if (!dir.empty()) {
      t.cache_dir = dir;
    } else if (!xdg.empty()) {
      t.cache_dir = (fs::path(xdg) / "cairn").string();
    } else if (!home.empty()) {
      t.cache_dir = (fs::path(home) / ".cache/cairn").string();
    } else {
      t.cache_max_bytes = 0;  // nowhere to put it: no cache
    }
  }
  return t;
}

fs::path PartialPath(const fs::path& target) {
  return ParentOf(target) / ("." + target.filename().string() + ".cairn-partial");
}

fs::path SidecarPath(const fs::path& target) { return fs::path(PartialPath(target)).concat(".json"); }

Status Client::Download(const RunPath& run, const FileInfo& file, const fs::path& target,
                        const TransferOptions& transfer, bool sync_dir) {
  if (Status st = ValidateFileName(file.name); !st.ok()) return st;
  if (!IsSha256Hex(file.sha256)) return InvalidArgumentError("invalid sha256 '" + file.sha256 + "' for " + file.name);
  const fs::path parent = ParentOf(target);
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) return ErrnoStatus(ec.value(), "create directory", parent);

  bool fresh = false, single = false;
  while (true) {
    PartialDownload download(*impl_->connection, run, file, target, transfer);
    std::string digest;
    bool resumed = false, discard = false;
    Status st = download.Run(fresh, single, &digest, &resumed, &discard);
    if (st.ok() && digest != file.sha256) {
      discard = true;
      st = DataLossError("integrity check failed for " + file.name + ": expected sha256 " + file.sha256 + ", got " +
                         digest + "; the stored copy may be corrupt; the local target was not changed");
    }
    if (!st.ok()) {
      // A full local disk (ENOSPC/EDQUOT): keeping the partial would keep the
      // disk full, so it goes; the next restore starts from zero.
      if (st.code() == StatusCode::kResourceExhausted) discard = true;
      if (discard) {
        ::unlink(download.partial().c_str());
        ::unlink(SidecarPath(target).c_str());
      }
      // Each retry below happens at most once: from zero with one plain GET
      // when ranges are refused; from zero when bytes kept by an earlier
      // attempt may be what was wrong (a power loss under the sidecar).
      if (download.must_restart() && !single) {
        fresh = single = true;
        continue;
      }
      if (discard && resumed && !fresh) {
        fresh = true;
        continue;
      }
      return st;
    }
    if (::fsync(download.fd()) != 0) return ErrnoStatus(errno, "fsync", download.partial());
    if (::rename(download.partial().c_str(), target.c_str()) != 0) return ErrnoStatus(errno, "rename onto", target);
    ::unlink(SidecarPath(target).c_str());
    return sync_dir ? SyncDir(parent) : OkStatus();
  }
}

}  // namespace cairn::internal
