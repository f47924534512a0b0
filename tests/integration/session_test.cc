// The public API the `cairn` command stands on (cairn/session.h,
// cairn/names.h; docs/adr/0024-cli-layers.md), against the real server:
// SaveFiles in batches and alone with progress, its stop after a failure,
// SaveFile's unless_sha256, CallJson with the admin key and with a wrong key,
// malformed knobs refused by name, the content cache listing and pruning;
// and the server commands' settings reader refusing a malformed variable.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <mutex>

#include "cairn/cairn.h"
#include "cairn/names.h"
#include "cairn/session.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::ServerProcess;
using testing::TempDir;

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(tmp_ / "data");
    key_ = testing::CreateKey(*server_, "alice");
  }
  ClientOptions Options() const { return {.base_url = server_->base_url(), .api_key = key_}; }
  std::shared_ptr<Session> Open() {
    auto s = Session::Open(Options());
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *s : nullptr;
  }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::string key_;
};

TEST_F(SessionTest, SaveFilesBatchesSmallFilesSendsLargeOnesAloneAndReportsProgress) {
  auto session = Open();
  ASSERT_NE(session, nullptr);
  auto run = session->ResolveRun("p/r1");  // entity from the key
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->entity, "alice");
  ASSERT_TRUE(session->EnsureRun(*run).ok());
  std::vector<SaveItem> items;
  std::map<std::string, std::string> sha;
  for (int i = 0; i < 20; ++i) {
    const std::string name = "small/" + std::to_string(i) + ".txt";
    sha[name] = testing::WriteRandomFile(tmp_ / name, 1000 + i, i);
    items.push_back({.name = name, .local = tmp_ / name, .size = 1000u + i});
  }
  sha["big.bin"] = testing::WriteRandomFile(tmp_ / "big.bin", 3 << 20, 99);
  items.push_back({.name = "big.bin", .local = tmp_ / "big.bin", .size = 3u << 20});

  std::mutex mu;
  std::map<std::string, std::uint64_t> done;
  auto results = session->SaveFiles(*run, items, {.parallel_files = 3, .progress = [&](const FileProgress& p) {
                                                    std::lock_guard<std::mutex> lock(mu);
                                                    done[p.name] = p.done;
                                                  }});
  ASSERT_EQ(results.size(), items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    ASSERT_TRUE(results[i].has_value()) << items[i].name;
    ASSERT_TRUE(results[i]->ok()) << results[i]->status();
    EXPECT_EQ((*results[i])->name, items[i].name);
    EXPECT_EQ((*results[i])->sha256, sha[items[i].name]);
    EXPECT_EQ((*results[i])->version, 1);
    EXPECT_EQ(done[items[i].name], fs::file_size(items[i].local)) << items[i].name;
  }
  auto stored = Api(Options()).run("alice/p/r1");
  ASSERT_TRUE(stored.ok()) << stored.status();
  auto files = stored->files();
  ASSERT_TRUE(files.ok());
  EXPECT_EQ(files->size(), items.size());
}

TEST_F(SessionTest, SaveFilesStopsStartingWorkAfterAFailureAndCommitsNoHalfFile) {
  auto session = Open();
  ASSERT_NE(session, nullptr);
  auto run = session->ResolveRun("alice/p/r2");
  ASSERT_TRUE(run.ok() && session->EnsureRun(*run).ok());
  std::vector<SaveItem> items{{.name = "gone.bin", .local = tmp_ / "no-such-file", .size = 2u << 20}};
  for (int i = 0; i < 50; ++i) {
    const std::string name = "f" + std::to_string(i) + ".bin";
    testing::WriteRandomFile(tmp_ / name, 2 << 20, i);  // large: one request each
    items.push_back({.name = name, .local = tmp_ / name, .size = 2u << 20});
  }
  auto results = session->SaveFiles(*run, items, {.parallel_files = 1});
  ASSERT_TRUE(results[0].has_value());
  EXPECT_FALSE(results[0]->ok());
  for (std::size_t i = 1; i < items.size(); ++i) EXPECT_FALSE(results[i].has_value()) << "attempted " << i;
  auto files = Api(Options()).run("alice/p/r2")->files();
  ASSERT_TRUE(files.ok());
  EXPECT_TRUE(files->empty());
}

TEST_F(SessionTest, SaveFileUnlessSha256SendsNothingWhenUnchanged) {
  auto session = Open();
  ASSERT_NE(session, nullptr);
  auto run = session->ResolveRun("alice/p/r3");
  ASSERT_TRUE(run.ok() && session->EnsureRun(*run).ok());
  const std::string sha = testing::WriteRandomFile(tmp_ / "a.bin", 5000, 1);
  auto first = session->SaveFile(*run, "a.bin", tmp_ / "a.bin");
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->unchanged);
  auto latest = session->LatestFile(*run, "a.bin");
  ASSERT_TRUE(latest.ok() && latest->has_value());
  EXPECT_EQ((*latest)->sha256, sha);
  auto again = session->SaveFile(*run, "a.bin", tmp_ / "a.bin", {.unless_sha256 = sha});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->unchanged);
  EXPECT_EQ((*session->LatestFile(*run, "a.bin"))->version, 1);
  testing::WriteRandomFile(tmp_ / "a.bin", 5000, 2);
  auto changed = session->SaveFile(*run, "a.bin", tmp_ / "a.bin", {.unless_sha256 = sha});
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(changed->unchanged);
  EXPECT_EQ(changed->info.version, 2);
  auto none = session->LatestFile(*run, "missing");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

