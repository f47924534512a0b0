// The downloader without a network: Client::Download over RetryingConnection
// over a fake file server that drops connections where told. Ranged resume
// within a call and across calls, the ordering of bytes through the hashing
// ring with parallel parts, and the restart when ranges are refused.
#include "sdk/internal/downloader.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <vector>

#include "common/sha256.h"
#include "sdk/internal/client.h"
#include "sdk/internal/retrying_connection.h"
#include "sdk/internal/testing/scripted_connection.h"

namespace cairn::internal {
namespace {

namespace fs = std::filesystem;
using testing::FakeFileServer;

constexpr std::uint64_t kMiB = 1 << 20;

std::string RandomBytes(std::size_t n) {
  std::mt19937_64 rng(42);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class DownloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-downloader-test.XXXXXX";
    root_ = ::mkdtemp(tmpl);
    bytes_ = RandomBytes(6 * kMiB + 123);
    file_ = FileInfo{.name = "model.bin", .size = bytes_.size(), .sha256 = Sha256Hex(bytes_), .version = 1};
  }
  void TearDown() override { fs::remove_all(root_); }

  // Downloads through `server` (owned by the client made here).
  Status Download(std::unique_ptr<FakeFileServer> server, int parallel_parts, int attempts = 5) {
    RetryPolicy policy{.max_attempts = attempts,
                       .initial_backoff = std::chrono::milliseconds(1),
                       .max_backoff = std::chrono::milliseconds(2)};
    Settings settings{.base_url = "http://fake", .dir = root_.string()};
    // The client owns the server: it is kept until the test ends so that the
    // test can read what the server saw.
    clients_.push_back(Client::Create(settings, std::make_unique<RetryingConnection>(std::move(server), policy)));
    StatusOr<TransferOptions> transfer = ResolveTransferOptions(TransferOptions{
        .parallel_min_bytes = kMiB, .part_bytes = kMiB, .parallel_parts = parallel_parts, .cache_max_bytes = 0});
    if (!transfer.ok()) return transfer.status();
    return clients_.back()->Download(RunPath{.entity = "e", .project = "p", .run_id = "r"}, file_, target(), *transfer);
  }
  std::unique_ptr<FakeFileServer> Server() { return std::make_unique<FakeFileServer>(bytes_, file_.sha256); }
  fs::path target() const { return root_ / "out" / "model.bin"; }

  fs::path root_;
  std::vector<std::shared_ptr<Client>> clients_;
  std::string bytes_;
  FileInfo file_;
};

TEST_F(DownloaderTest, ParallelPartsReachTheTargetInOrder) {
  auto server = Server();
  FakeFileServer* fake = server.get();
  ASSERT_TRUE(Download(std::move(server), /*parallel_parts=*/4).ok());
  EXPECT_EQ(ReadAll(target()), bytes_);
  EXPECT_EQ(fake->served(), bytes_.size());
  EXPECT_FALSE(fs::exists(PartialPath(target())));
}

TEST_F(DownloaderTest, ALostConnectionResumesWhereItBrokeWithoutSendingAByteTwice) {
  auto server = Server();
  FakeFileServer* fake = server.get();
  fake->fail = [](int call, std::uint64_t) -> std::optional<std::uint64_t> {
    if (call < 3) return 300000;
    return std::nullopt;
  };
  ASSERT_TRUE(Download(std::move(server), /*parallel_parts=*/1).ok());
  EXPECT_EQ(ReadAll(target()), bytes_);
  EXPECT_EQ(fake->served(), bytes_.size());
  ASSERT_GE(fake->starts().size(), 4u);
  EXPECT_EQ(fake->starts()[1], 300000u);
  EXPECT_EQ(fake->starts()[3], 900000u);
}

TEST_F(DownloaderTest, ALinkThatKeepsMovingIsNotGivenUpOn) {
  // Two attempts allowed, yet ten drops: each attempt brought bytes.
  auto server = Server();
  server->fail = [](int call, std::uint64_t) -> std::optional<std::uint64_t> {
    if (call < 10) return 100000;
    return std::nullopt;
  };
  ASSERT_TRUE(Download(std::move(server), /*parallel_parts=*/1, /*attempts=*/2).ok());
  EXPECT_EQ(ReadAll(target()), bytes_);
}

TEST_F(DownloaderTest, AFailedCallLeavesAPartialTheNextCallContinues) {
  auto dead = Server();
  dead->fail = [](int call, std::uint64_t) -> std::optional<std::uint64_t> {
    return call == 0 ? 2 * kMiB : 0;  // then nothing more arrives
  };
  Status first = Download(std::move(dead), /*parallel_parts=*/1, /*attempts=*/3);
  ASSERT_EQ(first.code(), StatusCode::kUnavailable) << first.ToString();
  EXPECT_FALSE(fs::exists(target()));
  ASSERT_TRUE(fs::exists(PartialPath(target())));

  auto server = Server();
  FakeFileServer* fake = server.get();
  ASSERT_TRUE(Download(std::move(server), /*parallel_parts=*/1).ok());
  EXPECT_EQ(ReadAll(target()), bytes_);
  ASSERT_FALSE(fake->starts().empty());
  EXPECT_GE(fake->starts()[0], 2 * kMiB - 600 * 1024);  // kept what was flushed
  EXPECT_LT(fake->served(), bytes_.size());
}

TEST_F(DownloaderTest, ARefusedRangeRestartsWithOnePlainGet) {
  auto dead = Server();
  dead->fail = [](int call, std::uint64_t) -> std::optional<std::uint64_t> { return call == 0 ? kMiB : 0; };
  ASSERT_FALSE(Download(std::move(dead), /*parallel_parts=*/1, /*attempts=*/2).ok());

  auto server = Server();
  server->honor_if_range = false;
  FakeFileServer* fake = server.get();
  ASSERT_TRUE(Download(std::move(server), /*parallel_parts=*/1).ok());
  EXPECT_EQ(ReadAll(target()), bytes_);
  EXPECT_EQ(fake->starts().back(), 0u);
}

}  // namespace
}  // namespace cairn::internal
