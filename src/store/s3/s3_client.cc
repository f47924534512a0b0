#include "store/s3/s3_client.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "common/env.h"
#include "common/fs.h"

namespace cairn::internal {
namespace {

constexpr int kAttempts = 3;
constexpr const char* kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The Host header curl sends for `endpoint`: the authority, without a
// default port.
std::string HostOf(const std::string& endpoint) {
  const std::size_t scheme_end = endpoint.find("://");
  const std::string scheme = endpoint.substr(0, scheme_end);
  std::string authority = endpoint.substr(scheme_end + 3);
  authority = authority.substr(0, authority.find('/'));
  const std::string default_port = scheme == "https" ? ":443" : ":80";
  if (authority.size() > default_port.size() &&
      authority.compare(authority.size() - default_port.size(), default_port.size(), default_port) == 0) {
    authority.resize(authority.size() - default_port.size());
  }
  return Lower(authority);
}

struct Transfer {
  const S3Body* body = nullptr;
  std::uint64_t sent = 0;
  int read_errno = 0;
  S3Response* response = nullptr;
};

std::size_t ReadBody(char* buf, std::size_t size, std::size_t nitems, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const S3Body& b = *t->body;
  const std::uint64_t total = b.fd >= 0 ? b.length : b.data.size();
  const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size * nitems, total - t->sent));
  if (want == 0) return 0;
  if (b.fd < 0) {
    std::copy_n(b.data.data() + t->sent, want, buf);
    t->sent += want;
    return want;
  }
  for (;;) {
    ssize_t r = ::pread(b.fd, buf, want, static_cast<off_t>(b.offset + t->sent));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      t->read_errno = r < 0 ? errno : EIO;
      return CURL_READFUNC_ABORT;
    }
    t->sent += static_cast<std::uint64_t>(r);
    return static_cast<std::size_t>(r);
  }
}

std::size_t WriteBody(char* data, std::size_t size, std::size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  t->response->body.append(data, size * nmemb);
  return size * nmemb;
}

std::size_t OnHeader(char* data, std::size_t size, std::size_t nitems, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string_view line(data, size * nitems);
  if (line.rfind("HTTP/", 0) == 0) {
    t->response->headers.clear();  // a new status line (e.g. after 100 Continue)
  } else if (std::size_t colon = line.find(':'); colon != std::string_view::npos) {
    t->response->headers[Lower(Trim(line.substr(0, colon)))] = Trim(line.substr(colon + 1));
  }
  return size * nitems;
}

}  // namespace

StatusOr<S3Location> ParseS3Url(std::string_view url) {
  const auto bad = [&](const std::string& why) {
    return InvalidArgumentError("blob store URL \"" + std::string(url) + "\": " + why +
                                " (expected s3://bucket/prefix?endpoint=http://host:port&region=us-east-1)");
  };
  if (url.rfind("s3://", 0) != 0) return bad("not an s3:// URL");
  std::string_view rest = url.substr(5);
  std::string_view query;
  if (std::size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  S3Location loc;
  const std::size_t slash = rest.find('/');
  loc.bucket = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) loc.prefix = std::string(rest.substr(slash + 1));
  while (!loc.prefix.empty() && loc.prefix.back() == '/') loc.prefix.pop_back();
  if (loc.bucket.empty()) return bad("no bucket name");
  for (unsigned char c : loc.bucket) {
    if (!(std::islower(c) || std::isdigit(c) || c == '-' || c == '.')) return bad("invalid bucket name");
  }
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    std::string_view kv = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (kv.empty()) continue;
    const std::size_t eq = kv.find('=');
    const std::string key(kv.substr(0, eq));
    const std::string value = eq == std::string_view::npos ? "" : PercentDecode(kv.substr(eq + 1));
    if (key == "endpoint") {
      loc.endpoint = value;
    } else if (key == "region") {
      loc.region = value;
    } else if (key == "credentials") {
      loc.credentials_file = value;
    } else {
      return bad("unknown parameter \"" + key + "\" (known: endpoint, region, credentials)");
    }
  }
  if (loc.region.empty()) return bad("empty region");
  if (loc.endpoint.empty()) loc.endpoint = "https://s3." + loc.region + ".amazonaws.com";
  while (!loc.endpoint.empty() && loc.endpoint.back() == '/') loc.endpoint.pop_back();
  if (loc.endpoint.rfind("http://", 0) != 0 && loc.endpoint.rfind("https://", 0) != 0) {
    return bad("endpoint must start with http:// or https://");
  }
  if (loc.endpoint.find('/', loc.endpoint.find("://") + 3) != std::string::npos) {
    return bad("endpoint must be scheme://host[:port] without a path");
  }
  return loc;
}

