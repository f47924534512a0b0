// LocalBlobStore: blobs as files on local disk, content-addressed.
//
// Layout under the root directory (DATA/blobs):
//   ab/cd/abcd...ef   the blob whose lowercase hex SHA-256 is abcd...ef
//   tmp/              uploads in progress; emptied when the server's store opens
//                     (also where RemoveBlob() parks a blob while it decides)
//
// A blob is published by: write to tmp/, fsync, create the fan-out
// directories, rename into place, fsync the directory. A crash therefore never
// leaves a partial file under a digest name; at worst a stray temp file, which
// the next open removes. Blobs are immutable once published.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "cairn/status.h"
#include "store/blob_store.h"

namespace cairn::internal {

struct LocalBlobStoreOptions {
  // Delete leftovers in tmp/ (uploads cut short by a crash). Default true,
  // for the server. Operator tools (`cairn fsck`, `cairn gc`) that run beside
  // a live server pass false, so that they never touch uploads in progress.
  bool clear_uploads = true;
};

class LocalBlobStore final : public BlobStore, public LocalFileAdopter, public GroupedBlobWriting {
 public:
  // Creates `root` and root/tmp when missing and, with clear_uploads,
  // deletes leftovers in tmp/. Only one server's LocalBlobStore may be open
  // on a root at a time (opening clears the other's uploads in progress).
  // kFailedPrecondition / kPermissionDenied naming the directory when it is
  // unusable.
  static StatusOr<std::unique_ptr<LocalBlobStore>> Open(const std::filesystem::path& root,
                                                        const LocalBlobStoreOptions& options = {});

  // The writer appends to a temp file (opened O_CLOEXEC) while hashing.
  StatusOr<std::unique_ptr<BlobWriter>> NewWriter() override;
  StatusOr<std::optional<std::uint64_t>> Stat(const std::string& sha256) override;
  // kInvalidArgument when [offset, offset+length) is not inside the blob.
  StatusOr<std::unique_ptr<BlobReader>> Open(const std::string& sha256, std::uint64_t offset,
                                             std::uint64_t length) override;
  // Walks root/ab/cd/; files whose name is not a digest in its right place
  // are skipped.
  Status ListBlobs(const std::function<Status(const BlobInfo&)>& fn) override;
  // Safe against a concurrent Commit() of the same bytes: the blob is first
  // renamed into tmp/, its mtime checked again there, and it is put back when
  // a commit touched it meanwhile (a Commit() that finds it gone publishes
  // its own copy).
  StatusOr<bool> RemoveBlob(const std::string& sha256, long long modified_before_ms) override;

  Status Adopt(const std::filesystem::path& file, const std::string& sha256, std::uint64_t size) override;

  // Blobs written without an fsync each; Sync() is one syncfs(2) for their
  // data, the renames into place, and one syncfs for the directory entries.
  std::unique_ptr<BlobGroup> NewGroup() override;

  // Where the blob with this digest lives (whether or not it exists).
  std::filesystem::path BlobPath(const std::string& sha256) const;
  const std::filesystem::path& root() const { return root_; }

 private:
  explicit LocalBlobStore(std::filesystem::path root) : root_(std::move(root)) {}

  std::filesystem::path root_;
};

}  // namespace cairn::internal
