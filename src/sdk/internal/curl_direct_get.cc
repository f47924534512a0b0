// CurlConnection::DirectGet: a download GET whose body libcurl receives
// straight into the caller's memory (HttpClientRequest::body_buffer), so the
// bytes are copied once, from the socket, instead of twice (into libcurl's
// buffer, then out of it). libcurl connects (DNS, TLS, certificate checks:
// CURLOPT_CONNECT_ONLY); this file writes the request and reads the answer
// with curl_easy_send / curl_easy_recv. docs/adr/0027-downloads-receive-into-the-ring.md.
#include <curl/curl.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sdk/internal/curl_connection.h"

namespace cairn::internal {
namespace {

using Clock = std::chrono::steady_clock;

// As CurlConnection's libcurl options: no byte for this long abandons the
// transfer.
constexpr auto kStallLimit = std::chrono::seconds(kLowSpeedSeconds);
// How long one wait for the socket lasts: `cancelled` is polled this often.
constexpr int kPollMillis = 1000;
// An answer's status line and headers; more is refused.
constexpr std::size_t kMaxHeaderBytes = 64 << 10;
// Our own buffer, for bytes the caller's memory does not take.
constexpr std::size_t kOwnBufferBytes = 256 << 10;

bool ProxyConfigured() {
  for (const char* name : {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    const char* v = std::getenv(name);
    if (v != nullptr && *v != '\0') return true;
  }
  return false;
}

// The request line's target and the Host header of `url`; nullopt if libcurl
// cannot parse it (then the usual path reports the error).
struct UrlParts {
  std::string host;    // with ":port" when the URL names one
  std::string target;  // path and query
};
std::optional<UrlParts> SplitUrl(const std::string& url) {
  CURLU* u = curl_url();
  if (u == nullptr) return std::nullopt;
  std::optional<UrlParts> out;
  char *host = nullptr, *port = nullptr, *path = nullptr, *query = nullptr;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PATH, &path, 0) == CURLUE_OK) {
    out = UrlParts{.host = host, .target = path};
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK) out->host += std::string(":") + port;
    if (curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK) out->target += std::string("?") + query;
  }
  for (char* p : {host, port, path, query}) curl_free(p);
  curl_url_cleanup(u);
  return out;
}

// An answer's head: status and headers (names lowercased), and whether the
// body is delimited by Content-Length (the only body read here).
struct Head {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
};

std::optional<Head> ParseHead(std::string_view text) {
  Head head;
  std::size_t eol = text.find("\r\n");
  std::string_view status_line = text.substr(0, eol);
  if (status_line.substr(0, 7) != "HTTP/1." || status_line.size() < 12 || status_line[8] != ' ') return std::nullopt;
  for (std::size_t i = 9; i < 12; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(status_line[i]))) return std::nullopt;
    head.status = head.status * 10 + (status_line[i] - '0');
  }
  while (eol != std::string_view::npos && eol + 2 < text.size()) {
    const std::size_t start = eol + 2;
    eol = text.find("\r\n", start);
    std::string_view line = text.substr(start, eol == std::string_view::npos ? std::string_view::npos : eol - start);
    if (line.empty()) break;
    std::optional<std::pair<std::string, std::string>> field = HeaderField(line);
    if (!field || field->first.empty() || line.front() == ' ' || line.front() == '\t') {
      return std::nullopt;  // no name, or an obsolete folded line
    }
    auto& [name, value] = *field;
    if (name == "content-length") {
      std::uint64_t n = 0;
      if (value.empty() || value.size() > 19 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return std::nullopt;
      }
      for (char c : value) n = n * 10 + static_cast<std::uint64_t>(c - '0');
      if (head.content_length && *head.content_length != n) return std::nullopt;
      head.content_length = n;
    } else if (name == "transfer-encoding") {
      head.chunked = true;  // any coding: left to libcurl
    }
    head.headers.push_back(std::move(*field));
  }
  return head;
}

