// Slow and broken peers: a client that stalls mid-upload (the server's
// timeout frees the connection and commits nothing), a connection reset in
// the middle of a download, and a peer that answers 503 / 429 for a while
// (tests/faults/fault_proxy.cc). Timeouts fire, retries succeed, and neither
// the SDK (counted in this process) nor the server (/proc/PID) leaks a thread
// or a file descriptor.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "cairn/cairn.h"
#include "common/sha256.h"
#include "faults/fault_util.h"
#include "sdk/internal/client.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::ServerProcess;
using testing::TempDir;

// Counts of a process's open fds and threads.
struct Usage {
  int fds = 0;
  int threads = 0;
  static Usage Of(const std::string& pid) { return {faults::CountProc(pid, "fd"), faults::CountProc(pid, "task")}; }
  bool operator==(const Usage& o) const { return fds == o.fds && threads == o.threads; }
};

// The usage of `pid` once it holds still (two equal readings 200 ms apart):
// connections the fixture itself made may still be closing.
Usage Settled(const std::string& pid) {
  Usage last = Usage::Of(pid);
  for (int i = 0; i < 25; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    Usage now = Usage::Of(pid);
    if (now == last) break;
    last = now;
  }
  return last;
}

// Waits (a little: closing threads and sockets is asynchronous) for the usage
// of `pid` to come back to at most `before`; returns the last count seen.
Usage SettlesBackTo(const std::string& pid, const Usage& before) {
  Usage now;
  faults::WaitFor(
      [&] {
        now = Usage::Of(pid);
        return now.fds <= before.fds && now.threads <= before.threads;
      },
      std::chrono::seconds(5));
  return now;
}

class BrokenPeers : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(tmp_ / "data",
                                              std::map<std::string, std::optional<std::string>>{
                                                  {"CAIRN_REQUEST_TIMEOUT", "2"}},
                                              testing::ServerBackend{});
    key_ = testing::CreateKey(*server_, "alice");
    // At least download::kDirectMinBytes: restored on one connection, the
    // body is received straight into the ring (curl_direct_get.cc).
    sha_ = testing::WriteRandomFile(tmp_ / "src" / "model.bin", 24 << 20, 7);
    testing::CommandResult r = testing::Cairn({"--base-url", server_->base_url(), "save", "--run", kRun, "--base",
                                               (tmp_ / "src").string(), (tmp_ / "src" / "model.bin").string()},
                                              {{"CAIRN_API_KEY", key_}, {"HOME", "/nonexistent"}});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    server_pid_ = std::to_string(server_->pid());
  }

  // Restores model.bin through `base_url` with the SDK, in this process.
  void RestoreThrough(const std::string& base_url) {
    const fs::path root = tmp_ / "restore";
    auto file = cairn::restore("model.bin", {.run_path = kRun,
                                             .replace = true,
                                             .root = root.string(),
                                             .client = {.base_url = base_url, .api_key = key_}});
    ASSERT_TRUE(file.ok()) << file.status();
    ASSERT_TRUE(file->has_value());
    EXPECT_EQ(internal::Sha256Hex(testing::ReadFile(root / "model.bin")), sha_);
  }

  static constexpr const char* kRun = "alice/faults/peers";
  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::string key_, sha_, server_pid_;
};

TEST_F(BrokenPeers, StalledUploadsAreTimedOutFreedAndCommitNothing) {
  faults::FaultSeed("BrokenPeers.stall");
  const Usage before = Settled(server_pid_);
  const auto start = std::chrono::steady_clock::now();
  constexpr int kStalled = 4;
  std::vector<int> socks;
  for (int i = 0; i < kStalled; ++i) {
    int fd = testing::ConnectLoopback(server_->port());
    ASSERT_GE(fd, 0);
    const std::string request = "PUT /api/v1/runs/" + std::string(kRun) +
                                "/files/stalled.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key_ +
                                "\r\nContent-Length: 1048576\r\nX-Cairn-Sha256: " + std::string(64, 'a') +
                                "\r\n\r\n" + std::string(100000, 'x');
    ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
    socks.push_back(fd);
  }
  // Each stalled upload is in the blob store's tmp/ until the timeout fires.
  EXPECT_TRUE(faults::WaitFor(
      [&] {
        int n = 0;
        for (const auto& e : fs::directory_iterator(server_->data_dir() / "blobs" / "tmp")) n += !e.path().empty();
        return n == kStalled;
      },
      std::chrono::seconds(2)));
  for (int fd : socks) {
    pollfd p{fd, POLLIN, 0};
    char buf[256];
    ASSERT_EQ(::poll(&p, 1, 10000), 1) << "the server kept a stalled upload open for 10 s";
    EXPECT_LE(::recv(fd, buf, sizeof buf, 0), 0) << "a stalled upload gets its connection closed, not an answer";
    ::close(fd);
  }
  const double waited = faults::SecondsSince(start);
  EXPECT_GE(waited, 1.5);
  EXPECT_TRUE(faults::WaitFor([&] { return fs::is_empty(server_->data_dir() / "blobs" / "tmp"); },
                              std::chrono::seconds(2)))
      << "a cancelled upload left its temp file";
  const Usage after = SettlesBackTo(server_pid_, before);
  EXPECT_LE(after.fds, before.fds);
  EXPECT_LE(after.threads, before.threads);
  testing::CommandResult versions = testing::Run({"/usr/bin/curl", "-s", "-H", "Authorization: Bearer " + key_,
                                                  server_->base_url() + "/api/v1/runs/" + kRun +
                                                      "/versions/stalled.bin"});
  EXPECT_EQ(versions.out, R"({"versions":[]})");
  std::printf("[faults] BrokenPeers.stall: %d stalled uploads closed after %.1f s (timeout 2 s); server fds %d -> %d, "
              "threads %d -> %d\n",
              kStalled, waited, before.fds, after.fds, before.threads, after.threads);
}

