#include "store/s3/sigv4.h"

#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <ctime>

#include "common/sha256.h"

namespace cairn::internal {
namespace {

std::string Hmac(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string SigningKey(const S3Credentials& creds, const SigV4Scope& scope, std::string_view date) {
  std::string k = Hmac("AWS4" + creds.secret_access_key, date);
  k = Hmac(k, scope.region);
  k = Hmac(k, scope.service);
  return Hmac(k, "aws4_request");
}

struct Canonical {
  std::string request;
  std::string signed_headers;
};

Canonical CanonicalRequest(const SigV4Request& r, const std::vector<std::pair<std::string, std::string>>& headers,
                           const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> h;
  h.emplace_back("host", r.host);
  for (const auto& [name, value] : headers) h.emplace_back(Lower(name), std::string(TrimSpaces(value)));
  std::sort(h.begin(), h.end());
  Canonical c;
  std::string canonical_headers;
  for (const auto& [name, value] : h) {
    canonical_headers += name + ":" + value + "\n";
    if (!c.signed_headers.empty()) c.signed_headers += ";";
    c.signed_headers += name;
  }
  c.request = r.method + "\n" + UriEncode(r.path, /*keep_slash=*/true) + "\n" + CanonicalQueryString(query) + "\n" +
              canonical_headers + "\n" + c.signed_headers + "\n" + r.payload_sha256;
  return c;
}

std::string CredentialScope(const SigV4Scope& scope, std::string_view date) {
  return std::string(date) + "/" + scope.region + "/" + scope.service + "/aws4_request";
}

std::string Signature(const std::string& canonical_request, const S3Credentials& creds, const SigV4Scope& scope,
                      const std::string& amz_date) {
  const std::string date = amz_date.substr(0, 8);
  const std::string to_sign =
      "AWS4-HMAC-SHA256\n" + amz_date + "\n" + CredentialScope(scope, date) + "\n" + Sha256Hex(canonical_request);
  return Hex(Hmac(SigningKey(creds, scope, date), to_sign));
}

}  // namespace

std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kDigits[c >> 4]);
      out.push_back(kDigits[c & 0xf]);
    }
  }
  return out;
}

std::string AmzDate(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> q;
  for (const auto& [k, v] : query) q.emplace_back(UriEncode(k, false), UriEncode(v, false));
  std::sort(q.begin(), q.end());
  std::string out;
  for (const auto& [k, v] : q) {
    if (!out.empty()) out += "&";
    out += k + "=" + v;
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> SignRequest(const SigV4Request& request, const S3Credentials& creds,
                                                             const SigV4Scope& scope,
                                                             std::chrono::system_clock::time_point t) {
  const std::string amz_date = AmzDate(t);
  std::vector<std::pair<std::string, std::string>> headers = request.headers;
  headers.emplace_back("x-amz-content-sha256", request.payload_sha256);
  headers.emplace_back("x-amz-date", amz_date);
  if (!creds.session_token.empty()) headers.emplace_back("x-amz-security-token", creds.session_token);
  const Canonical c = CanonicalRequest(request, headers, request.query);
  const std::string sig = Signature(c.request, creds, scope, amz_date);
  headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=" + creds.access_key_id + "/" +
                                            CredentialScope(scope, amz_date.substr(0, 8)) +
                                            ",SignedHeaders=" + c.signed_headers + ",Signature=" + sig);
  return headers;
}

std::string PresignQuery(const SigV4Request& request, const S3Credentials& creds, const SigV4Scope& scope,
                         std::chrono::system_clock::time_point t, std::chrono::seconds expires) {
  const std::string amz_date = AmzDate(t);
  std::vector<std::pair<std::string, std::string>> query = request.query;
  query.emplace_back("X-Amz-Algorithm", "AWS4-HMAC-SHA256");
  query.emplace_back("X-Amz-Credential", creds.access_key_id + "/" + CredentialScope(scope, amz_date.substr(0, 8)));
  query.emplace_back("X-Amz-Date", amz_date);
  query.emplace_back("X-Amz-Expires", std::to_string(expires.count()));
  if (!creds.session_token.empty()) query.emplace_back("X-Amz-Security-Token", creds.session_token);
  query.emplace_back("X-Amz-SignedHeaders", "host");
  SigV4Request r = request;
  r.payload_sha256 = "UNSIGNED-PAYLOAD";
  const Canonical c = CanonicalRequest(r, {}, query);
  const std::string sig = Signature(c.request, creds, scope, amz_date);
  return CanonicalQueryString(query) + "&X-Amz-Signature=" + sig;
}

}  // namespace cairn::internal
