// One connection's byte stream for the server's HTTP code (private to
// src/server; included by connection.cc only, the one TU that compiles
// Beast's HTTP operations).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

namespace cairn::internal::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

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

inline void Stream::ReadSome(asio::mutable_buffer buffer, Handler handler) {
  if (tls_) {
    tls_->async_read_some(buffer, std::move(handler));
  } else {
    plain_->async_read_some(buffer, std::move(handler));
  }
}

inline void Stream::WriteSome(const WriteBuffers& buffers, Handler handler) {
  // The operations copy the sequence (not the bytes): `buffers` may go.
  if (tls_) {
    tls_->async_write_some(buffers, std::move(handler));
  } else {
    plain_->async_write_some(buffers, std::move(handler));
  }
}


}  // namespace cairn::internal::net
