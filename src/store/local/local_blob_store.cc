#include "store/local/local_blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include "common/fs.h"
#include "common/sha256.h"
#include "store/verifying_writer.h"

namespace cairn::internal {
namespace {

constexpr const char* kTmpDir = "tmp";
constexpr std::size_t kAdoptChunk = 1 << 20;

// mkdir that treats "already there" as success; fsyncs the parent when it
// created the directory (unless the caller syncs the filesystem later), so
// that the entry survives a crash.
Status EnsureDir(const std::filesystem::path& dir, bool sync = true) {
  if (::mkdir(dir.c_str(), 0755) == 0) return sync ? SyncDir(dir.parent_path()) : OkStatus();
  if (errno == EEXIST) {
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return OkStatus();
    return FailedPreconditionError(dir.string() + " exists and is not a directory: move it away");
  }
  return StorageErrnoStatus(errno, "create directory", dir);
}

// Moves the durable file `file` into place as `final_path` and makes the
// rename durable; when the blob exists already (content-addressed: same
// bytes) the file is removed instead. kFailedPrecondition when `file` is on
// another filesystem.
// `sync` false: the caller syncs the filesystem afterwards (a BlobGroup).
Status PlaceBlob(const std::filesystem::path& file, const std::filesystem::path& final_path, bool sync = true) {
  if (Status s = EnsureDir(final_path.parent_path().parent_path(), sync); !s.ok()) return s;
  if (Status s = EnsureDir(final_path.parent_path(), sync); !s.ok()) return s;
  // Content-addressed: an existing blob already holds these bytes. Touch
  // it, so that gc's grace period covers it until our version row is in;
  // when gc took it away just now (ENOENT), publish our copy instead.
  if (::utimensat(AT_FDCWD, final_path.c_str(), nullptr, 0) == 0) {
    ::unlink(file.c_str());
    return OkStatus();
  }
  if (::rename(file.c_str(), final_path.c_str()) != 0) {
    if (errno == EXDEV) return FailedPreconditionError(file.string() + " is on another filesystem than the blobs");
    return StorageErrnoStatus(errno, "rename onto", final_path);
  }
  return sync ? SyncDir(final_path.parent_path()) : OkStatus();
}

// A temporary file under tmp/, renamed into place once verified.
class LocalBlobSink final : public BlobSink {
 public:
  LocalBlobSink(LocalBlobStore* store, int fd, std::filesystem::path tmp_path)
      : store_(store), fd_(fd), tmp_path_(std::move(tmp_path)) {}

  Status Write(const char* data, std::size_t n, std::uint64_t /*offset*/) override {
    return WriteAllToFd(fd_, data, n, -1, "write", tmp_path_);
  }

  Status Publish(const std::string& sha256, std::uint64_t /*size*/) override {
    if (::fsync(fd_) != 0) return StorageErrnoStatus(errno, "fsync", tmp_path_);
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return StorageErrnoStatus(errno, "close", tmp_path_);
    Status s = PlaceBlob(tmp_path_, store_->BlobPath(sha256));
    if (s.ok()) tmp_path_.clear();
    return s;
  }

  void Discard() override {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (!tmp_path_.empty()) {
      ::unlink(tmp_path_.c_str());
      tmp_path_.clear();
    }
  }

 private:
  LocalBlobStore* store_;
  int fd_;
  std::filesystem::path tmp_path_;  // empty once published or removed
};

// LocalBlobStore::NewGroup: temps staged by their sinks, placed at Sync().
class LocalBlobGroup final : public BlobGroup {
 public:
  explicit LocalBlobGroup(LocalBlobStore* store) : store_(store) {}
  ~LocalBlobGroup() override {
    for (const Staged& s : staged_) ::unlink(s.tmp.c_str());
  }
  LocalBlobGroup(const LocalBlobGroup&) = delete;
  LocalBlobGroup& operator=(const LocalBlobGroup&) = delete;

  StatusOr<std::unique_ptr<BlobWriter>> NewWriter() override;

  Status Sync() override {
    if (staged_.empty()) return OkStatus();
    const int fd = ::open(store_->root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return StorageErrnoStatus(errno, "open", store_->root());
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    // The data first, then the names: a crash never leaves a name without its bytes.
    if (::syncfs(fd) != 0) return StorageErrnoStatus(errno, "syncfs", store_->root());
    while (!staged_.empty()) {
      const Staged& s = staged_.back();
      CAIRN_RETURN_IF_ERROR(PlaceBlob(s.tmp, store_->BlobPath(s.sha256), /*sync=*/false));
      staged_.pop_back();
    }
    if (::syncfs(fd) != 0) return StorageErrnoStatus(errno, "syncfs", store_->root());
    return OkStatus();
  }

  void Stage(std::filesystem::path tmp, std::string sha256) { staged_.push_back({std::move(tmp), std::move(sha256)}); }

 private:
  struct Staged {
    std::filesystem::path tmp;
    std::string sha256;
  };
  LocalBlobStore* store_;
  std::vector<Staged> staged_;  // verified, closed, not yet durable or placed
};

// A group's temp: written, verified, closed, then handed to the group.
class LocalGroupSink final : public BlobSink {
 public:
  LocalGroupSink(LocalBlobGroup* group, int fd, std::filesystem::path tmp_path)
      : group_(group), fd_(fd), tmp_path_(std::move(tmp_path)) {}

