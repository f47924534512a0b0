// BlobStore: file contents, content-addressed by lowercase hex SHA-256.
// Local disk (local/) is the default; an S3-compatible bucket (s3/) serves
// several server replicas. Keys are digests, never user paths. Implementations
// are thread-safe; readers and writers are used by one thread at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "cairn/status.h"

namespace cairn::internal {

// Receives a blob's bytes. Commit() makes it durable under its digest;
// Cancel() (and the destructor, if neither was called) discards it. A writer
// never publishes anything without Commit().
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  // kResourceExhausted when the disk is full.
  virtual Status Append(const void* data, std::size_t n) = 0;
  // Verifies that what was appended has exactly `expected_size` bytes and
  // SHA-256 `expected_sha256` (kDataLoss naming both digests otherwise), then
  // publishes it durably. Committing bytes the store already has is OK and
  // leaves the existing blob in place, with its modification time refreshed
  // (so that `cairn gc`'s grace period protects it until the version that
  // refers to it is committed; docs/adr/0010-fsck-and-gc.md).
  virtual Status Commit(const std::string& expected_sha256, std::uint64_t expected_size) = 0;
  virtual void Cancel() = 0;
  // Bytes appended so far.
  virtual std::uint64_t size() const = 0;
};

// Reads a range of a blob in chunks.
class BlobReader {
 public:
  virtual ~BlobReader() = default;
  // Reads up to n bytes; returns 0 at the end of the range.
  virtual StatusOr<std::size_t> Read(void* buf, std::size_t n) = 0;
};

// An optional capability, not part of BlobStore: a store whose objects a
// client can fetch directly (S3 presigned URLs). OpenStore() hands one out
// only when it is both supported and enabled (`cairn server --s3-presign`);
// backends without it implement nothing.
class BlobUrlSigner {
 public:
  virtual ~BlobUrlSigner() = default;
  // A URL that GETs the whole blob (Range requests allowed) without further
  // credentials until `ttl` has passed. With a `content_disposition` (e.g.
  // ContentDispositionAttachment(name)), the object store answers with that
  // Content-Disposition header, so that a browser saves the file by its name.
  virtual StatusOr<std::string> PresignGet(const std::string& sha256, std::chrono::seconds ttl,
                                           const std::string& content_disposition = "") = 0;
};

// An optional capability of a BlobReader, discovered with dynamic_cast like
// BlobUrlSigner: its range is a range of a local file, which the server sends
// with sendfile(2) (no copy through user space) instead of calling Read().
// Backends without local files implement nothing.
class LocalFileRange {
 public:
  virtual ~LocalFileRange() = default;
  // Open for reading; owned by the reader and valid while it lives.
  virtual int fd() const = 0;
  // Where the reader's remaining range starts in that file.
  virtual std::uint64_t offset() const = 0;
};

// An optional capability of a BlobStore, discovered with dynamic_cast: it
// can take a finished file from the same filesystem as a blob by renaming it,
// so that a file assembled on local disk (an upload in parts) is not copied
// once more. Backends without local files implement nothing.
class LocalFileAdopter {
 public:
  virtual ~LocalFileAdopter() = default;
  // Reads `file` to verify its size and SHA-256 (kDataLoss naming both
  // digests otherwise), makes it durable and moves it into the store under
  // `sha256`. kFailedPrecondition when it cannot be moved (another
  // filesystem): the caller then copies it through a BlobWriter. On any
  // error the file stays where it was.
  virtual Status Adopt(const std::filesystem::path& file, const std::string& sha256, std::uint64_t size) = 0;
};

// An optional capability of a BlobStore, discovered with dynamic_cast: blobs
// written as a group share one durability step (a batch save,
// docs/adr/0020-batch-saves.md). A writer of the group verifies at Commit()
// but publishes nothing; Sync() then makes every blob committed in the group
// so far durable and visible at once. Blobs of a group destroyed before
// Sync() are discarded. Used by one thread at a time. Backends whose every
// write is durable on its own (S3: each PUT) implement nothing.
class BlobGroup {
 public:
  virtual ~BlobGroup() = default;
  virtual StatusOr<std::unique_ptr<BlobWriter>> NewWriter() = 0;
  virtual Status Sync() = 0;
};
class GroupedBlobWriting {
 public:
  virtual ~GroupedBlobWriting() = default;
  // null: no group here after all (a decorator over a store without groups);
  // the caller then commits each blob durably on its own.
  virtual std::unique_ptr<BlobGroup> NewGroup() = 0;
};

// A stored blob as ListBlobs() reports it.
struct BlobInfo {
  std::string sha256;
  std::uint64_t size = 0;
  long long modified_ms = 0;  // unix ms of its last write or re-commit
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  virtual StatusOr<std::unique_ptr<BlobWriter>> NewWriter() = 0;
  // The stored size, or nullopt when the blob is absent.
  virtual StatusOr<std::optional<std::uint64_t>> Stat(const std::string& sha256) = 0;
  // Opens [offset, offset+length) of a blob. kNotFound when absent.
  virtual StatusOr<std::unique_ptr<BlobReader>> Open(const std::string& sha256, std::uint64_t offset,
                                                     std::uint64_t length) = 0;

  // For the operator tools (`cairn fsck`, `cairn gc`; docs/adr/0010-fsck-and-gc.md).
  // Calls `fn` for every published blob, in no particular order; uploads in
  // progress are not blobs and are never listed. Stops at, and returns, the
  // first non-OK Status of `fn`.
  virtual Status ListBlobs(const std::function<Status(const BlobInfo&)>& fn) = 0;
  // Removes a blob unless it was written or re-committed at or after
  // `modified_before_ms` (unix ms; pass INT64_MAX to remove unconditionally).
  // true: removed; false: absent or kept because it is recent.
  virtual StatusOr<bool> RemoveBlob(const std::string& sha256, long long modified_before_ms) = 0;
};

}  // namespace cairn::internal
