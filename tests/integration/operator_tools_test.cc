// `cairn gc` against a live server: only unreferenced blobs older than the
// grace period go; a slow upload running while gc runs again and again
// completes and restores correctly (including one whose bytes match an old
// unreferenced blob). `cairn fsck` on a clean store. (Damaged stores:
// tests/faults/corruption_test.cc.)
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/sha256.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::ServerProcess;
using testing::TempDir;

class OperatorTools : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(tmp_ / "data", std::map<std::string, std::optional<std::string>>{},
                                              testing::ServerBackend{});
    env_ = {{"CAIRN_API_KEY", testing::CreateKey(*server_, "alice")}, {"HOME", "/nonexistent"}};
  }

  testing::CommandResult Save(const fs::path& file) {
    return testing::Cairn({"--base-url", server_->base_url(), "save", "--run", kRun, "--base",
                           file.parent_path().string(), file.string()},
                          env_);
  }

  void ExpectRestores(const std::string& name, const std::string& sha) {
    const fs::path root = tmp_ / "restored";
    testing::CommandResult r = testing::Cairn(
        {"--base-url", server_->base_url(), "restore", name, "--run", kRun, "--root", root.string(), "--replace"},
        env_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(internal::Sha256Hex(testing::ReadFile(root / name)), sha) << name;
  }

  // A blob no version refers to, as a crash between blob and version commit
  // leaves one, last touched `age` ago.
  std::string PlantOrphan(const std::string& content, std::chrono::seconds age) {
    const std::string sha = internal::Sha256Hex(content);
    const fs::path path = testing::BlobPath(server_->data_dir(), sha);
    testing::WriteFile(path, content);
    const auto when = fs::file_time_type::clock::now() - age;
    fs::last_write_time(path, when);
    return sha;
  }

  testing::CommandResult Gc(std::vector<std::string> args) {
    args.insert(args.begin(), {"gc", "--data", server_->data_dir().string()});
    return testing::Cairn(args);
  }

  static constexpr const char* kRun = "alice/ops/r";
  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::map<std::string, std::optional<std::string>> env_;
};

TEST_F(OperatorTools, GcRemovesOnlyUnreferencedBlobsOlderThanTheGrace) {
  const std::string a = testing::WriteRandomFile(tmp_ / "src" / "a.bin", 300000, 1);
  ASSERT_EQ(Save(tmp_ / "src" / "a.bin").exit_code, 0);
  const std::string old_orphan = PlantOrphan("left by a crash two hours ago", std::chrono::hours(2));
  const std::string new_orphan = PlantOrphan("committed a moment ago, version row still coming", {});
  EXPECT_EQ(testing::Cairn({"fsck", "--data", server_->data_dir().string()}).exit_code, 0) << "orphans are no problem";

  testing::CommandResult dry = Gc({"--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_EQ(dry.out, "would remove\t" + old_orphan + "\n");
  EXPECT_TRUE(fs::exists(testing::BlobPath(server_->data_dir(), old_orphan)));

  testing::CommandResult gc = Gc({});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_EQ(gc.out, "removed\t" + old_orphan + "\n");
  EXPECT_NE(gc.err.find("1 referenced"), std::string::npos) << gc.err;
  EXPECT_FALSE(fs::exists(testing::BlobPath(server_->data_dir(), old_orphan)));
  EXPECT_TRUE(fs::exists(testing::BlobPath(server_->data_dir(), new_orphan)));
  EXPECT_TRUE(fs::exists(testing::BlobPath(server_->data_dir(), a)));
  ExpectRestores("a.bin", a);

  EXPECT_EQ(Gc({"--grace", "0s"}).out, "removed\t" + new_orphan + "\n");
  EXPECT_EQ(Gc({}).out, "");
  testing::CommandResult fsck = testing::Cairn({"fsck", "--data", server_->data_dir().string(), "--json"});
  EXPECT_EQ(fsck.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(fsck.out)["unreferenced"], 0);

  testing::CommandResult bad = Gc({"--grace", "soon"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--grace"), std::string::npos) << bad.err;
  testing::CommandResult nodata = testing::Cairn({"gc", "--data", (tmp_ / "nothing").string()});
  EXPECT_EQ(nodata.exit_code, 2);
  EXPECT_NE(nodata.err.find("--data"), std::string::npos) << nodata.err;
  EXPECT_NE(testing::Cairn({"gc", "--help"}).out.find("--grace"), std::string::npos);
  EXPECT_NE(testing::Cairn({"fsck", "--help"}).out.find("--quarantine"), std::string::npos);
}

TEST_F(OperatorTools, GcRunningDuringSlowUploadsNeverCollectsThem) {
  testing::WriteFile(tmp_ / "x", "x");
  ASSERT_EQ(Save(tmp_ / "x").exit_code, 0);  // the run exists
  // One upload of new bytes, and one of bytes that an old orphan already
  // holds (the server reuses that blob instead of writing it again).
  const std::string fresh = testing::WriteRandomFile(tmp_ / "src" / "fresh.bin", 768 * 1024, 2);
  const std::string reused = testing::WriteRandomFile(tmp_ / "src" / "reused.bin", 768 * 1024, 3);
  ASSERT_EQ(PlantOrphan(testing::ReadFile(tmp_ / "src" / "reused.bin"), std::chrono::hours(2)), reused);

  auto slow_put = [&](const std::string& name, const std::string& sha) {
    return std::make_unique<testing::BackgroundProcess>(std::vector<std::string>{
        "/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--limit-rate", "384K", "-X", "PUT", "-H",
        "Authorization: Bearer " + *env_.at("CAIRN_API_KEY"), "-H", "X-Cairn-Sha256: " + sha, "--data-binary",
        "@" + (tmp_ / "src" / name).string(), server_->base_url() + "/api/v1/runs/" + kRun + "/files/" + name});
  };
  auto up1 = slow_put("fresh.bin", fresh);
  auto up2 = slow_put("reused.bin", reused);
  int runs = 0;
  std::atomic<bool> done{false};
  std::thread waiter([&] {
    EXPECT_EQ(up1->Wait().out, "201");
    EXPECT_EQ(up2->Wait().out, "201");
    done = true;
  });
  while (!done) {
    testing::CommandResult gc = Gc({"--grace", "1s"});
    EXPECT_EQ(gc.exit_code, 0) << gc.err;
    ++runs;
  }
  waiter.join();
  // Once more after both commits: what they wrote is referenced now.
  EXPECT_EQ(Gc({"--grace", "0s"}).out, "");
  std::printf("[ops] gc ran %d times during two slow uploads; both committed\n", runs);
  EXPECT_GE(runs, 3);
  ExpectRestores("fresh.bin", fresh);
  ExpectRestores("reused.bin", reused);
  EXPECT_EQ(testing::Cairn({"fsck", "--data", server_->data_dir().string()}).exit_code, 0);
}

}  // namespace
}  // namespace cairn
