// The HTTP side of `cairn server`, one connection at a time: HTTP/1.1
// parsing, keep-alive, timeouts, bodies in and out (sendfile(2) for local
// files), lingering close, on Boost.Beast with C++20 coroutines. What each
// route does lives in the handlers (router.h; free of Boost); accepting and
// shutting down in server.cc.
//
// TLS (--tls-cert/--tls-key) wraps the same code: a connection is a Stream
// (stream.h), plain TCP or TLS over TCP, so the HTTP code below is compiled
// once and only the byte-level read_some/write_some choose between the two.
#include <spdlog/spdlog.h>
#include <sys/sendfile.h>

#include <algorithm>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <memory>
#include <optional>

#include "server/access_log.h"
#include "server/ops.h"
#include "server/server_state.h"
#include "server/stream.h"

namespace cairn::internal::net {
namespace {

namespace http = beast::http;
using Clock = std::chrono::steady_clock;

// Upload and download chunk: bounds the memory of one transfer.
constexpr std::size_t kChunkBytes = 256 * 1024;
constexpr std::uint32_t kHeaderLimit = 16 * 1024;
// After answering without reading a request's body, how much of it we read
// and discard (at most, and for how long) so that closing the socket does not
// reset the connection before the client has read the answer.
constexpr std::uint64_t kLingerBytes = 64ull << 20;
constexpr std::chrono::seconds kLingerTime{2};
// Largest single sendfile(2) call: the kernel moves at most what fits in the
// socket buffer anyway; this only bounds one call's work.
constexpr std::size_t kSendfileMax = 16u << 20;

// Status line + headers common to every answer.
template <typename Body>
void SetCommonHeaders(http::response<Body>& res, const HttpResponse& r, bool keep_alive) {
  res.result(static_cast<unsigned>(r.status));
  res.set(http::field::server, "cairn");
  res.set(http::field::content_type, r.content_type);
  for (const auto& [name, value] : r.headers) res.set(name, value);
  res.keep_alive(keep_alive);
}

// Puts the socket in non-blocking mode (once: asio remembers it, and no
// synchronous read or write of ours expects it to block).
beast::error_code NonBlocking(tcp::socket& socket) {
  beast::error_code ec;
  if (!socket.non_blocking()) socket.non_blocking(true, ec);
  return ec;
}

// Sends the header of `sr` at once, without a wait, with MSG_MORE so that
// it leaves in one packet with the file bytes that follow (nginx's
// tcp_nopush; `more` false: no bytes follow, the header is pushed now).
// false: the socket buffer is full (or failed); what was sent is consumed
// from `sr`, and the caller sends the rest with http::async_write_header.
// The socket must be non-blocking.
bool TrySendHeaderNow(tcp::socket& socket, http::response_serializer<http::empty_body>& sr, bool more) {
  sr.split(true);
  beast::error_code ec;
  const int flags = more ? MSG_MORE : 0;
  while (!ec && !sr.is_header_done()) {
    std::size_t sent = 0;
    sr.next(ec, [&](beast::error_code& vec, const auto& buffers) { sent = socket.send(buffers, flags, vec); });
    if (!ec) sr.consume(sent);
  }
  return !ec;
}

// Sends `length` bytes of `fd` from `offset` on the socket with sendfile(2):
// page cache to socket, no copy through user space, no buffer of ours. Waits
// for room in the socket buffer (EAGAIN) at most `timeout` each time.
// Returns the bytes sent and the error that ended the transfer early, if any.
asio::awaitable<std::pair<beast::error_code, std::uint64_t>> SendFileRange(tcp::socket& socket, int fd,
                                                                           std::uint64_t offset, std::uint64_t length,
                                                                           std::chrono::seconds timeout) {
  if (beast::error_code ec = NonBlocking(socket); ec) co_return std::make_pair(ec, std::uint64_t{0});
  // Cancels a wait that lasts longer than `timeout`. Its handler may run
  // after we return: it touches the socket only while `live` is true.
  // Made at the first full socket buffer (a small file never waits).
  std::shared_ptr<bool> live;
  std::optional<asio::steady_timer> timer;
  struct Leave {
    std::shared_ptr<bool>& live;
    ~Leave() {
      if (live) *live = false;
    }
  } leave{live};
  off_t off = static_cast<off_t>(offset);
  std::uint64_t sent = 0;
  while (sent < length) {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(length - sent, kSendfileMax));
    const ssize_t n = ::sendfile(socket.native_handle(), fd, &off, want);
    if (n > 0) {
      sent += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n == 0) co_return std::make_pair(beast::error_code(asio::error::eof), sent);  // the file shrank
    if (errno == EINTR) continue;
    if (errno != EAGAIN) co_return std::make_pair(beast::error_code(errno, beast::system_category()), sent);
    if (!timer) {
      live = std::make_shared<bool>(true);
      timer.emplace(socket.get_executor());
    }
    auto timed_out = std::make_shared<bool>(false);
    timer->expires_after(timeout);
    timer->async_wait([&socket, live, timed_out](const beast::error_code& tec) {
      if (tec || !*live) return;
      *timed_out = true;
      beast::error_code ignored;
      socket.cancel(ignored);
    });
    auto [wec] = co_await socket.async_wait(tcp::socket::wait_write, kNoThrow);
    timer->cancel();
    if (*timed_out) co_return std::make_pair(beast::error_code(asio::error::timed_out), sent);
    if (wec) co_return std::make_pair(wec, sent);
  }
  co_return std::make_pair(beast::error_code(), sent);
}

// Sends `r`; returns the body bytes sent, or an error when the connection
// failed (the caller then closes it).
asio::awaitable<std::pair<beast::error_code, std::uint64_t>> WriteResponse(Stream& stream, HttpResponse& r,
                                                                           unsigned version, bool keep_alive,
                                                                           std::chrono::seconds timeout) {
  if (r.head_only) {
    http::response<http::empty_body> res{http::status::ok, version};
    SetCommonHeaders(res, r, keep_alive);
    res.content_length(r.stream_length);
    stream.expires_after(timeout);
    http::response_serializer<http::empty_body> sr{res};
    auto [ec, n] = co_await http::async_write_header(stream, sr, kNoThrow);
    co_return std::make_pair(ec, std::uint64_t{0});
  }
  if (!r.stream) {
    http::response<http::string_body> res{http::status::ok, version};
    SetCommonHeaders(res, r, keep_alive);
    const std::uint64_t size = r.body.size();
    res.body() = std::move(r.body);
    res.prepare_payload();
    stream.expires_after(timeout);
    auto [ec, n] = co_await http::async_write(stream, res, kNoThrow);
    co_return std::make_pair(ec, ec ? std::uint64_t{0} : size);
  }

  // File bytes of a local file on plain HTTP: header, then sendfile(2) on the
  // socket (TLS must encrypt in user space: it takes the chunked path below).
  if (const auto* file = dynamic_cast<const LocalFileRange*>(r.stream.get()); file != nullptr && !stream.is_tls()) {
    http::response<http::empty_body> res{http::status::ok, version};
    SetCommonHeaders(res, r, keep_alive);
    res.content_length(r.stream_length);
    http::response_serializer<http::empty_body> sr{res};
    if (beast::error_code ec = NonBlocking(stream.socket()); ec) co_return std::make_pair(ec, std::uint64_t{0});
    if (!TrySendHeaderNow(stream.socket(), sr, /*more=*/r.stream_length > 0)) {
      stream.expires_after(timeout);
      if (auto [ec, n] = co_await http::async_write_header(stream, sr, kNoThrow); ec) {
        co_return std::make_pair(ec, std::uint64_t{0});
      }
      stream.expires_never();
    }
    co_return co_await SendFileRange(stream.socket(), file->fd(), file->offset(), r.stream_length, timeout);
  }

  // Other file bytes: header, then bounded chunks read from the blob.
  http::response<http::buffer_body> res{http::status::ok, version};
  SetCommonHeaders(res, r, keep_alive);
  res.content_length(r.stream_length);
  res.body().data = nullptr;
  res.body().more = r.stream_length > 0;
  http::response_serializer<http::buffer_body> sr{res};
  stream.expires_after(timeout);
  if (auto [ec, n] = co_await http::async_write_header(stream, sr, kNoThrow); ec) {
    co_return std::make_pair(ec, std::uint64_t{0});
  }
  std::unique_ptr<char[]> buf(new char[kChunkBytes]);
  std::uint64_t sent = 0;
  while (sent < r.stream_length) {
    StatusOr<std::size_t> got = r.stream->Read(buf.get(), kChunkBytes);
    if (!got.ok() || *got == 0) {
      // The header is out: the only honest signal left is to cut the
      // connection short of Content-Length.
      co_return std::make_pair(beast::error_code(asio::error::broken_pipe), sent);
    }
    sent += *got;
    res.body().data = buf.get();
    res.body().size = *got;
    res.body().more = sent < r.stream_length;
    stream.expires_after(timeout);
    auto [ec, n] = co_await http::async_write(stream, sr, kNoThrow);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return std::make_pair(ec, sent - *got);
  }
  if (!sr.is_done()) {
    res.body().data = nullptr;
    res.body().size = 0;
    res.body().more = false;
    stream.expires_after(timeout);
    auto [ec, n] = co_await http::async_write(stream, sr, kNoThrow);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return std::make_pair(ec, sent);
  }
  co_return std::make_pair(beast::error_code(), sent);
}

// Closes a connection whose request body we did not read: stop sending, read
// and drop what the client is still sending for a moment, then close, so
// that the client sees our answer rather than a reset.
asio::awaitable<void> LingeringClose(Stream& stream, beast::flat_buffer& buffer) {
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  std::uint64_t drained = 0;
  stream.expires_after(kLingerTime);
  while (!ec && drained < kLingerBytes) {
    buffer.clear();
    std::size_t n = 0;
    // Raw TCP reads: over TLS too, the bytes are dropped undecrypted.
    std::tie(ec, n) = co_await stream.lowest_layer().async_read_some(buffer.prepare(kChunkBytes), kNoThrow);
    drained += n;
  }
  stream.close();
}

// Answers `Expect: 100-continue` once we have decided to read the body (a
// client such as curl otherwise waits a second before sending it). false:
// the connection failed.
asio::awaitable<bool> SendContinueIfExpected(ServerState& state, Stream& stream,
                                             http::request_parser<http::buffer_body>& parser) {
  if (!beast::iequals(parser.get()[http::field::expect], "100-continue")) co_return true;
  http::response<http::empty_body> cont{http::status::continue_, parser.get().version()};
  stream.expires_after(state.options.request_timeout);
  auto [ec, n] = co_await http::async_write(stream, cont, kNoThrow);
  co_return !ec;
}

// Reads an upload's body into call.upload. nullopt: the connection failed or
// timed out (the caller closes it; destroying the Call cancels the writer).
asio::awaitable<std::optional<HttpResponse>> ReadUpload(ServerState& state, Stream& stream, beast::flat_buffer& buffer,
                                                        http::request_parser<http::buffer_body>& parser, Call& call,
                                                        bool* body_consumed, std::uint64_t* received) {
  *body_consumed = false;
  if (!co_await SendContinueIfExpected(state, stream, parser)) co_return std::nullopt;
  std::unique_ptr<char[]> buf(new char[kChunkBytes]);
  while (!parser.is_done()) {
    parser.get().body().data = buf.get();
    parser.get().body().size = kChunkBytes;
    // Progress timeout: each chunk must arrive within request_timeout.
    stream.expires_after(state.options.request_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      state.log->info("upload to {} aborted after {} bytes: {}", call.name, call.upload->size(), ec.message());
      co_return std::nullopt;
    }
    const std::size_t got = kChunkBytes - parser.get().body().size;
    if (got == 0) continue;
    *received += got;
    if (Status s = call.upload->Append(buf.get(), got); !s.ok()) {
      call.upload->Cancel();
      co_return StatusResponse(s);
    }
  }
  *body_consumed = true;
  co_return state.api.FinishUpload(call);
}

HttpResponse TooLarge(std::size_t limit) {
  return ErrorResponse(413, "too_large",
                       limit == kMaxJsonBody ? std::string("the request body is over 1 MiB")
                                             : "the request body is over " + std::to_string(limit) + " bytes");
}

// Reads a small (JSON) body of at most `limit` bytes. nullopt: the connection failed.
asio::awaitable<std::optional<std::string>> ReadSmallBody(ServerState& state, Stream& stream,
                                                          beast::flat_buffer& buffer,
                                                          http::request_parser<http::buffer_body>& parser,
                                                          std::size_t limit, bool* too_large) {
  *too_large = false;
  if (!parser.is_done()) {
    if (!co_await SendContinueIfExpected(state, stream, parser)) co_return std::nullopt;
  }
  std::string body;
  std::unique_ptr<char[]> buf(new char[kChunkBytes]);
  while (!parser.is_done()) {
    parser.get().body().data = buf.get();
    parser.get().body().size = kChunkBytes;
    stream.expires_after(state.options.request_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return std::nullopt;
    const std::size_t got = kChunkBytes - parser.get().body().size;
    if (body.size() + got > limit) {
      *too_large = true;
      co_return body;
    }
    body.append(buf.get(), got);
  }
  co_return body;
}

std::string HeaderValue(const http::request_parser<http::buffer_body>::value_type& req, http::field f) {
  auto it = req.find(f);
  return it == req.end() ? std::string() : std::string(it->value());
}

std::string HeaderValue(const http::request_parser<http::buffer_body>::value_type& req, std::string_view name) {
  auto it = req.find(name);
  return it == req.end() ? std::string() : std::string(it->value());
}

// The request's access line (--log-format) and its metrics.
void LogAccess(ServerState& state, const AccessEntry& e) {
  if (state.ops != nullptr && state.observe_requests) {
    state.ops->metrics().ObserveRequest({.route = e.route,
                                         .method = e.method,
                                         .status = e.status,
                                         .seconds = e.seconds,
                                         .bytes_in = e.bytes_in,
                                         .bytes_out = e.bytes_out});
  }
  const auto level = e.status >= 500 ? spdlog::level::warn : spdlog::level::info;
  if (state.log_format == LogFormat::kJson) {
    state.access_log->log(level, "{}", FormatAccessJson(e));
  } else {
    state.log->log(level, "{}", FormatAccessText(e));
  }
}

// X-Cairn-Size and X-Cairn-By-Reference (commits by reference). A malformed
// size is left unset, which the handler reports.
void ReadUploadHeaders(const http::request_parser<http::buffer_body>::value_type& hdr, HttpRequest& req) {
  if (auto it = hdr.find("X-Cairn-Size"); it != hdr.end()) {
    std::uint64_t size = 0;
    const std::string_view v = it->value();
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), size);
    if (!v.empty() && ec == std::errc() && ptr == v.data() + v.size()) req.cairn_size = size;
  }
  if (auto it = hdr.find("X-Cairn-By-Reference"); it != hdr.end()) req.by_reference = it->value() == "1";
}

