// The HTTP side of `cairn server`: sockets, HTTP/1.1 parsing, keep-alive,
// timeouts, streaming and shutdown, on Boost.Beast with C++20 coroutines.
// What each route does lives in handlers.cc (free of Boost).
//
// TLS (--tls-cert/--tls-key) wraps the same code: a connection is a Stream,
// plain TCP or TLS over TCP, so the HTTP code below is compiled once and only
// the byte-level read_some/write_some choose between the two.
//
// Threading: one io_context run by N threads. Every connection is a coroutine
// on its own strand, so a connection's objects are only touched by one thread
// at a time. The acceptor, the signal set and the shutdown timer share a
// "control" strand. Store calls block the calling thread (acceptable for now:
// SQLite and local disk are fast and there are N threads).
#include "server/server.h"

#include <sys/sendfile.h>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "common/thread_annotations.h"
#include "server/auth.h"
#include "server/handlers.h"
#include "store/store.h"

namespace cairn::internal {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
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

// One connection's bytes: plain TCP, or TLS over TCP when the server has a
// certificate. It is one type (a Beast AsyncStream), and read_some/write_some
// erase the caller's completion handler and buffer type before choosing
// between TCP and TLS, so that the TLS and TCP operations are compiled once
// rather than once per Beast operation that calls them (which tripled this
// file's compile time). Timeouts and closing act on the TCP layer underneath
// either way. Used on the connection's strand only.
// (asio::any_completion_handler would do, but in Boost 1.81 its executor
// cannot be posted to with blocking.never, which beast::tcp_stream does.)
class Stream {
 public:
  using executor_type = beast::tcp_stream::executor_type;

  // A void(error_code, size_t) completion handler with its type erased. It
  // keeps the handler's associated executor (the connection's strand), which
  // is what the TCP and TLS operations dispatch the completion through; the
  // cancellation slot is dropped (nothing here cancels per operation).
  class Handler {
   public:
    using executor_type = asio::any_io_executor;
    template <typename H>
    Handler(H&& h, const executor_type& fallback)
        : executor_(asio::get_associated_executor(h, fallback)),
          model_(std::make_unique<Model<std::decay_t<H>>>(std::forward<H>(h))) {}
    executor_type get_executor() const noexcept { return executor_; }
    void operator()(beast::error_code ec, std::size_t n) {
      Concept* model = model_.get();
      model->Call(std::move(model_), ec, n);
    }

   private:
    struct Concept {
      virtual ~Concept() = default;
      // Frees `self` (this), then calls the handler.
      virtual void Call(std::unique_ptr<Concept> self, beast::error_code ec, std::size_t n) = 0;
    };
    template <typename H>
    struct Model final : Concept {
      explicit Model(H h) : handler(std::move(h)) {}
      void Call(std::unique_ptr<Concept> self, beast::error_code ec, std::size_t n) override {
        H h(std::move(handler));
        self.reset();
        std::move(h)(ec, n);
      }
      H handler;
    };
    executor_type executor_;
    std::unique_ptr<Concept> model_;
  };

  // `tls` null: plain TCP.
  Stream(tcp::socket socket, asio::ssl::context* tls) {
    if (tls != nullptr) {
      tls_.emplace(std::move(socket), *tls);
    } else {
      plain_.emplace(std::move(socket));
    }
  }

  bool is_tls() const { return tls_.has_value(); }
  beast::ssl_stream<beast::tcp_stream>& tls() { return *tls_; }
  beast::tcp_stream& lowest_layer() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }
  executor_type get_executor() { return lowest_layer().get_executor(); }
  tcp::socket& socket() { return lowest_layer().socket(); }
  template <typename Duration>
  void expires_after(Duration d) {
    lowest_layer().expires_after(d);
  }
  void expires_never() { lowest_layer().expires_never(); }
  void close() { lowest_layer().close(); }

