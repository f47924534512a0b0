// The one verifying BlobWriter: it hashes while appending, verifies size and
// SHA-256 at Commit, and only then lets its sink publish the bytes. Cancel()
// (and the destructor, which never commits) discards them. The local blob
// store, the S3 store and the parts of uploads in parts differ only in their
// BlobSink: where the bytes go and how they are published.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "cairn/status.h"
#include "common/sha256.h"
#include "store/blob_store.h"

namespace cairn::internal {

// Where a VerifyingWriter's bytes go. Used by one writer on one thread.
class BlobSink {
 public:
  virtual ~BlobSink() = default;
  // Stores `n` more bytes; `offset` is how many came before.
  virtual Status Write(const char* data, std::size_t n, std::uint64_t offset) = 0;
  // Makes the verified bytes (`size` of them, digest `sha256`) durable and
  // visible. Called at most once; Discard() follows it either way.
  virtual Status Publish(const std::string& sha256, std::uint64_t size) = 0;
  // Drops whatever was not published and releases the sink's resources.
  // Idempotent; also after a successful Publish.
  virtual void Discard() = 0;
};

struct VerifyingWriterOptions {
  // What the writer is in messages: "blob writer", "part writer".
  std::string what = "blob writer";
  // The start of a mismatch message: "received" or "part 3 arrived as".
  std::string received = "received";
  // What the caller should do after a mismatch.
  std::string advice = "nothing was stored, upload again";
  // Whether Commit accepts an empty expected digest (size checked only).
  bool digest_optional = false;
};

class VerifyingWriter final : public BlobWriter {
 public:
  VerifyingWriter(std::unique_ptr<BlobSink> sink, VerifyingWriterOptions options = {})
      : sink_(std::move(sink)), options_(std::move(options)) {}
  ~VerifyingWriter() override { Cancel(); }

  Status Append(const void* data, std::size_t n) override;
  // kInvalidArgument for a malformed digest, kDataLoss naming both sizes and
  // digests on a mismatch (the bytes are discarded), else the sink's Publish.
  Status Commit(const std::string& expected_sha256, std::uint64_t expected_size) override;
  void Cancel() override;
  std::uint64_t size() const override { return size_; }

 private:
  std::unique_ptr<BlobSink> sink_;  // null once committed or cancelled
  VerifyingWriterOptions options_;
  Sha256 hasher_;
  std::uint64_t size_ = 0;
};

// Writes all of `data` to `fd` (at `offset` with pwrite when it is >= 0,
// else at the file position), retrying on EINTR. Errors are
// StorageErrnoStatus(errno, op, path).
Status WriteAllToFd(int fd, const char* data, std::size_t n, long long offset, std::string_view op,
                    const std::filesystem::path& path);

}  // namespace cairn::internal
