// File transfers of internal::Client: streamed, bounded-memory uploads and
// downloads with SHA-256 verification, plus FetchToTarget, the locked
// "download unless present" step shared by restore() and Api downloads.
//
// Download durability (docs/spec/restore.md step 7): bytes go to a temp file
// beside the target (".<basename>.cairn-partial-<random>", O_EXCL, 0644),
// hashed as they arrive; only after the size and digest match is the temp
// fsynced and renamed over the target, and the directory fsynced. Any failure
// removes the temp and leaves the target as it was.
#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <system_error>
#include <vector>

#include "common/fs.h"
#include "common/sha256.h"
#include "sdk/internal/client.h"
#include "sdk/internal/client_impl.h"
#include "sdk/internal/http_transport.h"
#include "sdk/internal/upload_parts.h"

namespace cairn::internal {
namespace {

// Reads of the local file while hashing it before an upload.
constexpr std::size_t kHashBufferBytes = 1 << 20;

std::string RandomHex(int bytes) {
  std::vector<unsigned char> r(static_cast<std::size_t>(bytes));
  if (RAND_bytes(r.data(), bytes) != 1) {
    // Uniqueness, not secrecy, is needed: fall back to pid and a counter.
    static std::atomic<unsigned> counter{0};
    unsigned v = static_cast<unsigned>(::getpid()) * 2654435761u + counter++;
    for (auto& b : r) {
      b = static_cast<unsigned char>(v);
      v = v * 1103515245u + 12345u;
    }
  }
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char b : r) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

// Closes an fd and unlinks a temp file unless released: every early return
// of Download leaves no temp behind.
class TempFile {
 public:
  TempFile(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const { return fd_; }
  const std::filesystem::path& path() const { return path_; }
  // Closes the fd, reporting a close error (which can carry a delayed write error).
  Status Close() {
    int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return ErrnoStatus(errno, "close", path_);
    return OkStatus();
  }
  // The temp was renamed into place: nothing to unlink any more.
  void Release() { path_.clear(); }

 private:
  int fd_;
  std::filesystem::path path_;
};

Status WriteAll(int fd, const char* data, std::size_t n, const std::filesystem::path& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write", path);
    }
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return OkStatus();
}

// "bytes START-END/TOTAL" -> START.
std::optional<std::uint64_t> ContentRangeStart(const std::string& value) {
  unsigned long long start = 0, end = 0;
  if (std::sscanf(value.c_str(), "bytes %llu-%llu", &start, &end) != 2) return std::nullopt;
  return start;
}

std::string FileTarget(const RunPath& run, const std::string& name) {
  return RunTarget(run) + "/files/" + UrlEncode(name, /*keep_slash=*/true);
}

}  // namespace

// ------------------------------------------------------------------- upload

StatusOr<FileInfo> Client::Upload(const RunPath& run, const std::string& name, const std::filesystem::path& local,
                                  const ProgressFn& progress, UploadControl* control) {
  if (Status st = ValidateFileName(name); !st.ok()) return st;
  const auto is_cancelled = [control] {
    return control != nullptr && control->cancel != nullptr && control->cancel->load();
  };
  const auto cancelled_status = [&] {
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

  // Hash first (through the same fd that is then sent, so a file replaced by
  // rename in between cannot mix contents). The digest goes in X-Cairn-Sha256
  // so the server verifies the bytes before committing them.
  std::string sha;
  {
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    Sha256 hasher;
    std::vector<char> buf(kHashBufferBytes);
    std::uint64_t off = 0;
    while (true) {
      if (is_cancelled()) return cancelled_status();
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
    sha = hasher.FinishHex();
  }
  if (control != nullptr && !control->unless_sha256.empty() && control->unless_sha256 == sha) {
    control->unchanged = true;
    FileInfo same;
    same.name = name;
    same.size = size;
    same.sha256 = sha;
    return same;
  }

  // Bytes the server already holds are committed by reference; large files
  // go in resumable parts (upload_parts.h).
  const RetryPolicy& retry = control != nullptr && control->retry ? *control->retry : impl_->retry;
  const FileUpload file{run,      name,    local, fd, sha, size, progress,
                        control != nullptr && control->cancel != nullptr ? is_cancelled : std::function<bool()>(),
                        retry};
  if (size >= kByReferenceMinBytes) {
    StatusOr<std::optional<FileInfo>> held = CommitByReference(impl_->transport, file);
    if (!held.ok()) return held.status();
    if (held->has_value()) return **held;  // nothing moved: no progress to report
  }
  if (const PartOptions parts = PartOptions::FromEnvironment(); size >= parts.threshold) {
    StatusOr<FileInfo> sent =
        UploadInParts(impl_->transport, file, parts, std::filesystem::path(settings_.dir) / "cairn" / "uploads");
    if (!sent.ok() && is_cancelled()) return cancelled_status();
    return sent;
  }

  const std::string what = "saving " + name + " to run " + run.ToString();
  const auto changed = [&](const std::string& how) {
    return FailedPreconditionError(local.string() + " changed while it was being uploaded as " + name + " (" + how +
                                   "); nothing was committed; save it again once it is completely written");
  };

  // The bytes sent are hashed again as they stream; the last chunk is only
  // handed to libcurl once the digest and size still match, so a file that
  // changed mid-upload never reaches the server as a complete body.
  Status local_error;
  Sha256 stream_hash;
  std::uint64_t hashed_upto = 0;
  HttpClientRequest req;
  req.method = "PUT";
  req.target = FileTarget(run, name);
  req.headers = {"X-Cairn-Sha256: " + sha};
  req.body_size = size;
  if (control != nullptr && control->cancel != nullptr) req.cancelled = is_cancelled;
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
    ThrottleSend(static_cast<std::size_t>(got));
    stream_hash.Update(buf, static_cast<std::size_t>(got));
    hashed_upto += static_cast<std::uint64_t>(got);
    if (hashed_upto == size) {
      struct stat now {};
      if (::fstat(fd, &now) == 0 && static_cast<std::uint64_t>(now.st_size) != size) {
        local_error =
            changed("its size went from " + std::to_string(size) + " to " + std::to_string(now.st_size) + " bytes");
        return std::nullopt;
      }
      if (stream_hash.FinishHex() != sha) {
        local_error = changed("its SHA-256 changed");
        return std::nullopt;
      }
      stream_hash = Sha256();
    }
    if (progress) progress(hashed_upto, size);
    return static_cast<std::size_t>(got);
  };

  // Not idempotent (each success is a new version), but any error *answer*
  // means nothing was committed, and a failed connect sent nothing: those are
  // retried. A connection lost after the body was sent is not retried, since
  // the version may have been committed.
  Backoff backoff(retry);
  while (true) {
    local_error = OkStatus();
    auto result = impl_->transport.Perform(req);
    if (auto* resp = std::get_if<HttpClientResponse>(&result)) {
      if (resp->status / 100 == 2) {
        nlohmann::json j = nlohmann::json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
        FileInfo info;
        try {
          info.name = j.at("name").get<std::string>();
          info.size = j.at("size").get<std::uint64_t>();
          info.sha256 = j.at("sha256").get<std::string>();
          info.version = j.at("version").get<std::int64_t>();
          if (j.contains("updated_at") && j["updated_at"].is_string())
            info.updated_at = j["updated_at"].get<std::string>();
        } catch (const nlohmann::json::exception& e) {
          return InternalError("unexpected answer from the server for " + what + ": " + e.what());
        }
        if (info.sha256 != sha || info.size != size) {
          return DataLossError(what + ": the server committed sha256 " + info.sha256 + " (" +
                               std::to_string(info.size) + " bytes) but the file has " + sha + " (" +
                               std::to_string(size) + " bytes); the server may be faulty");
        }
        return info;
      }
      if (IsRetryableHttpStatus(resp->status)) {
        if (control != nullptr) control->retry_after = RetryAfter(*resp);
        if (backoff.WaitBeforeRetry(RetryAfter(*resp))) continue;
      }
      return StatusFromResponse(*resp, req.method, impl_->transport.Url(req.target), what,
                                impl_->transport.has_api_key());
    }
    TransportError& err = std::get<TransportError>(result);
    if (!local_error.ok()) return local_error;
    if (err.aborted_by_callback && is_cancelled()) return cancelled_status();
    if (err.nothing_sent && backoff.WaitBeforeRetry()) continue;
    return err.status;
  }
}

// ----------------------------------------------------------------- download

Status Client::Download(const RunPath& run, const FileInfo& file, const std::filesystem::path& target,
                        const ProgressFn& progress) {
  if (Status st = ValidateFileName(file.name); !st.ok()) return st;
  if (!IsSha256Hex(file.sha256)) return InvalidArgumentError("invalid sha256 '" + file.sha256 + "' for " + file.name);
  const std::filesystem::path parent = target.parent_path().empty() ? "." : target.parent_path();
  std::error_code ec;
  std::filesystem::create_directories(parent, ec);
  if (ec) return ErrnoStatus(ec.value(), "create directory", parent);

  const std::filesystem::path temp_path =
      parent / ("." + target.filename().string() + ".cairn-partial-" + RandomHex(6));
  int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "create", temp_path);
  TempFile temp(fd, temp_path);

  const std::string what =
      "file " + file.name + " (version " + std::to_string(file.version) + ") of run " + run.ToString();
  Sha256 hasher;
  std::uint64_t written = 0;
  Status local_error;
  bool started = false;  // the current attempt's body has begun

  HttpClientRequest req;
  req.target = FileTarget(run, file.name) + "?version=" + std::to_string(file.version);
  req.follow_redirects = true;  // presigned object-store URLs; the digest is checked below all the same
  req.on_body = [&](const HttpClientResponse& response, const char* data, std::size_t n) {
    if (!started) {
      started = true;
      if (response.status == 200 && written > 0) {
        // The server sent the whole file (the validator did not match, or it
        // ignored Range): start over.
        if (::ftruncate(temp.fd(), 0) != 0 || ::lseek(temp.fd(), 0, SEEK_SET) != 0) {
          local_error = ErrnoStatus(errno, "truncate", temp.path());
          return false;
        }
        hasher = Sha256();
        written = 0;
      } else if (response.status == 206) {
        auto start = ContentRangeStart(response.Header("content-range"));
        if (!start || *start != written) {
          local_error =
              InternalError(what + ": the server resumed at the wrong offset (Content-Range '" +
                            response.Header("content-range") + "', expected start " + std::to_string(written) + ")");
          return false;
        }
      } else if (response.status != 200) {
        local_error = InternalError(what + ": unexpected HTTP " + std::to_string(response.status));
        return false;
      }
    }
    if (written + n > file.size) {
      local_error = DataLossError("integrity check failed for " + file.name + ": the server sent more than the " +
                                  std::to_string(file.size) +
                                  " bytes it announced; the stored copy may be corrupt; "
                                  "the local target was not changed");
      return false;
    }
    if (Status st = WriteAll(temp.fd(), data, n, temp.path()); !st.ok()) {
      local_error = st;
      return false;
    }
    hasher.Update(data, n);
    written += n;
    if (progress) progress(written, file.size);
    return true;
  };

  Backoff backoff(impl_->retry);
  while (true) {
    req.headers.clear();
    if (written > 0) {
      // Resume: only the missing bytes, and only if the stored bytes are still
      // the ones we started with (else the server answers 200 with all of them).
      req.headers.push_back("Range: bytes=" + std::to_string(written) + "-");
      req.headers.push_back("If-Range: \"" + file.sha256 + "\"");
    }
    started = false;
    local_error = OkStatus();
    const std::uint64_t before = written;
    auto result = impl_->transport.Perform(req);
    if (!local_error.ok()) return local_error;  // disk full, corrupt stream: not retried
    if (auto* resp = std::get_if<HttpClientResponse>(&result)) {
      if (resp->status == 200 || resp->status == 206) {
        if (resp->status == 200 && !started && written > 0) {
          // A 200 with an empty body while resuming: the file is empty now.
          if (::ftruncate(temp.fd(), 0) != 0) return ErrnoStatus(errno, "truncate", temp.path());
          hasher = Sha256();
          written = 0;
        }
        break;
      }
      if (resp->status == 416 && written > 0) {
        // Our offset is past the end of what the server holds: refetch all.
        if (::ftruncate(temp.fd(), 0) != 0 || ::lseek(temp.fd(), 0, SEEK_SET) != 0) {
          return ErrnoStatus(errno, "truncate", temp.path());
        }
        hasher = Sha256();
        written = 0;
        if (backoff.WaitBeforeRetry()) continue;
      }
      if (resp->status == 404 && ErrorCode(*resp) == "file_not_found") {
        return NotFoundError(what + " is no longer in the store (it was there a moment ago)");
      }
      // data_loss: the server's stored bytes are damaged; asking again cannot help.
      if (IsRetryableHttpStatus(resp->status) && ErrorCode(*resp) != "data_loss") {
        if (written > before) backoff.Reset();
        if (backoff.WaitBeforeRetry(RetryAfter(*resp))) continue;
      }
      return StatusFromResponse(*resp, req.method, impl_->transport.Url(req.target), what,
                                impl_->transport.has_api_key());
    }
    TransportError& err = std::get<TransportError>(result);
    if (err.status.code() != StatusCode::kUnavailable) return err.status;
    if (written == file.size && file.size > 0) break;  // all bytes arrived; verify them
    if (written > before) backoff.Reset();             // progress: the link works, keep going
    if (!backoff.WaitBeforeRetry()) return err.status;
  }

  if (written != file.size) {
    return DataLossError("integrity check failed for " + file.name + ": expected " + std::to_string(file.size) +
                         " bytes, got " + std::to_string(written) +
                         "; the stored copy may be corrupt; the local target was not changed");
  }
  const std::string digest = hasher.FinishHex();
  if (digest != file.sha256) {
    return DataLossError("integrity check failed for " + file.name + ": expected sha256 " + file.sha256 + ", got " +
                         digest + "; the stored copy may be corrupt; the local target was not changed");
  }
  if (::fsync(temp.fd()) != 0) return ErrnoStatus(errno, "fsync", temp.path());
  if (Status st = temp.Close(); !st.ok()) return st;
  if (::rename(temp.path().c_str(), target.c_str()) != 0) return ErrnoStatus(errno, "rename onto", target);
  temp.Release();
  return SyncDir(parent);
}

// ------------------------------------------------------------ fetch to target

namespace {

// An exclusive flock on `.<basename>.cairn-lock` beside the target, removed
// on release. After locking, the lock file is checked to still be the one at
// the path (same inode), so a concurrent remover cannot let two holders in.
class TargetLock {
 public:
  static StatusOr<std::unique_ptr<TargetLock>> Acquire(const std::filesystem::path& target) {
    const std::filesystem::path path =
        (target.parent_path().empty() ? std::filesystem::path(".") : target.parent_path()) /
        ("." + target.filename().string() + ".cairn-lock");
    while (true) {
      int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
      if (fd < 0) return ErrnoStatus(errno, "create lock file", path);
      int rc;
      do {
        rc = ::flock(fd, LOCK_EX);
      } while (rc != 0 && errno == EINTR);
      if (rc != 0) {
        Status st = ErrnoStatus(errno, "lock", path);
        ::close(fd);
        return st;
      }
      struct stat held {
      }, at_path{};
      if (::fstat(fd, &held) == 0 && ::stat(path.c_str(), &at_path) == 0 && held.st_ino == at_path.st_ino &&
          held.st_dev == at_path.st_dev) {
        return std::unique_ptr<TargetLock>(new TargetLock(fd, path));
      }
      ::close(fd);  // removed by its previous holder meanwhile: take the new one
    }
  }
  ~TargetLock() {
    ::unlink(path_.c_str());  // while still holding it: see Acquire
    ::close(fd_);
  }
  TargetLock(const TargetLock&) = delete;
  TargetLock& operator=(const TargetLock&) = delete;

