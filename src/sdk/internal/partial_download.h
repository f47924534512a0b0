// PartialDownload: one download of one file into its partial, shared by the
// hashing thread (downloader.cc: Run, the ring, the sidecar) and the part
// workers (part_fetch.cc: Worker, FetchPart). Private to the downloader.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cairn/status.h"
#include "cairn/transfer.h"
#include "common/sha256.h"
#include "common/thread_annotations.h"
#include "sdk/internal/client.h"
#include "sdk/internal/client_impl.h"
#include "sdk/internal/connection.h"
#include "sdk/internal/downloader.h"
#include "sdk/internal/partial_file.h"

namespace cairn::internal {
namespace download {

using Clock = std::chrono::steady_clock;



inline constexpr std::uint64_t kMiB = 1 << 20;
// Reads of the partial while hashing its contiguous prefix.
inline constexpr std::size_t kHashChunkBytes = 1 << 20;
// The front ring: slots of bytes between the receiving thread and the
// hashing and writing threads, in one block of 8 MiB per download (address
// space; pages are touched as slots are used).
inline constexpr std::size_t kSlotBytes = 1 << 20;
inline constexpr std::uint64_t kRingSlots = 8;
// The ring of a download of at least this many bytes is asked for transparent
// huge pages (2 MiB, the block aligned to them): its three copies -- socket
// into slot, slot into hash, slot into page cache -- then miss the TLB less
// (1 GiB restore: about 5% less time, 12% less system time). Smaller
// downloads do not pay for faulting in, and zeroing, a 2 MiB page. The advice
// stays with the memory when malloc reuses it for a later download: such a
// download faults in fewer, larger pages, nothing else changes.
inline constexpr std::uint64_t kHugeRingMinBytes = 16 << 20;
inline constexpr std::size_t kHugePageBytes = 2 << 20;
// The writer's pwrite size. The page cache sizes a file's folios by the
// write: 1 MiB and 256 KiB writes made large folios, taken from big free
// blocks, which the reference VM hands back to its host as soon as they are
// free (free page reporting) and must fault in again -- the copy then cost
// 2-3x the CPU. 64 KiB writes: 1.0 s per GiB every time (256 KiB: 1.4-3.2 s).
inline constexpr std::size_t kWriteBytes = 64 << 10;
// A download on one connection of at least this many bytes has its body
// received straight into the ring (HttpClientRequest::body_buffer): one copy
// of every byte fewer, for a connection of its own (a TLS handshake costs
// about what copying a few MiB does). docs/adr/0027-downloads-receive-into-the-ring.md.
inline constexpr std::uint64_t kDirectMinBytes = 16 << 20;
// Writeback of the verified prefix is started every this many bytes.
inline constexpr std::uint64_t kWritebackChunkBytes = 8 << 20;
inline constexpr auto kWritebackPoll = std::chrono::milliseconds(5);
// ... and made durable every this many (fdatasync): on an XFS loop mount the
// final fsync of 1 GiB fell from 0.46 s to the last chunk's (docs/measurements/issue-13.md).
inline constexpr std::uint64_t kDurableEveryBytes = 128 << 20;
// How often the sidecar records progress (bytes since the last record are
// fetched again after a kill) and how often progress is reported.
inline constexpr auto kSidecarEvery = std::chrono::milliseconds(250);
inline constexpr auto kProgressEvery = std::chrono::milliseconds(100);

inline std::filesystem::path ParentOf(const std::filesystem::path& target) {
  return target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path();
}

}  // namespace download

// One ranged part being fetched: `received` bytes from `begin` have arrived
// (only its fetching thread touches it), `written` of them are on disk.
struct Part {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint64_t received = 0;
  std::atomic<std::uint64_t> written{0};
};

// One download of one file into its partial: the shared state of the part
// workers and of the hashing (calling) thread.
class PartialDownload {
 public:
  PartialDownload(Connection& connection, const RunPath& run, const FileInfo& file, const std::filesystem::path& target,
                  const TransferOptions& transfer, HeldPartial& held)
      : connection_(connection),
        file_(file),
        transfer_(transfer),
        partial_(PartialPath(target)),
        sidecar_(SidecarPath(target)),
        url_target_(FileTarget(run, file.name) + "?version=" + std::to_string(file.version)),
        what_("file " + file.name + " (version " + std::to_string(file.version) + ") of run " + run.ToString()),
        held_(held) {}

