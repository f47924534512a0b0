// A data directory made by the previous release's `cairn` (before accounts:
// schema 4, keys in api_keys) keeps working after the upgrade: its admin key,
// its entity keys (read-write and read-only, now service-account keys of
// ENTITY/default), its runs, files and versions. The fixture,
// tests/fixtures/datadir-0.1.tar.gz, was made by
// scripts/make-upgrade-fixture.sh with the binary of main at 04c2e94; its
// keys are in datadir/fixture-keys.txt.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/sha256.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::ServerProcess;
using testing::TempDir;

std::map<std::string, std::string> ReadKeys(const fs::path& file) {
  std::map<std::string, std::string> keys;
  std::ifstream in(file);
  std::string who, key;
  while (in >> who >> key) keys[who] = key;
  return keys;
}

TEST(Upgrade, ADataDirectoryOfThePreviousReleaseKeepsItsKeysRunsAndFiles) {
  TempDir tmp;
  testing::CommandResult untar =
      testing::Run({"/bin/tar", "-xzf", CAIRN_TEST_FIXTURES_DIR "/datadir-0.1.tar.gz", "-C", tmp.path().string()});
  ASSERT_EQ(untar.exit_code, 0) << untar.err;
  const fs::path data = tmp / "datadir";
  std::map<std::string, std::string> keys = ReadKeys(data / "fixture-keys.txt");
  ASSERT_EQ(keys.size(), 4u);
  ServerProcess server(data, {{"CAIRN_ADMIN_KEY", std::nullopt}}, testing::ServerBackend{});
  EXPECT_EQ(server.admin_key(), keys["admin"]);
  auto as = [&](const std::string& who, std::vector<std::string> args) {
    args.insert(args.begin(), {"--base-url", server.base_url()});
    return testing::Cairn(args, {{"CAIRN_API_KEY", keys[who]}, {"HOME", "/nonexistent"}});
  };

  // Runs, files and versions, restored with the old read-only key.
  const fs::path out = tmp / "out";
  testing::CommandResult r = as("alice-read-only", {"restore", "ckpt/model.pt", "--run", "alice/mnist/r1", "--root",
                                                    out.string(), "--version", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(testing::ReadFile(out / "ckpt/model.pt"), "first weights\n");
  r = as("alice-read-only", {"restore", "ckpt/model.pt", "--run", "alice/mnist/r1", "--root", out.string(),
                             "--replace"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(testing::ReadFile(out / "ckpt/model.pt"), "second weights\n");
  EXPECT_EQ(as("alice", {"restore", "metrics.csv", "--run", "alice/mnist/r1", "--root", out.string()}).exit_code, 0);
  EXPECT_EQ(as("bob", {"restore", "notes.txt", "--run", "bob/nlp/r9", "--root", out.string()}).exit_code, 0);
  EXPECT_EQ(as("admin", {"ls", "bob/nlp/r9"}).exit_code, 0);

  // The keys kept their scope and their entity.
  testing::WriteFile(tmp / "src/new.txt", "after the upgrade");
  const std::vector<std::string> save = {"save", "--run", "alice/mnist/r1", "--base", (tmp / "src").string(),
                                         (tmp / "src/new.txt").string()};
  EXPECT_EQ(as("alice-read-only", save).exit_code, 5);
  EXPECT_EQ(as("bob", save).exit_code, 5);
  ASSERT_EQ(as("alice", save).exit_code, 0);
  EXPECT_EQ(as("bob", {"ls", "alice/mnist/r1"}).exit_code, 5);

  // They are listed as keys of the service accounts ENTITY/default, and can be revoked.
  testing::CommandResult ls = as("admin", {"keys", "ls", "--json"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  nlohmann::json listed = nlohmann::json::parse(ls.out);
  ASSERT_EQ(listed.size(), 3u) << ls.out;
  std::string bob_id;
  for (const auto& k : listed) {
    EXPECT_EQ(k["owner"].get<std::string>().rfind("service-account:", 0), 0u) << k.dump();
    if (k["owner"] == "service-account:bob/default") bob_id = k["id"];
  }
  ASSERT_FALSE(bob_id.empty()) << ls.out;
  EXPECT_EQ(ls.out.find(keys["bob"]), std::string::npos) << "listings never show secrets";
  ASSERT_EQ(as("admin", {"keys", "revoke", bob_id}).exit_code, 0);
  EXPECT_EQ(as("bob", {"ls", "bob/nlp/r9"}).exit_code, 5);

  // Nothing referenced is garbage; the store is sound.
  server.Stop();
  testing::CommandResult fsck = testing::Cairn({"fsck", "--data", data.string()});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
  testing::CommandResult gc = testing::Cairn({"gc", "--grace", "0s", "--data", data.string()});
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_EQ(gc.out, "") << "every fixture blob is referenced";
}

}  // namespace
}  // namespace cairn
