// S3BlobStore: blobs as objects in an S3-compatible bucket (Ceph radosgw,
// MinIO, AWS S3, R2), for several server replicas sharing one bucket.
//
// Keys: <prefix>/ab/cd/<sha256>, like the local store's layout.
//
// Writing: the writer appends to an anonymous staging file (created and
// unlinked at once under the staging directory, so a crash leaves nothing)
// while hashing; Commit() verifies size and digest, then publishes with a
// single PUT (If-None-Match: *, so an existing object is never rewritten;
// 412 means "already there"; an object already there gets its LastModified
// refreshed by a copy onto itself, for gc's grace period) or, above the multipart threshold, a multipart
// upload that is aborted on any failure. Every request body is signed with
// its SHA-256, so the object store rejects bytes damaged on the way. Memory
// per upload is bounded (curl's buffers), whatever the blob's size.
//
// Reading: ranged GETs of a bounded window (8 MiB by default), the next
// window fetched while the current one is sent (16 MiB per reader at most).
//
// Thread-safe; writers and readers are used by one thread at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "cairn/status.h"
#include "store/blob_store.h"
#include "store/s3/s3_client.h"

namespace cairn::internal {

struct S3BlobStoreOptions {
  // Where uploads are staged before they are sent (required).
  std::filesystem::path staging_dir;
  // Blobs larger than this go up as multipart uploads. Default 64 MiB.
  std::uint64_t multipart_threshold = 64ull << 20;
  // Multipart part size (S3 needs at least 5 MiB). Default 32 MiB: 32 parts
  // for 1 GiB, few enough requests, small enough to retry cheaply.
  std::uint64_t part_size = 32ull << 20;
  // Bytes fetched per ranged GET when reading; a reader holds two. Default 8 MiB.
  std::size_t read_window = 8u << 20;
};

class S3BlobStore final : public BlobStore, public BlobUrlSigner {
 public:
  // Parses `url` (see ParseS3Url), loads credentials (LoadS3Credentials)
  // and checks that the bucket answers. kInvalidArgument for a bad URL,
  // kFailedPrecondition without credentials or bucket, kPermissionDenied
  // when the credentials are refused, kUnavailable when nothing answers.
  static StatusOr<std::unique_ptr<S3BlobStore>> Open(const std::string& url, const S3BlobStoreOptions& options);

  StatusOr<std::unique_ptr<BlobWriter>> NewWriter() override;
  StatusOr<std::optional<std::uint64_t>> Stat(const std::string& sha256) override;
  // kInvalidArgument when [offset, offset+length) is not inside the blob.
  StatusOr<std::unique_ptr<BlobReader>> Open(const std::string& sha256, std::uint64_t offset,
                                             std::uint64_t length) override;
  // ListObjectsV2 under the prefix; keys that are not <prefix>/ab/cd/<sha256>
  // are skipped. modified_ms is the object's LastModified.
  Status ListBlobs(const std::function<Status(const BlobInfo&)>& fn) override;
  // HEAD (Last-Modified), then DELETE. S3 has no conditional DELETE, so a
  // re-commit between the two is not seen: the grace period of `cairn gc`
  // is what protects it (docs/adr/0010-fsck-and-gc.md).
  StatusOr<bool> RemoveBlob(const std::string& sha256, long long modified_before_ms) override;
  // A presigned GET of the blob's object.
  StatusOr<std::string> PresignGet(const std::string& sha256, std::chrono::seconds ttl,
                                   const std::string& content_disposition = "") override;

  // Refreshes an existing object's LastModified (a copy onto itself).
  Status Touch(const std::string& sha256);
  // The object key of a blob.
  std::string ObjectKey(const std::string& sha256) const;
  S3Client& client() { return client_; }
  const S3BlobStoreOptions& options() const { return options_; }

 private:
  S3BlobStore(S3Location location, S3Credentials credentials, S3BlobStoreOptions options)
      : client_(std::move(location), std::move(credentials)), options_(std::move(options)) {}

  S3Client client_;
  S3BlobStoreOptions options_;
};

}  // namespace cairn::internal