  // Fetches what the partial lacks and hashes it all. OK: the partial holds
  // exactly the file and *digest is its SHA-256. On error the partial and
  // sidecar record what arrived (unless *discard, then the caller removes
  // them). `fresh`: ignore any existing partial.
  // `single`: one plain GET from zero, no ranges.
  Status Run(bool fresh, bool single, std::string* digest, bool* resumed, bool* discard);

  const std::filesystem::path& partial() const { return partial_; }
  // The server answered a ranged request with the whole file (If-Range did
  // not match, e.g. an object store's own ETag): only a plain GET will do.
  bool must_restart() CAIRN_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return must_restart_;
  }

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
  // Bytes received into RingSpace's memory are taken without a copy.
  bool ToRing(Part& part, std::uint64_t at, const char* data, std::size_t n);
  // The filling slot's free memory, for the bytes of `part` from `at` when
  // ToRing would take them (waits for a free slot); empty otherwise.
  std::span<char> RingSpace(const Part& part, std::uint64_t at);
  void FlushRing(const Part& part);  // hands over a partly filled slot
  void PublishSlot() CAIRN_REQUIRES(mu_);
  // Gives every slot its memory; huge pages for `to_fetch` >= kHugeRingMinBytes.
  void AllocateRing(std::uint64_t to_fetch);
  void WriteRing();                  // the writer thread
  // A local failure (write, sync): kept unless an error came first; every
  // thread stops and every waiter wakes.
  void StopWith(Status st) CAIRN_REQUIRES(mu_);
  std::uint64_t RingBacklog() const CAIRN_REQUIRES(mu_) { return filled_ - std::min(hashed_slots_, written_slots_); }
  // Bytes [0, n) are all on disk. Caller holds mu_ (for a consistent view of
  // the parts; Part::written is atomic).
  std::uint64_t ContiguousPrefix() const CAIRN_REQUIRES(mu_);
  Sidecar Snapshot() const CAIRN_REQUIRES(mu_);
  std::uint64_t BytesOnDisk() const;
  // Until `done`: starts writeback of the hashed prefix every
  // download::kWritebackChunkBytes and syncs it every kDurableEveryBytes, so
  // that the one fsync before the rename has little left to wait for. Its own
  // thread: sync_file_range and fdatasync block while the disk is congested,
  // and hashing must not wait for the disk.
  void StartWriteback(const std::atomic<bool>& done);
  void Report(std::uint64_t done) const {
    if (transfer_.progress) transfer_.progress({file_.name, done, file_.size});
  }

  Connection& connection_;
  const FileInfo& file_;
  const TransferOptions& transfer_;
  const std::filesystem::path partial_, sidecar_;
  const std::string url_target_, what_;
  // The partial, opened by OpenPartial unless the caller holds it already;
  // its owner (Client::Download or the caller's lock) closes it. Only the
  // calling thread touches held_'s flags.
  HeldPartial& held_;
  int fd_ = -1;

  std::vector<Range> prior_;   // ranges the partial held when we started
  bool resumed_ = false;       // prior_ is not empty
  bool receive_into_ring_ = false;  // one connection, >= kDirectMinBytes: body_buffer
  std::vector<Part> parts_;    // what we fetch now: the complement of prior_
  Mutex mu_;
  std::condition_variable cv_;
  std::size_t next_part_ CAIRN_GUARDED_BY(mu_) = 0;
  int active_workers_ CAIRN_GUARDED_BY(mu_) = 0;
  Status error_ CAIRN_GUARDED_BY(mu_);  // the first worker error
  bool must_restart_ CAIRN_GUARDED_BY(mu_) = false;  // the server would not serve ranges of these bytes
  std::atomic<bool> stop_{false};
  // The SHA-256 of bytes [0, hashed_), computed by Run() alone: from ring
  // slots, else by reading the partial back.
  Sha256 hasher_;
  std::atomic<std::uint64_t> hashed_{0};

