// internal::Client over libcurl: the transport (a pool of reusable easy
// handles), the retry loop, and THE place where libcurl failures and HTTP
// answers become Status (StatusFromResponse, the curl branch of Perform).
// File transfers (Upload/Download) live in transfer.cc on top of the same
// transport.
#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "cairn/status.h"
#include "common/sha256.h"
#include "sdk/internal/client.h"
#include "sdk/internal/client_impl.h"
#include "sdk/internal/http_transport.h"
#include "sdk/internal/settings_parse.h"

namespace cairn::internal {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

constexpr long kConnectTimeoutSeconds = 10;
constexpr long kLowSpeedBytesPerSecond = 1;
constexpr long kLowSpeedSeconds = 60;
// Idle handles kept for reuse; more concurrent calls create (and then free)
// extra handles.
constexpr std::size_t kMaxIdleHandles = 8;
// A non-streamed answer (JSON) larger than this is refused: bounded memory.
constexpr std::size_t kMaxBufferedBody = 32u << 20;
constexpr char kUserAgent[] = "cairn-cpp/0.1.0";

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

std::optional<long> ParseLong(const char* s) {
  if (s == nullptr || *s == '\0') return std::nullopt;
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (*end != '\0') return std::nullopt;
  return v;
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
  auto colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  st->response.headers.emplace_back(ToLower(Trim(line.substr(0, colon))), std::string(Trim(line.substr(colon + 1))));
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

std::string HttpStatusText(long status) { return "HTTP " + std::to_string(status); }

// The error message of a JSON error body, else a short printable excerpt.
std::string ServerMessage(const HttpClientResponse& response) {
  json j = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const json& e = j["error"];
    if (e.contains("message") && e["message"].is_string()) return e["message"].get<std::string>();
  }
  std::string excerpt;
  for (char c : response.body.substr(0, 200)) {
    excerpt += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  }
  return std::string(Trim(excerpt));
}

}  // namespace

// ---------------------------------------------------------------- retry policy

RetryPolicy RetryPolicy::FromEnvironment() {
  RetryPolicy p;
  if (auto v = ParseLong(std::getenv("CAIRN_RETRY_MAX_ATTEMPTS")); v && *v >= 1 && *v <= 100) {
    p.max_attempts = static_cast<int>(*v);
  }
  if (auto v = ParseLong(std::getenv("CAIRN_RETRY_INITIAL_BACKOFF_MS")); v && *v >= 0 && *v <= 60000) {
    p.initial_backoff = milliseconds(*v);
  }
  if (auto v = ParseLong(std::getenv("CAIRN_RETRY_MAX_SECONDS")); v && *v >= 0 && *v <= 86400) {
    p.max_total = milliseconds(*v * 1000);
  }
  return p;
}

Backoff::Backoff(const RetryPolicy& policy, std::function<bool()> cancelled)
    : policy_(policy), cancelled_(std::move(cancelled)), start_(std::chrono::steady_clock::now()) {}

void Backoff::Reset() {
  attempts_ = 1;
  start_ = std::chrono::steady_clock::now();
}

bool Backoff::WaitBeforeRetry(std::optional<milliseconds> retry_after) {
  if (attempts_ >= policy_.max_attempts) return false;
  milliseconds delay;
  if (retry_after) {
    delay = *retry_after;
  } else {
    milliseconds cap = policy_.initial_backoff;
    for (int i = 1; i < attempts_ && cap < policy_.max_backoff; ++i) cap *= 2;
    cap = std::min(cap, policy_.max_backoff);
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uniform_int_distribution<long long> dist(cap.count() / 2, std::max<long long>(cap.count() / 2, cap.count()));
    delay = milliseconds(dist(rng));
  }
  auto elapsed = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - start_);
  if (elapsed + delay > policy_.max_total) return false;
  if (cancelled_) {
    constexpr milliseconds kSlice{50};
    for (const auto until = std::chrono::steady_clock::now() + delay; std::chrono::steady_clock::now() < until;) {
      if (cancelled_()) return false;
      std::this_thread::sleep_for(std::min(kSlice, std::chrono::duration_cast<milliseconds>(
                                                       until - std::chrono::steady_clock::now())));
    }
    if (cancelled_()) return false;
  } else {
    std::this_thread::sleep_for(delay);
  }
  ++attempts_;
  return true;
}