  Status Write(const char* data, std::size_t n, std::uint64_t /*offset*/) override {
    return WriteAllToFd(fd_, data, n, -1, "write", tmp_path_);
  }
  Status Publish(const std::string& sha256, std::uint64_t /*size*/) override {
    const int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return StorageErrnoStatus(errno, "close", tmp_path_);
    group_->Stage(std::exchange(tmp_path_, {}), sha256);
    return OkStatus();
  }
  void Discard() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (!tmp_path_.empty()) ::unlink(tmp_path_.c_str());
    tmp_path_.clear();
  }

 private:
  LocalBlobGroup* group_;
  int fd_;
  std::filesystem::path tmp_path_;  // empty once staged or removed
};

StatusOr<std::unique_ptr<BlobWriter>> LocalBlobGroup::NewWriter() {
  std::string tmpl = (store_->root() / kTmpDir / "upload-XXXXXX").string();
  const int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return StorageErrnoStatus(errno, "create temporary file in", store_->root() / kTmpDir);
  return std::unique_ptr<BlobWriter>(
      std::make_unique<VerifyingWriter>(std::make_unique<LocalGroupSink>(this, fd, std::move(tmpl))));
}

class LocalBlobReader final : public BlobReader, public LocalFileRange {
 public:
  LocalBlobReader(int fd, std::filesystem::path path, std::uint64_t offset, std::uint64_t length)
      : fd_(fd), path_(std::move(path)), offset_(offset), remaining_(length) {}
  ~LocalBlobReader() override { ::close(fd_); }

  int fd() const override { return fd_; }
  std::uint64_t offset() const override { return offset_; }

  StatusOr<std::size_t> Read(void* buf, std::size_t n) override {
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(n, remaining_));
    if (want == 0) return std::size_t{0};
    for (;;) {
      ssize_t r = ::pread(fd_, buf, want, static_cast<off_t>(offset_));
      if (r < 0) {
        if (errno == EINTR) continue;
        return StorageErrnoStatus(errno, "read", path_);
      }
      if (r == 0) {
        return DataLossError("blob " + path_.string() + " ended " + std::to_string(remaining_) +
                             " bytes early: it was truncated");
      }
      offset_ += static_cast<std::uint64_t>(r);
      remaining_ -= static_cast<std::uint64_t>(r);
      return static_cast<std::size_t>(r);
    }
  }

 private:
  int fd_;
  std::filesystem::path path_;
  std::uint64_t offset_;
  std::uint64_t remaining_;
};

long long MtimeMs(const struct stat& st) {
  return static_cast<long long>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

// A fan-out directory name: two lowercase hex digits.
bool IsHexPair(const std::string& s) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  return s.size() == 2 && hex(s[0]) && hex(s[1]);
}

}  // namespace

StatusOr<std::unique_ptr<LocalBlobStore>> LocalBlobStore::Open(const std::filesystem::path& root,
                                                               const LocalBlobStoreOptions& options) {
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) return StorageErrnoStatus(ec.value(), "create blob directory", root);
  const std::filesystem::path tmp = root / kTmpDir;
  if (Status s = EnsureDir(tmp); !s.ok()) return s;
  if (!options.clear_uploads) return std::unique_ptr<LocalBlobStore>(new LocalBlobStore(root));
  // Uploads that were in progress when the previous server stopped.
  for (const auto& entry : std::filesystem::directory_iterator(tmp, ec)) {
    std::error_code rm_ec;
    std::filesystem::remove_all(entry.path(), rm_ec);
  }
  if (ec) return StorageErrnoStatus(ec.value(), "list", tmp);
  return std::unique_ptr<LocalBlobStore>(new LocalBlobStore(root));
}