  // The front ring (see ToRing). Its bookkeeping is guarded by mu_. Slot i
  // holds bytes [offset, offset + size); slots [hashed_slots_, filled_) wait
  // for Run(), [written_slots_, filled_) for the writer; a slot is reused when
  // both are done with it. The one filling (index filled_) holds fill_ bytes
  // so far. Contract for a slot's bytes (Slot::data) and, once published, its
  // offset/size/part: the receiving thread writes the filling slot's bytes
  // without mu_ (the backlog check keeps the others off it), and Run() and the
  // writer read a published slot without mu_ until they advance hashed_slots_
  // / written_slots_ under mu_ (which keeps the filler off it). The analysis
  // sees only the accesses through slots_, made under mu_.
  struct Slot {
    char* data = nullptr;  // kSlotBytes in ring_memory_
    std::uint64_t offset = 0;
    std::size_t size = 0;
    Part* part = nullptr;
  };
  struct FreeMemory {
    void operator()(char* p) const { std::free(p); }
  };
  // The slots' memory, allocated by AllocateRing before any thread starts.
  std::unique_ptr<char[], FreeMemory> ring_memory_;
  std::vector<Slot> slots_ CAIRN_GUARDED_BY(mu_) = std::vector<Slot>(download::kRingSlots);
  std::uint64_t filled_ CAIRN_GUARDED_BY(mu_) = 0;
  std::uint64_t hashed_slots_ CAIRN_GUARDED_BY(mu_) = 0;
  std::uint64_t written_slots_ CAIRN_GUARDED_BY(mu_) = 0;
  std::size_t fill_ CAIRN_GUARDED_BY(mu_) = 0;
  Part* ring_part_ CAIRN_GUARDED_BY(mu_) = nullptr;  // the part sending its bytes through the ring
  std::uint64_t ring_end_ CAIRN_GUARDED_BY(mu_) = 0;   // the offset after the last byte it put there
  std::condition_variable space_cv_;  // a slot came free, or stop_
  std::condition_variable write_cv_;  // a slot to write, or writer_exit_
  bool writer_exit_ CAIRN_GUARDED_BY(mu_) = false;

  // Run()'s steps, in order (downloader.cc).
  // Opens (or creates) the partial unless held; keeps from the sidecar the
  // ranges really on disk (prior_, resumed_) unless `fresh` or they are of
  // other bytes, else empties it. A fresh held partial is used as it is.
  Status OpenPartial(bool fresh);
  // Cuts what prior_ lacks into parts_; true when they are fetched in parallel.
  bool PlanParts(bool single);
  // The hashing thread's loop, until the workers are done and every byte
  // received is hashed and written (or stop_): hashes ring slots and the
  // partial's contiguous prefix in order, saves the sidecar, reports progress.
  void HashAll();
  // What the hashing thread found under mu_: the ring slot to hash next (or
  // null), the contiguous prefix on disk, whether all is done, and a sidecar
  // snapshot when `sidecar_due`. Waits up to kProgressEvery for work.
  struct HashStep {
    const Slot* slot = nullptr;
    std::uint64_t prefix = 0;
    bool finished = false;
    std::optional<Sidecar> snapshot;
  };
  HashStep NextHashStep(bool sidecar_due) CAIRN_EXCLUDES(mu_);
  // Hashes the partial's bytes [hashed_, prefix) by reading them back.
  Status HashFromPartial(std::uint64_t prefix, std::vector<char>& buf);
  // Run()'s outcome once all threads ended: the error (kept partial, or
  // *discard), or OK with *digest after checking the size.
  Status Conclude(std::string* digest, bool* discard);
};

}  // namespace cairn::internal