 private:
  TargetLock(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::filesystem::path path_;
};

}  // namespace

StatusOr<FetchResult> FetchToTarget(Client& client, const RunPath& run, const FileInfo& file,
                                    const std::filesystem::path& target, bool replace, const ProgressFn& progress) {
  std::error_code ec;
  const std::filesystem::path parent = target.parent_path().empty() ? "." : target.parent_path();
  std::filesystem::create_directories(parent, ec);
  if (ec) return ErrnoStatus(ec.value(), "create directory", parent);
  StatusOr<std::unique_ptr<TargetLock>> lock = TargetLock::Acquire(target);
  if (!lock.ok()) return lock.status();
  // Under the lock: another thread or process may have just published it.
  auto st = std::filesystem::status(target, ec);
  if (std::filesystem::is_directory(st)) {
    return FailedPreconditionError("cannot restore " + file.name + " to " + target.string() +
                                   ": a directory is in the way; remove it or choose another root");
  }
  if (!replace && std::filesystem::exists(st)) return FetchResult::kAlreadyPresent;
  // Temps of this target left by a fetch that was killed: every live fetch of
  // it holds the lock we hold now, so they are abandoned.
  const std::string partial_prefix = "." + target.filename().string() + ".cairn-partial-";
  for (const auto& entry : std::filesystem::directory_iterator(parent, ec)) {
    if (entry.path().filename().string().rfind(partial_prefix, 0) == 0) std::filesystem::remove(entry.path(), ec);
  }
  if (Status s = client.Download(run, file, target, progress); !s.ok()) return s;
  return FetchResult::kDownloaded;
}

}  // namespace cairn::internal
