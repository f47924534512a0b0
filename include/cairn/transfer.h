// How downloads move bytes: parallel ranged parts, the local content cache,
// progress reports. Shared by restore(), restore_many() and
// StoredFile::download(); docs/transfers.md explains the machinery.
//
// Every field has a "not given" value (0 / empty / nullopt); the one
// precedence of settings.h then applies: explicit field > CAIRN_* environment
// > default.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace cairn {

// One file's progress. `done` counts bytes that are on local disk for this
// file (a resumed download starts at what the partial already held; a cache
// hit jumps to `total`).
struct FileProgress {
  std::string name;  // the file's name inside the run
  std::uint64_t done = 0;
  std::uint64_t total = 0;
};

// Called at most about 10 times a second per file, and once more when the file
// is complete (done == total). Called from the thread that transfers the file:
// restore_many() calls it from several threads at once, so it must be
// thread-safe there. It must not throw.
using ProgressCallback = std::function<void(const FileProgress&)>;

struct TransferOptions {
  // Files of at least this many bytes are fetched as ranged parts over several
  // connections. Default 64 MiB (CAIRN_PARALLEL_MIN_BYTES).
  std::uint64_t parallel_min_bytes = 0;
  // Size of one ranged part. Default 16 MiB (CAIRN_PART_BYTES). Smaller parts
  // lose less on a kill, larger ones make fewer requests.
  std::uint64_t part_bytes = 0;
  // Parts in flight at once for one file. Default 1 (CAIRN_PARALLEL_PARTS):
  // one connection, whose bytes are hashed and written from memory as they
  // arrive, is the fastest where the network is fast (loopback, LAN: there the
  // restore is bound by CPU). Over high-latency links or from an object store
  // (presigned URLs), 4-8 connections fetch faster; parts beyond the first are
  // written as they come and read back once for hashing.
  int parallel_parts = 0;
  // Caps each connection's receive rate, bytes per second. Default unlimited
  // (CAIRN_MAX_RECV_BYTES_PER_SEC); for shared links and for tests.
  std::uint64_t max_recv_bytes_per_sec = 0;

  // The content cache, keyed by SHA-256. Default $CAIRN_CACHE_DIR, else
  // $XDG_CACHE_HOME/cairn, else ~/.cache/cairn.
  std::string cache_dir;
  // Its size limit; least recently used files are evicted beyond it. Default
  // 20 GiB (CAIRN_CACHE_MAX_BYTES). 0 disables the cache: nothing is read from
  // or written to it.
  std::optional<std::uint64_t> cache_max_bytes;
  // How a download fills the cache. "reflink" (default, CAIRN_CACHE_FILL): only
  // by a reflink (XFS, Btrfs: shared extents, no bytes written); on a
  // filesystem without reflinks (ext4) nothing is added, so the cache never
  // makes a cold restore slower. "copy": a second, independent copy of every
  // downloaded file (on ext4 the restore writes each byte twice); worth it
  // when the same files are restored into many roots on one machine.
  // docs/adr/0014-cache-fill-by-reflink.md.
  std::string cache_fill;

  // Progress reports; none by default.
  ProgressCallback progress;

  // When set, polled while bytes move (at least about once a second per
  // connection, also while the peer is silent) from the transferring threads,
  // so it must be thread-safe and cheap, and must not throw. Once it returns
  // true the download stops within about a second and the call fails with
  // kCancelled: the target is left as it was, and the bytes received so far
  // stay in the resumable partial beside it, so the same restore later
  // continues from there. Not polled while waiting for a lock held by another
  // restore of the same target. Default: never cancelled. (The Python
  // package sets it when Ctrl-C arrives.)
  std::function<bool()> cancelled;
};

}  // namespace cairn