// ------------------------------------------------------------------- transport

std::string HttpClientResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return {};
}

struct HttpTransport::Pool {
  std::mutex mu;
  std::vector<CURL*> idle;  // guarded by mu

  ~Pool() {
    for (CURL* h : idle) curl_easy_cleanup(h);
  }
  CURL* Take() {
    {
      std::lock_guard<std::mutex> lock(mu);
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
      std::lock_guard<std::mutex> lock(mu);
      if (idle.size() < kMaxIdleHandles) {
        idle.push_back(h);
        return;
      }
    }
    curl_easy_cleanup(h);
  }
};

HttpTransport::HttpTransport(std::string base_url, std::string api_key, std::string ca_bundle)
    : base_url_(std::move(base_url)),
      api_key_(std::move(api_key)),
      ca_bundle_(std::move(ca_bundle)),
      pool_(std::make_unique<Pool>()) {
  GlobalInitOnce();
}

HttpTransport::~HttpTransport() = default;

std::variant<HttpClientResponse, TransportError> HttpTransport::Perform(const HttpClientRequest& request) {
  const std::string url = Url(request.target);
  CURL* h = pool_->Take();
  if (h == nullptr) return TransportError{InternalError("libcurl could not create a handle (out of memory?)")};
  // reset keeps the handle's live connections and DNS cache: keep-alive reuse.
  curl_easy_reset(h);

  CallState st;
  st.handle = h;
  st.request = &request;
  char errbuf[CURL_ERROR_SIZE] = {0};

  curl_slist* headers = nullptr;
  if (!api_key_.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + api_key_).c_str());
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
  if (!ca_bundle_.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, ca_bundle_.c_str());
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

  // The one mapping of libcurl failures.
  TransportError err;
  const std::string what = request.method + " " + url;
  if (st.aborted) {
    err.aborted_by_callback = true;
    err.status = InternalError(what + " was stopped by the caller");
    return err;
  }
  if (st.body_too_large) {
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

// ------------------------------------------------------------- status mapping

std::string ErrorCode(const HttpClientResponse& response) {
  json j = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const json& e = j["error"];
    if (e.contains("code") && e["code"].is_string()) return e["code"].get<std::string>();
  }
  return {};
}

bool IsRetryableHttpStatus(long status) {
  return status == 408 || status == 429 ||
         (status >= 500 && status <= 599 && status != 501 && status != 505 && status != 507);
}

std::optional<milliseconds> RetryAfter(const HttpClientResponse& response) {
  std::string v = response.Header("retry-after");
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }) && v.size() <= 6) {
    return milliseconds(std::stol(v) * 1000);
  }
  time_t when = curl_getdate(v.c_str(), nullptr);
  if (when < 0) return std::nullopt;
  time_t now = std::time(nullptr);
  return milliseconds(when > now ? (when - now) * 1000 : 0);
}

