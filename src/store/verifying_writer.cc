#include "store/verifying_writer.h"

#include <sys/types.h>
#include <unistd.h>

#include <cerrno>

#include "common/fs.h"

namespace cairn::internal {

Status VerifyingWriter::Append(const void* data, std::size_t n) {
  if (!sink_) return FailedPreconditionError(options_.what + " is already committed or cancelled");
  CAIRN_RETURN_IF_ERROR(sink_->Write(static_cast<const char*>(data), n, size_));
  hasher_.Update(data, n);
  size_ += n;
  return OkStatus();
}

Status VerifyingWriter::Commit(const std::string& expected_sha256, std::uint64_t expected_size) {
  if (!sink_) return FailedPreconditionError(options_.what + " is already committed or cancelled");
  const bool check_digest = !(options_.digest_optional && expected_sha256.empty());
  if (check_digest && !IsSha256Hex(expected_sha256)) {
    Cancel();
    return InvalidArgumentError("\"" + expected_sha256 + "\" is not a lowercase hex SHA-256");
  }
  const std::string actual = hasher_.FinishHex();
  if (size_ != expected_size || (check_digest && actual != expected_sha256)) {
    Status s =
        DataLossError(options_.received + " " + std::to_string(size_) + " bytes with SHA-256 " + actual +
                      ", expected " + std::to_string(expected_size) + " bytes" +
                      (check_digest ? " with SHA-256 " + expected_sha256 : std::string()) + "; " + options_.advice);
    Cancel();
    return s;
  }
  Status s = sink_->Publish(actual, size_);
  Cancel();  // releases the sink; a published blob stays
  return s;
}

void VerifyingWriter::Cancel() {
  if (!sink_) return;
  sink_->Discard();
  sink_.reset();
}

Status WriteAllToFd(int fd, const char* data, std::size_t n, long long offset, std::string_view op,
                    const std::filesystem::path& path) {
  std::size_t done = 0;
  while (done < n) {
    const ssize_t w = offset >= 0 ? ::pwrite(fd, data + done, n - done, static_cast<off_t>(offset + done))
                                  : ::write(fd, data + done, n - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      return StorageErrnoStatus(errno, op, path);
    }
    done += static_cast<std::size_t>(w);
  }
  return OkStatus();
}

}  // namespace cairn::internal