// Answers a header that failed with `ec` (or took too long) as an error,
// where one is due (408/431/400); false: the connection is to be closed.
asio::awaitable<bool> RefuseHeader(ServerState& state, Stream& stream, beast::flat_buffer& buffer,
                                   beast::error_code ec, bool timed_out) {
  const beast::error_code any_http_error = http::error::bad_method;
  std::optional<HttpResponse> error;
  if (timed_out) {
    error = ErrorResponse(408, "request_timeout", "the request headers took too long to arrive");
  } else if (ec == http::error::header_limit) {
    error = ErrorResponse(431, "headers_too_large", "the request headers are over 16 KiB");
  } else if (ec.category() == any_http_error.category() && ec != http::error::end_of_stream &&
             ec != http::error::partial_message) {
    error = ErrorResponse(400, "invalid_argument", "malformed HTTP request: " + ec.message());
  }
  if (error) {
    state.log->info("- - {} ({})", error->status, ec.message());
    co_await WriteResponse(stream, *error, 11, /*keep_alive=*/false, state.options.request_timeout);
    co_await LingeringClose(stream, buffer);
  }
  co_return false;
}

// Reads a request's header block within request_timeout. false: there is no
// request (the peer closed, or sent something malformed or too slow, which
// was answered with 408/431/400); the connection is to be closed.
asio::awaitable<bool> ReadHeader(ServerState& state, Stream& stream, beast::flat_buffer& buffer,
                                 http::request_parser<http::buffer_body>& parser) {
  // A whole header already read (a keep-alive client's next request, as a
  // rule): parsed here, without a deadline timer or a read to wait for.
  if (buffer.size() > 0) {
    beast::error_code ec;
    buffer.consume(parser.put(buffer.data(), ec));
    if (!ec && parser.is_header_done()) co_return true;
    if (ec && ec != http::error::need_more) co_return co_await RefuseHeader(state, stream, buffer, ec, false);
  }
  // Header deadline. On expiry the read is cancelled but the socket stays
  // open (unlike a tcp_stream expiry), so that a 408 can still be sent.
  asio::steady_timer deadline(stream.get_executor(), state.options.request_timeout);
  auto finished = std::make_shared<bool>(false);
  auto timed_out = std::make_shared<bool>(false);
  deadline.async_wait([&stream, finished, timed_out](const beast::error_code& tec) {
    if (tec || *finished) return;  // both only touched on this connection's strand
    *timed_out = true;
    beast::error_code ignored;
    stream.socket().cancel(ignored);
  });
  stream.expires_never();
  auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, kNoThrow);
  *finished = true;
  deadline.cancel();
  if (!ec) co_return true;
  co_return co_await RefuseHeader(state, stream, buffer, ec, *timed_out);
}

