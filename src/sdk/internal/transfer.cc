// Uploads of internal::Client: streamed, bounded-memory, SHA-256 computed
// first and verified by the server. Downloads live in downloader.cc.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <system_error>
#include <vector>

#include "common/fs.h"
#include "common/sha256.h"
#include "sdk/internal/client.h"
#include "sdk/internal/client_impl.h"
#include "sdk/internal/connection.h"
#include "sdk/internal/upload_parts.h"

namespace cairn::internal {
namespace {

// Reads of the local file while hashing it before an upload.
constexpr std::size_t kHashBufferBytes = 1 << 20;

}  // namespace

std::string FileTarget(const RunPath& run, const std::string& name) {
  return RunTarget(run) + "/files/" + UrlEncode(name, /*keep_slash=*/true);
}

// ------------------------------------------------------------------- upload

// The version a successful upload answer names, checked against what was
// sent.
static StatusOr<FileInfo> UploadedFile(const HttpClientResponse& resp, const std::string& what, const std::string& sha,
                                       std::uint64_t size) {
  StatusOr<FileInfo> info = FileFromJson(nlohmann::json::parse(resp.body, nullptr, /*allow_exceptions=*/false), what);
  if (!info.ok()) return info.status();
  if (info->sha256 != sha || info->size != size) {
    return DataLossError(what + ": the server committed sha256 " + info->sha256 + " (" + std::to_string(info->size) +
                         " bytes) but the file has " + sha + " (" + std::to_string(size) +
                         " bytes); the server may be faulty");
  }
  return info;
}

namespace {

// Hashes the `size` bytes of `fd` (open on `local`) before an upload, through
// the fd that is then sent, so that a file replaced by rename in between
// cannot mix contents. Polls `stop` between reads: *stopped and no digest
// when it turned true. kFailedPrecondition when the file changed size.
StatusOr<std::string> HashForUpload(int fd, std::uint64_t size, const std::filesystem::path& local,
                                    const std::function<bool()>& stop, bool* stopped) {
  *stopped = false;
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  Sha256 hasher;
  std::vector<char> buf(kHashBufferBytes);
  std::uint64_t off = 0;
  while (true) {
    if (stop()) {
      *stopped = true;
      return std::string();
    }
    ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(off));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "read", local);
    }
    if (n == 0) break;
    hasher.Update(buf.data(), static_cast<std::size_t>(n));
    off += static_cast<std::uint64_t>(n);
  }
  if (off != size) {
    return FailedPreconditionError(local.string() + " changed size while it was being read (" + std::to_string(size) +
                                   " then " + std::to_string(off) + " bytes); save it once it is completely written");
  }
  return hasher.FinishHex();
}

// One PUT of the whole file with X-Cairn-Sha256. The bytes sent are hashed
// again as they stream; the last chunk is only handed to libcurl once the
// digest and size still match, so a file that changed mid-upload never
// reaches the server as a complete body (kFailedPrecondition). Sets
// control->retry_after from a retryable answer; `cancelled` is the error
// when file.cancelled stopped it.
StatusOr<FileInfo> PutWholeFile(Connection& connection, const FileUpload& file, UploadControl* control,
                                const std::function<Status()>& cancelled) {
  const std::string& name = file.name;
  const std::filesystem::path& local = file.local;
  const std::uint64_t size = file.size;
  const int fd = file.fd;
  const std::string what = "saving " + name + " to run " + file.run.ToString();
  const auto changed = [&](const std::string& how) {
    return FailedPreconditionError(local.string() + " changed while it was being uploaded as " + name + " (" + how +
                                   "); nothing was committed; save it again once it is completely written");
  };
  Status local_error;
  Sha256 stream_hash;
  std::uint64_t hashed_upto = 0;
  HttpClientRequest req;
  req.method = "PUT";
  req.target = FileTarget(file.run, name);
  req.headers = {"X-Cairn-Sha256: " + file.sha256};
  req.body_size = size;
  if (file.cancelled) req.cancelled = file.cancelled;
  req.read_body = [&](char* buf, std::size_t n, std::uint64_t offset) -> std::optional<std::size_t> {
    if (offset == 0 && hashed_upto != 0) {  // a new attempt or a libcurl rewind
      stream_hash = Sha256();
      hashed_upto = 0;
    }
    if (offset != hashed_upto) {
      local_error = InternalError("unexpected seek while uploading " + name);
      return std::nullopt;
    }
    ssize_t got;
    do {
      got = ::pread(fd, buf, n, static_cast<off_t>(offset));
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
      local_error = ErrnoStatus(errno, "read", local);
      return std::nullopt;
    }
    if (got == 0) {
      local_error = changed("it became shorter");
      return std::nullopt;
    }
    ThrottleSend(static_cast<std::size_t>(got), file.max_send_bytes_per_s);
    stream_hash.Update(buf, static_cast<std::size_t>(got));
    hashed_upto += static_cast<std::uint64_t>(got);
    if (hashed_upto == size) {
      struct stat now {};
      if (::fstat(fd, &now) == 0 && static_cast<std::uint64_t>(now.st_size) != size) {
        local_error =
            changed("its size went from " + std::to_string(size) + " to " + std::to_string(now.st_size) + " bytes");
        return std::nullopt;
      }
      if (stream_hash.FinishHex() != file.sha256) {
        local_error = changed("its SHA-256 changed");
        return std::nullopt;
      }
      stream_hash = Sha256();
    }
    if (file.progress) file.progress(hashed_upto, size);
    return static_cast<std::size_t>(got);
  };

  // Not idempotent (each success is a new version), but any error *answer*
  // means nothing was committed, and a failed connect sent nothing: those are
  // retried. A connection lost after the body was sent is not retried, since
  // the version may have been committed.
  CallResult call = connection.Call(req, {.idempotency = Idempotency::kUnlessCommitted,
                                          .policy = file.retry,
                                          .before_attempt = [&](HttpClientRequest&) { local_error = OkStatus(); }});
  if (auto* resp = std::get_if<HttpClientResponse>(&call.outcome)) {
    if (resp->status / 100 == 2) return UploadedFile(*resp, what, file.sha256, size);
    if (IsRetryableHttpStatus(resp->status) && control != nullptr) control->retry_after = RetryAfter(*resp);
    return StatusFromResponse(*resp, req.method, connection.Url(req.target), what, connection.has_api_key());
  }
  const TransportError& err = std::get<TransportError>(call.outcome);
  if (!local_error.ok()) return local_error;
  if (err.aborted_by_callback && file.cancelled && file.cancelled()) return cancelled();
  return err.status;
}

}  // namespace