StatusOr<S3Credentials> LoadS3Credentials(const std::string& file) {
  S3Credentials c{EnvString("AWS_ACCESS_KEY_ID"), EnvString("AWS_SECRET_ACCESS_KEY"), EnvString("AWS_SESSION_TOKEN")};
  if (!c.access_key_id.empty() && !c.secret_access_key.empty()) return c;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) return FailedPreconditionError("cannot read S3 credentials file " + file);
    c = {};
    std::string line;
    while (std::getline(in, line)) {
      const std::size_t eq = line.find('=');
      if (eq == std::string::npos) continue;
      const std::string key = Lower(Trim(line.substr(0, eq)));
      const std::string value = Trim(line.substr(eq + 1));
      std::string* slot = key == "aws_access_key_id"       ? &c.access_key_id
                          : key == "aws_secret_access_key" ? &c.secret_access_key
                          : key == "aws_session_token"     ? &c.session_token
                                                           : nullptr;
      if (slot != nullptr && slot->empty()) *slot = value;
    }
    if (!c.access_key_id.empty() && !c.secret_access_key.empty()) return c;
    return FailedPreconditionError("S3 credentials file " + file +
                                   " lacks aws_access_key_id and aws_secret_access_key");
  }
  return FailedPreconditionError(
      "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add credentials=FILE to the "
      "s3:// URL");
}

S3Client::S3Client(S3Location location, S3Credentials credentials)
    : location_(std::move(location)), credentials_(std::move(credentials)), host_(HostOf(location_.endpoint)) {
  // An https:// endpoint with a private CA: AWS_CA_BUNDLE (the AWS tools'
  // variable), else CAIRN_CA_BUNDLE (as for Cairn's own clients), else the
  // system CAs. The peer is always verified.
  for (const char* var : {"AWS_CA_BUNDLE", "CAIRN_CA_BUNDLE"}) {
    if (std::string value = EnvString(var); !value.empty()) {
      ca_bundle_ = std::move(value);
      break;
    }
  }
  static const bool curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  (void)curl_ready;
}

S3Client::~S3Client() {
  for (void* h : idle_) curl_easy_cleanup(static_cast<CURL*>(h));
}

void* S3Client::TakeHandle() {
  {
    MutexLock lock(mu_);
    if (!idle_.empty()) {
      void* h = idle_.back();
      idle_.pop_back();
      curl_easy_reset(static_cast<CURL*>(h));  // keeps its live connections
      return h;
    }
  }
  return curl_easy_init();
}

void S3Client::ReturnHandle(void* h) {
  MutexLock lock(mu_);
  if (idle_.size() < 16) {
    idle_.push_back(h);
  } else {
    curl_easy_cleanup(static_cast<CURL*>(h));
  }
}

