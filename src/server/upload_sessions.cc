#include "server/upload_sessions.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <nlohmann/json.hpp>
#include <system_error>

#include "common/fs.h"
#include "common/sha256.h"
#include "common/validate.h"
#include "store/verifying_writer.h"

namespace cairn::internal {
namespace {

constexpr std::size_t kCopyChunk = 1 << 20;

bool IsSessionId(const std::string& id) {
  return id.size() == 32 &&
         std::all_of(id.begin(), id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

long long MtimeMs(const std::filesystem::path& p) {
  struct stat st;
  if (::stat(p.c_str(), &st) != 0) return 0;
  return static_cast<long long>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

Status NotFound(const std::string& id) {
  return NotFoundError("upload " + id + " does not exist (it completed, was cancelled or expired): start a new upload");
}

// Closes a descriptor on every path out.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// One part, written at its offset of the session's data file; published by
// making the bytes durable and then marking the part.
class PartSink final : public BlobSink {
 public:
  PartSink(int fd, std::filesystem::path dir, std::uint64_t n, std::uint64_t offset)
      : fd_(fd), dir_(std::move(dir)), n_(n), offset_(offset) {}

  Status Write(const char* data, std::size_t n, std::uint64_t offset) override {
    const std::uint64_t at = offset_ + offset;
    return WriteAllToFd(fd_, data, n, static_cast<long long>(at), "write", dir_ / "data");
  }

  Status Publish(const std::string& /*sha256*/, std::uint64_t /*size*/) override {
    // The bytes first, then the marker: a marker always means a whole part.
    if (::fdatasync(fd_) != 0) return StorageErrnoStatus(errno, "fsync", dir_ / "data");
    const std::filesystem::path marker = dir_ / "parts" / std::to_string(n_);
    Fd m{::open(marker.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644)};
    if (m.fd < 0) return StorageErrnoStatus(errno, "create", marker);
    CAIRN_RETURN_IF_ERROR(SyncDir(marker.parent_path()));
    ::utimensat(AT_FDCWD, (dir_ / "session.json").c_str(), nullptr, 0);  // activity
    return OkStatus();
  }

  void Discard() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  std::filesystem::path dir_;
  std::uint64_t n_;
  std::uint64_t offset_;
};

}  // namespace

std::uint64_t UploadSession::PartLength(std::uint64_t n) const {
  const std::uint64_t start = n * part_size;
  return start >= size ? 0 : std::min(part_size, size - start);
}

StatusOr<std::unique_ptr<UploadSessions>> UploadSessions::Open(const std::filesystem::path& root,
                                                               std::chrono::seconds ttl) {
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) return StorageErrnoStatus(ec.value(), "create upload directory", root);
  std::unique_ptr<UploadSessions> sessions(new UploadSessions(root, ttl));
  sessions->RemoveExpired();
  return sessions;
}

void UploadSessions::RemoveExpired() {
  const long long now = NowMs();
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root_, ec)) {
    const long long touched = MtimeMs(entry.path() / "session.json");
    // A directory without session.json is a creation cut short by a crash.
    if (touched == 0 || now - touched > ttl_.count() * 1000) {
      std::error_code rm;
      std::filesystem::remove_all(entry.path(), rm);
    }
  }
}

StatusOr<UploadSession> UploadSessions::Create(const RunKey& run, const std::string& name, const std::string& sha256,
                                               std::uint64_t size, std::uint64_t part_size) {
  if (part_size < kMinPartSize) {
    return InvalidArgumentError("part_size " + std::to_string(part_size) + " is below the minimum of " +
                                std::to_string(kMinPartSize) + " bytes");
  }
  UploadSession s;
  s.run = run;
  s.name = name;
  s.sha256 = sha256;
  s.size = size;
  s.part_size = part_size;
  if (s.part_count() > kMaxParts) {
    return InvalidArgumentError("a " + std::to_string(size) + "-byte file in parts of " + std::to_string(part_size) +
                                " bytes needs more than " + std::to_string(kMaxParts) + " parts: use larger parts");
  }
  RemoveExpired();
  unsigned char random[32];
  if (RAND_bytes(random, sizeof random) != 1) return InternalError("OpenSSL RAND_bytes failed");
  s.id = Sha256Hex(std::string_view(reinterpret_cast<const char*>(random), sizeof random)).substr(0, 32);
  s.created_ms = s.touched_ms = NowMs();

  const std::filesystem::path dir = Dir(s.id);
  std::error_code ec;
  std::filesystem::create_directories(dir / "parts", ec);
  if (ec) return StorageErrnoStatus(ec.value(), "create", dir / "parts");
  const std::filesystem::path data = dir / "data";
  Fd fd{::open(data.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
  if (fd.fd < 0) return StorageErrnoStatus(errno, "create", data);
  if (::ftruncate(fd.fd, static_cast<off_t>(size)) != 0) return StorageErrnoStatus(errno, "size", data);
  nlohmann::json j{{"entity", run.entity},   {"project", run.project},    {"run", run.run_id},
                   {"name", name},           {"sha256", sha256},          {"size", size},
                   {"part_size", part_size}, {"created_ms", s.created_ms}};
  if (Status st = WriteFileAtomic(dir / "session.json", j.dump()); !st.ok()) {
    std::filesystem::remove_all(dir, ec);
    return st;
  }
  if (Status st = SyncDir(root_); !st.ok()) return st;
  return s;
}

StatusOr<UploadSession> UploadSessions::Get(const std::string& id) {
  if (!IsSessionId(id)) return NotFound(id);
  const std::filesystem::path dir = Dir(id);
  StatusOr<std::string> text = ReadSmallFile(dir / "session.json");
  if (!text.ok()) {
    return text.status().code() == StatusCode::kNotFound ? NotFound(id) : InternalError(text.status().message());
  }
  UploadSession s;
  s.id = id;
  s.touched_ms = MtimeMs(dir / "session.json");
  if (NowMs() - s.touched_ms > ttl_.count() * 1000) {
    Remove(id);
    return NotFound(id);
  }
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  try {
    s.run =
        RunKey{j.at("entity").get<std::string>(), j.at("project").get<std::string>(), j.at("run").get<std::string>()};
    s.name = j.at("name").get<std::string>();
    s.sha256 = j.at("sha256").get<std::string>();
    s.size = j.at("size").get<std::uint64_t>();
    s.part_size = j.at("part_size").get<std::uint64_t>();
    s.created_ms = j.at("created_ms").get<long long>();
  } catch (const nlohmann::json::exception& e) {
    return InternalError("upload session " + (dir / "session.json").string() + " is unreadable: " + e.what());
  }
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir / "parts", ec)) {
    const std::string part = entry.path().filename().string();
    std::uint64_t n = 0;
    if (part.find_first_not_of("0123456789") != std::string::npos || part.empty()) continue;
    n = std::stoull(part);
    if (n < s.part_count()) s.parts_received.push_back(n);
  }
  std::sort(s.parts_received.begin(), s.parts_received.end());
  return s;
}

StatusOr<std::unique_ptr<BlobWriter>> UploadSessions::NewPartWriter(const UploadSession& session, std::uint64_t n) {
  if (n >= session.part_count()) {
    return InvalidArgumentError("part " + std::to_string(n) + " is out of range: upload " + session.id +
                                " has parts 0-" + std::to_string(session.part_count() - 1));
  }
  const std::filesystem::path data = Dir(session.id) / "data";
  int fd = ::open(data.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? NotFound(session.id) : StorageErrnoStatus(errno, "open", data);
  return std::unique_ptr<BlobWriter>(
      std::make_unique<VerifyingWriter>(std::make_unique<PartSink>(fd, Dir(session.id), n, n * session.part_size),
                                        VerifyingWriterOptions{.what = "part writer",
                                                               .received = "part " + std::to_string(n) + " arrived as",
                                                               .advice = "send the part again",
                                                               .digest_optional = true}));
}

Status UploadSessions::AssembleInto(const UploadSession& session, BlobStore& blobs) {
  if (StatusOr<std::optional<std::uint64_t>> held = blobs.Stat(session.sha256);
      held.ok() && held->has_value() && **held == session.size) {
    return OkStatus();
  }
  if (session.parts_received.size() != session.part_count()) {
    std::string missing;
    std::size_t listed = 0, count = 0;
    for (std::uint64_t n = 0; n < session.part_count(); ++n) {
      if (std::binary_search(session.parts_received.begin(), session.parts_received.end(), n)) continue;
      ++count;
      if (listed++ < 10) missing += (missing.empty() ? "" : ", ") + std::to_string(n);
    }
    return FailedPreconditionError(std::to_string(count) + " of " + std::to_string(session.part_count()) +
                                   " parts of upload " + session.id + " are missing (" + missing +
                                   (count > 10 ? ", ..." : "") + "): send them, then complete again");
  }
  {
    MutexLock lock(mu_);
    if (!completing_.insert(session.id).second) {
      return UnavailableError("upload " + session.id + " is being completed by another request; retry shortly");
    }
  }
  struct Done {
    UploadSessions* self;
    std::string id;
    ~Done() {
      MutexLock lock(self->mu_);
      self->completing_.erase(id);
    }
  } done{this, session.id};

  const std::filesystem::path data = Dir(session.id) / "data";
  if (auto* adopter = dynamic_cast<LocalFileAdopter*>(&blobs); adopter != nullptr) {
    // Local blobs: the assembled file becomes the blob, without a copy.
    Status s = adopter->Adopt(data, session.sha256, session.size);
    if (s.code() == StatusCode::kDataLoss) Remove(session.id);  // its parts are wrong: start over
    if (s.code() != StatusCode::kFailedPrecondition) return s;
  }
  Fd fd{::open(data.c_str(), O_RDONLY | O_CLOEXEC)};
  if (fd.fd < 0) return errno == ENOENT ? NotFound(session.id) : StorageErrnoStatus(errno, "open", data);
  ::posix_fadvise(fd.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  StatusOr<std::unique_ptr<BlobWriter>> writer = blobs.NewWriter();
  if (!writer.ok()) return writer.status();
  std::unique_ptr<char[]> buf(new char[kCopyChunk]);
  for (std::uint64_t off = 0; off < session.size;) {
    ssize_t n =
        ::pread(fd.fd, buf.get(), static_cast<std::size_t>(std::min<std::uint64_t>(kCopyChunk, session.size - off)),
                static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return StorageErrnoStatus(errno, "read", data);
    if (n == 0)
      return DataLossError(data.string() + " is shorter than the upload's " + std::to_string(session.size) + " bytes");
    if (Status s = (*writer)->Append(buf.get(), static_cast<std::size_t>(n)); !s.ok()) return s;
    off += static_cast<std::uint64_t>(n);
  }
  Status s = (*writer)->Commit(session.sha256, session.size);
  if (s.code() == StatusCode::kDataLoss) Remove(session.id);  // its parts are wrong: start over
  return s;
}

void UploadSessions::Remove(const std::string& id) {
  if (!IsSessionId(id)) return;
  std::error_code ec;
  std::filesystem::remove_all(Dir(id), ec);
}

}  // namespace cairn::internal
