#include "store/s3/s3_blob_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <future>
#include <system_error>
#include <vector>

#include "common/fs.h"
#include "common/sha256.h"
#include "store/verifying_writer.h"

namespace cairn::internal {
namespace {

constexpr const char* kPut = "PUT";

// Hashes [offset, offset+length) of a file.
StatusOr<std::string> HashRange(int fd, std::uint64_t offset, std::uint64_t length, const std::string& what) {
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (length > 0) {
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(length, buf.size()));
    ssize_t r = ::pread(fd, buf.data(), want, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return StorageErrnoStatus(r < 0 ? errno : EIO, "read staging file of", what);
    h.Update(buf.data(), static_cast<std::size_t>(r));
    offset += static_cast<std::uint64_t>(r);
    length -= static_cast<std::uint64_t>(r);
  }
  return h.FinishHex();
}

std::optional<std::uint64_t> ParseU64(const std::string& s) {
  std::uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// An anonymous staging file, sent to the bucket once verified.
class S3BlobSink final : public BlobSink {
 public:
  S3BlobSink(S3BlobStore* store, int fd) : store_(store), fd_(fd) {}

  Status Write(const char* data, std::size_t n, std::uint64_t /*offset*/) override {
    return WriteAllToFd(fd_, data, n, -1, "write upload staging file in", store_->options().staging_dir);
  }

  Status Publish(const std::string& sha256, std::uint64_t size) override {
    size_ = size;
    return PublishBlob(sha256);
  }

  void Discard() override {
    if (fd_ >= 0) {
      ::close(fd_);  // the file was unlinked at creation: this frees it
      fd_ = -1;
    }
  }

 private:
  Status PublishBlob(const std::string& sha256) {
    // Already there (content-addressed): nothing to send.
    StatusOr<std::optional<std::uint64_t>> existing = store_->Stat(sha256);
    if (!existing.ok()) return existing.status();
    if (existing->has_value() && **existing == size_) return store_->Touch(sha256);
    const std::string key = store_->ObjectKey(sha256);
    if (size_ <= store_->options().multipart_threshold) {
      StatusOr<S3Response> r = store_->client().Send(kPut, key, {}, {{"If-None-Match", "*"}},
                                                     S3Body{.fd = fd_, .offset = 0, .length = size_, .sha256 = sha256});
      if (!r.ok()) return r.status();
      if (r->http_status == 412) return OkStatus();  // a concurrent upload of the same bytes won
      return S3Status(*r, "upload blob " + sha256);
    }
    return PublishMultipart(sha256, key);
  }

  Status PublishMultipart(const std::string& sha256, const std::string& key) {
    S3Client& c = store_->client();
    StatusOr<S3Response> init = c.Send("POST", key, {{"uploads", ""}}, {}, S3Body{}, /*idempotent=*/false);
    if (!init.ok()) return init.status();
    if (Status s = S3Status(*init, "start multipart upload of blob " + sha256); !s.ok()) return s;
    const std::string upload_id = XmlValue(init->body, "UploadId");
    if (upload_id.empty()) return InternalError("start multipart upload of blob " + sha256 + ": no UploadId in answer");
    Status s = UploadParts(sha256, key, upload_id);
    if (!s.ok()) {
      // Abort so that the store drops the parts; best effort.
      (void)c.Send("DELETE", key, {{"uploadId", upload_id}}, {}, S3Body{});
    }
    return s;
  }

  Status UploadParts(const std::string& sha256, const std::string& key, const std::string& upload_id) {
    S3Client& c = store_->client();
    const std::uint64_t part_size = std::max<std::uint64_t>(store_->options().part_size, 5ull << 20);
    std::string complete = "<CompleteMultipartUpload>";
    int number = 1;
    for (std::uint64_t offset = 0; offset < size_; offset += part_size, ++number) {
      const std::uint64_t length = std::min(part_size, size_ - offset);
      StatusOr<std::string> part_sha = HashRange(fd_, offset, length, sha256);
      if (!part_sha.ok()) return part_sha.status();
      StatusOr<S3Response> r = c.Send(kPut, key, {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}}, {},
                                      S3Body{.fd = fd_, .offset = offset, .length = length, .sha256 = *part_sha});
      if (!r.ok()) return r.status();
      if (Status s = S3Status(*r, "upload part " + std::to_string(number) + " of blob " + sha256); !s.ok()) return s;
      auto etag = r->headers.find("etag");
      if (etag == r->headers.end()) return InternalError("upload part of blob " + sha256 + ": no ETag in answer");
      complete +=
          "<Part><PartNumber>" + std::to_string(number) + "</PartNumber><ETag>" + etag->second + "</ETag></Part>";
    }
    complete += "</CompleteMultipartUpload>";
    StatusOr<S3Response> done = c.Send("POST", key, {{"uploadId", upload_id}}, {},
                                       S3Body{.data = complete, .sha256 = Sha256Hex(complete)}, /*idempotent=*/false);
    if (!done.ok()) return done.status();
    // CompleteMultipartUpload may answer 200 with an <Error> body.
    if (done->http_status == 200 && done->body.find("<Error>") != std::string::npos) done->http_status = 500;
    if (Status s = S3Status(*done, "complete multipart upload of blob " + sha256); !s.ok()) return s;
    StatusOr<std::optional<std::uint64_t>> stored = store_->Stat(sha256);
    if (!stored.ok()) return stored.status();
    if (!stored->has_value() || **stored != size_) {
      return DataLossError("blob " + sha256 + " has the wrong size in the object store after its multipart upload");
    }
    return OkStatus();
  }

  S3BlobStore* store_;
  int fd_;
  std::uint64_t size_ = 0;
};

// One ranged GET of [first, last] of a blob. kNotFound when the object is
// gone; kInvalidArgument when the range is outside it; kDataLoss when fewer
// bytes come back.
StatusOr<std::string> FetchRange(S3BlobStore* store, const std::string& sha256, std::uint64_t first, std::uint64_t last,
                                 std::uint64_t end) {
  const std::string range = "bytes=" + std::to_string(first) + "-" + std::to_string(last);
  StatusOr<S3Response> r = store->client().Send("GET", store->ObjectKey(sha256), {}, {{"Range", range}}, S3Body{});
  if (!r.ok()) return r.status();
  if (r->http_status == 404) return NotFoundError("blob " + sha256 + " is missing from the object store");
  if (r->http_status == 416) return InvalidArgumentError("range " + range + " is outside blob " + sha256);
  if (Status s = S3Status(*r, "read blob " + sha256); !s.ok()) return s;
  // Content-Range: bytes A-B/TOTAL; the whole requested range must be inside.
  if (auto cr = r->headers.find("content-range"); cr != r->headers.end()) {
    std::optional<std::uint64_t> total = ParseU64(cr->second.substr(cr->second.find('/') + 1));
    if (total.has_value() && end > *total) {
      return InvalidArgumentError("range ending at " + std::to_string(end) + " is outside blob " + sha256 + " of " +
                                  std::to_string(*total) + " bytes");
    }
  }
  if (r->body.size() != last - first + 1) {
    return DataLossError("blob " + sha256 + " returned " + std::to_string(r->body.size()) + " bytes for " + range +
                         ": the object is truncated");
  }
  return std::move(r->body);
}

// Reads a range window by window, fetching the next window in the
// background while the caller consumes the current one (two windows of
// memory at most).
class S3BlobReader final : public BlobReader {
 public:
  S3BlobReader(S3BlobStore* store, std::string sha256, std::uint64_t offset, std::uint64_t length)
      : store_(store), sha256_(std::move(sha256)), next_(offset), end_(offset + length) {}
  ~S3BlobReader() override {
    if (ahead_.valid()) ahead_.wait();
  }

