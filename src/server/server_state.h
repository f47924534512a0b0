// What the listener (server.cc) and the connections (connection.cc) of
// `cairn server` share: the server's state and the bookkeeping of shutdown.
// Private to src/server; with Asio, so included by those two TUs only.
//
// Threading: one io_context run by N threads. Every connection is a coroutine
// on its own strand, so a connection's objects are only touched by one thread
// at a time. The acceptor, the signal set and the shutdown timer share a
// "control" strand. Store calls block the calling thread (acceptable for now:
// SQLite and local disk are fast and there are N threads).
#pragma once

#include <spdlog/logger.h>

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <csignal>
#include <memory>
#include <set>

#include "common/thread_annotations.h"
#include "server/access_log.h"
#include "server/handlers.h"
#include "server/server.h"

namespace cairn::internal::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

// Completion token of every awaited operation: errors come back as values.
inline constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

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
              const Authenticator* auth, UploadSessions* uploads, std::shared_ptr<spdlog::logger> l, Ops* o_ops)
      : options(o),
        api(metadata, blobs, auth, url_signer, o.presign_ttl, uploads, o.run_stale_after, o_ops),
        log(std::move(l)),
        ops(o_ops) {}

  const ServerOptions options;
  const Api api;
  std::shared_ptr<spdlog::logger> log;
  // Metrics and readiness (outlives the state's handlers); null in no case
  // today, but the connection code does not rely on it.
  Ops* ops = nullptr;
  bool observe_requests = true;  // false: --no-metrics
  LogFormat log_format = LogFormat::kText;
  std::shared_ptr<spdlog::logger> access_log;  // kJson: bare JSON lines, same sink as `log`
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


// Serves one accepted connection (TLS handshake when state->tls, then its
// requests) until it closes; registered with `state` meanwhile
// (connection.cc).
asio::awaitable<void> ServeConnection(std::shared_ptr<ServerState> state, tcp::socket socket);

}  // namespace cairn::internal::net