// The header block as the handlers see it.
HttpRequest ToHttpRequest(const http::request_parser<http::buffer_body>& parser) {
  const auto& hdr = parser.get();
  HttpRequest req;
  req.method = std::string(hdr.method_string());
  req.target = std::string(hdr.target());
  req.authorization = HeaderValue(hdr, http::field::authorization);
  req.range = HeaderValue(hdr, http::field::range);
  req.if_range = HeaderValue(hdr, http::field::if_range);
  if (auto it = hdr.find("X-Cairn-Sha256"); it != hdr.end()) req.sha256 = std::string(it->value());
  ReadUploadHeaders(hdr, req);
  if (parser.content_length()) req.content_length = *parser.content_length();
  req.chunked = parser.chunked();
  req.host = HeaderValue(hdr, http::field::host);
  if (auto it = hdr.find("X-Forwarded-Proto"); it != hdr.end()) req.forwarded_proto = std::string(it->value());
  req.cookie = HeaderValue(hdr, http::field::cookie);
  if (auto it = hdr.find("X-Cairn-Csrf"); it != hdr.end()) req.csrf = std::string(it->value());
  return req;
}

// A request's answer, and what became of its body.
struct Handled {
  HttpResponse response;
  bool body_unread = false;    // the connection cannot carry another request
  std::uint64_t received = 0;  // request body bytes read (for the log)
  std::string_view route = "unmatched";  // the route's pattern (for the log and metrics)
  std::string key_id;                    // Principal::key_id, "" without a key
};

