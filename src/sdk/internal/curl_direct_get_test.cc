// CurlConnection's direct receive (curl_direct_get.cc) against a peer that
// speaks just enough HTTP to misbehave in ways the real server never does:
// interim answers, chunked bodies, redirects, malformed heads, connections
// closed mid-body, silence. The real server's side of it runs in the
// integration and fault suites (every restore of >= 16 MiB on one connection).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "sdk/internal/curl_connection.h"
#include "testing/server_fixture.h"

namespace cairn::internal {
namespace {

using namespace std::chrono_literals;

// What the peer sends for one request, and whether it then stays silent
// (until the client goes) instead of closing.
struct Answer {
  std::string bytes;
  bool hang = false;
};

// Accepts connections on 127.0.0.1, reads each request's head, records it and
// sends what `answer` returns for it.
class RawPeer {
 public:
  explicit RawPeer(std::function<Answer(const std::string& head)> answer) : answer_(std::move(answer)) {
    fd_ = testing::ListenLoopback(&port_);
    if (fd_ < 0) ADD_FAILURE() << "cannot listen on loopback";
    thread_ = std::thread([this] { Serve(); });
  }
  ~RawPeer() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<std::size_t>(n));
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(head);
      }
      const Answer a = answer_(head);
      for (std::size_t off = 0; off < a.bytes.size();) {
        const ssize_t n = ::send(c, a.bytes.data() + off, a.bytes.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
      }
      // Silent until the client closes (or the test ends).
      pollfd q{.fd = c, .events = POLLIN, .revents = 0};
      while (a.hang && !stop_ && (::poll(&q, 1, 50) == 0 || ::recv(c, buf, sizeof buf, MSG_DONTWAIT) > 0)) {
      }
      ::close(c);
    }
  }

  std::function<Answer(const std::string&)> answer_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

std::string Head(const std::string& status, std::size_t length, const std::string& extra = "") {
  return "HTTP/1.1 " + status + "\r\nContent-Length: " + std::to_string(length) + "\r\n" + extra + "\r\n";
}

std::string Pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7919) >> 3);
  return s;
}

// A download as the ring does it: memory offered for the next bytes, and a
// count of the bytes that arrived there (no copy) or elsewhere.
struct Sink {
  std::vector<char> memory = std::vector<char>(64 << 20);
  std::string body;
  std::size_t in_place = 0, copied = 0;
  HttpClientRequest Request(const std::string& target) {
    HttpClientRequest req;
    req.target = target;
    req.body_buffer = [this] {
      return std::span<char>(memory.data() + body.size(),
                             std::min<std::size_t>(256 << 10, memory.size() - body.size()));
    };
    req.on_body = [this](const HttpClientResponse&, const char* data, std::size_t n) {
      (data == memory.data() + body.size() ? in_place : copied) += n;
      body.append(data, n);
      return true;
    };
    return req;
  }
};

Outcome Get(const std::string& base_url, HttpClientRequest& req) {
  CurlConnection connection(base_url, "k3y");
  return connection.Call(req, {}).outcome;
}