Status StatusFromResponse(const HttpClientResponse& response, std::string_view method, std::string_view url,
                          std::string_view what_view, bool had_api_key) {
  const long status = response.status;
  const std::string code = ErrorCode(response);
  std::string server = ServerMessage(response);
  if (server.empty()) server = HttpStatusText(status);
  const std::string what(what_view);
  // Where it happened, for the curious: "(GET http://..: HTTP 404 run_not_found)".
  const std::string where = " (" + std::string(method) + " " + std::string(url) + ": " + HttpStatusText(status) +
                            (code.empty() ? "" : " " + code) + ")";
  // The server's messages already say what to do; advice is added only when
  // the answer carried no message of its own.
  const bool generic = server == HttpStatusText(status);
  const auto advice = [&](const std::string& text) { return generic ? "; " + text : std::string(); };
  switch (status) {
    case 400:
      if (code == "digest_mismatch") {
        return DataLossError(what + ": the server received bytes that do not match their SHA-256 or size: " + server +
                             "; the bytes were corrupted in transit or the file changed, save it again" + where);
      }
      return InvalidArgumentError(what + ": the server refused the request: " + server + where);
    case 401: {
      const std::string hint = "set CAIRN_API_KEY or run `cairn login`";
      if (!had_api_key) return UnauthenticatedError("no API key is set for the cairn server; " + hint + where);
      const bool has_hint = server.find("CAIRN_API_KEY") != std::string::npos;
      return UnauthenticatedError("the cairn server refused the API key: " + server + (has_hint ? "" : "; " + hint) +
                                  where);
    }
    case 403:
      if (code == "quota_exceeded") return ResourceExhaustedError(what + ": " + server + where);
      return PermissionDeniedError(what + ": permission denied: " + server +
                                   advice("use a key of that entity (a writable one for writes)") + where);
    case 404:
      if (code == "not_found" || code.empty()) {
        return InternalError(
            "the server does not know this route; is CAIRN_BASE_URL a cairn server of a matching "
            "version?" +
            where);
      }
      return NotFoundError(what + ": " + server + advice("check the entity, project and run id") + where);
    case 409:
      return AlreadyExistsError(what + ": " + server + where);
    case 413:
      return ResourceExhaustedError(what + ": the request is too large for the server: " + server + where);
    case 507:
      return ResourceExhaustedError(what + ": the server's disk is full: " + server +
                                    advice("free space on the server and try again") + where);
    default:
      break;
  }
  if (status == 500 && code == "data_loss") {
    return DataLossError(what + ": the server's stored copy is damaged or missing: " + server + where);
  }
  if (IsRetryableHttpStatus(status)) {
    return UnavailableError(what + ": the server is busy or unavailable: " + server + "; try again later" + where);
  }
  return InternalError(what + ": unexpected answer from the server: " + server + where);
}

StatusOr<HttpClientResponse> PerformWithRetry(HttpTransport& transport, const RetryPolicy& policy,
                                              const HttpClientRequest& request, bool* ambiguous) {
  Backoff backoff(policy, request.cancelled);
  while (true) {
    auto result = transport.Perform(request);
    if (auto* response = std::get_if<HttpClientResponse>(&result)) {
      if (IsRetryableHttpStatus(response->status) && backoff.WaitBeforeRetry(RetryAfter(*response))) continue;
      return std::move(*response);
    }
    TransportError& err = std::get<TransportError>(result);
    if (!err.aborted_by_callback && err.status.code() == StatusCode::kUnavailable && backoff.WaitBeforeRetry()) {
      if (!err.nothing_sent && ambiguous != nullptr) *ambiguous = true;
      continue;
    }
    return err.status;
  }
}

std::string RunTarget(const RunPath& run) {
  return "/api/v1/runs/" + UrlEncode(run.entity) + "/" + UrlEncode(run.project) + "/" + UrlEncode(run.run_id);
}

// ------------------------------------------------------------------ the client

namespace {

// A JSON field of the expected type, or a kInternal naming the answer.
template <typename T>
StatusOr<T> Field(const json& j, const char* key, std::string_view context) {
  if (!j.is_object() || !j.contains(key)) {
    return InternalError("unexpected answer from the server for " + std::string(context) + ": no '" + key +
                         "' field; is CAIRN_BASE_URL a cairn server of a matching version?");
  }
  const json& v = j[key];
  bool ok;
  if constexpr (std::is_same_v<T, std::string>) {
    ok = v.is_string();
  } else if constexpr (std::is_same_v<T, std::uint64_t>) {
    ok = v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0);
  } else {
    ok = v.is_number_integer();
  }
  if (!ok) {
    return InternalError("unexpected answer from the server for " + std::string(context) + ": field '" + key +
                         "' has the wrong type");
  }
  return v.get<T>();
}

StatusOr<RunInfo> RunFromJson(const json& j, std::string_view context) {
  RunInfo r;
  auto e = Field<std::string>(j, "entity", context);
  if (!e.ok()) return e.status();
  auto p = Field<std::string>(j, "project", context);
  if (!p.ok()) return p.status();
  auto id = Field<std::string>(j, "id", context);
  if (!id.ok()) return id.status();
  r.entity = *e;
  r.project = *p;
  r.id = *id;
  if (auto c = Field<std::string>(j, "created_at", context); c.ok()) r.created_at = *c;
  if (auto u = Field<std::string>(j, "updated_at", context); u.ok()) r.updated_at = *u;
  if (auto st = Field<std::string>(j, "state", context); st.ok()) r.state = *st;
  if (auto c = j.find("config"); c != j.end() && c->is_object()) r.config = c->dump();
  return r;
}

}  // namespace