  // Makes the next window current (fetching it now unless it was fetched
  // ahead), then starts fetching the one after.
  Status Fill() {
    StatusOr<std::string> window = ahead_.valid() ? ahead_.get() : Fetch();
    if (!window.ok()) return window.status();
    buffer_ = std::move(window).value();
    pos_ = 0;
    if (next_ < end_) ahead_ = std::async(std::launch::async, [this] { return Fetch(); });
    return OkStatus();
  }

  StatusOr<std::size_t> Read(void* buf, std::size_t n) override {
    if (pos_ == buffer_.size()) {
      if (!ahead_.valid() && next_ >= end_) return std::size_t{0};  // no fetch running: next_ is ours
      if (Status s = Fill(); !s.ok()) return s;
    }
    const std::size_t k = std::min(n, buffer_.size() - pos_);
    std::copy_n(buffer_.data() + pos_, k, static_cast<char*>(buf));
    pos_ += k;
    return k;
  }

 private:
  // The window starting at next_ (advances next_; runs on one thread at a time).
  StatusOr<std::string> Fetch() {
    const std::uint64_t first = next_;
    const std::uint64_t last = std::min<std::uint64_t>(end_, first + store_->options().read_window) - 1;
    next_ = last + 1;
    return FetchRange(store_, sha256_, first, last, end_);
  }

