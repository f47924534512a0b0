// `cairn server`'s listener: binding, accepting, signals and graceful
// shutdown, the TLS context. Each accepted connection is served by
// connection.cc; the state both share is in server_state.h.
#include "server/server.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "server/access_log.h"
#include "server/auth.h"
#include "server/ops.h"
#include "server/retention.h"
#include "server/server_state.h"
#include "store/metered_store.h"
#include "store/store.h"

namespace cairn::internal {
namespace net {

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

}  // namespace net

namespace {

using namespace net;  // NOLINT(google-build-using-namespace): this file is the listener of net::

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
    asio::co_spawn(ex, ServeConnection(state, std::move(s)), asio::detached);
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

// Binds and listens on host:port (a name is resolved); the address bound.
StatusOr<asio::ip::address> Listen(asio::io_context& ioc, tcp::acceptor& acceptor, const std::string& host,
                                   unsigned short port, const std::string& listen) {
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
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return FailedPreconditionError("cannot listen on " + listen + ": " + ec.message() +
                                   " (is another server running? pick another --listen address)");
  }
  return address;
}

// Shutdown on SIGTERM/SIGINT: stop accepting, close idle connections, give
// the rest shutdown_grace, then close them too (cancelled uploads commit
// nothing).
void WatchSignals(const std::shared_ptr<ServerState>& state, Control& control) {
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
}

}  // namespace

// sendfile(2) has no MSG_NOSIGNAL: once a client that closed mid-download
// has answered our next segment with a reset, the following call raises
// SIGPIPE, whose default action ends the whole server. Asio's own writes
// pass MSG_NOSIGNAL; every write error is handled where it happens.
static void IgnoreSigpipe() { ::signal(SIGPIPE, SIG_IGN); }

// The access log: its own sink, since a formatter belongs to a sink and
// access lines are bare JSON objects (stdio's FILE lock keeps whole lines apart).
static std::shared_ptr<spdlog::logger> MakeAccessLogger() {
  auto log = std::make_shared<spdlog::logger>("cairn-access", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  log->set_pattern("%v");
  return log;
}

Status RunServer(const ServerOptions& options) {
  if (options.data_dir.empty()) return InvalidArgumentError("the data directory is required (--data DIR)");
  IgnoreSigpipe();
  CAIRN_ASSIGN_OR_RETURN(const auto host_port, SplitHostPort(options.listen));
  const auto& [host, port] = host_port;
  std::optional<asio::ssl::context> tls;
  if (!options.tls_cert.empty() || !options.tls_key.empty()) {
    CAIRN_ASSIGN_OR_RETURN(asio::ssl::context ctx, TlsContext(options.tls_cert, options.tls_key));
    tls.emplace(std::move(ctx));
  }

  const std::optional<LogFormat> log_format = ParseLogFormat(options.log_format);
  if (!log_format) {
    return InvalidArgumentError("--log-format \"" + options.log_format + "\" is not a log format: use text or json");
  }
  StatusOr<Store> store = OpenStore(StoreOptions{.data_dir = options.data_dir,
                                                 .db_url = options.db_url,
                                                 .blobs_url = options.blobs_url,
                                                 .s3_presign = options.s3_presign});
  if (!store.ok()) return store.status();
  // Metrics and readiness; every store call the server makes is timed for
  // /metrics through the metered decorators (store/metered_store.h). The
  // probes and the storage gauge read the stores underneath.
  Ops ops(OpsOptions{.metrics_key_required = options.metrics_key_required, .ready_deadline = options.ready_deadline},
          store->metadata.get(), store->blobs.get());
  MeteredMetadataStore metered_metadata(store->metadata.get(), &ops.metrics());
  MeteredBlobStore metered_blobs(store->blobs.get(), &ops.metrics());
  MetadataStore* metadata = options.metrics ? &metered_metadata : store->metadata.get();
  BlobStore* blobs = options.metrics ? static_cast<BlobStore*>(&metered_blobs) : store->blobs.get();
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Authenticator> auth,
                         Authenticator::Create(metadata, options.data_dir, options.admin_key));
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<UploadSessions> uploads,
                         UploadSessions::Open(options.data_dir / "uploads", options.upload_ttl));

  std::shared_ptr<spdlog::logger> log = MakeServerLogger(*log_format);
  auto state = std::make_shared<ServerState>(options, metadata, blobs, store->url_signer, auth.get(), uploads.get(),
                                             log, &ops);
  state->observe_requests = options.metrics;
  state->log_format = *log_format;
  state->access_log = MakeAccessLogger();

  if (tls) state->tls = &*tls;

  // At least 8 by default: a handler blocks its thread for the store's calls
  // (a WAL fsync, a PostgreSQL round trip, an S3 request), so threads, not
  // cores, bound concurrent requests (100 clients on PostgreSQL + radosgw, 2
  // cores: 38 saves/s with 2 threads, 223/s with 16; docs/transfers.md).
  const int threads =
      options.threads > 0 ? options.threads : std::max(8, static_cast<int>(std::thread::hardware_concurrency()));
  asio::io_context ioc(threads);
  Control control(ioc);
  state->control = &control;

  CAIRN_ASSIGN_OR_RETURN(const asio::ip::address address, Listen(ioc, control.acceptor, host, port, options.listen));
  const unsigned short bound_port = control.acceptor.local_endpoint().port();
  std::string shown_host = address.is_v6() ? "[" + host + "]" : host;
  std::printf("cairn server listening on %s://%s:%u\n", tls ? "https" : "http", shown_host.c_str(),
              static_cast<unsigned>(bound_port));
  std::fflush(stdout);
  log->info("serving {} with {} threads; {}", options.data_dir.string(), threads, store->description);

  // Background retention passes; stopped (after the project in progress)
  // when RunServer returns.
  RetentionScheduler retention({.interval = options.retention_interval,
                                .metadata = metadata,
                                .metrics = &ops.metrics(),
                                .log = [log](const std::string& line) { log->info("{}", line); }});

  WatchSignals(state, control);
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