StatusOr<FileInfo> FileFromJson(const json& j, std::string_view context) {
  FileInfo f;
  auto name = Field<std::string>(j, "name", context);
  if (!name.ok()) return name.status();
  auto size = Field<std::uint64_t>(j, "size", context);
  if (!size.ok()) return size.status();
  auto sha = Field<std::string>(j, "sha256", context);
  if (!sha.ok()) return sha.status();
  auto version = Field<std::int64_t>(j, "version", context);
  if (!version.ok()) return version.status();
  if (!IsSha256Hex(*sha)) {
    return InternalError("unexpected answer from the server for " + std::string(context) + ": bad sha256 '" + *sha +
                         "'");
  }
  f.name = *name;
  f.size = *size;
  f.sha256 = *sha;
  f.version = *version;
  if (auto u = Field<std::string>(j, "updated_at", context); u.ok()) f.updated_at = *u;
  return f;
}

namespace {

StatusOr<json> ParseJsonBody(const HttpClientResponse& response, std::string_view context) {
  json j = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return InternalError("unexpected answer from the server for " + std::string(context) +
                         ": not JSON; is CAIRN_BASE_URL a cairn server?");
  }
  return j;
}

std::string NextCursor(const json& j) {
  if (j.is_object() && j.contains("next_cursor") && j["next_cursor"].is_string()) {
    return j["next_cursor"].get<std::string>();
  }
  return {};
}

}  // namespace

Client::Client(Settings settings) : settings_(std::move(settings)), impl_(std::make_shared<Impl>(settings_)) {}

StatusOr<std::shared_ptr<Client>> Client::Create(const Settings& settings) {
  StatusOr<std::string> url = NormalizeBaseUrl(settings.base_url);
  if (!url.ok()) return url.status();
  Settings s = settings;
  s.base_url = *url;
  return std::shared_ptr<Client>(new Client(std::move(s)));
}

// Issues an idempotent GET (with retries) and returns the JSON body of a 2xx
// answer, else the mapped Status. `file_not_found` (optional) is set instead
// of failing when the answer is 404 file_not_found.
static StatusOr<json> GetJson(Client::Impl& impl, const std::string& target, const std::string& what,
                              bool* file_not_found = nullptr) {
  HttpClientRequest req;
  req.target = target;
  StatusOr<HttpClientResponse> resp = PerformWithRetry(impl.transport, impl.retry, req);
  if (!resp.ok()) return resp.status();
  if (resp->status / 100 != 2) {
    if (file_not_found != nullptr && resp->status == 404 && ErrorCode(*resp) == "file_not_found") {
      *file_not_found = true;
      return json();
    }
    return StatusFromResponse(*resp, req.method, impl.transport.Url(target), what, impl.transport.has_api_key());
  }
  return ParseJsonBody(*resp, what);
}

Status Client::ResolveEntity(RunPath& path) {
  if (!path.entity.empty()) return OkStatus();
  if (!settings_.entity.empty()) {
    path.entity = settings_.entity;
    return OkStatus();
  }
  std::optional<std::string> cached;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    cached = impl_->whoami_entity;
  }
  if (!cached) {
    // Concurrent first callers may both ask; the answers are the same.
    StatusOr<json> j = GetJson(*impl_, "/api/v1/whoami", "the API key's entity");
    if (!j.ok()) return j.status();
    std::string entity;
    if (j->is_object() && j->contains("entity") && (*j)["entity"].is_string()) {
      entity = (*j)["entity"].get<std::string>();
    }
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->whoami_entity = entity;
    cached = entity;
  }
  if (!cached->empty()) {
    path.entity = *cached;
    return OkStatus();
  }
  return InvalidArgumentError("no entity given for '" + path.project + "/" + path.run_id +
                              "' and the API key has no default entity; use entity/project/run_id or set "
                              "CAIRN_ENTITY");
}

