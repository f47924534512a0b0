// The SDK hooks the Python package stands on (issue 12), against the real
// server: a restore cancelled through TransferOptions::cancelled stops within
// about a second with kCancelled, leaves the target untouched and a resumable
// partial that the next restore continues; finish({.failed = true}) keeps the
// resume file so resume="auto" continues the run; version() is the project's.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "cairn/cairn.h"
#include "common/sha256.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::Cairn;
using testing::CommandResult;
using testing::ReadFile;
using testing::ServerProcess;
using testing::TempDir;
using namespace std::chrono_literals;

constexpr std::uint64_t kMiB = 1 << 20;

class SdkHooks : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(tmp_ / "data");
    key_ = testing::CreateKey(*server_, "alice");
  }
  ClientOptions Client() const { return {.base_url = server_->base_url(), .api_key = key_, .entity = "alice"}; }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::string key_;
};

std::uint64_t KeptBytes(const fs::path& sidecar) {
  const nlohmann::json side = nlohmann::json::parse(ReadFile(sidecar));
  std::uint64_t kept = 0;
  for (const auto& r : side.at("done")) {
    kept += r[1].get<std::uint64_t>() - r[0].get<std::uint64_t>();
  }
  return kept;
}

TEST_F(SdkHooks, CancelledRestoreStopsPromptlyLeavesNoTargetAndResumes) {
  const std::uint64_t size = 16 * kMiB;
  const fs::path src = tmp_ / "src" / "big.bin";
  const std::string sha = testing::WriteRandomFile(src, size, 3);
  CommandResult saved = Cairn({"save", src.string(), "--run", "alice/p/r1", "--base", (tmp_ / "src").string()},
                              {{"CAIRN_BASE_URL", server_->base_url()}, {"CAIRN_API_KEY", key_}});
  ASSERT_EQ(saved.exit_code, 0) << saved.err;

  const fs::path root = tmp_ / "root", target = root / "big.bin";
  std::atomic<bool> stop{false};
  std::atomic<int> polls{0};
  RestoreOptions options{.run_path = "alice/p/r1", .root = root.string(), .client = Client()};
  options.transfer.max_recv_bytes_per_sec = 4 * kMiB;  // about 4 s for the whole file
  options.transfer.cache_max_bytes = 0;
  options.transfer.cancelled = [&] {
    ++polls;
    return stop.load();
  };
  std::chrono::steady_clock::time_point asked;
  std::thread canceller([&] {
    std::this_thread::sleep_for(1500ms);
    asked = std::chrono::steady_clock::now();
    stop = true;
  });
  auto result = restore("big.bin", options);
  const auto took = std::chrono::steady_clock::now() - asked;
  canceller.join();
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kCancelled) << result.status();
  EXPECT_LT(took, 1500ms) << "cancellation must stop the transfer within about a second";
  EXPECT_GT(polls.load(), 1);
  EXPECT_FALSE(fs::exists(target)) << "a cancelled restore must not leave a target";
  const fs::path sidecar = root / ".big.bin.cairn-partial.json";
  ASSERT_TRUE(fs::exists(sidecar)) << result.status();
  const std::uint64_t kept = KeptBytes(sidecar);
  EXPECT_GT(kept, 0u);
  EXPECT_LT(kept, size);
  EXPECT_NE(result.status().message().find("run the restore again"), std::string::npos) << result.status();

  options.transfer.cancelled = nullptr;
  options.transfer.max_recv_bytes_per_sec = 0;
  auto again = restore("big.bin", options);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_TRUE(again->has_value());
  EXPECT_EQ(internal::Sha256Hex(ReadFile(target)), sha);
  EXPECT_FALSE(fs::exists(sidecar));
}

TEST_F(SdkHooks, FailedFinishKeepsTheResumeFileSoAutoContinuesTheRun) {
  const fs::path dir = tmp_ / "work";
  ClientOptions client = Client();
  client.project = "p";
  client.dir = dir.string();
  auto run = init({.client = client, .resume = "auto"});
  ASSERT_TRUE(run.ok()) << run.status();
  const std::string id = run->id();
  ASSERT_TRUE(run->finish({.failed = true}).ok());
  EXPECT_TRUE(fs::exists(dir / "cairn" / "resume.json"));

  auto resumed = init({.client = client, .resume = "auto"});
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(resumed->id(), id);
  EXPECT_TRUE(resumed->resumed());
  ASSERT_TRUE(resumed->finish().ok());
  EXPECT_FALSE(fs::exists(dir / "cairn" / "resume.json"));
}

TEST(Version, IsTheProjectVersion) { EXPECT_STREQ(version(), CAIRN_TEST_PROJECT_VERSION); }

}  // namespace
}  // namespace cairn