// Routes the request and reads its body as the route asks (streamed into an
// upload, or a JSON body within the route's limit). nullopt: the connection
// failed (destroying the Call cancels an upload).
asio::awaitable<std::optional<Handled>> Handle(ServerState& state, Stream& stream, beast::flat_buffer& buffer,
                                               http::request_parser<http::buffer_body>& parser,
                                               const HttpRequest& req) {
  Handled out{.body_unread = !parser.is_done()};
  Call call = state.api.Begin(req);
  if (call.route != nullptr) out.route = call.route->pattern;
  out.key_id = call.principal.key_id;
  if (call.response) {
    out.response = std::move(*call.response);
  } else if (call.upload) {
    bool consumed = false;
    std::optional<HttpResponse> r = co_await ReadUpload(state, stream, buffer, parser, call, &consumed, &out.received);
    if (!r) co_return std::nullopt;
    out.response = std::move(*r);
    out.body_unread = !consumed;
  } else if (req.content_length && *req.content_length > call.body_limit()) {
    out.response = TooLarge(call.body_limit());
  } else {
    bool too_large = false;
    std::optional<std::string> body =
        co_await ReadSmallBody(state, stream, buffer, parser, call.body_limit(), &too_large);
    if (!body) co_return std::nullopt;
    if (too_large) {
      out.response = TooLarge(call.body_limit());
    } else {
      out.body_unread = false;
      out.received = body->size();
      out.response = state.api.Finish(call, *body);
    }
  }
  co_return out;
}