  S3BlobStore* store_;
  std::string sha256_;
  std::uint64_t next_;  // first byte not yet requested; touched only by the one running Fetch()
  std::uint64_t end_;
  std::string buffer_;
  std::size_t pos_ = 0;
  std::future<StatusOr<std::string>> ahead_;  // the next window, when being fetched
};

// "2026-11-29T09:30:00.000Z" (ListObjectsV2) or "Sun, 29 Nov 2026 09:30:00 GMT"
// (Last-Modified) as unix ms; 0 when unparsable.
long long ParseS3Time(const std::string& text) {
  std::tm tm{};
  const char* end = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr) end = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S", &tm);
  if (end == nullptr) return 0;
  return static_cast<long long>(::timegm(&tm)) * 1000;
}

}  // namespace

StatusOr<std::unique_ptr<S3BlobStore>> S3BlobStore::Open(const std::string& url, const S3BlobStoreOptions& options) {
  StatusOr<S3Location> location = ParseS3Url(url);
  if (!location.ok()) return location.status();
  StatusOr<S3Credentials> creds = LoadS3Credentials(location->credentials_file);
  if (!creds.ok()) return creds.status();
  if (options.staging_dir.empty()) return InvalidArgumentError("the S3 blob store needs a staging directory");
  std::error_code ec;
  std::filesystem::create_directories(options.staging_dir, ec);
  if (ec) return StorageErrnoStatus(ec.value(), "create staging directory", options.staging_dir);
  std::unique_ptr<S3BlobStore> store(new S3BlobStore(*location, *creds, options));
  // The bucket must exist and accept our credentials.
  StatusOr<S3Response> head = store->client_.Send("HEAD", "", {}, {}, S3Body{});
  if (!head.ok()) return head.status();
  if (head->http_status == 404) {
    return FailedPreconditionError("bucket " + location->bucket + " does not exist at " + location->endpoint +
                                   ": create it or fix the s3:// URL");
  }
  if (Status s = S3Status(*head, "open bucket " + location->bucket + " at " + location->endpoint); !s.ok()) return s;
  return store;
}

std::string S3BlobStore::ObjectKey(const std::string& sha256) const {
  const std::string& prefix = client_.location().prefix;
  return (prefix.empty() ? "" : prefix + "/") + sha256.substr(0, 2) + "/" + sha256.substr(2, 2) + "/" + sha256;
}

StatusOr<std::unique_ptr<BlobWriter>> S3BlobStore::NewWriter() {
  std::string tmpl = (options_.staging_dir / "upload-XXXXXX").string();
  int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return StorageErrnoStatus(errno, "create staging file in", options_.staging_dir);
  ::unlink(tmpl.c_str());  // anonymous from now on: nothing is left behind by a crash
  return std::unique_ptr<BlobWriter>(std::make_unique<VerifyingWriter>(std::make_unique<S3BlobSink>(this, fd)));
}

StatusOr<std::optional<std::uint64_t>> S3BlobStore::Stat(const std::string& sha256) {
  if (!IsSha256Hex(sha256)) return InvalidArgumentError("\"" + sha256 + "\" is not a lowercase hex SHA-256");
  StatusOr<S3Response> r = client_.Send("HEAD", ObjectKey(sha256), {}, {}, S3Body{});
  if (!r.ok()) return r.status();
  if (r->http_status == 404) return std::optional<std::uint64_t>();
  if (Status s = S3Status(*r, "stat blob " + sha256); !s.ok()) return s;
  auto len = r->headers.find("content-length");
  std::optional<std::uint64_t> size = len == r->headers.end() ? std::nullopt : ParseU64(len->second);
  if (!size.has_value()) return InternalError("stat blob " + sha256 + ": no Content-Length in the answer");
  return std::optional<std::uint64_t>(*size);
}