TEST_F(BrokenPeers, ConnectionResetMidDownloadIsRetriedWithoutLeaks) {
  faults::FaultSeed("BrokenPeers.reset");
  RestoreThrough(server_->base_url());  // libcurl's global state is set up now
  const Usage self_before = Settled("self");
  const Usage server_before = Settled(server_pid_);
  const auto start = std::chrono::steady_clock::now();
  faults::FaultProxy proxy(server_->port(), "reset", 3, 1 << 20);
  const Usage self_with_proxy = Settled("self");
  for (int i = 0; i < 3; ++i) RestoreThrough(proxy.url());
  EXPECT_EQ(proxy.Count("reset"), 3);
  const Usage self_after = SettlesBackTo("self", self_with_proxy);
  EXPECT_LE(self_after.fds, self_with_proxy.fds);
  EXPECT_LE(self_after.threads, self_with_proxy.threads);
  std::printf("[faults] BrokenPeers.reset: 3 restores, %d connections reset after 1 MiB, all verified; SDK fds %d -> "
              "%d, threads %d -> %d; %.1f s\n",
              proxy.Count("reset"), self_before.fds, self_after.fds, self_before.threads, self_after.threads,
              faults::SecondsSince(start));
  const Usage server_after = SettlesBackTo(server_pid_, server_before);
  EXPECT_LE(server_after.fds, server_before.fds);
  EXPECT_LE(server_after.threads, server_before.threads);
}

// A client that goes away mid-download (it reads what has arrived and closes,
// or resets) must cost the server that one transfer. Regression: the server's
// sendfile(2) to such a socket raised SIGPIPE, which ended the server.
TEST_F(BrokenPeers, ClientsLeavingMidDownloadDoNotStopTheServer) {
  const auto start = std::chrono::steady_clock::now();
  constexpr int kLeavers = 20;
  for (int i = 0; i < kLeavers; ++i) {
    int fd = testing::ConnectLoopback(server_->port());
    ASSERT_GE(fd, 0);
    const std::string request = "GET /api/v1/runs/" + std::string(kRun) +
                                "/files/model.bin HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + key_ + "\r\n\r\n";
    ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
    std::vector<char> buf(256 * 1024);
    std::size_t got = 0;
    while (got < 200000) {
      const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      ASSERT_GT(n, 0) << "the server closed a download after " << got << " bytes (leaver " << i << ")";
      got += static_cast<std::size_t>(n);
    }
    while (::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT) > 0) {
    }
    if (i % 2 == 1) {  // every other one resets instead of closing
      linger l{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    ::close(fd);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  RestoreThrough(server_->base_url());  // fails with "cannot reach the cairn server" if it died
  std::printf("[faults] BrokenPeers.leave: %d clients left mid-download (closed or reset); server still serving; %.1f s\n",
              kLeavers, faults::SecondsSince(start));
}

TEST_F(BrokenPeers, A503Or429ForAWhileIsRetriedUntilItSucceeds) {
  faults::FaultSeed("BrokenPeers.refuse");
  RestoreThrough(server_->base_url());
  const auto start = std::chrono::steady_clock::now();
  for (int status : {503, 429}) {
    faults::FaultProxy proxy(server_->port(), "refuse", 3, status);
    const Usage before = Settled("self");
    {
      auto settings = ResolveSettings({.base_url = proxy.url(), .api_key = key_});
      ASSERT_TRUE(settings.ok()) << settings.status();
      auto client = internal::Client::Create(*settings);
      ASSERT_TRUE(client.ok());
      internal::RunPath run{.entity = "alice", .project = "faults", .run_id = "peers"};
      testing::WriteRandomFile(tmp_ / "up" / "next.bin", 3 << 20, static_cast<unsigned>(status));
      auto saved = (*client)->Upload(run, "next-" + std::to_string(status) + ".bin", tmp_ / "up" / "next.bin");
      ASSERT_TRUE(saved.ok()) << saved.status();
      EXPECT_EQ(proxy.Count("refused"), 3);
    }
    RestoreThrough(proxy.url());
    const Usage after = SettlesBackTo("self", before);
    EXPECT_LE(after.fds, before.fds);
    EXPECT_LE(after.threads, before.threads);
    std::printf("[faults] BrokenPeers.refuse: %d x %d then success (upload and restore); SDK fds %d -> %d, threads "
                "%d -> %d\n",
                proxy.Count("refused"), status, before.fds, after.fds, before.threads, after.threads);
  }
  std::printf("[faults] BrokenPeers.refuse: %.1f s\n", faults::SecondsSince(start));
}

}  // namespace
}  // namespace cairn