TEST(DirectGet, ReceivesA2xxBodyIntoTheCallersMemory) {
  const std::string body = Pattern((3 << 20) + 321);
  RawPeer peer([&](const std::string&) { return Answer{Head("206 Partial Content", body.size()) + body}; });
  Sink sink;
  HttpClientRequest req = sink.Request("/api/v1/x?version=1");
  req.headers = {"Range: bytes=5-"};
  Outcome out = Get(peer.url(), req);
  ASSERT_TRUE(std::holds_alternative<HttpClientResponse>(out)) << std::get<TransportError>(out).status;
  EXPECT_EQ(std::get<HttpClientResponse>(out).status, 206);
  EXPECT_EQ(sink.body, body);
  EXPECT_GT(sink.in_place, body.size() / 2) << "most bytes must arrive where the caller asked";
  ASSERT_EQ(peer.requests().size(), 1u);
  const std::string head = peer.requests()[0];
  EXPECT_EQ(head.rfind("GET /api/v1/x?version=1 HTTP/1.1\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("\r\nRange: bytes=5-\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nAuthorization: Bearer k3y\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nHost: 127.0.0.1:"), std::string::npos) << head;
}

TEST(DirectGet, SkipsInterimAnswers) {
  RawPeer peer([](const std::string&) {
    return Answer{"HTTP/1.1 100 Continue\r\n\r\n" + Head("200 OK", 5, "X-Note: final\r\n") + "hello"};
  });
  Sink sink;
  HttpClientRequest req = sink.Request("/f");
  Outcome out = Get(peer.url(), req);
  ASSERT_TRUE(std::holds_alternative<HttpClientResponse>(out)) << std::get<TransportError>(out).status;
  EXPECT_EQ(std::get<HttpClientResponse>(out).status, 200);
  EXPECT_EQ(std::get<HttpClientResponse>(out).Header("x-note"), "final");
  EXPECT_EQ(sink.body, "hello");
}

TEST(DirectGet, ChunkedBodiesAndRedirectsAreLeftToLibcurl) {
  RawPeer peer([](const std::string& head) {
    if (head.rfind("GET /chunked ", 0) == 0) {
      return Answer{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"};
    }
    if (head.rfind("GET /moved ", 0) == 0) return Answer{Head("307 Temporary Redirect", 0, "Location: /there\r\n")};
    return Answer{Head("200 OK", 5) + "there"};
  });
  Sink sink;
  HttpClientRequest req = sink.Request("/chunked");
  Outcome out = Get(peer.url(), req);
  ASSERT_TRUE(std::holds_alternative<HttpClientResponse>(out)) << std::get<TransportError>(out).status;
  EXPECT_EQ(sink.body, "hello world");
  EXPECT_EQ(sink.in_place, 0u);

  Sink moved;
  HttpClientRequest req2 = moved.Request("/moved");
  req2.follow_redirects = true;
  out = Get(peer.url(), req2);
  ASSERT_TRUE(std::holds_alternative<HttpClientResponse>(out)) << std::get<TransportError>(out).status;
  EXPECT_EQ(moved.body, "there");
  // /chunked twice (direct, then libcurl), /moved twice, then /there.
  ASSERT_EQ(peer.requests().size(), 5u);
  EXPECT_EQ(peer.requests()[4].rfind("GET /there ", 0), 0u);
}

TEST(DirectGet, AnErrorAnswerKeepsItsBodyAndNeverReachesOnBody) {
  const std::string json = R"({"error":{"code":"file_not_found","message":"no such file"}})";
  RawPeer peer([&](const std::string&) { return Answer{Head("404 Not Found", json.size()) + json}; });
  Sink sink;
  HttpClientRequest req = sink.Request("/f");
  Outcome out = Get(peer.url(), req);
  ASSERT_TRUE(std::holds_alternative<HttpClientResponse>(out)) << std::get<TransportError>(out).status;
  EXPECT_EQ(std::get<HttpClientResponse>(out).status, 404);
  EXPECT_EQ(std::get<HttpClientResponse>(out).body, json);
  EXPECT_TRUE(sink.body.empty());
}

TEST(DirectGet, AMalformedHeadIsATransportError) {
  for (const std::string bad : {"HTTP/1.1 2x0 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
                                "HTTP/1.1 200 OK\r\n folded: line\r\n\r\n", "SSH-2.0-OpenSSH_9.2\r\n\r\n"}) {
    RawPeer peer([&](const std::string&) { return Answer{bad}; });
    Sink sink;
    HttpClientRequest req = sink.Request("/f");
    Outcome out = Get(peer.url(), req);
    ASSERT_TRUE(std::holds_alternative<TransportError>(out)) << bad;
    const Status& st = std::get<TransportError>(out).status;
    EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st;
    EXPECT_NE(st.message().find("malformed"), std::string::npos) << st;
  }
}

TEST(DirectGet, AConnectionClosedMidBodySaysHowFarItGot) {
  RawPeer peer([](const std::string&) { return Answer{Head("200 OK", 1000) + std::string(10, 'x')}; });
  Sink sink;
  HttpClientRequest req = sink.Request("/f");
  Outcome out = Get(peer.url(), req);
  ASSERT_TRUE(std::holds_alternative<TransportError>(out));
  const Status& st = std::get<TransportError>(out).status;
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st;
  EXPECT_NE(st.message().find("closed after 10 of 1000 bytes"), std::string::npos) << st;
  EXPECT_EQ(sink.body, std::string(10, 'x'));
}

TEST(DirectGet, ACancelledDownloadStopsWhileThePeerIsSilent) {
  RawPeer peer([](const std::string&) { return Answer{Head("200 OK", 1 << 20) + "abc", /*hang=*/true}; });
  Sink sink;
  HttpClientRequest req = sink.Request("/f");
  const auto start = std::chrono::steady_clock::now();
  req.cancelled = [&] { return std::chrono::steady_clock::now() - start > 300ms; };
  Outcome out = Get(peer.url(), req);
  ASSERT_TRUE(std::holds_alternative<TransportError>(out));
  EXPECT_TRUE(std::get<TransportError>(out).aborted_by_callback) << std::get<TransportError>(out).status;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  EXPECT_EQ(sink.body, "abc");
}

// With a proxy configured the request goes through it, as every other one
// does: the direct receive never bypasses a proxy.
TEST(DirectGet, AConfiguredProxyIsUsed) {
  RawPeer proxy([](const std::string&) { return Answer{Head("200 OK", 7) + "proxied"}; });
  const char* old = std::getenv("http_proxy");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("http_proxy", proxy.url().c_str(), 1);
  Sink sink;
  HttpClientRequest req = sink.Request("/f");
  Outcome out = Get("http://192.0.2.1:9", req);  // TEST-NET-1: reachable only through the proxy
  old != nullptr ? ::setenv("http_proxy", saved.c_str(), 1) : ::unsetenv("http_proxy");
  ASSERT_TRUE(std::holds_alternative<HttpClientResponse>(out)) << std::get<TransportError>(out).status;
  EXPECT_EQ(sink.body, "proxied");
  ASSERT_EQ(proxy.requests().size(), 1u);
  EXPECT_EQ(proxy.requests()[0].rfind("GET http://192.0.2.1:9/f HTTP/1.1\r\n", 0), 0u) << proxy.requests()[0];
}

}  // namespace
}  // namespace cairn::internal
