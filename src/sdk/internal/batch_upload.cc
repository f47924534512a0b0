// Client::UploadBatch: many small files in one streamed PUT .../batch
// (docs/http-api.md, "Batch saves"), committed by the server in one
// transaction. The body is, per file, "<sha256> <size> <name, percent-
// encoded>\n" then the file's bytes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/sha256.h"
#include "common/validate.h"
#include "sdk/internal/client.h"
#include "sdk/internal/client_impl.h"
#include "sdk/internal/connection.h"
#include "sdk/internal/upload_parts.h"

namespace cairn::internal {
namespace {

struct Record {
  std::string name;
  std::filesystem::path local;
  std::string header;  // "<sha> <size> <name>\n"
  std::string sha256;
  std::uint64_t size = 0;
};

// Hashes one file (the digest the server will verify).
Status HashFile(const std::filesystem::path& local, std::string* sha, std::uint64_t* size) {
  const int fd = ::open(local.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", local);
  Sha256 hasher;
  std::vector<char> buf(256 * 1024);
  std::uint64_t total = 0;
  Status st;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) st = ErrnoStatus(errno, "read", local);
    if (n <= 0) break;
    hasher.Update(buf.data(), static_cast<std::size_t>(n));
    total += static_cast<std::uint64_t>(n);
  }
  ::close(fd);
  *sha = hasher.FinishHex();
  *size = total;
  return st;
}

// The body, produced in order by read_body (bounded memory: one file open).
class BatchBody {
 public:
  // `max_send_bytes_per_s`: ThrottleSend's pace (0: none).
  BatchBody(const std::vector<Record>& records, std::uint64_t max_send_bytes_per_s)
      : records_(records), max_send_bytes_per_s_(max_send_bytes_per_s) {
    for (const Record& r : records_) size_ += r.header.size() + r.size;
  }
  ~BatchBody() { CloseFile(); }
  BatchBody(const BatchBody&) = delete;
  BatchBody& operator=(const BatchBody&) = delete;

  std::uint64_t size() const { return size_; }
  const Status& error() const { return error_; }

  std::optional<std::size_t> Read(char* buf, std::size_t n, std::uint64_t offset) {
    if (offset == 0) Restart();
    if (offset != sent_) {
      error_ = InternalError("unexpected seek while sending a batch");
      return std::nullopt;
    }
    std::size_t filled = 0;
    while (filled < n && index_ < records_.size()) {
      const Record& r = records_[index_];
      if (pos_ < r.header.size()) {
        const std::size_t k = std::min(n - filled, r.header.size() - pos_);
        std::copy_n(r.header.data() + pos_, k, buf + filled);
        filled += k;
        pos_ += k;
      } else if (!ReadFileBytes(r, buf, n, &filled)) {
        return std::nullopt;
      }
      if (pos_ == r.header.size() + r.size) {
        if (!FinishFile(r)) return std::nullopt;
        ++index_;
        pos_ = 0;
      }
    }
    sent_ += filled;
    ThrottleSend(filled, max_send_bytes_per_s_);
    return filled;
  }

 private:
  void Restart() {
    CloseFile();
    index_ = 0;
    pos_ = 0;
    sent_ = 0;
    error_ = OkStatus();
  }
  void CloseFile() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  Status Changed(const Record& r, const std::string& how) {
    return FailedPreconditionError(r.local.string() + " changed while it was being saved as " + r.name + " (" + how +
                                   "); nothing of this batch was committed; save it again once it is written");
  }
  bool ReadFileBytes(const Record& r, char* buf, std::size_t n, std::size_t* filled) {
    if (fd_ < 0) {
      fd_ = ::open(r.local.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ < 0) return Fail(ErrnoStatus(errno, "open", r.local));
      hash_ = Sha256();
    }
    const std::uint64_t at = pos_ - r.header.size();
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(n - *filled, r.size - at));
    ssize_t got;
    do {
      got = ::pread(fd_, buf + *filled, want, static_cast<off_t>(at));
    } while (got < 0 && errno == EINTR);
    if (got < 0) return Fail(ErrnoStatus(errno, "read", r.local));
    if (got == 0) return Fail(Changed(r, "it became shorter"));
    hash_.Update(buf + *filled, static_cast<std::size_t>(got));
    *filled += static_cast<std::size_t>(got);
    pos_ += static_cast<std::uint64_t>(got);
    return true;
  }
  // The file's last byte is only handed over once it still matches.
  bool FinishFile(const Record& r) {
    if (r.size == 0) hash_ = Sha256();
    struct stat now {};
    if (fd_ >= 0 && ::fstat(fd_, &now) == 0 && static_cast<std::uint64_t>(now.st_size) != r.size) {
      return Fail(Changed(r, "its size changed"));
    }
    CloseFile();
    if (hash_.FinishHex() != r.sha256) return Fail(Changed(r, "its SHA-256 changed"));
    return true;
  }
  bool Fail(Status s) {
    error_ = std::move(s);
    CloseFile();
    return false;
  }