// Serves one request from `peer` (the client's address, "" when unknown).
// Returns whether the connection may carry another one.
asio::awaitable<bool> ServeOne(ServerState& state, Stream& stream, beast::flat_buffer& buffer,
                               const std::string& peer) {
  const auto start = Clock::now();
  http::request_parser<http::buffer_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(boost::none);  // limits are per route (RouteOptions), enforced in Handle()
  if (!co_await ReadHeader(state, stream, buffer, parser)) co_return false;
  HttpRequest req = ToHttpRequest(parser);
  req.peer = peer;
  req.tls = stream.is_tls();
  bool keep_alive = parser.get().keep_alive();
  const unsigned version = parser.get().version();

  Handled handled{.body_unread = !parser.is_done()};
  if (state.stopping) {
    handled.response = ErrorResponse(503, "unavailable", "the server is shutting down; retry shortly");
    keep_alive = false;
  } else {
    std::optional<Handled> h = co_await Handle(state, stream, buffer, parser, req);
    if (!h) co_return false;
    handled = std::move(*h);
  }
  // A body we did not read cannot be skipped reliably: close after answering.
  if (handled.body_unread) keep_alive = false;
  if (state.stopping) keep_alive = false;

  HttpResponse& response = handled.response;
  const std::string request_id = RequestIdFor(HeaderValue(parser.get(), "X-Request-Id"));
  response.headers.emplace_back("X-Request-Id", request_id);
  const int status = response.status;
  const std::string note = std::move(response.log_note);
  auto [wec, sent] = co_await WriteResponse(stream, response, version, keep_alive, state.options.request_timeout);
  const std::chrono::duration<double> took = Clock::now() - start;
  const std::string lost = wec ? "connection lost: " + wec.message() : std::string();
  LogAccess(state, AccessEntry{.request_id = request_id,
                               .method = req.method,
                               .route = handled.route,
                               .target = req.target,
                               .status = status,
                               .bytes_in = handled.received,
                               .bytes_out = sent,
                               .seconds = took.count(),
                               .key_id = handled.key_id,
                               .note = wec ? std::string_view(lost) : (status >= 500 ? std::string_view(note) : "")});
  if (wec) co_return false;
  if (!keep_alive) {
    if (handled.body_unread) {
      co_await LingeringClose(stream, buffer);
    } else {
      beast::error_code ignored;
      stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
    co_return false;
  }
  co_return true;
}

// The TLS handshake of a new connection. false: the connection is to be
// closed; a client that spoke plain HTTP to this TLS port is told so first.
asio::awaitable<bool> Handshake(ServerState& state, Stream& stream, beast::flat_buffer& buffer) {
  stream.expires_after(state.options.request_timeout);
  auto [ec] = co_await stream.tls().async_handshake(asio::ssl::stream_base::server, kNoThrow);
  if (!ec) co_return true;
  if (ec.category() == asio::error::get_ssl_category() && ERR_GET_REASON(ec.value()) == SSL_R_HTTP_REQUEST) {
    const std::string body =
        R"json({"error":{"code":"tls_required",)json"
        R"json("message":"this cairn server only speaks HTTPS; use an https:// URL (CAIRN_BASE_URL)"}})json";
    const std::string answer =
        "HTTP/1.1 400 Bad Request\r\nServer: cairn\r\nContent-Type: application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    state.log->info("- - 400 (plain HTTP on the TLS port)");
    stream.expires_after(state.options.request_timeout);
    co_await asio::async_write(stream.lowest_layer(), asio::buffer(answer), kNoThrow);
    co_await LingeringClose(stream, buffer);
  } else {
    state.log->info("TLS handshake failed: {}", ec.message());
  }
  co_return false;
}

}  // namespace