StatusOr<S3Response> S3Client::Send(const std::string& method, const std::string& key,
                                    const std::vector<std::pair<std::string, std::string>>& query,
                                    const std::vector<std::pair<std::string, std::string>>& headers, const S3Body& body,
                                    bool idempotent) {
  const std::string path = "/" + location_.bucket + (key.empty() ? "" : "/" + key);
  std::string url = location_.endpoint + UriEncode(path, /*keep_slash=*/true);
  if (!query.empty()) url += "?" + CanonicalQueryString(query);
  const std::string payload_sha = body.sha256.empty() ? std::string(kEmptySha256) : body.sha256;
  const std::uint64_t body_size = body.fd >= 0 ? body.length : body.data.size();
  const bool has_body = body.fd >= 0 || !body.data.empty();

  Status last = UnavailableError("no attempt made");
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    SigV4Request sreq{method, host_, path, query, headers, payload_sha};
    // Signed per attempt: x-amz-date must be fresh.
    const auto signed_headers = SignRequest(sreq, credentials_, {location_.region}, std::chrono::system_clock::now());
    curl_slist* list = nullptr;
    for (const auto& [name, value] : signed_headers) list = curl_slist_append(list, (name + ": " + value).c_str());
    list = curl_slist_append(list, "Expect:");
    list = curl_slist_append(list, "Content-Type:");

    S3Response response;
    Transfer t{&body, 0, 0, &response};
    CURL* h = static_cast<CURL*>(TakeHandle());
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (!ca_bundle_.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, ca_bundle_.c_str());
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    // A stalled transfer (under 1 byte/s for 60 s) fails instead of hanging.
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, WriteBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
    if (method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (method == "PUT") {
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, ReadBody);
      curl_easy_setopt(h, CURLOPT_READDATA, &t);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body_size));
    } else if (method == "POST") {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, ReadBody);
      curl_easy_setopt(h, CURLOPT_READDATA, &t);
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body_size));
    } else if (method != "GET") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method.c_str());
      if (has_body) return InternalError("S3 " + method + " with a body is not supported (a bug)");
    }
    const CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.http_status);
    curl_slist_free_all(list);
    if (rc == CURLE_OK) {
      ReturnHandle(h);
    } else {
      curl_easy_cleanup(h);  // its connection may be in any state
    }
    if (rc == CURLE_ABORTED_BY_CALLBACK && t.read_errno != 0) {
      return StorageErrnoStatus(t.read_errno, "read upload staging file for", key);
    }
    const bool retryable_status = rc == CURLE_OK && (response.http_status >= 500 || response.http_status == 429);
    if (rc == CURLE_OK && !retryable_status) return response;
    if (rc == CURLE_OK) {
      if (!idempotent || attempt == kAttempts) return response;
      last = S3Status(response, "S3 " + method + " " + path);
    } else {
      last = UnavailableError("S3 " + method + " " + location_.endpoint + path + ": " + curl_easy_strerror(rc) +
                              "; check that the object store is running and the endpoint is right");
      if (!idempotent) return last;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100 * attempt * attempt));
  }
  return last;
}

std::string S3Client::PresignGet(const std::string& key, std::chrono::seconds expires,
                                 const std::vector<std::pair<std::string, std::string>>& query) const {
  const std::string path = "/" + location_.bucket + "/" + key;
  SigV4Request r{"GET", host_, path, query, {}, ""};
  return location_.endpoint + UriEncode(path, /*keep_slash=*/true) + "?" +
         PresignQuery(r, credentials_, {location_.region}, std::chrono::system_clock::now(), expires);
}

std::string XmlValue(std::string_view xml, std::string_view tag) {
  const std::string open = "<" + std::string(tag) + ">";
  const std::string close = "</" + std::string(tag) + ">";
  const std::size_t a = xml.find(open);
  if (a == std::string_view::npos) return "";
  const std::size_t b = xml.find(close, a + open.size());
  if (b == std::string_view::npos) return "";
  return std::string(xml.substr(a + open.size(), b - a - open.size()));
}

Status S3Status(const S3Response& response, std::string_view what) {
  const long code = response.http_status;
  if (code >= 200 && code < 300) return OkStatus();
  const std::string s3_code = XmlValue(response.body, "Code");
  std::string msg = std::string(what) + ": HTTP " + std::to_string(code) + (s3_code.empty() ? "" : " " + s3_code);
  if (const std::string m = XmlValue(response.body, "Message"); !m.empty()) msg += " (" + m + ")";
  if (s3_code == "NoSuchBucket") return FailedPreconditionError(msg + "; create the bucket or fix the s3:// URL");
  if (code == 404) return NotFoundError(msg);
  if (code == 401 || code == 403) {
    return PermissionDeniedError(msg + "; check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bucket's policy");
  }
  if (code == 429 || code >= 500 || s3_code == "SlowDown") {
    if (code == 507) return ResourceExhaustedError(msg + " (the object store is out of space)");
    return UnavailableError(msg + " (the object store is busy or failing; retry)");
  }
  if (s3_code == "EntityTooLarge" || s3_code == "QuotaExceeded") return ResourceExhaustedError(msg);
  return InternalError(msg);
}

}  // namespace cairn::internal
