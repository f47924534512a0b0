// Deletion (docs/adr/0021-accounts-and-deletion.md) through the real server
// and the `cairn` command: a deleted version, file or run no longer restores
// (exit 3 / 4) and is gone for every reader at once; `cairn gc` then frees
// the bytes no remaining version refers to, and keeps a blob another version
// still refers to. Runs on SQLite + disk and, under the backends fixture, on
// PostgreSQL + radosgw.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::ServerProcess;
using testing::TempDir;

class Deletion : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(tmp_ / "data");
    env_ = {{"CAIRN_API_KEY", testing::CreateKey(*server_, "alice")}, {"HOME", "/nonexistent"}};
  }

  testing::CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--base-url", server_->base_url()});
    return testing::Cairn(args, env_);
  }
  testing::CommandResult Save(const std::string& run, const fs::path& file) {
    return Cli({"save", "--run", run, "--base", file.parent_path().string(), file.string()});
  }
  testing::CommandResult Restore(const std::string& run, const std::string& name, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"restore", name, "--run", run, "--root", (tmp_ / "out").string(), "--replace"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Cli(args);
  }
  // `cairn gc --grace 0s` on the server's store (whatever its backend).
  testing::CommandResult Gc() {
    std::vector<std::string> args = {"gc", "--grace", "0s", "--data", server_->data_dir().string()};
    if (!server_->backend().db_url.empty()) args.insert(args.end(), {"--db", server_->backend().db_url});
    if (!server_->backend().blobs_url.empty()) args.insert(args.end(), {"--blobs", server_->backend().blobs_url});
    return testing::Cairn(args, {{"HOME", "/nonexistent"}});
  }
  bool Removed(const testing::CommandResult& gc, const std::string& sha) {
    return gc.out.find("removed\t" + sha) != std::string::npos;
  }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::map<std::string, std::optional<std::string>> env_;
};

TEST_F(Deletion, AVersionThenAFileThenARunAreGoneAndGcFreesOnlyUnreferencedBytes) {
  const fs::path src = tmp_ / "src";
  const std::string v1 = testing::WriteRandomFile(src / "m.pt", 200000, 1);
  ASSERT_EQ(Save("alice/p/r", src / "m.pt").exit_code, 0);
  const std::string v2 = testing::WriteRandomFile(src / "m.pt", 200000, 2);
  ASSERT_EQ(Save("alice/p/r", src / "m.pt").exit_code, 0);
  // The same bytes as v1 in another run: that blob must survive v1's deletion.
  const std::string shared = testing::WriteRandomFile(src / "copy.pt", 200000, 1);
  ASSERT_EQ(shared, v1);
  ASSERT_EQ(Save("alice/p/other", src / "copy.pt").exit_code, 0);
  const std::string only_here = testing::WriteRandomFile(src / "log.txt", 5000, 3);
  ASSERT_EQ(Save("alice/p/r", src / "log.txt").exit_code, 0);

  // One version: it no longer restores (exit 3); the latest still does.
  testing::CommandResult rm = Cli({"rm", "--run", "alice/p/r", "m.pt", "--version", "1", "--yes"});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(Restore("alice/p/r", "m.pt", {"--version", "1"}).exit_code, 3);
  EXPECT_EQ(Restore("alice/p/r", "m.pt").exit_code, 0);
  EXPECT_EQ(Cli({"rm", "--run", "alice/p/r", "m.pt", "--version", "1", "--yes"}).exit_code, 3) << "already gone";
  testing::CommandResult gc = Gc();
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_FALSE(Removed(gc, v1)) << "alice/p/other still refers to it\n" << gc.out;
  EXPECT_EQ(Cli({"restore", "copy.pt", "--run", "alice/p/other", "--root", (tmp_ / "o").string()}).exit_code, 0);

  // Every version of a file: exit 3; its only blob is freed.
  rm = Cli({"rm", "--run", "alice/p/r", "m.pt", "--yes"});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(Restore("alice/p/r", "m.pt").exit_code, 3);
  EXPECT_EQ(Cli({"versions", "alice/p/r", "m.pt"}).exit_code, 3);
  gc = Gc();
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_TRUE(Removed(gc, v2)) << gc.out;
  EXPECT_FALSE(Removed(gc, v1)) << gc.out;

  // The run: exit 4 for everything in it; its last blob is freed; the other
  // run is untouched.
  rm = Cli({"rm", "--run", "alice/p/r", "--yes"});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(Restore("alice/p/r", "log.txt").exit_code, 4);
  EXPECT_EQ(Cli({"ls", "alice/p/r"}).exit_code, 4);
  EXPECT_EQ(Cli({"rm", "--run", "alice/p/r", "--yes"}).exit_code, 4);
  gc = Gc();
  ASSERT_EQ(gc.exit_code, 0) << gc.err;
  EXPECT_TRUE(Removed(gc, only_here)) << gc.out;
  EXPECT_FALSE(Removed(gc, v1)) << gc.out;
  EXPECT_EQ(Cli({"restore", "copy.pt", "--run", "alice/p/other", "--root", (tmp_ / "o2").string()}).exit_code, 0);
  // The run id can be used again, from nothing.
  ASSERT_EQ(Save("alice/p/r", src / "log.txt").exit_code, 0);
  EXPECT_EQ(Restore("alice/p/r", "log.txt").exit_code, 0);
}

TEST_F(Deletion, NeedsWriteAccessToTheEntityAndSaysWhatIsMissing) {
  testing::WriteFile(tmp_ / "src" / "f.txt", "keep me");
  ASSERT_EQ(Save("alice/p/r", tmp_ / "src" / "f.txt").exit_code, 0);
  auto as = [&](const std::string& key) {
    std::map<std::string, std::optional<std::string>> env = env_;
    env["CAIRN_API_KEY"] = key;
    return testing::Cairn({"--base-url", server_->base_url(), "rm", "--run", "alice/p/r", "--yes"}, env);
  };
  EXPECT_EQ(as(testing::CreateKey(*server_, "alice", /*read_only=*/true)).exit_code, 5);
  EXPECT_EQ(as(testing::CreateKey(*server_, "bob")).exit_code, 5);
  EXPECT_EQ(as("cairn-NotAKeyThisServerEverIssued0000000000000").exit_code, 5);
  EXPECT_EQ(Restore("alice/p/r", "f.txt").exit_code, 0) << "nothing was deleted";
  // Usage errors before any request.
  EXPECT_EQ(Cli({"rm", "--run", "alice/p/r", "--version", "1", "--yes"}).exit_code, 2);
  EXPECT_EQ(Cli({"rm", "--run", "alice/p/r", "f.txt", "--version", "0", "--yes"}).exit_code, 2);
  EXPECT_NE(testing::Cairn({"rm", "--help"}).out.find("cairn gc"), std::string::npos);
  // No such file / run: 3 / 4.
  EXPECT_EQ(Cli({"rm", "--run", "alice/p/r", "nope.txt", "--yes"}).exit_code, 3);
  EXPECT_EQ(Cli({"rm", "--run", "alice/p/nope", "--yes"}).exit_code, 4);
}

}  // namespace
}  // namespace cairn
