// LocalBlobStore: blobs as files on local disk, content-addressed.
//
// Layout under the root directory (DATA/blobs):
//   ab/cd/abcd...ef   the blob whose lowercase hex SHA-256 is abcd...ef
//   tmp/              uploads in progress; emptied when the store opens
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

class LocalBlobStore final : public BlobStore, public LocalFileAdopter {
 public:
  // Creates `root` and root/tmp when missing and deletes leftovers in tmp/.
  // Only one LocalBlobStore may be open on a root at a time (opening clears
  // the other's uploads in progress). kFailedPrecondition / kPermissionDenied
  // naming the directory when it is unusable.
  static StatusOr<std::unique_ptr<LocalBlobStore>> Open(const std::filesystem::path& root);

  // The writer appends to a temp file (opened O_CLOEXEC) while hashing.
  StatusOr<std::unique_ptr<BlobWriter>> NewWriter() override;
  StatusOr<std::optional<std::uint64_t>> Stat(const std::string& sha256) override;
  // kInvalidArgument when [offset, offset+length) is not inside the blob.
  StatusOr<std::unique_ptr<BlobReader>> Open(const std::string& sha256, std::uint64_t offset,
                                             std::uint64_t length) override;

  Status Adopt(const std::filesystem::path& file, const std::string& sha256, std::uint64_t size) override;

  // Where the blob with this digest lives (whether or not it exists).
  std::filesystem::path BlobPath(const std::string& sha256) const;
  const std::filesystem::path& root() const { return root_; }

 private:
  explicit LocalBlobStore(std::filesystem::path root) : root_(std::move(root)) {}

  std::filesystem::path root_;
};

}  // namespace cairn::internal