// One exchange on a connected CONNECT_ONLY handle: writes the request,
// reads the head, then the body -- a 2xx body into the caller's memory where
// it offers some. Failures are left as a CURLcode and a detail for
// CurlConnection::TransportErrorOf, THE mapping.
class DirectCall {
 public:
  enum class Result { kDone, kFallback, kFailed };

  DirectCall(CURL* h, curl_socket_t fd, const HttpClientRequest& request) : h_(h), fd_(fd), request_(request) {}

  Result Run(const std::string& request_text) {
    if (!Send(request_text)) return Result::kFailed;
    std::string leftover;
    if (!ReadHead(&leftover)) return Result::kFailed;
    // Redirects and bodies not delimited by a length: libcurl's usual path.
    if (head_.chunked || !head_.content_length || head_.status / 100 == 3) return Result::kFallback;
    response.status = head_.status;
    response.headers = std::move(head_.headers);
    return ReadBody(leftover) ? Result::kDone : Result::kFailed;
  }

  HttpClientResponse response;
  CURLcode rc = CURLE_OK;
  std::string detail;  // for the error message; empty: libcurl's
  bool aborted = false;
  bool body_too_large = false;

 private:
  // Repeats `op` (a curl_easy_send or _recv) until it moves bytes or ends:
  // false on failure, on a stall or once the caller cancels.
  template <typename Op>
  bool Io(Op&& op, short events, std::size_t* n) {
    while (true) {
      rc = op(n);
      if (rc == CURLE_OK) {
        last_progress_ = Clock::now();
        return true;
      }
      if (rc != CURLE_AGAIN) return false;
      if (request_.cancelled && request_.cancelled()) {
        aborted = true;
        rc = CURLE_ABORTED_BY_CALLBACK;
        return false;
      }
      if (Clock::now() - last_progress_ > kStallLimit) {
        rc = CURLE_OPERATION_TIMEDOUT;
        detail = "the server sent nothing for " + std::to_string(kLowSpeedSeconds) + " s";
        return false;
      }
      pollfd p{.fd = fd_, .events = events, .revents = 0};
      ::poll(&p, 1, kPollMillis);
    }
  }

  bool Send(const std::string& text) {
    for (std::size_t sent = 0; sent < text.size();) {
      std::size_t n = 0;
      auto op = [&](std::size_t* k) { return curl_easy_send(h_, text.data() + sent, text.size() - sent, k); };
      if (!Io(op, POLLOUT, &n)) return false;
      sent += n;
    }
    return true;
  }

  // The head of the final answer (interim 1xx ones are skipped); what
  // followed it goes to *leftover.
  bool ReadHead(std::string* leftover) {
    std::string buf;
    while (true) {
      std::size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (buf.size() > kMaxHeaderBytes) return Fail(CURLE_WEIRD_SERVER_REPLY, "the answer's header is too large");
        char chunk[16384];
        std::size_t n = 0;
        if (!Io([&](std::size_t* k) { return curl_easy_recv(h_, chunk, sizeof chunk, k); }, POLLIN, &n)) return false;
        if (n == 0) return Fail(CURLE_GOT_NOTHING, "the server closed the connection before answering");
        buf.append(chunk, n);
      }
      std::optional<Head> head = ParseHead(std::string_view(buf).substr(0, end + 2));
      if (!head) return Fail(CURLE_WEIRD_SERVER_REPLY, "the answer's header is malformed");
      buf.erase(0, end + 4);
      if (head->status / 100 != 1) {
        head_ = std::move(*head);
        *leftover = std::move(buf);
        return true;
      }
    }
  }

  bool ReadBody(const std::string& leftover) {
    const std::uint64_t size = *head_.content_length;
    std::uint64_t got = std::min<std::uint64_t>(leftover.size(), size);
    if (got > 0 && !Deliver(leftover.data(), static_cast<std::size_t>(got))) return false;
    const bool to_caller = head_.status / 100 == 2;
    std::vector<char> own;
    while (got < size) {
      std::span<char> into = to_caller ? request_.body_buffer() : std::span<char>();
      if (into.empty()) {
        own.resize(kOwnBufferBytes);
        into = own;
      }
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(into.size(), size - got));
      std::size_t n = 0;
      if (!Io([&](std::size_t* k) { return curl_easy_recv(h_, into.data(), want, k); }, POLLIN, &n)) return false;
      if (n == 0) {
        return Fail(CURLE_PARTIAL_FILE,
                    "the connection closed after " + std::to_string(got) + " of " + std::to_string(size) + " bytes");
      }
      if (!Deliver(into.data(), n)) return false;
      got += n;
    }
    return true;
  }

  bool Deliver(const char* data, std::size_t n) {
    if (head_.status / 100 == 2) {
      if (request_.on_body(response, data, n)) return true;
      aborted = true;
      return Fail(CURLE_WRITE_ERROR, "");
    }
    if (response.body.size() + n > kMaxBufferedBody) {
      body_too_large = true;
      return Fail(CURLE_WRITE_ERROR, "");
    }
    response.body.append(data, n);
    return true;
  }

  bool Fail(CURLcode code, std::string why) {
    rc = code;
    detail = std::move(why);
    return false;
  }

  CURL* h_;
  curl_socket_t fd_;
  const HttpClientRequest& request_;
  Head head_;
  Clock::time_point last_progress_ = Clock::now();
};