TEST_F(SessionTest, CallJsonUsesTheKeyAndMapsRefusals) {
  auto admin = Session::Open({.base_url = server_->base_url(), .api_key = server_->admin_key()});
  ASSERT_TRUE(admin.ok()) << admin.status();
  auto set = (*admin)->CallJson("PUT", "/api/v1/quotas/alice", R"({"max_bytes": 1000})", "the quota of alice");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_NE(set->find("\"max_bytes\":1000"), std::string::npos) << *set;
  // alice's own key may not set quotas; a made-up key is not a key.
  auto user = Open();
  auto refused = user->CallJson("PUT", "/api/v1/quotas/alice", R"({"max_bytes": null})", "the quota of alice");
  EXPECT_EQ(refused.status().code(), StatusCode::kPermissionDenied) << refused.status();
  auto stranger = Session::Open({.base_url = server_->base_url(), .api_key = "cairn_nosuchkey"});
  ASSERT_TRUE(stranger.ok());
  EXPECT_EQ((*stranger)->CallJson("GET", "/api/v1/quotas/alice", "", "q").status().code(),
            StatusCode::kUnauthenticated);
  // A 404 file_not_found is an answer, not an error, when asked for.
  auto run = user->ResolveRun("p/r4");
  ASSERT_TRUE(run.ok() && user->EnsureRun(*run).ok());
  bool no_file = false;
  auto del = user->CallJson("DELETE", "/api/v1/runs/alice/p/r4/files/" + UrlEncode("no such/f", true), "", "delete",
                            &no_file);
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_TRUE(no_file);
}

TEST(SessionOpen, MalformedKnobIsRefusedByName) {
  ::setenv("CAIRN_PARALLEL_FILES", "eight", 1);
  auto s = Session::Open({.base_url = "http://127.0.0.1:1"});
  ::unsetenv("CAIRN_PARALLEL_FILES");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("CAIRN_PARALLEL_FILES"), std::string::npos) << s.status();
}

TEST(Names, PublicValidationMatchesTheServers) {
  EXPECT_TRUE(ValidateFileName("ckpt/model.pt").ok());
  EXPECT_EQ(ValidateFileName("../etc/passwd").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateFileName(std::string("a\x01")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateId(".hidden", "entity").code(), StatusCode::kInvalidArgument);
  auto p = ParseRunPath("https://h:1/alice/mnist/runs/abc");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->ToString(), "alice/mnist/abc");
  EXPECT_FALSE(ParseRunPath("a/b/c/d/e").ok());
  EXPECT_EQ(UrlEncode("a b/c", true), "a%20b/c");
  EXPECT_EQ(UrlEncode("a b/c"), "a%20b%2Fc");
}

TEST_F(SessionTest, CacheIsListedAndPruned) {
  auto session = Open();
  auto run = session->ResolveRun("alice/p/r5");
  ASSERT_TRUE(run.ok() && session->EnsureRun(*run).ok());
  const std::string sha = testing::WriteRandomFile(tmp_ / "c.bin", 100000, 5);
  ASSERT_TRUE(session->SaveFile(*run, "c.bin", tmp_ / "c.bin").ok());
  const TransferOptions cache{
      .cache_dir = (tmp_ / "cache").string(), .cache_max_bytes = 1 << 30, .cache_fill = "copy"};
  auto restored = restore("c.bin", {.run_path = "alice/p/r5", .root = (tmp_ / "out").string(), .client = Options(),
                                    .transfer = cache});
  ASSERT_TRUE(restored.ok()) << restored.status();
  auto listing = ListCache(cache);
  ASSERT_TRUE(listing.ok()) << listing.status();
  EXPECT_EQ(listing->dir, (tmp_ / "cache").string());
  EXPECT_EQ(listing->max_bytes, 1u << 30);
  ASSERT_EQ(listing->files.size(), 1u);
  EXPECT_EQ(listing->files[0].sha256, sha);
  EXPECT_EQ(listing->files[0].size, 100000u);
  EXPECT_EQ(listing->files[0].last_used.back(), 'Z') << listing->files[0].last_used;  // RFC 3339 UTC
  EXPECT_EQ(listing->files[0].last_used[10], 'T') << listing->files[0].last_used;
  auto pruned = PruneCache(0, cache);
  ASSERT_TRUE(pruned.ok()) << pruned.status();
  EXPECT_EQ(pruned->freed, 100000u);
  EXPECT_TRUE(ListCache(cache)->files.empty());
  EXPECT_FALSE(ListCache({.cache_dir = (tmp_ / "c.bin").string()}).ok()) << "a file is no cache directory";
}

TEST(ServerCommandSettings, MalformedVariableIsRefusedByName) {
  TempDir tmp;
  for (const char* var : {"CAIRN_REQUEST_TIMEOUT", "CAIRN_RUN_STALE_AFTER_S"}) {
    for (const char* value : {"abc", "0", "-5", "99999999"}) {
      auto r = testing::Cairn({"server", "--data", (tmp / "d").string(), "--listen", "127.0.0.1:0"}, {{var, value}});
      EXPECT_EQ(r.exit_code, 2) << var << "=" << value << ": " << r.err;
      EXPECT_NE(r.err.find(var), std::string::npos) << r.err;
    }
  }
  auto fsck = testing::Cairn({"fsck", "--data", (tmp / "none").string()}, {{"CAIRN_DATA_DIR", std::nullopt}});
  EXPECT_EQ(fsck.exit_code, 2) << fsck.err;
  EXPECT_NE(fsck.err.find("does not exist"), std::string::npos) << fsck.err;
}

}  // namespace
}  // namespace cairn