Status LocalBlobStore::Adopt(const std::filesystem::path& file, const std::string& sha256, std::uint64_t size) {
  if (!IsSha256Hex(sha256)) return InvalidArgumentError("\"" + sha256 + "\" is not a lowercase hex SHA-256");
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return StorageErrnoStatus(errno, "open", file);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  Sha256 hasher;
  std::unique_ptr<char[]> buf(new char[kAdoptChunk]);
  std::uint64_t got = 0;
  for (;;) {
    ssize_t n = ::pread(fd, buf.get(), kAdoptChunk, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return StorageErrnoStatus(errno, "read", file);
    if (n == 0) break;
    hasher.Update(buf.get(), static_cast<std::size_t>(n));
    got += static_cast<std::uint64_t>(n);
  }
  const std::string actual = hasher.FinishHex();
  if (actual != sha256 || got != size) {
    return DataLossError("assembled " + std::to_string(got) + " bytes with SHA-256 " + actual + ", expected " +
                         std::to_string(size) + " bytes with SHA-256 " + sha256 + "; nothing was stored");
  }
  if (::fsync(fd) != 0) return StorageErrnoStatus(errno, "fsync", file);
  return PlaceBlob(file, BlobPath(sha256));
}

std::filesystem::path LocalBlobStore::BlobPath(const std::string& sha256) const {
  return root_ / sha256.substr(0, 2) / sha256.substr(2, 2) / sha256;
}

StatusOr<std::unique_ptr<BlobWriter>> LocalBlobStore::NewWriter() {
  std::string tmpl = (root_ / kTmpDir / "upload-XXXXXX").string();
  int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return StorageErrnoStatus(errno, "create temporary file in", root_ / kTmpDir);
  return std::unique_ptr<BlobWriter>(
      std::make_unique<VerifyingWriter>(std::make_unique<LocalBlobSink>(this, fd, std::move(tmpl))));
}

std::unique_ptr<BlobGroup> LocalBlobStore::NewGroup() { return std::make_unique<LocalBlobGroup>(this); }

StatusOr<std::optional<std::uint64_t>> LocalBlobStore::Stat(const std::string& sha256) {
  if (!IsSha256Hex(sha256)) return InvalidArgumentError("\"" + sha256 + "\" is not a lowercase hex SHA-256");
  const std::filesystem::path path = BlobPath(sha256);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<std::uint64_t>();
    return StorageErrnoStatus(errno, "stat", path);
  }
  return std::optional<std::uint64_t>(static_cast<std::uint64_t>(st.st_size));
}

StatusOr<std::unique_ptr<BlobReader>> LocalBlobStore::Open(const std::string& sha256, std::uint64_t offset,
                                                           std::uint64_t length) {
  if (!IsSha256Hex(sha256)) return InvalidArgumentError("\"" + sha256 + "\" is not a lowercase hex SHA-256");
  const std::filesystem::path path = BlobPath(sha256);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError("blob " + sha256 + " is missing from the blob store");
    return StorageErrnoStatus(errno, "open", path);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    Status s = StorageErrnoStatus(errno, "stat", path);
    ::close(fd);
    return s;
  }
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (offset > size || length > size - offset) {
    ::close(fd);
    return InvalidArgumentError("range " + std::to_string(offset) + "+" + std::to_string(length) + " is outside blob " +
                                sha256 + " of " + std::to_string(size) + " bytes");
  }
  ::posix_fadvise(fd, static_cast<off_t>(offset), static_cast<off_t>(length), POSIX_FADV_SEQUENTIAL);
  return std::unique_ptr<BlobReader>(new LocalBlobReader(fd, path, offset, length));
}

Status LocalBlobStore::ListBlobs(const std::function<Status(const BlobInfo&)>& fn) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const fs::directory_entry& a : fs::directory_iterator(root_, ec)) {
    if (!IsHexPair(a.path().filename().string()) || !a.is_directory()) continue;
    for (const fs::directory_entry& b : fs::directory_iterator(a.path(), ec)) {
      if (!IsHexPair(b.path().filename().string()) || !b.is_directory()) continue;
      for (const fs::directory_entry& f : fs::directory_iterator(b.path(), ec)) {
        const std::string sha = f.path().filename().string();
        if (!IsSha256Hex(sha) || BlobPath(sha) != f.path()) continue;
        struct stat st;
        if (::lstat(f.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // gone meanwhile, or not a file
        if (Status s = fn(BlobInfo{sha, static_cast<std::uint64_t>(st.st_size), MtimeMs(st)}); !s.ok()) return s;
      }
      if (ec) return StorageErrnoStatus(ec.value(), "list", b.path());
    }
    if (ec) return StorageErrnoStatus(ec.value(), "list", a.path());
  }
  if (ec) return StorageErrnoStatus(ec.value(), "list", root_);
  return OkStatus();
}

StatusOr<bool> LocalBlobStore::RemoveBlob(const std::string& sha256, long long modified_before_ms) {
  if (!IsSha256Hex(sha256)) return InvalidArgumentError("\"" + sha256 + "\" is not a lowercase hex SHA-256");
  const std::filesystem::path path = BlobPath(sha256);
  const std::filesystem::path parked = root_ / kTmpDir / ("gc-" + sha256);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return false;
    return StorageErrnoStatus(errno, "stat", path);
  }
  if (MtimeMs(st) >= modified_before_ms) return false;
  if (::rename(path.c_str(), parked.c_str()) != 0) {
    if (errno == ENOENT) return false;
    return StorageErrnoStatus(errno, "move aside", path);
  }
  // A Commit() that touched the blob before our rename shows here; one after
  // it found nothing and published its own copy.
  if (::stat(parked.c_str(), &st) == 0 && MtimeMs(st) >= modified_before_ms) {
    if (::link(parked.c_str(), path.c_str()) != 0 && errno != EEXIST) {
      return StorageErrnoStatus(errno, "put back", path);
    }
    ::unlink(parked.c_str());
    return false;
  }
  // Not fsynced (a directory fsync per blob made gc 100x slower): after a
  // crash a removed orphan may come back, and the next gc removes it again.
  if (::unlink(parked.c_str()) != 0 && errno != ENOENT) return StorageErrnoStatus(errno, "remove", parked);
  return true;
}

}  // namespace cairn::internal
