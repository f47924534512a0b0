// What every MetadataStore must do for retention (docs/adr/0022-operations.md),
// against SQLite in a temp directory and PostgreSQL in a fresh database on the
// `backends` fixture's server. A second store opened on the same database
// stands in for a second server replica.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/metadata_store.h"
#include "store/metadata_store_conformance.h"

namespace cairn::internal {
namespace {

// The conformance fixture (SQLite and PostgreSQL; OpenAnother() a second
// replica) with the retention tests' helpers.
class RetentionConformance : public MetadataStoreConformance {
 protected:
  void Commit(const RunKey& run, const std::string& name, int n) {
    bool created = false;
    ASSERT_TRUE(store_->CreateOrResumeRun(run, ResumeMode::kAllow, &created).ok());
    for (int i = 0; i < n; ++i) ASSERT_TRUE(store_->CommitVersion(run, name, std::string(64, 'a'), 10).ok());
  }

  std::vector<std::int64_t> Versions(const RunKey& run, const std::string& name) {
    std::vector<std::int64_t> out;
    auto all = store_->ListVersions(run, name);
    EXPECT_TRUE(all.ok()) << all.status();
    if (all.ok()) {
      for (const auto& v : *all) out.push_back(v.version);
    }
    return out;
  }
};

TEST_P(RetentionConformance, PoliciesAreSetReplacedListedAndCleared) {
  // Before the entity exists; an entity default has project "".
  ASSERT_TRUE(store_->SetRetentionPolicy({.entity = "alice", .project = "mnist", .pattern = "ckpt/*", .keep_last = 3})
                  .ok());
  ASSERT_TRUE(store_->SetRetentionPolicy({.entity = "alice", .project = "mnist", .pattern = "ckpt/*", .keep_last = 2,
                                          .max_age_ms = 1000})
                  .ok());
  ASSERT_TRUE(store_->SetRetentionPolicy({.entity = "alice", .project = "mnist", .keep_last = 5}).ok());
  ASSERT_TRUE(store_->SetRetentionPolicy({.entity = "alice", .project = "", .max_age_ms = 86400000}).ok());
  ASSERT_TRUE(store_->SetRetentionPolicy({.entity = "bob", .project = "x", .keep_last = 1}).ok());

  auto alice = store_->ListRetentionPolicies("alice");
  ASSERT_TRUE(alice.ok()) << alice.status();
  ASSERT_EQ(alice->size(), 3u);
  EXPECT_EQ((*alice)[0].project, "");
  EXPECT_EQ((*alice)[0].max_age_ms, 86400000);
  EXPECT_EQ((*alice)[1].pattern, "*");
  EXPECT_EQ((*alice)[1].keep_last, 5);
  EXPECT_EQ((*alice)[2].pattern, "ckpt/*");
  EXPECT_EQ((*alice)[2].keep_last, 2);  // replaced, not added
  EXPECT_EQ((*alice)[2].max_age_ms, 1000);
  EXPECT_GT((*alice)[2].updated_ms, 0);
  auto all = OpenAnother()->ListRetentionPolicies("");
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 4u);

  auto one = store_->ClearRetentionPolicies("alice", "mnist", std::string("ckpt/*"));
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(*one, 1);
  auto none = store_->ClearRetentionPolicies("alice", "mnist", std::string("nope/*"));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);
  auto rest = store_->ClearRetentionPolicies("alice", "mnist", std::nullopt);
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*rest, 1);
  EXPECT_EQ(store_->ListRetentionPolicies("alice")->size(), 1u);  // the default stays
}

TEST_P(RetentionConformance, ProjectVersionsNameTheMissingPart) {
  EXPECT_EQ(MissingRunPathPart(store_->ListProjectVersions("alice", "mnist").status()), RunPathPart::kEntity);
  Commit(kRun, "a", 2);
  Commit({"alice", "mnist", "r0"}, "b", 1);
  bool created = false;
  ASSERT_TRUE(store_->CreateOrResumeRun({"alice", "mnist", "r2"}, ResumeMode::kNever, &created).ok());
  EXPECT_EQ(MissingRunPathPart(store_->ListProjectVersions("alice", "cifar").status()), RunPathPart::kProject);
  auto v = store_->ListProjectVersions("alice", "mnist");
  ASSERT_TRUE(v.ok()) << v.status();
  ASSERT_EQ(v->size(), 3u);  // the run without files adds nothing
  EXPECT_EQ((*v)[0].run_id, "r0");
  EXPECT_EQ((*v)[1].run_id, "r1");
  EXPECT_EQ((*v)[1].version.name, "a");
  EXPECT_EQ((*v)[1].version.version, 1);
  EXPECT_EQ((*v)[2].version.version, 2);
  EXPECT_EQ((*v)[2].version.size, 10u);
}

