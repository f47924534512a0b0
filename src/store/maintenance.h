// The operator tools behind `cairn fsck` and `cairn gc`, written against the
// two storage interfaces only, so they work on every backend (SQLite or
// PostgreSQL, local disk or S3). Both may run while a server is serving the
// same store (open it with StoreOptions::beside_server); see
// docs/adr/0010-fsck-and-gc.md for why that is safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cairn/status.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace cairn::internal {

struct FsckOptions {
  // Move every corrupt blob out of the store into this directory (created
  // when missing), named by its digest. Empty (default): report only.
  std::filesystem::path quarantine_dir;
};

struct FsckProblem {
  enum class Kind {
    kCorrupt,  // the stored bytes do not hash to the blob's name
    kMissing,  // versions refer to a blob the blob store does not have
  };
  Kind kind = Kind::kCorrupt;
  std::string sha256;
  std::string detail;         // what was found, e.g. the digest the bytes have
  std::int64_t versions = 0;  // versions that refer to the blob (0: unreferenced)
  std::string example;        // one of them, "entity/project/run:name vN"
  bool quarantined = false;
};

struct FsckReport {
  std::uint64_t blobs_checked = 0;
  std::uint64_t bytes_checked = 0;
  std::uint64_t references = 0;    // distinct blobs that versions refer to
  std::uint64_t unreferenced = 0;  // stored blobs no version refers to (gc removes them)
  std::vector<FsckProblem> problems;
};

// Reads every stored blob and checks its SHA-256 (streamed, bounded memory),
// and checks that every blob a version refers to is stored. Problems are
// reported, not errors; the Status is an error only when the check itself
// could not run (a backend failed).
StatusOr<FsckReport> Fsck(MetadataStore& metadata, BlobStore& blobs, const FsckOptions& options = {});

struct GcOptions {
  // Blobs written or re-committed less than this long ago are kept even when
  // unreferenced: an upload commits its blob before its version row, and the
  // grace covers that gap. Default 1 hour.
  std::chrono::milliseconds grace = std::chrono::hours(1);
  // Report what would be removed; remove nothing.
  bool dry_run = false;
};

struct GcReport {
  std::uint64_t blobs = 0;          // stored blobs seen
  std::uint64_t referenced = 0;     // of them, referred to by a version
  std::uint64_t kept_recent = 0;    // unreferenced but within the grace period
  std::uint64_t removed = 0;        // (dry run: would be removed)
  std::uint64_t bytes_removed = 0;  // (dry run: would be freed)
  std::vector<std::string> removed_digests;
};

// Removes the blobs that no version refers to and that are older than the
// grace period. The blob listing is taken before the reference snapshot, and
// each removal re-checks the blob's age atomically where the backend can
// (BlobStore::RemoveBlob), so a blob an upload is committing right now is
// never removed.
StatusOr<GcReport> CollectGarbage(MetadataStore& metadata, BlobStore& blobs, const GcOptions& options = {});

}  // namespace cairn::internal