asio::awaitable<void> ServeConnection(std::shared_ptr<ServerState> state, tcp::socket socket) {
  Stream stream(std::move(socket), state->tls);
  auto handle = std::make_shared<SessionHandle>();
  handle->executor = stream.get_executor();
  handle->stream = &stream.lowest_layer();
  if (!state->Register(handle)) co_return;
  try {
    beast::flat_buffer buffer;
    bool first = true;
    // The peer's address, asked once: it cannot change on a connection.
    std::string peer;
    if (boost::system::error_code ec; true) {
      const auto endpoint = stream.socket().remote_endpoint(ec);
      if (!ec) peer = endpoint.address().to_string();
    }
    handle->idle = true;  // no request yet: shutdown may close it at once
    const bool open = !stream.is_tls() || co_await Handshake(*state, stream, buffer);
    while (open) {
      if (buffer.size() == 0) {
        // Wait for the next request; a keep-alive connection that stays
        // silent for idle_timeout (or a new one for request_timeout) is closed.
        if (state->stopping) break;
        handle->idle = true;
        stream.expires_after(first ? state->options.request_timeout : state->options.idle_timeout);
        auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kHeaderLimit), kNoThrow);
        handle->idle = false;
        if (ec) break;
        buffer.commit(n);
      }
      first = false;
      if (!co_await ServeOne(*state, stream, buffer, peer)) break;
    }
  } catch (const std::exception& e) {
    state->log->error("connection failed: {}", e.what());
  }
  handle->stream = nullptr;
  beast::error_code ec;
  stream.socket().close(ec);
  state->Unregister(handle);
}


}  // namespace cairn::internal::net