TEST_P(RetentionConformance, ConditionalDeleteNeverRemovesTheLatestOrTwice) {
  Commit(kRun, "ckpt", 4);
  // Version 4 is the latest: skipped. 9 does not exist: skipped.
  auto d = store_->DeleteVersionsIfNotLatest(kRun, {{"ckpt", 1}, {"ckpt", 4}, {"ckpt", 9}, {"nope", 1}});
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->size(), 1u);
  EXPECT_EQ((*d)[0].version, 1);
  EXPECT_EQ((*d)[0].size, 10u);
  // Again: already gone, nothing deleted, no error.
  d = store_->DeleteVersionsIfNotLatest(kRun, {{"ckpt", 1}});
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->empty());
  // Deleting 2 and 3 leaves 4, the latest, alone.
  d = store_->DeleteVersionsIfNotLatest(kRun, {{"ckpt", 2}, {"ckpt", 3}});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->size(), 2u);
  EXPECT_EQ(Versions(kRun, "ckpt"), std::vector<std::int64_t>{4});
  EXPECT_EQ(MissingRunPathPart(store_->DeleteVersionsIfNotLatest({"alice", "mnist", "r9"}, {}).status()),
            RunPathPart::kRun);
}

// Two replicas prune the same versions while a third connection keeps
// saving: every listed version is deleted exactly once, every save stays,
// and the file always has its latest version.
TEST_P(RetentionConformance, ReplicasPruneAtOnceWhileSavesContinue) {
  constexpr int kOld = 40;
  Commit(kRun, "ckpt", kOld);
  std::vector<VersionRef> refs;
  for (int v = 1; v <= kOld; ++v) refs.push_back({"ckpt", v});
  auto replica_a = OpenAnother();
  auto replica_b = OpenAnother();
  auto saver = OpenAnother();
  std::atomic<bool> stop{false};
  std::vector<std::int64_t> saved;
  std::thread saves([&] {
    while (!stop.load()) {
      auto v = saver->CommitVersion(kRun, "ckpt", std::string(64, 'b'), 20);
      ASSERT_TRUE(v.ok()) << v.status();
      saved.push_back(v->version);
      // A save every few ms (a busy trainer), not a tight loop that would
      // starve SQLite's other writers past their busy timeout.
      std::this_thread::sleep_for(std::chrono::milliseconds(3));
    }
  });
  std::vector<FileVersionRecord> by_a;
  std::vector<FileVersionRecord> by_b;
  std::thread a([&] {
    for (const auto& r : refs) {
      auto d = replica_a->DeleteVersionsIfNotLatest(kRun, {r});
      ASSERT_TRUE(d.ok()) << d.status();
      by_a.insert(by_a.end(), d->begin(), d->end());
    }
  });
  std::thread b([&] {
    for (auto it = refs.rbegin(); it != refs.rend(); ++it) {
      auto d = replica_b->DeleteVersionsIfNotLatest(kRun, {*it});
      ASSERT_TRUE(d.ok()) << d.status();
      by_b.insert(by_b.end(), d->begin(), d->end());
    }
  });
  a.join();
  b.join();
  stop = true;
  saves.join();
  std::set<std::int64_t> deleted;
  for (const auto& r : by_a) EXPECT_TRUE(deleted.insert(r.version).second) << "twice: " << r.version;
  for (const auto& r : by_b) EXPECT_TRUE(deleted.insert(r.version).second) << "twice: " << r.version;
  // 1..39 always had a newer version; 40 only once a save came before the
  // replicas tried it.
  for (int v = 1; v < kOld; ++v) EXPECT_EQ(deleted.count(v), 1u) << "kept: " << v;
  EXPECT_LE(deleted.size(), static_cast<std::size_t>(kOld));
  std::vector<std::int64_t> expected_left;
  if (deleted.count(kOld) == 0) expected_left.push_back(kOld);
  expected_left.insert(expected_left.end(), saved.begin(), saved.end());
  EXPECT_EQ(Versions(kRun, "ckpt"), expected_left);  // every save is kept, the latest is there
}

INSTANTIATE_TEST_SUITE_P(Backends, RetentionConformance, ::testing::Values("Sqlite", "Postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cairn::internal