StatusOr<std::unique_ptr<BlobReader>> S3BlobStore::Open(const std::string& sha256, std::uint64_t offset,
                                                        std::uint64_t length) {
  if (!IsSha256Hex(sha256)) return InvalidArgumentError("\"" + sha256 + "\" is not a lowercase hex SHA-256");
  auto reader = std::make_unique<S3BlobReader>(this, sha256, offset, length);
  if (length == 0) {
    StatusOr<std::optional<std::uint64_t>> size = Stat(sha256);
    if (!size.ok()) return size.status();
    if (!size->has_value()) return NotFoundError("blob " + sha256 + " is missing from the object store");
    if (offset > **size) {
      return InvalidArgumentError("range " + std::to_string(offset) + "+0 is outside blob " + sha256 + " of " +
                                  std::to_string(**size) + " bytes");
    }
    return std::unique_ptr<BlobReader>(std::move(reader));
  }
  // The first window now: a missing object or a bad range is reported by
  // Open(), before the caller has promised anything to its client.
  if (Status s = reader->Fill(); !s.ok()) return s;
  return std::unique_ptr<BlobReader>(std::move(reader));
}

StatusOr<std::string> S3BlobStore::PresignGet(const std::string& sha256, std::chrono::seconds ttl,
                                              const std::string& content_disposition) {
  if (!IsSha256Hex(sha256)) return InvalidArgumentError("\"" + sha256 + "\" is not a lowercase hex SHA-256");
  std::vector<std::pair<std::string, std::string>> query;
  // S3's response-header override: signed, so nobody can change it.
  if (!content_disposition.empty()) query.emplace_back("response-content-disposition", content_disposition);
  return client_.PresignGet(ObjectKey(sha256), ttl, query);
}

Status S3BlobStore::Touch(const std::string& sha256) {
  const std::string key = ObjectKey(sha256);
  StatusOr<S3Response> r = client_.Send(
      kPut, key, {},
      {{"x-amz-copy-source", "/" + client_.location().bucket + "/" + key}, {"x-amz-metadata-directive", "REPLACE"}},
      S3Body{});
  if (!r.ok()) return r.status();
  return S3Status(*r, "refresh blob " + sha256);
}

Status S3BlobStore::ListBlobs(const std::function<Status(const BlobInfo&)>& fn) {
  const std::string& prefix = client_.location().prefix;
  std::string token;
  for (;;) {
    std::vector<std::pair<std::string, std::string>> query{{"list-type", "2"}};
    if (!prefix.empty()) query.emplace_back("prefix", prefix + "/");
    if (!token.empty()) query.emplace_back("continuation-token", token);
    StatusOr<S3Response> r = client_.Send("GET", "", query, {}, S3Body{});
    if (!r.ok()) return r.status();
    if (Status s = S3Status(*r, "list blobs"); !s.ok()) return s;
    std::string_view body = r->body;
    for (std::size_t pos = body.find("<Contents>"); pos != std::string_view::npos;
         pos = body.find("<Contents>", pos + 1)) {
      const std::string_view item = body.substr(pos, body.find("</Contents>", pos) - pos);
      const std::string key = XmlValue(item, "Key");
      const std::string sha = key.substr(key.rfind('/') + 1);
      if (!IsSha256Hex(sha) || ObjectKey(sha) != key) continue;
      const std::optional<std::uint64_t> size = ParseU64(XmlValue(item, "Size"));
      if (Status s = fn(BlobInfo{sha, size.value_or(0), ParseS3Time(XmlValue(item, "LastModified"))}); !s.ok()) {
        return s;
      }
    }
    if (XmlValue(body, "IsTruncated") != "true") return OkStatus();
    token = XmlValue(body, "NextContinuationToken");
    if (token.empty()) return InternalError("list blobs: a truncated listing without NextContinuationToken");
  }
}

StatusOr<bool> S3BlobStore::RemoveBlob(const std::string& sha256, long long modified_before_ms) {
  if (!IsSha256Hex(sha256)) return InvalidArgumentError("\"" + sha256 + "\" is not a lowercase hex SHA-256");
  const std::string key = ObjectKey(sha256);
  StatusOr<S3Response> head = client_.Send("HEAD", key, {}, {}, S3Body{});
  if (!head.ok()) return head.status();
  if (head->http_status == 404) return false;
  if (Status s = S3Status(*head, "stat blob " + sha256); !s.ok()) return s;
  auto modified = head->headers.find("last-modified");
  if (modified == head->headers.end() || ParseS3Time(modified->second) >= modified_before_ms) return false;
  StatusOr<S3Response> del = client_.Send("DELETE", key, {}, {}, S3Body{});
  if (!del.ok()) return del.status();
  if (del->http_status == 404) return false;
  if (Status s = S3Status(*del, "remove blob " + sha256); !s.ok()) return s;
  return true;
}

}  // namespace cairn::internal
