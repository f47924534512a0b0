// The download engine: see downloader.h for the outline and
// docs/adr/0007-partial-files-and-content-cache.md for the formats.
#include "sdk/internal/downloader.h"
#include "sdk/internal/partial_download.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
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
#include <new>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "common/fs.h"
#include "common/sha256.h"
#include "sdk/internal/client.h"
#include "sdk/internal/client_impl.h"
#include "sdk/internal/content_cache.h"
#include "sdk/internal/partial_file.h"
#include "sdk/internal/connection.h"

namespace cairn::internal {

namespace fs = std::filesystem;
using namespace download;  // NOLINT(google-build-using-namespace): the downloader's own constants

Status PartialDownload::Run(bool fresh, bool single, std::string* digest, bool* resumed, bool* discard) {
  *resumed = false;
  *discard = false;
  if (Status opened = OpenPartial(fresh); !opened.ok()) return opened;
  *resumed = resumed_;
  const bool parallel = PlanParts(single);
  const bool whole = !*resumed && parts_.size() == 1;  // no Range header needed

  const int workers = static_cast<int>(std::min<std::size_t>(parts_.size(), parallel ? transfer_.parallel_parts : 1));
  {
    MutexLock lock(mu_);
    active_workers_ = workers;
  }
  std::uint64_t to_fetch = 0;
  for (const Part& p : parts_) to_fetch += p.end - p.begin;
  receive_into_ring_ = workers == 1 && to_fetch >= kDirectMinBytes;
  AllocateRing(to_fetch);
  // One connection and at most one ring slot of bytes (every small file of
  // a glob restore): fetch, then write, on this thread -- starting the worker
  // and writer threads cost more than such a file, and it is too short for
  // progress along the way. HashAll then finds the slot filled and written.
  const bool on_this_thread = workers == 1 && to_fetch <= kSlotBytes;
  std::optional<std::thread> ring_writer;
  std::vector<std::thread> threads;
  if (on_this_thread) {
    Worker(whole);
    {
      MutexLock lock(mu_);
      writer_exit_ = true;
    }
    WriteRing();
  } else {
    ring_writer.emplace([this] { WriteRing(); });
    for (int w = 0; w < workers; ++w) threads.emplace_back([this, whole] { Worker(whole); });
  }
  HashAll();
  for (auto& t : threads) t.join();
  {
    MutexLock lock(mu_);
    writer_exit_ = true;
    write_cv_.notify_all();
  }
  if (ring_writer) ring_writer->join();
  return Conclude(digest, discard);
}

Status PartialDownload::OpenPartial(bool fresh) {
  if (held_.fd < 0) {
    held_.fd = ::open(partial_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (held_.fd < 0) return ErrnoStatus(errno, "create", partial_);
  }
  fd_ = held_.fd;
  if (held_.fresh) {  // just created by this holder: no bytes, no sidecar
    held_.fresh = false;
    return OkStatus();
  }
  std::optional<Sidecar> side = fresh || !held_.sidecar ? std::nullopt : ReadSidecar(sidecar_);
  // Only a partial of these very bytes (same SHA-256 and size) is continued;
  // any other is discarded, never spliced.
  const bool keep = side && side->sha256 == file_.sha256 && side->size == file_.size && !side->done.empty();
  struct stat sb {};
  if (keep && ::fstat(fd_, &sb) == 0) {
    for (const Range& r : side->done) {
      if (r.end <= static_cast<std::uint64_t>(sb.st_size)) prior_.push_back(r);  // bytes really there
    }
  }
  resumed_ = !prior_.empty();
  if (resumed_) return OkStatus();
  if (held_.sidecar) ::unlink(sidecar_.c_str());  // before the bytes it describes
  held_.sidecar = false;
  if (::ftruncate(fd_, 0) != 0) return ErrnoStatus(errno, "truncate", partial_);
  return OkStatus();
}

bool PartialDownload::PlanParts(bool single) {
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
  return parallel;
}

void PartialDownload::HashAll() {
  // This thread hashes the file in order -- from ring slots, else reading the
  // partial back from the page cache (memory stays bounded whatever the order
  // parts finish in) -- records progress in the sidecar and reports it.
  // Reading back happens only past the ring (larger files): a hint for those.
  if (file_.size > kSlotBytes) ::posix_fadvise(fd_, 0, 0, POSIX_FADV_SEQUENTIAL);
  std::atomic<bool> hashing_done{false};
  // Only a download of at least one writeback chunk has anything to start
  // early; for the others the thread would only cost its start and its last
  // poll (up to kWritebackPoll per file: 5 ms of every small file).
  std::optional<std::thread> writeback;
  std::uint64_t to_fetch = 0;
  for (const Part& p : parts_) to_fetch += p.end - p.begin;
  if (to_fetch >= kWritebackChunkBytes) writeback.emplace([this, &hashing_done] { StartWriteback(hashing_done); });
  std::vector<char> buf;
  Status local_error;  // reading the partial back failed: nothing more is read
  auto last_sidecar = Clock::now(), last_progress = Clock::now() - kProgressEvery;
  while (true) {
    HashStep step = NextHashStep(Clock::now() - last_sidecar >= kSidecarEvery);
    if (step.snapshot) {
      held_.sidecar = true;
      WriteSidecar(sidecar_, *step.snapshot);
      last_sidecar = Clock::now();
    }
    if (step.slot != nullptr) {
      // The slot stays ours until hashed_slots_ moves past it.
      hasher_.Update(step.slot->data, step.slot->size);
      hashed_ += step.slot->size;
      MutexLock lock(mu_);
      ++hashed_slots_;
      space_cv_.notify_one();
      continue;
    }
    if (local_error.ok()) local_error = HashFromPartial(step.prefix, buf);
    if (!local_error.ok() && !stop_.exchange(true)) {
      MutexLock lock(mu_);
      if (error_.ok()) error_ = local_error;
      space_cv_.notify_all();
    }
    if (Clock::now() - last_progress >= kProgressEvery && !step.finished) {
      Report(BytesOnDisk());
      last_progress = Clock::now();
    }
    if (step.finished) break;
  }
  hashing_done = true;
  if (writeback) writeback->join();
}

PartialDownload::HashStep PartialDownload::NextHashStep(bool sidecar_due) {
  HashStep step;
  MutexLock lock(mu_);
  // Done when the workers are, and every byte received is hashed and
  // written (or something failed: then nothing more matters). Waits for
  // work or for that -- not merely for the workers to end: the writer may
  // still be writing the last slots (a spin here once burnt a core while
  // the kernel throttled the writer on a slow disk).
  auto done = [&]() CAIRN_REQUIRES(mu_) {
    return active_workers_ == 0 && (stop_.load() || (hashed_slots_ == filled_ && written_slots_ == filled_ &&
                                                      ContiguousPrefix() <= hashed_.load()));
  };
  cv_.wait_for(lock.unique(), kProgressEvery,
               [&]() CAIRN_REQUIRES(mu_) { return hashed_slots_ < filled_ || ContiguousPrefix() > hashed_.load() || done(); });
  if (hashed_slots_ < filled_ && slots_[hashed_slots_ % kRingSlots].offset == hashed_.load()) {
    step.slot = &slots_[hashed_slots_ % kRingSlots];
  }
  step.prefix = ContiguousPrefix();
  step.finished = done();
  if (sidecar_due) step.snapshot = Snapshot();
  return step;
}

Status PartialDownload::HashFromPartial(std::uint64_t prefix, std::vector<char>& buf) {
  while (hashed_.load() < prefix) {
    const std::uint64_t at = hashed_.load();
    if (buf.empty()) buf.resize(kHashChunkBytes);
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), prefix - at));
    ssize_t n = ::pread(fd_, buf.data(), want, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return n < 0 ? ErrnoStatus(errno, "read", partial_)
                   : DataLossError(partial_.string() + " is shorter than the bytes written to it");
    }
    hasher_.Update(buf.data(), static_cast<std::size_t>(n));
    hashed_ += static_cast<std::uint64_t>(n);
  }
  return OkStatus();
}

