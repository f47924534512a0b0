// A minimal S3 client over libcurl: just the calls the blob store needs
// (PUT/GET/HEAD object, multipart upload), SigV4-signed with sigv4.h,
// path-style addressing (http://endpoint/bucket/key), so that it works
// with radosgw, MinIO, R2 and AWS alike.
//
// Thread-safe: requests borrow an easy handle from a small pool (keeping
// connections alive across requests). Idempotent requests are retried on
// transport errors and 5xx answers (3 attempts, short backoff).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/status.h"
#include "common/thread_annotations.h"
#include "store/s3/sigv4.h"

namespace cairn::internal {

struct S3Location {
  std::string endpoint;  // scheme://host[:port], no trailing slash
  std::string region = "us-east-1";
  std::string bucket;
  std::string prefix;            // key prefix without leading/trailing '/', may be empty
  std::string credentials_file;  // from ?credentials=, may be empty
};

// Parses s3://bucket[/prefix][?endpoint=URL&region=R&credentials=FILE].
// Without endpoint: https://s3.<region>.amazonaws.com. kInvalidArgument
// naming the problem otherwise.
StatusOr<S3Location> ParseS3Url(std::string_view url);

// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) from the
// environment; else from `file` when given: KEY=VALUE lines, either those
// names or the aws_access_key_id / aws_secret_access_key keys of
// ~/.aws/credentials (the first of each; [sections] are ignored).
// kFailedPrecondition saying where credentials come from when absent.
StatusOr<S3Credentials> LoadS3Credentials(const std::string& file);

struct S3Response {
  long http_status = 0;
  std::map<std::string, std::string> headers;  // names lower case
  std::string body;
};

// A body to send: bytes in memory, or a range of an open file.
struct S3Body {
  std::string_view data;
  int fd = -1;  // when >= 0: send [offset, offset+length) of this file
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::string sha256;  // hex SHA-256 of the body (required)
};

class S3Client {
 public:
  S3Client(S3Location location, S3Credentials credentials);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // One signed request on `key` (a full object key; "" for the bucket).
  // Returns the answer whatever its HTTP status; kUnavailable only when no
  // answer came (after retries, for idempotent requests).
  StatusOr<S3Response> Send(const std::string& method, const std::string& key,
                            const std::vector<std::pair<std::string, std::string>>& query,
                            const std::vector<std::pair<std::string, std::string>>& headers, const S3Body& body,
                            bool idempotent = true);

  // A URL that GETs `key` without credentials for `expires`; `query` (not
  // yet encoded) is signed along, e.g. response-content-disposition.
  std::string PresignGet(const std::string& key, std::chrono::seconds expires,
                         const std::vector<std::pair<std::string, std::string>>& query = {}) const;

  const S3Location& location() const { return location_; }

 private:
  void* TakeHandle();
  void ReturnHandle(void* h);

  S3Location location_;
  S3Credentials credentials_;
  std::string host_;  // Host header as curl sends it
  std::string ca_bundle_;  // CA certificates for https:// endpoints; empty: the system's
  Mutex mu_;
  std::vector<void*> idle_ CAIRN_GUARDED_BY(mu_);  // CURL* easy handles
};

// The one place an S3 answer becomes a Status (for non-2xx answers): 404 ->
// kNotFound, 403 -> kPermissionDenied (check the credentials), NoSuchBucket
// -> kFailedPrecondition, 5xx/429/SlowDown -> kUnavailable, EntityTooLarge /
// 507 -> kResourceExhausted, anything else kInternal. `what` names the call.
Status S3Status(const S3Response& response, std::string_view what);

// The text of <Tag>...</Tag> in an XML body ("" when absent).
std::string XmlValue(std::string_view xml, std::string_view tag);

}  // namespace cairn::internal
