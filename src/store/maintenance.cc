#include "store/maintenance.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <map>
#include <set>
#include <memory>
#include <system_error>

#include "common/fs.h"
#include "common/sha256.h"

namespace cairn::internal {
namespace {

constexpr std::size_t kChunk = 1 << 20;

StatusOr<std::vector<BlobInfo>> AllBlobs(BlobStore& blobs) {
  std::vector<BlobInfo> out;
  Status s = blobs.ListBlobs([&out](const BlobInfo& b) {
    out.push_back(b);
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

StatusOr<std::map<std::string, BlobReference>> AllReferences(MetadataStore& metadata) {
  StatusOr<std::vector<BlobReference>> refs = metadata.ListBlobReferences();
  if (!refs.ok()) return refs.status();
  std::map<std::string, BlobReference> out;
  for (BlobReference& r : *refs) out.emplace(r.sha256, std::move(r));
  return out;
}

// Streams a blob through `sink` (may be null) and returns its SHA-256.
StatusOr<std::string> ReadBlob(BlobStore& blobs, const BlobInfo& blob, int sink_fd, const std::filesystem::path& sink) {
  StatusOr<std::unique_ptr<BlobReader>> reader = blobs.Open(blob.sha256, 0, blob.size);
  if (!reader.ok()) return reader.status();
  Sha256 hasher;
  std::unique_ptr<char[]> buf(new char[kChunk]);
  for (;;) {
    StatusOr<std::size_t> n = (*reader)->Read(buf.get(), kChunk);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    hasher.Update(buf.get(), *n);
    for (std::size_t off = 0; sink_fd >= 0 && off < *n;) {
      ssize_t w = ::write(sink_fd, buf.get() + off, *n - off);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return ErrnoStatus(errno, "write", sink);
      off += static_cast<std::size_t>(w);
    }
  }
  return hasher.FinishHex();
}

// Copies a blob's bytes (as they are) to dir/<sha256>, durably, then removes
// it from the store.
Status Quarantine(BlobStore& blobs, const BlobInfo& blob, const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ErrnoStatus(ec.value(), "create quarantine directory", dir);
  const std::filesystem::path target = dir / blob.sha256;
  int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus(errno, "create", target);
  StatusOr<std::string> copied = ReadBlob(blobs, blob, fd, target);
  const bool synced = ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!copied.ok()) return copied.status();
  if (!synced) return ErrnoStatus(err, "fsync", target);
  if (Status s = SyncDir(dir); !s.ok()) return s;
  StatusOr<bool> removed = blobs.RemoveBlob(blob.sha256, LLONG_MAX);
  return removed.status();
}

}  // namespace

StatusOr<FsckReport> Fsck(MetadataStore& metadata, BlobStore& blobs, const FsckOptions& options) {
  // References first: every blob they name was committed before them, so it
  // is in the listing that follows unless it is really gone.
  StatusOr<std::map<std::string, BlobReference>> refs = AllReferences(metadata);
  if (!refs.ok()) return refs.status();
  StatusOr<std::vector<BlobInfo>> stored = AllBlobs(blobs);
  if (!stored.ok()) return stored.status();

  FsckReport report;
  report.references = refs->size();
  std::set<std::string> seen;
  for (const BlobInfo& blob : *stored) {
    seen.insert(blob.sha256);
    auto ref = refs->find(blob.sha256);
    if (ref == refs->end()) ++report.unreferenced;
    StatusOr<std::string> actual = ReadBlob(blobs, blob, -1, {});
    if (!actual.ok() && actual.status().code() == StatusCode::kNotFound) continue;  // removed meanwhile (gc)
    ++report.blobs_checked;
    report.bytes_checked += blob.size;
    if (actual.ok() && *actual == blob.sha256) continue;
    FsckProblem p{.kind = FsckProblem::Kind::kCorrupt,
                  .sha256 = blob.sha256,
                  .detail = actual.ok() ? "its " + std::to_string(blob.size) + " bytes have SHA-256 " + *actual
                                        : "unreadable: " + actual.status().message()};
    if (ref != refs->end()) {
      p.versions = ref->second.versions;
      p.example = ref->second.example;
    }
    if (!options.quarantine_dir.empty()) {
      if (Status s = Quarantine(blobs, blob, options.quarantine_dir); !s.ok()) return s;
      p.quarantined = true;
    }
    report.problems.push_back(std::move(p));
  }
  for (const auto& [sha, ref] : *refs) {
    if (seen.count(sha) != 0) continue;
    report.problems.push_back(FsckProblem{.kind = FsckProblem::Kind::kMissing,
                                          .sha256 = sha,
                                          .detail = "no blob of " + std::to_string(ref.size) + " bytes is stored",
                                          .versions = ref.versions,
                                          .example = ref.example});
  }
  return report;
}

StatusOr<GcReport> CollectGarbage(MetadataStore& metadata, BlobStore& blobs, const GcOptions& options) {
  const long long cutoff_ms = NowMs() - options.grace.count();
  // The listing before the references: a blob committed after the snapshot
  // is either not listed or younger than the cutoff.
  StatusOr<std::vector<BlobInfo>> stored = AllBlobs(blobs);
  if (!stored.ok()) return stored.status();
  StatusOr<std::map<std::string, BlobReference>> refs = AllReferences(metadata);
  if (!refs.ok()) return refs.status();

  GcReport report;
  for (const BlobInfo& blob : *stored) {
    ++report.blobs;
    if (refs->count(blob.sha256) != 0) {
      ++report.referenced;
      continue;
    }
    if (blob.modified_ms >= cutoff_ms) {
      ++report.kept_recent;
      continue;
    }
    if (!options.dry_run) {
      StatusOr<bool> removed = blobs.RemoveBlob(blob.sha256, cutoff_ms);
      if (!removed.ok()) return removed.status();
      if (!*removed) {
        ++report.kept_recent;  // re-committed since it was listed
        continue;
      }
    }
    ++report.removed;
    report.bytes_removed += blob.size;
    report.removed_digests.push_back(blob.sha256);
  }
  return report;
}

}  // namespace cairn::internal
