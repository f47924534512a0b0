// Per-entity storage quotas (docs/operations.md): `cairn quota set/show`, a
// save that would pass the quota refused before any byte is stored (HTTP 403
// quota_exceeded, CLI exit 1, used and allowed in the message), blobs the
// entity already holds always accepted, reads still working.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/sha256.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::ServerProcess;
using testing::TempDir;
using Env = std::map<std::string, std::optional<std::string>>;

class Quota : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(tmp_ / "data");
    key_ = testing::CreateKey(*server_, "quotaent");
    fs::create_directories(tmp_ / "w");
  }
  Env As(const std::string& key) const {
    return {{"CAIRN_BASE_URL", server_->base_url()}, {"HOME", tmp_.path().string()}, {"CAIRN_API_KEY", key},
            {"CAIRN_ENTITY", std::nullopt},          {"XDG_CONFIG_HOME", std::nullopt}};
  }
  CommandResult Save(const std::string& file, const std::string& run = "quotaent/p/r1") {
    return testing::Cairn({"save", (tmp_ / "w" / file).string(), "--run", run, "--base", (tmp_ / "w").string(), "-q"},
                          As(key_));
  }
  nlohmann::json Show() {
    CommandResult r = testing::Cairn({"quota", "show", "quotaent", "--json"}, As(key_));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out, nullptr, false);
  }
  // Blobs in the store, and uploads in parts staged (none on a refusal).
  std::size_t StoredBlobs() const {
    std::size_t n = 0;
    if (fs::exists(server_->data_dir() / "blobs")) {
      for (const auto& e : fs::recursive_directory_iterator(server_->data_dir() / "blobs")) n += e.is_regular_file();
    }
    return n;
  }
  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::string key_;
};

TEST_F(Quota, ASaveThatWouldPassTheQuotaStoresNothingAndSaysUsedAndAllowed) {
  // Only the admin sets quotas.
  CommandResult denied = testing::Cairn({"quota", "set", "quotaent", "1MiB"}, As(key_));
  EXPECT_EQ(denied.exit_code, 5) << denied.err;
  CommandResult set = testing::Cairn({"quota", "set", "quotaent", "1MiB"}, As(server_->admin_key()));
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_NE(set.out.find("1.0 MiB (1048576 bytes)"), std::string::npos) << set.out;

  testing::WriteRandomFile(tmp_ / "w/a.bin", 600'000, 1);
  testing::WriteRandomFile(tmp_ / "w/b.bin", 600'000, 2);
  ASSERT_EQ(Save("a.bin").exit_code, 0);
  EXPECT_EQ(Show()["used_bytes"], 600'000);
  const std::size_t blobs_before = StoredBlobs();

  CommandResult over = Save("b.bin");
  EXPECT_EQ(over.exit_code, 1) << over.err;
  EXPECT_NE(over.err.find("600000 bytes"), std::string::npos) << over.err;   // used
  EXPECT_NE(over.err.find("1048576 bytes"), std::string::npos) << over.err;  // allowed
  EXPECT_EQ(StoredBlobs(), blobs_before) << "a refused save stored bytes";
  EXPECT_EQ(Show()["used_bytes"], 600'000);

  // The same refusal over HTTP, before the body: 403 quota_exceeded.
  const std::string sha = testing::WriteRandomFile(tmp_ / "w/c.bin", 600'000, 3);
  CommandResult http = testing::Run({"/usr/bin/curl", "-s", "-X", "PUT", "-H", "Authorization: Bearer " + key_, "-H",
                                     "X-Cairn-Sha256: " + sha, "--data-binary", "@" + (tmp_ / "w/c.bin").string(),
                                     "-w", "\n%{http_code}", server_->base_url() + "/api/v1/runs/quotaent/p/r1/files/c.bin"});
  EXPECT_NE(http.out.find("\"quota_exceeded\""), std::string::npos) << http.out;
  EXPECT_EQ(http.out.substr(http.out.size() - 3), "403") << http.out;
  EXPECT_EQ(StoredBlobs(), blobs_before);

  // Bytes the entity already holds cost nothing: a second copy of a.bin saves.
  fs::copy_file(tmp_ / "w/a.bin", tmp_ / "w/a-again.bin");
  EXPECT_EQ(Save("a-again.bin", "quotaent/p/r2").exit_code, 0);
  EXPECT_EQ(Show()["used_bytes"], 600'000);

  // Reads keep working.
  CommandResult restore = testing::Cairn(
      {"restore", "a.bin", "--run", "quotaent/p/r1", "--root", (tmp_ / "r").string(), "-q"}, As(key_));
  EXPECT_EQ(restore.exit_code, 0) << restore.err;

  // Raised (then removed), the save goes through.
  ASSERT_EQ(testing::Cairn({"quota", "set", "quotaent", "2MiB"}, As(server_->admin_key())).exit_code, 0);
  EXPECT_EQ(Save("b.bin").exit_code, 0);
  ASSERT_EQ(testing::Cairn({"quota", "set", "quotaent", "none"}, As(server_->admin_key())).exit_code, 0);
  nlohmann::json shown = Show();
  EXPECT_TRUE(shown["max_bytes"].is_null());
  EXPECT_EQ(shown["used_bytes"], 1'200'000);
}

TEST_F(Quota, UploadsInPartsAreRefusedBeforeAPartIsStaged) {
  ASSERT_EQ(testing::Cairn({"quota", "set", "quotaent", "10MB"}, As(server_->admin_key())).exit_code, 0);
  const std::string sha(64, 'a');
  // The run first (the refusal must come from the quota, not a missing run).
  ASSERT_EQ(testing::Run({"/usr/bin/curl", "-s", "-X", "PUT", "-H", "Authorization: Bearer " + key_, "--data", "{}",
                          server_->base_url() + "/api/v1/runs/quotaent/p/r1"})
                .exit_code,
            0);
  CommandResult r = testing::Run({"/usr/bin/curl", "-s", "-X", "POST", "-H", "Authorization: Bearer " + key_, "-H",
                    "Content-Type: application/json", "--data", R"({"sha256":")" + sha + R"(","size":20000000})", "-w",
                    "\n%{http_code}", server_->base_url() + "/api/v1/runs/quotaent/p/r1/uploads/big.bin"});
  EXPECT_NE(r.out.find("\"quota_exceeded\""), std::string::npos) << r.out;
  EXPECT_EQ(r.out.substr(r.out.size() - 3), "403") << r.out;
  const fs::path staged = server_->data_dir() / "uploads";
  std::size_t sessions = 0;
  if (fs::exists(staged)) {
    for (const auto& e : fs::directory_iterator(staged)) sessions += e.is_directory();
  }
  EXPECT_EQ(sessions, 0u) << "a refused upload in parts left a session";
}

TEST(QuotaSizes, ParseUnitsAndRefuseNonsense) {
  CommandResult bad = testing::Cairn({"quota", "set", "someone", "lots"}, {{"CAIRN_API_KEY", "x"}});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("500GiB"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace cairn
