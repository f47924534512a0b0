// CurlConnection: one libcurl attempt per call over a pool of reusable easy
// handles, and THE mapping of libcurl failures to Status (the end of
// Perform). Nothing here retries (retrying_connection.cc does).
#include "sdk/internal/curl_connection.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <string>
#include <vector>

#include "cairn/status.h"
#include "common/thread_annotations.h"

namespace cairn::internal {
namespace {

constexpr long kLowSpeedBytesPerSecond = 1;
// Idle handles kept for reuse; more concurrent calls create (and then free)
// extra handles.
constexpr std::size_t kMaxIdleHandles = 8;

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Per-Perform state the libcurl callbacks see.
struct CallState {
  CURL* handle = nullptr;
  const HttpClientRequest* request = nullptr;
  HttpClientResponse response;
  std::uint64_t read_offset = 0;
  bool aborted = false;
  bool body_too_large = false;
};

size_t HeaderCallback(char* buffer, size_t size, size_t nitems, void* userdata) {
  auto* st = static_cast<CallState*>(userdata);
  const size_t n = size * nitems;
  std::string_view line(buffer, n);
  if (line.substr(0, 5) == "HTTP/") {
    // A new answer (after 100 Continue or on a reused connection): only the
    // final answer's headers count.
    st->response.headers.clear();
    return n;
  }
  if (auto field = HeaderField(line)) st->response.headers.push_back(std::move(*field));
  return n;
}

size_t WriteCallback(char* data, size_t size, size_t nmemb, void* userdata) {
  auto* st = static_cast<CallState*>(userdata);
  const size_t n = size * nmemb;
  long code = 0;
  curl_easy_getinfo(st->handle, CURLINFO_RESPONSE_CODE, &code);
  st->response.status = code;
  if (code / 100 == 2 && st->request->on_body) {
    if (!st->request->on_body(st->response, data, n)) {
      st->aborted = true;
      return 0;
    }
    return n;
  }
  if (st->response.body.size() + n > kMaxBufferedBody) {
    st->body_too_large = true;
    return 0;
  }
  st->response.body.append(data, n);
  return n;
}

size_t ReadCallback(char* buffer, size_t size, size_t nitems, void* userdata) {
  auto* st = static_cast<CallState*>(userdata);
  const HttpClientRequest& req = *st->request;
  const std::uint64_t remaining = req.body_size - std::min(req.body_size, st->read_offset);
  const size_t want = static_cast<size_t>(std::min<std::uint64_t>(size * nitems, remaining));
  if (want == 0) return 0;
  std::optional<std::size_t> got = req.read_body(buffer, want, st->read_offset);
  if (!got || *got == 0 || *got > want) {
    // Never let libcurl end a body early: the server would see a short body.
    st->aborted = true;
    return CURL_READFUNC_ABORT;
  }
  st->read_offset += *got;
  return *got;
}

int SeekCallback(void* userdata, curl_off_t offset, int origin) {
  auto* st = static_cast<CallState*>(userdata);
  if (origin != SEEK_SET || offset < 0) return CURL_SEEKFUNC_CANTSEEK;
  st->read_offset = static_cast<std::uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

int XferInfoCallback(void* userdata, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* st = static_cast<CallState*>(userdata);
  if (st->request->cancelled && st->request->cancelled()) {
    st->aborted = true;
    return 1;  // abort the transfer
  }
  return 0;
}

// Sets every option of one attempt on `h`; returns the header list, which
// the caller frees after the transfer.
curl_slist* SetOptions(CURL* h, const HttpClientRequest& request, const std::string& url, const std::string& api_key,
                       const std::string& ca_bundle, CallState& st, char* errbuf) {
  curl_slist* headers = nullptr;
  if (!api_key.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + api_key).c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  for (const std::string& hdr : request.headers) headers = curl_slist_append(headers, hdr.c_str());

  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutSeconds);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, kLowSpeedBytesPerSecond);
  curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, kLowSpeedSeconds);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_USERAGENT, kUserAgent);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(h, CURLOPT_UNRESTRICTED_AUTH, 0L);
  // https:// peers are always verified (libcurl's default, stated here).
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!ca_bundle.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, ca_bundle.c_str());
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, HeaderCallback);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &st);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, WriteCallback);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
  // Large receive buffers: fewer write callbacks (each a pwrite) per byte.
  if (request.on_body) curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024);
  if (request.cancelled) {
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, XferInfoCallback);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &st);
  }

  if (request.method == "HEAD") {
    curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
  } else if (request.read_body) {
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);  // PUT
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body_size));
    curl_easy_setopt(h, CURLOPT_READFUNCTION, ReadCallback);
    curl_easy_setopt(h, CURLOPT_READDATA, &st);
    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, SeekCallback);
    curl_easy_setopt(h, CURLOPT_SEEKDATA, &st);
    curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 256L * 1024);
    headers = curl_slist_append(headers, "Content-Type: application/octet-stream");
  } else if (request.json_body) {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.json_body->data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.json_body->size()));
    headers = curl_slist_append(headers, "Content-Type: application/json");
  } else if (request.method != "GET") {
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  return headers;

}

}  // namespace