StatusOr<RunInfo> Client::PutRun(const RunPath& run, const std::string& resume, bool* created,
                                 const RunFields& fields) {
  HttpClientRequest req;
  req.method = "PUT";
  req.target = RunTarget(run);
  json body{{"resume", resume}};
  if (!fields.config.empty()) {
    json config = json::parse(fields.config, nullptr, /*allow_exceptions=*/false);
    if (!config.is_object()) return InvalidArgumentError("run config must be a JSON object");
    body["config"] = std::move(config);
  }
  if (!fields.state.empty()) body["state"] = fields.state;
  req.json_body = body.dump();
  const std::string what = "run " + run.ToString();
  RetryPolicy retry = impl_->retry;
  if (fields.once) retry.max_attempts = 1;
  // PUT is idempotent for "allow" and "must"; for "never" a retry after a lost
  // answer may see 409 for the run it created itself (handled below).
  bool ambiguous = false;
  StatusOr<HttpClientResponse> resp = PerformWithRetry(impl_->transport, retry, req, &ambiguous);
  if (!resp.ok()) return resp.status();
  if (resp->status == 409 && ambiguous && resume == "never") {
    // Our first attempt most likely created it (ids are random); accept it.
    StatusOr<RunInfo> info = GetRun(run);
    if (info.ok() && created != nullptr) *created = true;
    return info;
  }
  if (resp->status / 100 != 2) {
    Status st =
        StatusFromResponse(*resp, req.method, impl_->transport.Url(req.target), what, impl_->transport.has_api_key());
    if (st.code() == StatusCode::kAlreadyExists) {
      return AlreadyExistsError("run " + run.ToString() +
                                " already exists; pass resume=\"allow\" (or CAIRN_RESUME=allow) to continue it, or use "
                                "a new id");
    }
    if (st.code() == StatusCode::kNotFound && resume == "must") {
      return NotFoundError("run " + run.ToString() +
                           " does not exist and resume=\"must\" requires it; check the id or use resume=\"allow\"");
    }
    return st;
  }
  StatusOr<json> j = ParseJsonBody(*resp, what);
  if (!j.ok()) return j.status();
  if (created != nullptr) *created = resp->status == 201;
  return RunFromJson(*j, what);
}

StatusOr<RunInfo> Client::GetRun(const RunPath& run) {
  const std::string what = "run " + run.ToString();
  StatusOr<json> j = GetJson(*impl_, RunTarget(run), what);
  if (!j.ok()) return j.status();
  return RunFromJson(*j, what);
}

StatusOr<ListPage<RunInfo>> Client::ListRuns(const std::string& entity, const std::string& project,
                                             const std::string& cursor) {
  const std::string what = "project " + entity + "/" + project;
  std::string target = "/api/v1/runs/" + UrlEncode(entity) + "/" + UrlEncode(project) + "?limit=1000";
  if (!cursor.empty()) target += "&cursor=" + UrlEncode(cursor);
  StatusOr<json> j = GetJson(*impl_, target, what);
  if (!j.ok()) return j.status();
  if (!j->contains("runs") || !(*j)["runs"].is_array()) {
    return InternalError("unexpected answer from the server for " + what + ": no 'runs' list");
  }
  ListPage<RunInfo> page;
  for (const json& r : (*j)["runs"]) {
    StatusOr<RunInfo> info = RunFromJson(r, what);
    if (!info.ok()) return info.status();
    page.items.push_back(std::move(*info));
  }
  page.next_cursor = NextCursor(*j);
  return page;
}

StatusOr<ListPage<FileInfo>> Client::ListFiles(const RunPath& run, const std::string& cursor) {
  const std::string what = "run " + run.ToString();
  std::string target = RunTarget(run) + "/files?limit=1000";
  if (!cursor.empty()) target += "&cursor=" + UrlEncode(cursor);
  StatusOr<json> j = GetJson(*impl_, target, what);
  if (!j.ok()) return j.status();
  if (!j->contains("files") || !(*j)["files"].is_array()) {
    return InternalError("unexpected answer from the server for " + what + ": no 'files' list");
  }
  ListPage<FileInfo> page;
  for (const json& f : (*j)["files"]) {
    StatusOr<FileInfo> info = FileFromJson(f, what);
    if (!info.ok()) return info.status();
    page.items.push_back(std::move(*info));
  }
  page.next_cursor = NextCursor(*j);
  return page;
}