  // Reads into the first non-empty buffer (read_some may read less than asked).
  template <typename MutableBuffers, typename Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(beast::error_code, std::size_t)>(
        [this](auto handler, const MutableBuffers& b) {
          ReadSome(beast::buffers_front(b), Handler(std::move(handler), get_executor()));
        },
        token, buffers);
  }
  // Writes from up to kMaxWriteBuffers buffers (write_some may write less).
  template <typename ConstBuffers, typename Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(beast::error_code, std::size_t)>(
        [this](auto handler, const ConstBuffers& b) {
          WriteBuffers flat;
          for (auto it = asio::buffer_sequence_begin(b); it != asio::buffer_sequence_end(b); ++it) {
            if (flat.size() == kMaxWriteBuffers) break;
            if (asio::const_buffer one(*it); one.size() > 0) flat.push_back(one);
          }
          WriteSome(flat, Handler(std::move(handler), get_executor()));
        },
        token, buffers);
  }

 private:
  static constexpr std::size_t kMaxWriteBuffers = 16;
  using WriteBuffers = std::vector<asio::const_buffer>;

  void ReadSome(asio::mutable_buffer buffer, Handler handler);
  void WriteSome(const WriteBuffers& buffers, Handler handler);

  std::optional<beast::tcp_stream> plain_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
};

void Stream::ReadSome(asio::mutable_buffer buffer, Handler handler) {
  if (tls_) {
    tls_->async_read_some(buffer, std::move(handler));
  } else {
    plain_->async_read_some(buffer, std::move(handler));
  }
}

void Stream::WriteSome(const WriteBuffers& buffers, Handler handler) {
  // The operations copy the sequence (not the bytes): `buffers` may go.
  if (tls_) {
    tls_->async_write_some(buffers, std::move(handler));
  } else {
    plain_->async_write_some(buffers, std::move(handler));
  }
}

// What the shutdown path needs to reach a live connection. Fields are only
// touched on the connection's strand (`executor`).
struct SessionHandle {
  asio::any_io_executor executor;
  beast::tcp_stream* stream = nullptr;  // null once the session has ended
  bool idle = false;                    // waiting for the next request
};

// I/O objects of the control strand (they live on RunServer's stack).
struct Control {
  explicit Control(asio::io_context& ioc)
      : strand(asio::make_strand(ioc)), acceptor(strand), signals(strand, SIGINT, SIGTERM), grace_timer(strand) {}
  asio::strand<asio::io_context::executor_type> strand;
  tcp::acceptor acceptor;
  asio::signal_set signals;
  asio::steady_timer grace_timer;
};

// Shared by every connection; outlives the io_context's handlers.
struct ServerState {
  ServerState(const ServerOptions& o, MetadataStore* metadata, BlobStore* blobs, BlobUrlSigner* url_signer,
              const Authenticator* auth, UploadSessions* uploads, std::shared_ptr<spdlog::logger> l)
      : options(o), api(metadata, blobs, auth, url_signer, o.presign_ttl, uploads, o.run_stale_after), log(std::move(l)) {}

  const ServerOptions options;
  const Api api;
  std::shared_ptr<spdlog::logger> log;
  Control* control = nullptr;
  asio::ssl::context* tls = nullptr;  // null: plain HTTP
  std::atomic<bool> stopping{false};

  Mutex mu;
  std::set<std::shared_ptr<SessionHandle>> sessions CAIRN_GUARDED_BY(mu);

  // false when shutting down (the connection is then closed at once).
  bool Register(const std::shared_ptr<SessionHandle>& h) {
    MutexLock lock(mu);
    if (stopping) return false;
    sessions.insert(h);
    return true;
  }
  void Unregister(const std::shared_ptr<SessionHandle>& h);
  // On the control strand: ends the shutdown once no connection is left.
  void MaybeFinishShutdown();
  // Closes connections: every one, or only the idle ones.
  void CloseSessions(bool idle_only);
};

void ServerState::Unregister(const std::shared_ptr<SessionHandle>& h) {
  bool last = false;
  {
    MutexLock lock(mu);
    sessions.erase(h);
    last = sessions.empty();
  }
  if (last && stopping) asio::post(control->strand, [this] { MaybeFinishShutdown(); });
}

void ServerState::MaybeFinishShutdown() {
  {
    MutexLock lock(mu);
    if (!stopping || !sessions.empty()) return;
  }
  control->grace_timer.cancel();
  control->signals.cancel();
}

void ServerState::CloseSessions(bool idle_only) {
  std::vector<std::shared_ptr<SessionHandle>> all;
  {
    MutexLock lock(mu);
    all.assign(sessions.begin(), sessions.end());
  }
  for (auto& h : all) {
    asio::post(h->executor, [h, idle_only] {
      if (h->stream != nullptr && (h->idle || !idle_only)) {
        beast::error_code ec;
        h->stream->socket().shutdown(tcp::socket::shutdown_both, ec);
        h->stream->close();
      }
    });
  }
}

