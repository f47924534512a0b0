// AWS Signature Version 4 for S3 requests: the Authorization header and
// presigned URLs (query-string authentication). Pure functions over OpenSSL
// HMAC-SHA256; tested against the worked examples of the AWS S3 docs
// ("Signature Calculations for the Authorization Header" and "Authenticating
// Requests: Using Query Parameters").
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cairn::internal {

struct S3Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless temporary credentials
};

// A request as SigV4 sees it.
struct SigV4Request {
  std::string method;  // "GET", "PUT", ...
  std::string host;    // the Host header exactly as sent, e.g. "127.0.0.1:7480"
  std::string path;    // the path, NOT yet percent-encoded, e.g. "/bucket/a b"
  // Query parameters, not yet percent-encoded; a bare parameter ("?uploads")
  // has an empty value and is signed (and must be sent) as "uploads=".
  std::vector<std::pair<std::string, std::string>> query;
  // Headers to sign besides host (x-amz-date and x-amz-content-sha256 are
  // added by SignRequest). Names in any case.
  std::vector<std::pair<std::string, std::string>> headers;
  // Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
  std::string payload_sha256;
};

struct SigV4Scope {
  std::string region;  // e.g. "us-east-1"
  std::string service = "s3";
};

// RFC 3986 percent-encoding as SigV4 wants it: unreserved characters kept,
// everything else %XX (upper case); '/' kept when `keep_slash`.
std::string UriEncode(std::string_view s, bool keep_slash);

// "20130524T000000Z" for a time point.
std::string AmzDate(std::chrono::system_clock::time_point t);

// The encoded, sorted query string, as it must also appear in the URL.
std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query);

// Signs `request` at time `t`. Returns every header to send besides Host:
// x-amz-date, x-amz-content-sha256, x-amz-security-token (with a session
// token), the request's own headers and Authorization.
std::vector<std::pair<std::string, std::string>> SignRequest(const SigV4Request& request, const S3Credentials& creds,
                                                             const SigV4Scope& scope,
                                                             std::chrono::system_clock::time_point t);

// The query string (without '?') of a presigned URL for `request` (method,
// host, path and any query parameters of its own; headers and payload are
// ignored: only Host is signed, the payload is UNSIGNED-PAYLOAD), valid for
// `expires` from `t`.
std::string PresignQuery(const SigV4Request& request, const S3Credentials& creds, const SigV4Scope& scope,
                         std::chrono::system_clock::time_point t, std::chrono::seconds expires);

}  // namespace cairn::internal