StatusOr<FileInfo> Client::Upload(const RunPath& run, const std::string& name, const std::filesystem::path& local,
                                  const ProgressFn& progress, UploadControl* control) {
  if (Status st = ValidateFileName(name); !st.ok()) return st;
  const std::function<bool()> is_cancelled = [control] {
    return control != nullptr && control->cancel != nullptr && control->cancel->load();
  };
  const std::function<Status()> cancelled_status = [&] {
    return DeadlineExceededError("the upload of " + local.string() + " as " + name +
                                 " was stopped: the run is shutting down; nothing was committed");
  };
  int fd = ::open(local.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", local);
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat sb {};
  if (::fstat(fd, &sb) != 0) return ErrnoStatus(errno, "stat", local);
  if (!S_ISREG(sb.st_mode)) {
    return InvalidArgumentError("cannot save " + local.string() + ": it is not a regular file");
  }
  const std::uint64_t size = static_cast<std::uint64_t>(sb.st_size);

  // Hash first. The digest goes in X-Cairn-Sha256 so the server verifies the
  // bytes before committing them.
  bool stopped = false;
  StatusOr<std::string> hashed = HashForUpload(fd, size, local, is_cancelled, &stopped);
  if (stopped) return cancelled_status();
  if (!hashed.ok()) return hashed.status();
  const std::string sha = *std::move(hashed);
  if (control != nullptr && !control->unless_sha256.empty() && control->unless_sha256 == sha) {
    control->unchanged = true;
    FileInfo same;
    same.name = name;
    same.size = size;
    same.sha256 = sha;
    return same;
  }

  // Bytes the server already holds are committed by reference; large files
  // go in resumable parts (upload_parts.h); the others in one PUT.
  const std::optional<RetryPolicy> retry = control != nullptr ? control->retry : std::nullopt;
  const FileUpload file{run,      name,    local, fd, sha, size, progress,
                        control != nullptr && control->cancel != nullptr ? is_cancelled : std::function<bool()>(),
                        retry, tunables_.max_send_bytes_per_s};
  Connection& connection = *impl_->connection;
  if (size >= kByReferenceMinBytes) {
    StatusOr<std::optional<FileInfo>> held = CommitByReference(connection, file);
    if (!held.ok()) return held.status();
    if (held->has_value()) return **held;  // nothing moved: no progress to report
  }
  if (const PartOptions& parts = tunables_.upload_parts; size >= parts.threshold) {
    StatusOr<FileInfo> sent =
        UploadInParts(connection, file, parts, std::filesystem::path(settings_.dir) / "cairn" / "uploads");
    if (!sent.ok() && is_cancelled()) return cancelled_status();
    return sent;
  }
  return PutWholeFile(connection, file, control, cancelled_status);
}

}  // namespace cairn::internal