  const std::vector<Record>& records_;
  const std::uint64_t max_send_bytes_per_s_;
  std::uint64_t size_ = 0;
  std::size_t index_ = 0;  // the record being sent
  std::uint64_t pos_ = 0;  // bytes of it sent (header, then file)
  std::uint64_t sent_ = 0;
  int fd_ = -1;
  Sha256 hash_;
  Status error_;
};

StatusOr<std::vector<FileInfo>> ParseBatchAnswer(const std::string& body, const std::vector<Record>& records,
                                                 const std::string& what) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("files") || !j["files"].is_array() || j["files"].size() != records.size()) {
    return InternalError("unexpected answer from the server for " + what + ": " + body.substr(0, 200));
  }
  std::vector<FileInfo> out;
  for (std::size_t i = 0; i < records.size(); ++i) {
    StatusOr<FileInfo> info = FileFromJson(j["files"][i], what);
    if (!info.ok()) return info.status();
    if (info->name != records[i].name || info->sha256 != records[i].sha256 || info->size != records[i].size) {
      return DataLossError(what + ": the server committed " + info->name + " as " + info->sha256 + " (" +
                           std::to_string(info->size) + " bytes) but the file has " + records[i].sha256 + " (" +
                           std::to_string(records[i].size) + " bytes); the server may be faulty");
    }
    out.push_back(*std::move(info));
  }
  return out;
}

}  // namespace

StatusOr<std::vector<FileInfo>> Client::UploadBatch(const RunPath& run, const std::vector<BatchItem>& files) {
  std::vector<Record> records;
  records.reserve(files.size());
  for (const BatchItem& f : files) {
    if (Status st = ValidateFileName(f.name); !st.ok()) return st;
    Record r{f.name, f.local, "", "", 0};
    if (Status st = HashFile(f.local, &r.sha256, &r.size); !st.ok()) return st;
    r.header = r.sha256 + " " + std::to_string(r.size) + " " + UrlEncode(f.name, /*keep_slash=*/true) + "\n";
    records.push_back(std::move(r));
  }
  const std::string what = "saving " + std::to_string(files.size()) + " files to run " + run.ToString();
  BatchBody body(records, tunables_.max_send_bytes_per_s);
  HttpClientRequest req;
  req.method = "PUT";
  req.target = RunTarget(run) + "/batch";
  req.body_size = body.size();
  req.read_body = [&body](char* buf, std::size_t n, std::uint64_t offset) { return body.Read(buf, n, offset); };
  // As Client::Upload: an error answer or a failed connect committed nothing
  // and is retried (by the retrying connection); a connection lost after the
  // body was sent is not.
  CallResult call = impl_->connection->Call(req, {.idempotency = Idempotency::kUnlessCommitted});
  if (auto* resp = std::get_if<HttpClientResponse>(&call.outcome)) {
    if (resp->status / 100 == 2) return ParseBatchAnswer(resp->body, records, what);
    return StatusFromResponse(*resp, req.method, impl_->connection->Url(req.target), what,
                              impl_->connection->has_api_key());
  }
  if (!body.error().ok()) return body.error();
  return std::get<TransportError>(call.outcome).status;
}

}  // namespace cairn::internal