// Status line + headers common to every answer.
template <typename Body>
void SetCommonHeaders(http::response<Body>& res, const HttpResponse& r, bool keep_alive) {
  res.result(static_cast<unsigned>(r.status));
  res.set(http::field::server, "cairn");
  res.set(http::field::content_type, r.content_type);
  for (const auto& [name, value] : r.headers) res.set(name, value);
  res.keep_alive(keep_alive);
}

// Sends `length` bytes of `fd` from `offset` on the socket with sendfile(2):
// page cache to socket, no copy through user space, no buffer of ours. Waits
// for room in the socket buffer (EAGAIN) at most `timeout` each time.
// Returns the bytes sent and the error that ended the transfer early, if any.
asio::awaitable<std::pair<beast::error_code, std::uint64_t>> SendFileRange(tcp::socket& socket, int fd,
                                                                           std::uint64_t offset, std::uint64_t length,
                                                                           std::chrono::seconds timeout) {
  beast::error_code ec;
  socket.non_blocking(true, ec);
  if (ec) co_return std::make_pair(ec, std::uint64_t{0});
  // Cancels a wait that lasts longer than `timeout`. Its handler may run
  // after we return: it touches the socket only while `live` is true.
  auto live = std::make_shared<bool>(true);
  asio::steady_timer timer(socket.get_executor());
  struct Leave {
    std::shared_ptr<bool> live;
    ~Leave() { *live = false; }
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
    auto timed_out = std::make_shared<bool>(false);
    timer.expires_after(timeout);
    timer.async_wait([&socket, live, timed_out](const beast::error_code& tec) {
      if (tec || !*live) return;
      *timed_out = true;
      beast::error_code ignored;
      socket.cancel(ignored);
    });
    auto [wec] = co_await socket.async_wait(tcp::socket::wait_write, kNoThrow);
    timer.cancel();
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
    stream.expires_after(timeout);
    if (auto [ec, n] = co_await http::async_write_header(stream, sr, kNoThrow); ec) {
      co_return std::make_pair(ec, std::uint64_t{0});
    }
    stream.expires_never();
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
asio::awaitable<std::optional<HttpResponse>> ReadUpload(ServerState& state, Stream& stream,
                                                        beast::flat_buffer& buffer,
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

// Reads a small (JSON) body. nullopt: the connection failed.
asio::awaitable<std::optional<std::string>> ReadSmallBody(ServerState& state, Stream& stream,
                                                          beast::flat_buffer& buffer,
                                                          http::request_parser<http::buffer_body>& parser,
                                                          bool* too_large) {
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
    if (body.size() + got > kMaxJsonBody) {
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

// Serves one request. Returns whether the connection may carry another one.
asio::awaitable<bool> ServeOne(ServerState& state, Stream& stream, beast::flat_buffer& buffer) {
  const auto start = Clock::now();
  http::request_parser<http::buffer_body> parser;
  parser.header_limit(kHeaderLimit);
  parser.body_limit(boost::none);  // limits are per route, enforced below
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
  if (ec) {
    const beast::error_code any_http_error = http::error::bad_method;
    std::optional<HttpResponse> error;
    if (*timed_out) {
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
  bool keep_alive = hdr.keep_alive();
  const unsigned version = hdr.version();

  bool body_unread = !parser.is_done();
  std::uint64_t received = 0;  // request body bytes read (for the log)
  HttpResponse response;
  if (state.stopping) {
    response = ErrorResponse(503, "unavailable", "the server is shutting down; retry shortly");
    keep_alive = false;
  } else {
    Call call = state.api.Begin(req);
    if (call.response) {
      response = std::move(*call.response);
    } else if (call.upload) {
      bool consumed = false;
      std::optional<HttpResponse> r = co_await ReadUpload(state, stream, buffer, parser, call, &consumed, &received);
      if (!r) co_return false;
      response = std::move(*r);
      body_unread = !consumed;
    } else if (req.content_length && *req.content_length > kMaxJsonBody) {
      response = ErrorResponse(413, "too_large", "the request body is over 1 MiB");
    } else {
      bool too_large = false;
      std::optional<std::string> body = co_await ReadSmallBody(state, stream, buffer, parser, &too_large);
      if (!body) co_return false;
      if (too_large) {
        response = ErrorResponse(413, "too_large", "the request body is over 1 MiB");
      } else {
        body_unread = false;
        received = body->size();
        response = state.api.Finish(call, *body);
      }
    }
  }
  // A body we did not read cannot be skipped reliably: close after answering.
  if (body_unread) keep_alive = false;
  if (state.stopping) keep_alive = false;

  const int status = response.status;
  const std::string note = std::move(response.log_note);
  auto [wec, sent] = co_await WriteResponse(stream, response, version, keep_alive, state.options.request_timeout);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
  std::string_view target = req.target;
  if (target.size() > 512) target = target.substr(0, 512);
  if (wec) {
    state.log->info("{} {} {} {}B {}ms (connection lost: {})", req.method, target, status, sent, ms, wec.message());
    co_return false;
  }
  if (status >= 500) {
    state.log->warn("{} {} {} {}B {}ms in={}B: {}", req.method, target, status, sent, ms, received, note);
  } else {
    state.log->info("{} {} {} {}B {}ms in={}B", req.method, target, status, sent, ms, received);
  }
  if (!keep_alive) {
    if (body_unread) {
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

asio::awaitable<void> Session(std::shared_ptr<ServerState> state, tcp::socket socket) {
  Stream stream(std::move(socket), state->tls);
  auto handle = std::make_shared<SessionHandle>();
  handle->executor = stream.get_executor();
  handle->stream = &stream.lowest_layer();
  if (!state->Register(handle)) co_return;
  try {
    beast::flat_buffer buffer;
    bool first = true;
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
      if (!co_await ServeOne(*state, stream, buffer)) break;
    }
  } catch (const std::exception& e) {
    state->log->error("connection failed: {}", e.what());
  }
  handle->stream = nullptr;
  beast::error_code ec;
  stream.socket().close(ec);
  state->Unregister(handle);
}

asio::awaitable<void> AcceptLoop(std::shared_ptr<ServerState> state, asio::io_context& ioc) {
  tcp::acceptor& acceptor = state->control->acceptor;
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(ioc), kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open() || state->stopping) co_return;
      state->log->warn("accept failed: {}", ec.message());
      // Out of descriptors and the like: back off instead of spinning.
      asio::steady_timer pause(co_await asio::this_coro::executor, std::chrono::milliseconds(100));
      co_await pause.async_wait(kNoThrow);
      continue;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    tcp::socket s(std::move(socket));
    asio::any_io_executor ex = s.get_executor();
    asio::co_spawn(ex, Session(state, std::move(s)), asio::detached);
  }
}

// "HOST:PORT", "[V6]:PORT".
StatusOr<std::pair<std::string, unsigned short>> SplitHostPort(const std::string& listen) {
  const std::size_t colon = listen.rfind(':');
  auto bad = [&listen] {
    return InvalidArgumentError("listen address \"" + listen + "\" must be HOST:PORT, e.g. 127.0.0.1:8765");
  };
  if (colon == std::string::npos || colon == 0) return bad();
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port_text = listen.substr(colon + 1);
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() || port > 65535) {
    return bad();
  }
  return std::make_pair(host, static_cast<unsigned short>(port));
}

// A server TLS context (TLS 1.2 and later) with the PEM certificate chain
// and private key of --tls-cert / --tls-key.
StatusOr<asio::ssl::context> TlsContext(const std::filesystem::path& cert, const std::filesystem::path& key) {
  if (cert.empty() || key.empty()) {
    return InvalidArgumentError("TLS needs both --tls-cert and --tls-key (PEM files)");
  }
  asio::ssl::context ctx(asio::ssl::context::tls_server);
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                  asio::ssl::context::single_dh_use);
  beast::error_code ec;
  if (ctx.use_certificate_chain_file(cert.string(), ec); ec) {
    return InvalidArgumentError("cannot load the TLS certificate " + cert.string() + " (" + ec.message() +
                                "); --tls-cert must be a readable PEM certificate chain");
  }
  if (ctx.use_private_key_file(key.string(), asio::ssl::context::pem, ec); ec) {
    return InvalidArgumentError("cannot load the TLS private key " + key.string() + " (" + ec.message() +
                                "); --tls-key must be the readable, unencrypted PEM key of that certificate");
  }
  return ctx;
}

}  // namespace

Status RunServer(const ServerOptions& options) {
  if (options.data_dir.empty()) return InvalidArgumentError("the data directory is required (--data DIR)");
  // sendfile(2) has no MSG_NOSIGNAL: once a client that closed mid-download
  // has answered our next segment with a reset, the following call raises
  // SIGPIPE, whose default action ends the whole server. Asio's own writes
  // pass MSG_NOSIGNAL; every write error is handled where it happens.
  ::signal(SIGPIPE, SIG_IGN);
  StatusOr<std::pair<std::string, unsigned short>> host_port = SplitHostPort(options.listen);
  if (!host_port.ok()) return host_port.status();
  const auto& [host, port] = *host_port;
  std::optional<asio::ssl::context> tls;
  if (!options.tls_cert.empty() || !options.tls_key.empty()) {
    StatusOr<asio::ssl::context> ctx = TlsContext(options.tls_cert, options.tls_key);
    if (!ctx.ok()) return ctx.status();
    tls.emplace(std::move(*ctx));
  }

  StatusOr<Store> store =
      OpenStore(StoreOptions{.data_dir = options.data_dir,
                             .db_url = options.db_url,
                             .blobs_url = options.blobs_url,
                             .s3_presign = options.s3_presign});
  if (!store.ok()) return store.status();
  StatusOr<std::unique_ptr<Authenticator>> auth = Authenticator::Create(store->metadata.get(), options.data_dir);
  if (!auth.ok()) return auth.status();
  StatusOr<std::unique_ptr<UploadSessions>> uploads =
      UploadSessions::Open(options.data_dir / "uploads", options.upload_ttl);
  if (!uploads.ok()) return uploads.status();

  auto log = std::make_shared<spdlog::logger>("cairn-server", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  auto state = std::make_shared<ServerState>(options, store->metadata.get(), store->blobs.get(), store->url_signer,
                                             auth->get(), uploads->get(), log);

  if (tls) state->tls = &*tls;

  const int threads =
      options.threads > 0 ? options.threads : std::max(2, static_cast<int>(std::thread::hardware_concurrency()));
  asio::io_context ioc(threads);
  Control control(ioc);
  state->control = &control;

  // Bind.
  beast::error_code ec;
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) {
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec || results.empty()) {
      return InvalidArgumentError("cannot resolve listen host \"" + host + "\": " + ec.message());
    }
    address = results.begin()->endpoint().address();
  }
  const tcp::endpoint endpoint(address, port);
  control.acceptor.open(endpoint.protocol(), ec);
  if (!ec) control.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) control.acceptor.bind(endpoint, ec);
  if (!ec) control.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return FailedPreconditionError("cannot listen on " + options.listen + ": " + ec.message() +
                                   " (is another server running? pick another --listen address)");
  }
  const unsigned short bound_port = control.acceptor.local_endpoint().port();
  std::string shown_host = address.is_v6() ? "[" + host + "]" : host;
  std::printf("cairn server listening on %s://%s:%u\n", tls ? "https" : "http", shown_host.c_str(),
              static_cast<unsigned>(bound_port));
  std::fflush(stdout);
  log->info("serving {} with {} threads; {}", options.data_dir.string(), threads, store->description);

  // Shutdown: stop accepting, close idle connections, give the rest
  // shutdown_grace, then close them too (cancelled uploads commit nothing).
  control.signals.async_wait([state, &control](const beast::error_code& sig_ec, int signo) {
    if (sig_ec) return;
    state->log->info("signal {}: shutting down (grace {}s)", signo, state->options.shutdown_grace.count());
    state->stopping = true;
    beast::error_code ignored;
    control.acceptor.close(ignored);
    state->CloseSessions(/*idle_only=*/true);
    control.grace_timer.expires_after(state->options.shutdown_grace);
    control.grace_timer.async_wait([state](const beast::error_code& timer_ec) {
      if (timer_ec) return;  // cancelled: every connection ended in time
      state->log->warn("shutdown grace over: closing connections still active");
      state->CloseSessions(/*idle_only=*/false);
    });
    state->MaybeFinishShutdown();
  });
  asio::co_spawn(control.strand, AcceptLoop(state, ioc), asio::detached);

  std::vector<std::thread> pool;
  pool.reserve(static_cast<std::size_t>(threads - 1));
  for (int i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (std::thread& t : pool) t.join();
  log->info("stopped");
  return OkStatus();
}

}  // namespace cairn::internal