std::optional<std::pair<std::string, std::string>> HeaderField(std::string_view line) {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  return std::pair(ToLower(Trim(line.substr(0, colon))), std::string(Trim(line.substr(colon + 1))));
}

std::string HttpClientResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}

struct CurlConnection::Pool {
  Mutex mu;
  std::vector<CURL*> idle CAIRN_GUARDED_BY(mu);

  ~Pool() {
    for (CURL* h : idle) curl_easy_cleanup(h);
  }
  CURL* Take() {
    {
      MutexLock lock(mu);
      if (!idle.empty()) {
        CURL* h = idle.back();
        idle.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }
  void Give(CURL* h) {
    {
      MutexLock lock(mu);
      if (idle.size() < kMaxIdleHandles) {
        idle.push_back(h);
        return;
      }
    }
    curl_easy_cleanup(h);
  }
};

CurlConnection::CurlConnection(std::string base_url, std::string api_key, std::string ca_bundle)
    : base_url_(std::move(base_url)),
      api_key_(std::move(api_key)),
      ca_bundle_(std::move(ca_bundle)),
      pool_(std::make_unique<Pool>()) {
  GlobalInitOnce();
}

CurlConnection::~CurlConnection() = default;

std::variant<HttpClientResponse, TransportError> CurlConnection::Perform(const HttpClientRequest& request) {
  if (std::optional<Outcome> direct = DirectGet(request)) return std::move(*direct);
  const std::string url = Url(request.target);
  CURL* h = pool_->Take();
  if (h == nullptr) return TransportError{InternalError("libcurl could not create a handle (out of memory?)")};
  // reset keeps the handle's live connections and DNS cache: keep-alive reuse.
  curl_easy_reset(h);

  CallState st;
  st.handle = h;
  st.request = &request;
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_slist* headers = SetOptions(h, request, url, api_key_, ca_bundle_, st, errbuf);

  CURLcode rc = curl_easy_perform(h);
  long code = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  pool_->Give(h);

  if (rc == CURLE_OK) {
    st.response.status = code;
    return std::move(st.response);
  }

  return TransportErrorOf(rc, st.aborted, st.body_too_large, request.method + " " + url, url, errbuf);
}

// THE mapping of a failed libcurl transfer to a TransportError. `what` is
// "METHOD url".
TransportError CurlConnection::TransportErrorOf(int code, bool aborted, bool body_too_large, const std::string& what,
                                                const std::string& url, const char* errbuf) const {
  const auto rc = static_cast<CURLcode>(code);
  TransportError err;
  if (aborted) {
    err.aborted_by_callback = true;
    err.status = InternalError(what + " was stopped by the caller");
    return err;
  }
  if (body_too_large) {
    err.status = InternalError(what + ": the answer is larger than " + std::to_string(kMaxBufferedBody >> 20) +
                               " MiB; is CAIRN_BASE_URL a cairn server?");
    return err;
  }
  std::string detail = errbuf[0] != '\0' ? std::string(Trim(errbuf)) : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
      err.status = InvalidArgumentError("cannot use " + url + " (" + detail + "); check CAIRN_BASE_URL");
      return err;
    case CURLE_PEER_FAILED_VERIFICATION:
      err.status = FailedPreconditionError(
          "cannot trust the TLS certificate of the cairn server: " + what + " failed (" + detail + "); " +
          (ca_bundle_.empty() ? "if it comes from a private CA, set CAIRN_CA_BUNDLE to that CA's PEM file"
                              : "check that CAIRN_CA_BUNDLE (" + ca_bundle_ + ") holds the CA that signed it") +
          ", and that the URL's host name is one the certificate names");
      return err;
    case CURLE_SSL_CACERT_BADFILE:
      err.status = InvalidArgumentError("cannot use the CA bundle " + ca_bundle_ + " (" + detail +
                                        "); set CAIRN_CA_BUNDLE to a PEM file of CA certificates");
      return err;
    case CURLE_SSL_CONNECT_ERROR:
      err.status = FailedPreconditionError("the TLS handshake with the cairn server failed: " + what + " (" + detail +
                                           "); does the server speak HTTPS? for a plain HTTP server use an "
                                           "http:// URL (CAIRN_BASE_URL)");
      return err;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      err.nothing_sent = true;
      break;
    default:
      break;
  }
  err.status = UnavailableError("cannot reach the cairn server: " + what + " failed (" + detail +
                                "); is the server running? check CAIRN_BASE_URL (now " + base_url_ + ")");
  return err;
}

CallResult CurlConnection::Call(HttpClientRequest& request, const CallOptions& /*options*/) {
  return CallResult{.outcome = Perform(request)};
}

}  // namespace cairn::internal
