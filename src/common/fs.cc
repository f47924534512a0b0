#include "common/fs.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

namespace cairn::internal {

Status ErrnoStatus(int err, std::string_view op, const std::filesystem::path& path) {
  std::string msg = std::string(op) + " " + path.string() + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return NotFoundError(msg);
    case EACCES:
    case EPERM:
    case EROFS:
      return PermissionDeniedError(msg + " (check the directory's permissions)");
    case ENOSPC:
    case EDQUOT:
      return ResourceExhaustedError(msg + " (free some space and try again)");
    case EEXIST:
      return AlreadyExistsError(msg);
    case EISDIR:
      return FailedPreconditionError(msg + " (a directory is in the way)");
    case EINVAL:
    case ENAMETOOLONG:
      return InvalidArgumentError(msg);
    case EINTR:
    case EAGAIN:
    case EIO:
      return UnavailableError(msg);
    default:
      return InternalError(msg);
  }
}

Status StorageErrnoStatus(int err, std::string_view op, const std::filesystem::path& path) {
  Status s = ErrnoStatus(err, op, path);
  switch (s.code()) {
    case StatusCode::kResourceExhausted:
    case StatusCode::kUnavailable:
      return s;
    default:
      return InternalError(s.message());
  }
}

Status SyncDir(const std::filesystem::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open directory", dir);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL) return ErrnoStatus(err, "fsync directory", dir);
  return OkStatus();
}

std::string RandomSuffix() {
  unsigned char r[6];
  if (RAND_bytes(r, sizeof r) != 1) {
    // Uniqueness, not secrecy, is needed: fall back to the pid and a counter.
    static std::atomic<unsigned> counter{0};
    unsigned v = static_cast<unsigned>(::getpid()) * 2654435761u + counter++;
    for (auto& b : r) {
      b = static_cast<unsigned char>(v);
      v = v * 1103515245u + 12345u;
    }
  }
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5]);
  return suffix;
}

Status WriteFileAtomic(const std::filesystem::path& path, std::string_view content, int mode) {
  std::filesystem::path tmp = path;
  tmp += ".tmp-" + RandomSuffix();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus(errno, "create", tmp);
  auto fail = [&](int err, std::string_view op) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return ErrnoStatus(err, op, tmp);
  };
  ::fchmod(fd, static_cast<mode_t>(mode));  // umask must not widen or narrow what was asked
  std::size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno, "write");
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return fail(errno, "fsync");
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus(err, "rename onto", path);
  }
  return SyncDir(path.parent_path());
}

StatusOr<std::string> ReadSmallFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoStatus(errno ? errno : ENOENT, "open", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string FormatTimeMs(long long unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(unix_ms % 1000));
  return buf;
}

long long NowMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace cairn::internal