Status PartialDownload::Conclude(std::string* digest, bool* discard) {
  MutexLock lock(mu_);
  if (must_restart_) {
    *discard = true;
    return error_;
  }
  if (!error_.ok()) {
    held_.sidecar = true;
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
  std::uint64_t flushed = 0, durable = 0;
  while (!done.load()) {
    // Hashed and on disk (ring slots may be hashed before they are written).
    std::uint64_t ready;
    {
      MutexLock lock(mu_);
      ready = std::min(hashed_.load(), ContiguousPrefix());
    }
    if (ready < flushed + kWritebackChunkBytes) {
      std::this_thread::sleep_for(kWritebackPoll);
      continue;
    }
    ::sync_file_range(fd_, static_cast<off_t>(flushed), static_cast<off_t>(ready - flushed), SYNC_FILE_RANGE_WRITE);
    flushed = ready;
    // Where writeback only reaches a cache below (a loop device's backing
    // file, a disk's volatile cache), the flush is what writes: one now and
    // then keeps the last fsync small. Its error is reported once per open
    // file (a later fsync returns 0): it fails the download here.
    if (flushed >= durable + kDurableEveryBytes) {
      if (::fdatasync(fd_) != 0) {
        Status st = ErrnoStatus(errno, "fsync", partial_);
        MutexLock lock(mu_);
        StopWith(std::move(st));
        return;
      }
      durable = flushed;
    }
  }
}

void PartialDownload::StopWith(Status st) {
  if (error_.ok()) error_ = std::move(st);
  stop_ = true;
  space_cv_.notify_all();
  cv_.notify_all();
}

bool PartialDownload::ToRing(Part& part, std::uint64_t at, const char* data, std::size_t n) {
  MutexLock lock(mu_);
  if (ring_part_ != &part) {
    // Only at the hashing front, with the ring empty: then every byte before
    // `at` is hashed and these are the next ones.
    if (ring_part_ != nullptr || filled_ != hashed_slots_ || hashed_.load() != at) return false;
    ring_part_ = &part;
    ring_end_ = at;
  }
  while (n > 0) {
    space_cv_.wait(lock.unique(), [&]() CAIRN_REQUIRES(mu_) { return stop_.load() || RingBacklog() < kRingSlots; });
    if (stop_.load()) return true;
    Slot& slot = slots_[filled_ % kRingSlots];
    if (fill_ == 0) {
      slot.offset = ring_end_;
      slot.part = &part;
    }
    const std::size_t take = std::min(n, kSlotBytes - fill_);
    char* dst = slot.data + fill_;
    // The slot being filled is this thread's alone until published (the
    // backlog check keeps the hasher and the writer off it): copy unlocked,
    // unless the bytes were received there (RingSpace).
    if (dst != data) {
      lock.Unlock();
      std::memcpy(dst, data, take);
      lock.Lock();
    }
    fill_ += take;
    ring_end_ += take;
    data += take;
    n -= take;
    if (fill_ == kSlotBytes || ring_end_ == part.end) PublishSlot();
  }
  if (ring_end_ == part.end) ring_part_ = nullptr;  // the next part may take the front
  return true;
}

std::span<char> PartialDownload::RingSpace(const Part& part, std::uint64_t at) {
  MutexLock lock(mu_);
  // As ToRing: the part that has the ring, or the one at the hashing front
  // with the ring empty.
  if (ring_part_ != &part && (ring_part_ != nullptr || filled_ != hashed_slots_ || hashed_.load() != at)) return {};
  space_cv_.wait(lock.unique(), [&]() CAIRN_REQUIRES(mu_) { return stop_.load() || RingBacklog() < kRingSlots; });
  if (stop_.load()) return {};
  Slot& slot = slots_[filled_ % kRingSlots];
  return {slot.data + fill_, kSlotBytes - fill_};
}

void PartialDownload::FlushRing(const Part& part) {
  MutexLock lock(mu_);
  if (ring_part_ == &part && fill_ > 0) PublishSlot();
}

void PartialDownload::AllocateRing(std::uint64_t to_fetch) {
  constexpr std::size_t kBytes = kRingSlots * kSlotBytes;
  char* memory = static_cast<char*>(std::aligned_alloc(kHugePageBytes, kBytes));
  if (memory == nullptr) throw std::bad_alloc();
  ring_memory_.reset(memory);
  // A hint: where transparent huge pages are off, the ring has small pages.
  if (to_fetch >= kHugeRingMinBytes) (void)::madvise(memory, kBytes, MADV_HUGEPAGE);
  MutexLock lock(mu_);
  for (std::size_t i = 0; i < slots_.size(); ++i) slots_[i].data = memory + i * kSlotBytes;
}

void PartialDownload::PublishSlot() {
  slots_[filled_ % kRingSlots].size = fill_;
  ++filled_;
  fill_ = 0;
  cv_.notify_one();
  write_cv_.notify_one();
}

void PartialDownload::WriteRing() {
  MutexLock lock(mu_);
  while (true) {
    write_cv_.wait(lock.unique(), [&]() CAIRN_REQUIRES(mu_) { return written_slots_ < filled_ || writer_exit_; });
    if (written_slots_ == filled_) break;  // writer_exit_, and nothing is left
    Slot& slot = slots_[written_slots_ % kRingSlots];
    lock.Unlock();
    Status st;
    for (std::size_t off = 0; off < slot.size && st.ok(); off += kWriteBytes) {
      st = PwriteAll(fd_, slot.data + off, std::min(kWriteBytes, slot.size - off), slot.offset + off, partial_);
    }
    lock.Lock();
    if (!st.ok()) {
      StopWith(std::move(st));
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


namespace {

// Removes a discarded partial's bytes: its sidecar first (the invariant of
// HeldPartial), then the partial itself -- or, when the caller's lock holds
// it, only its bytes (the lock stays on the file at the path).
void Discard(HeldPartial& held, bool held_by_caller, const fs::path& partial, const fs::path& target) {
  if (held.sidecar) ::unlink(SidecarPath(target).c_str());
  held.sidecar = false;
  if (!held_by_caller) {
    ::unlink(partial.c_str());
    ::close(held.fd);
    held.fd = -1;
  } else if (::ftruncate(held.fd, 0) != 0) {
    // Nothing better to do: the next OpenPartial truncates again or fails.
  }
}

}  // namespace

Status Client::Download(const RunPath& run, const FileInfo& file, const fs::path& target,
                        const TransferOptions& transfer, DownloadFinish finish, HeldPartial* held) {
  if (Status st = ValidateFileName(file.name); !st.ok()) return st;
  if (!IsSha256Hex(file.sha256)) return InvalidArgumentError("invalid sha256 '" + file.sha256 + "' for " + file.name);
  const fs::path parent = ParentOf(target);
  if (held == nullptr) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    if (ec) return ErrnoStatus(ec.value(), "create directory", parent);
  }
  HeldPartial own;  // without a caller's: the partial is opened (and closed) here
  HeldPartial& h = held != nullptr ? *held : own;
  struct Closer {
    HeldPartial& own;
    ~Closer() {
      if (own.fd >= 0) ::close(own.fd);
    }
  } closer{own};

  bool fresh = false, single = false;
  while (true) {
    PartialDownload download(*impl_->connection, run, file, target, transfer, h);
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
      if (discard) Discard(h, held != nullptr, download.partial(), target);
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
    if (finish == DownloadFinish::kVerifiedPartial) return OkStatus();  // the caller's PublishGroup
    if (::fsync(h.fd) != 0) return ErrnoStatus(errno, "fsync", download.partial());
    if (h.sidecar) ::unlink(SidecarPath(target).c_str());  // before its partial goes
    h.sidecar = false;
    if (::rename(download.partial().c_str(), target.c_str()) != 0) return ErrnoStatus(errno, "rename onto", target);
    h.placed = true;
    return finish == DownloadFinish::kDurable ? SyncDir(parent) : OkStatus();
  }
}

}  // namespace cairn::internal