StatusOr<std::vector<FileInfo>> Client::ListVersions(const RunPath& run, const std::string& name) {
  if (Status st = ValidateFileName(name); !st.ok()) return st;
  const std::string what = "versions of " + name + " in run " + run.ToString();
  bool missing = false;
  StatusOr<json> j =
      GetJson(*impl_, RunTarget(run) + "/versions/" + UrlEncode(name, /*keep_slash=*/true), what, &missing);
  if (!j.ok()) return j.status();
  std::vector<FileInfo> out;
  if (missing) return out;
  if (!j->contains("versions") || !(*j)["versions"].is_array()) {
    return InternalError("unexpected answer from the server for " + what + ": no 'versions' list");
  }
  for (const json& f : (*j)["versions"]) {
    StatusOr<FileInfo> info = FileFromJson(f, what);
    if (!info.ok()) return info.status();
    out.push_back(std::move(*info));
  }
  return out;
}

StatusOr<std::optional<FileInfo>> Client::GetFileInfo(const RunPath& run, const std::string& name,
                                                      std::optional<std::int64_t> version) {
  if (Status st = ValidateFileName(name); !st.ok()) return st;
  if (version && *version < 1) {
    return InvalidArgumentError("invalid version " + std::to_string(*version) + " of " + name +
                                ": versions are numbered from 1");
  }
  const std::string what = "file " + name + " in run " + run.ToString();
  std::string target = RunTarget(run) + "/meta/" + UrlEncode(name, /*keep_slash=*/true);
  if (version) target += "?version=" + std::to_string(*version);
  bool missing = false;
  StatusOr<json> j = GetJson(*impl_, target, what, &missing);
  if (!j.ok()) return j.status();
  if (missing) return std::optional<FileInfo>();
  StatusOr<FileInfo> info = FileFromJson(*j, what);
  if (!info.ok()) return info.status();
  return std::optional<FileInfo>(std::move(*info));
}

StatusOr<std::string> Client::CallJson(const std::string& method, const std::string& target,
                                       const std::string& json_body, const std::string& what, bool* file_not_found) {
  HttpClientRequest req;
  req.method = method;
  req.target = target;
  if (!json_body.empty()) req.json_body = json_body;
  // Not a GET: retried only while nothing reached the server.
  auto send_once = [&]() -> StatusOr<HttpClientResponse> {
    Backoff backoff(impl_->retry);
    while (true) {
      auto result = impl_->transport.Perform(req);
      if (auto* r = std::get_if<HttpClientResponse>(&result)) return std::move(*r);
      TransportError& err = std::get<TransportError>(result);
      if (err.nothing_sent && backoff.WaitBeforeRetry()) continue;
      return err.status;
    }
  };
  StatusOr<HttpClientResponse> resp =
      method == "GET" ? PerformWithRetry(impl_->transport, impl_->retry, req) : send_once();
  if (!resp.ok()) return resp.status();
  if (resp->status / 100 == 2) return std::move(resp->body);
  if (file_not_found != nullptr && resp->status == 404 && ErrorCode(*resp) == "file_not_found") {
    *file_not_found = true;
    return std::string();
  }
  return StatusFromResponse(*resp, req.method, impl_->transport.Url(req.target), what, impl_->transport.has_api_key());
}

StatusOr<std::string> Client::CreateKey(const std::string& entity, bool read_only) {
  if (Status st = ValidateId(entity, "entity"); !st.ok()) return st;
  HttpClientRequest req;
  req.method = "POST";
  req.target = "/api/v1/keys";
  req.json_body = json{{"entity", entity}, {"read_only", read_only}}.dump();
  const std::string what = "a key for entity " + entity;
  // Not idempotent: a retry after a lost answer would mint a second key. Only
  // retry when nothing reached the server.
  RetryPolicy once = impl_->retry;
  Backoff backoff(once);
  while (true) {
    auto result = impl_->transport.Perform(req);
    if (auto* resp = std::get_if<HttpClientResponse>(&result)) {
      if (resp->status / 100 != 2) {
        return StatusFromResponse(*resp, req.method, impl_->transport.Url(req.target), what,
                                  impl_->transport.has_api_key());
      }
      StatusOr<json> j = ParseJsonBody(*resp, what);
      if (!j.ok()) return j.status();
      return Field<std::string>(*j, "key", what);
    }
    TransportError& err = std::get<TransportError>(result);
    if (err.nothing_sent && backoff.WaitBeforeRetry()) continue;
    return err.status;
  }
}

}  // namespace cairn::internal