// libcurl's easy handle, cleaned up on every path.
struct EasyHandle {
  CURL* h = curl_easy_init();
  ~EasyHandle() {
    if (h != nullptr) curl_easy_cleanup(h);
  }
  EasyHandle() = default;
  EasyHandle(const EasyHandle&) = delete;
  EasyHandle& operator=(const EasyHandle&) = delete;
};

}  // namespace

std::optional<Outcome> CurlConnection::DirectGet(const HttpClientRequest& request) {
  if (!request.body_buffer || !request.on_body || request.method != "GET" || request.read_body || request.json_body ||
      ProxyConfigured()) {
    return std::nullopt;
  }
  const std::string url = Url(request.target);
  const std::optional<UrlParts> parts = SplitUrl(url);
  EasyHandle easy;
  if (!parts || easy.h == nullptr) return std::nullopt;
  const std::string what = "GET " + url;
  char errbuf[CURL_ERROR_SIZE] = {0};
  // One connection of its own (libcurl never reuses a CONNECT_ONLY one):
  // fine for the large bodies callers ask this for.
  CURL* h = easy.h;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
  // We speak HTTP/1.1 on it: TLS must not agree on h2 (ALPN offers only http/1.1).
  curl_easy_setopt(h, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutSeconds);
  curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!ca_bundle_.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, ca_bundle_.c_str());
  if (CURLcode rc = curl_easy_perform(h); rc != CURLE_OK) return TransportErrorOf(rc, false, false, what, url, errbuf);
  curl_socket_t fd = CURL_SOCKET_BAD;
  if (curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK || fd == CURL_SOCKET_BAD) return std::nullopt;

  std::string text = "GET " + parts->target + " HTTP/1.1\r\nHost: " + parts->host + "\r\nUser-Agent: " + kUserAgent +
                     "\r\nAccept: */*\r\nConnection: close\r\n";
  if (!api_key_.empty()) text += "Authorization: Bearer " + api_key_ + "\r\n";
  for (const std::string& hdr : request.headers) text += hdr + "\r\n";
  text += "\r\n";
  DirectCall call(h, fd, request);
  switch (call.Run(text)) {
    case DirectCall::Result::kDone:
      return Outcome(std::move(call.response));
    case DirectCall::Result::kFallback:
      return std::nullopt;
    case DirectCall::Result::kFailed:
      break;
  }
  const std::string detail = call.detail.empty() ? std::string(errbuf) : call.detail;
  return TransportErrorOf(call.rc, call.aborted, call.body_too_large, what, url, detail.c_str());
}

}  // namespace cairn::internal
