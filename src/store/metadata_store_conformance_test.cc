// What every MetadataStore must do, run against each backend: SQLite in a
// temp directory, and PostgreSQL in a fresh database on the `backends`
// fixture's server (tests/testing/backends.h). A second store opened on the
// same database stands in for a second server replica.
// Runs, versions, listing, run config and deletion; the fixture is in metadata_store_conformance.h.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/metadata_store_conformance.h"

namespace cairn::internal {
namespace {

TEST_P(MetadataStoreConformance, ResumeModes) {
  bool created = true;
  // must on a missing run: not found, naming the entity (nothing exists yet).
  auto r = store_->CreateOrResumeRun(kRun, ResumeMode::kMust, &created);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(created);

  r = store_->CreateOrResumeRun(kRun, ResumeMode::kNever, &created);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(created);
  EXPECT_EQ(r->entity, "alice");
  EXPECT_EQ(r->run_id, "r1");
  EXPECT_GT(r->created_ms, 0);

  r = store_->CreateOrResumeRun(kRun, ResumeMode::kNever, &created);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kAlreadyExists);

  r = store_->CreateOrResumeRun(kRun, ResumeMode::kAllow, &created);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(created);
  r = store_->CreateOrResumeRun(kRun, ResumeMode::kMust, &created);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(created);

  r = store_->CreateOrResumeRun({"alice", "mnist", "r2"}, ResumeMode::kAllow, &created);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(created);
}

TEST_P(MetadataStoreConformance, NotFoundNamesTheMissingPart) {
  MustCreate(kRun);
  auto part = [&](const RunKey& k) { return MissingRunPathPart(store_->GetRun(k).status()); };
  EXPECT_EQ(part({"bob", "mnist", "r1"}), RunPathPart::kEntity);
  EXPECT_EQ(part({"alice", "cifar", "r1"}), RunPathPart::kProject);
  EXPECT_EQ(part({"alice", "mnist", "r9"}), RunPathPart::kRun);
  EXPECT_EQ(part(kRun), std::nullopt);

  Status s = store_->GetRun({"alice", "cifar", "r1"}).status();
  EXPECT_NE(s.message().find("alice/cifar"), std::string::npos) << s;
  // Recognized by its reason, never by its text: the same words in another
  // error are just words.
  EXPECT_EQ(s.reason(), "project_not_found");
  EXPECT_EQ(MissingRunPathPart(NotFoundError(s.message())), std::nullopt);

  EXPECT_EQ(MissingRunPathPart(store_->CommitVersion({"alice", "mnist", "r9"}, "f", kSha, 1).status()),
            RunPathPart::kRun);
  EXPECT_EQ(MissingRunPathPart(store_->GetFile({"bob", "x", "y"}, "f", std::nullopt).status()), RunPathPart::kEntity);
  EXPECT_EQ(MissingRunPathPart(store_->ListFiles({"alice", "nope", "r1"}, "", "", 10).status()), RunPathPart::kProject);
  EXPECT_EQ(MissingRunPathPart(store_->ListVersions({"alice", "mnist", "r9"}, "f").status()), RunPathPart::kRun);
  EXPECT_EQ(MissingRunPathPart(store_->ListRuns("alice", "nope", "", 10).status()), RunPathPart::kProject);
  EXPECT_EQ(MissingRunPathPart(store_->ListRuns("nobody", "nope", "", 10).status()), RunPathPart::kEntity);
}

TEST_P(MetadataStoreConformance, VersionsAreNumberedPerName) {
  const RunRecord before = MustCreate(kRun);
  auto v1 = store_->CommitVersion(kRun, "model.pt", std::string(64, '1'), 10);
  ASSERT_TRUE(v1.ok()) << v1.status();
  EXPECT_EQ(v1->version, 1);
  auto v2 = store_->CommitVersion(kRun, "model.pt", std::string(64, '2'), 20);
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(v2->version, 2);
  auto other = store_->CommitVersion(kRun, "ckpt/a.pt", std::string(64, '3'), 30);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->version, 1);
  MustCreate({"alice", "mnist", "r2"});
  auto elsewhere = store_->CommitVersion({"alice", "mnist", "r2"}, "model.pt", kSha, 1);
  ASSERT_TRUE(elsewhere.ok());
  EXPECT_EQ(elsewhere->version, 1);

  auto latest = store_->GetFile(kRun, "model.pt", std::nullopt);
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(latest->has_value());
  EXPECT_EQ((*latest)->version, 2);
  EXPECT_EQ((*latest)->size, 20u);
  EXPECT_EQ((*latest)->sha256, std::string(64, '2'));

  auto first = store_->GetFile(kRun, "model.pt", 1);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(first->has_value());
  EXPECT_EQ((*first)->sha256, std::string(64, '1'));

  auto missing_version = store_->GetFile(kRun, "model.pt", 3);
  ASSERT_TRUE(missing_version.ok());
  EXPECT_FALSE(missing_version->has_value());
  auto missing_file = store_->GetFile(kRun, "nope.pt", std::nullopt);
  ASSERT_TRUE(missing_file.ok());
  EXPECT_FALSE(missing_file->has_value());

  auto versions = store_->ListVersions(kRun, "model.pt");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].version, 1);
  EXPECT_EQ((*versions)[1].version, 2);
  auto none = store_->ListVersions(kRun, "nope.pt");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  auto run = store_->GetRun(kRun);
  ASSERT_TRUE(run.ok());
  EXPECT_GE(run->updated_ms, other->created_ms);
  EXPECT_GE(run->updated_ms, before.updated_ms);
}

TEST_P(MetadataStoreConformance, CommitVersionsCommitsAllInOrderOrNone) {
  MustCreate(kRun);
  ASSERT_TRUE(store_->CommitVersion(kRun, "a.bin", std::string(64, '1'), 1).ok());
  auto batch = store_->CommitVersions(
      kRun, {{"a.bin", std::string(64, '2'), 2}, {"b.bin", std::string(64, '3'), 3}, {"a.bin", kSha, 4}});
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->size(), 3u);
  EXPECT_EQ((*batch)[0].version, 2);
  EXPECT_EQ((*batch)[1].version, 1);
  EXPECT_EQ((*batch)[2].version, 3);
  EXPECT_EQ((*batch)[2].size, 4u);
  auto versions = store_->ListVersions(kRun, "a.bin");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 3u);
  EXPECT_EQ((*versions)[2].sha256, kSha);
  // A missing run: nothing committed, the part named.
  auto missing = store_->CommitVersions({"alice", "mnist", "r9"}, {{"c.bin", kSha, 1}});
  EXPECT_EQ(MissingRunPathPart(missing.status()), RunPathPart::kRun);
  // One bad size refuses the whole batch: b.bin stays at version 1.
  auto bad = store_->CommitVersions(kRun, {{"b.bin", kSha, 1}, {"c.bin", kSha, ~std::uint64_t{0}}});
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  auto b = store_->GetFile(kRun, "b.bin", std::nullopt);
  ASSERT_TRUE(b.ok() && b->has_value());
  EXPECT_EQ((*b)->version, 1);
}

TEST_P(MetadataStoreConformance, HugeSizesRoundTrip) {
  MustCreate(kRun);
  const std::uint64_t big = 5ull << 40;  // 5 TiB
  ASSERT_TRUE(store_->CommitVersion(kRun, "big", kSha, big).ok());
  auto f = store_->GetFile(kRun, "big", std::nullopt);
  ASSERT_TRUE(f.ok() && f->has_value());
  EXPECT_EQ((*f)->size, big);
}

// Two stores on one database (two replicas), several threads each: every
// commit of the same name gets its own version, 1..N with no gap.
TEST_P(MetadataStoreConformance, ConcurrentCommitsFromTwoReplicasGetDistinctConsecutiveVersions) {
  MustCreate(kRun);
  std::unique_ptr<MetadataStore> second = OpenAnother();
  ASSERT_NE(second, nullptr);
  constexpr int kThreadsPerStore = 3;
  constexpr int kPerThread = 20;
  std::vector<std::vector<std::int64_t>> got(2 * kThreadsPerStore);
  std::vector<std::thread> threads;
  for (int t = 0; t < 2 * kThreadsPerStore; ++t) {
    MetadataStore* s = t % 2 == 0 ? store_.get() : second.get();
    threads.emplace_back([&, s, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto v = s->CommitVersion(kRun, "shared.pt", kSha, static_cast<std::uint64_t>(i));
        ASSERT_TRUE(v.ok()) << v.status();
        got[t].push_back(v->version);
      }
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::int64_t> all;
  for (const auto& g : got) {
    EXPECT_TRUE(std::is_sorted(g.begin(), g.end()));  // one caller's commits are ordered
    all.insert(g.begin(), g.end());
  }
  const std::size_t n = 2 * kThreadsPerStore * kPerThread;
  ASSERT_EQ(all.size(), n);
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), static_cast<std::int64_t>(n));
  auto versions = second->ListVersions(kRun, "shared.pt");
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->size(), n);
}

TEST_P(MetadataStoreConformance, ConcurrentCreationOfOneRunFromTwoReplicas) {
  std::unique_ptr<MetadataStore> second = OpenAnother();
  ASSERT_NE(second, nullptr);
  for (int i = 0; i < 10; ++i) {
    const RunKey key{"carol", "p" + std::to_string(i), "r"};
    bool created_a = false, created_b = false;
    StatusOr<RunRecord> a = InternalError("unset"), b = InternalError("unset");
    std::thread ta([&] { a = store_->CreateOrResumeRun(key, ResumeMode::kAllow, &created_a); });
    std::thread tb([&] { b = second->CreateOrResumeRun(key, ResumeMode::kAllow, &created_b); });
    ta.join();
    tb.join();
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_NE(created_a, created_b) << "exactly one replica creates the run";
  }
}

TEST_P(MetadataStoreConformance, ListFilesPaginatesLatestVersionsByName) {
  MustCreate(kRun);
  // Bytewise order: upper case before lower case, "ckpt/1" < "ckpt/10" < "ckpt/2".
  const std::vector<std::string> names = {"b.pt", "a.pt", "ckpt/2.pt", "ckpt/1.pt", "ckpt/10.pt", "z", "Z.pt"};
  for (const auto& n : names) ASSERT_TRUE(store_->CommitVersion(kRun, n, kSha, 1).ok());
  ASSERT_TRUE(store_->CommitVersion(kRun, "a.pt", std::string(64, 'b'), 2).ok());

  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = store_->ListFiles(kRun, "", cursor, 4);
    ASSERT_TRUE(page.ok()) << page.status();
    for (const auto& f : page->items) {
      seen.push_back(f.name);
      if (f.name == "a.pt") {
        EXPECT_EQ(f.version, 2);
        EXPECT_EQ(f.size, 2u);
      }
    }
    cursor = page->next_cursor;
    ++pages;
  } while (!cursor.empty());
  EXPECT_EQ(pages, 2);
  std::vector<std::string> sorted = names;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(seen, sorted);

  auto ckpt = store_->ListFiles(kRun, "ckpt/", "", 100);
  ASSERT_TRUE(ckpt.ok());
  ASSERT_EQ(ckpt->items.size(), 3u);
  EXPECT_EQ(ckpt->items[0].name, "ckpt/1.pt");
  EXPECT_EQ(ckpt->items[1].name, "ckpt/10.pt");
  EXPECT_TRUE(ckpt->next_cursor.empty());

  auto exact = store_->ListFiles(kRun, "", "", static_cast<int>(names.size()));
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->items.size(), names.size());
  EXPECT_TRUE(exact->next_cursor.empty());
}

// Pages whose names have many versions, committed interleaved: every name
// once, at its latest version, whatever page boundary falls between them.
TEST_P(MetadataStoreConformance, ListFilesPagesNamesWithManyVersions) {
  MustCreate(kRun);
  const std::vector<std::string> names = {"s/0", "s/1", "s/2", "s/3", "s/4", "t/0", "t/1"};
  for (int v = 1; v <= 3; ++v) {
    for (const auto& n : names) {
      if (n == "s/2" && v == 3) continue;  // s/2 stops at version 2
      ASSERT_TRUE(store_->CommitVersion(kRun, n, kSha, static_cast<std::uint64_t>(v)).ok());
    }
  }
  for (int limit : {1, 2, 3, 7}) {
    std::vector<std::string> seen;
    std::string cursor;
    do {
      auto page = store_->ListFiles(kRun, "", cursor, limit);
      ASSERT_TRUE(page.ok()) << page.status();
      ASSERT_LE(page->items.size(), static_cast<std::size_t>(limit));
      for (const auto& f : page->items) {
        seen.push_back(f.name);
        const std::int64_t latest = f.name == "s/2" ? 2 : 3;
        EXPECT_EQ(f.version, latest) << f.name << " limit " << limit;
        EXPECT_EQ(f.size, static_cast<std::uint64_t>(latest)) << f.name;
      }
      cursor = page->next_cursor;
    } while (!cursor.empty());
    EXPECT_EQ(seen, names) << "limit " << limit;
  }
  auto s = store_->ListFiles(kRun, "s/", "s/1", 2);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->items.size(), 2u);
  EXPECT_EQ(s->items[0].name, "s/2");
  EXPECT_EQ(s->items[0].version, 2);
  EXPECT_EQ(s->items[1].name, "s/3");
  EXPECT_EQ(s->next_cursor, "s/3");
  auto last = store_->ListFiles(kRun, "s/", "s/3", 2);
  ASSERT_TRUE(last.ok()) << last.status();
  ASSERT_EQ(last->items.size(), 1u);
  EXPECT_EQ(last->items[0].name, "s/4");
  EXPECT_TRUE(last->next_cursor.empty());
}

TEST_P(MetadataStoreConformance, ListRunsPaginatesStably) {
  for (int i = 0; i < 7; ++i) MustCreate({"alice", "mnist", "run" + std::to_string(i)});
  MustCreate({"alice", "other", "x"});
  std::vector<std::string> seen;
  std::string cursor;
  do {
    auto page = store_->ListRuns("alice", "mnist", cursor, 3);
    ASSERT_TRUE(page.ok()) << page.status();
    EXPECT_LE(page->items.size(), 3u);
    for (const auto& r : page->items) seen.push_back(r.run_id);
    cursor = page->next_cursor;
  } while (!cursor.empty());
  ASSERT_EQ(seen.size(), 7u);
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), 7u);

  auto bad = store_->ListRuns("alice", "mnist", "garbage", 3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST_P(MetadataStoreConformance, DeleteOneVersionAllVersionsAndARunAreSeenByOtherReplicas) {
  MustCreate(kRun);
  const std::string other(64, 'b');
  ASSERT_TRUE(store_->CommitVersion(kRun, "m.pt", kSha, 10).ok());
  ASSERT_TRUE(store_->CommitVersion(kRun, "m.pt", other, 20).ok());
  ASSERT_TRUE(store_->CommitVersion(kRun, "m.pt", kSha, 10).ok());
  ASSERT_TRUE(store_->CommitVersion(kRun, "keep.txt", other, 20).ok());
  std::unique_ptr<MetadataStore> replica = OpenAnother();
  ASSERT_NE(replica, nullptr);

  // One version: the others stay, the latest is still v3.
  auto v2 = store_->DeleteFile(kRun, "m.pt", 2);
  ASSERT_TRUE(v2.ok()) << v2.status();
  ASSERT_EQ(v2->size(), 1u);
  EXPECT_EQ((*v2)[0].version, 2);
  EXPECT_EQ((*v2)[0].sha256, other);
  auto gone = replica->GetFile(kRun, "m.pt", 2);
  ASSERT_TRUE(gone.ok()) << gone.status();
  EXPECT_FALSE(gone->has_value());
  auto versions = replica->ListVersions(kRun, "m.pt");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].version, 1);
  EXPECT_EQ((*versions)[1].version, 3);
  // Deleting it again changes nothing and says so.
  auto again = store_->DeleteFile(kRun, "m.pt", 2);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty());

  // Every version of a file: gone from listings; the other file stays.
  auto all = replica->DeleteFile(kRun, "m.pt", std::nullopt);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].version, 1);
  EXPECT_EQ((*all)[1].version, 3);
  auto latest = store_->GetFile(kRun, "m.pt", std::nullopt);
  ASSERT_TRUE(latest.ok());
  EXPECT_FALSE(latest->has_value());
  auto files = store_->ListFiles(kRun, "", "", 100);
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->items.size(), 1u);
  EXPECT_EQ(files->items[0].name, "keep.txt");
  // kSha is no longer referenced by any version; `other` still is.
  auto refs = store_->ListBlobReferences();
  ASSERT_TRUE(refs.ok());
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].sha256, other);
  auto entity_blob = store_->FindEntityBlob("alice", kSha);
  ASSERT_TRUE(entity_blob.ok());
  EXPECT_FALSE(entity_blob->has_value());

  // A run: gone with its versions, then creatable anew (empty).
  auto n = store_->DeleteRun(kRun);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1);
  auto run = replica->GetRun(kRun);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(MissingRunPathPart(run.status()), RunPathPart::kRun);
  auto no_file = replica->GetFile(kRun, "keep.txt", std::nullopt);
  ASSERT_FALSE(no_file.ok());
  EXPECT_EQ(MissingRunPathPart(no_file.status()), RunPathPart::kRun);
  auto no_run = store_->DeleteRun(kRun);
  ASSERT_FALSE(no_run.ok());
  EXPECT_EQ(MissingRunPathPart(no_run.status()), RunPathPart::kRun);
  auto no_run_file = store_->DeleteFile(kRun, "keep.txt", std::nullopt);
  EXPECT_EQ(MissingRunPathPart(no_run_file.status()), RunPathPart::kRun);
  refs = store_->ListBlobReferences();
  ASSERT_TRUE(refs.ok());
  EXPECT_TRUE(refs->empty());
  MustCreate(kRun);
  auto fresh = store_->ListFiles(kRun, "", "", 100);
  ASSERT_TRUE(fresh.ok());
  EXPECT_TRUE(fresh->items.empty());
}

TEST_P(MetadataStoreConformance, RunConfigMergesAcrossReplicasAndStateIsKept) {
  const RunRecord fresh = MustCreate(kRun);
  EXPECT_EQ(fresh.config, "{}");
  EXPECT_EQ(fresh.state, "finished");
  EXPECT_EQ(fresh.heartbeat_ms, 0);

  auto running = store_->UpdateRun(kRun, {.config_patch = R"({"batch_size":32,"lr":0.1})", .state = "running"});
  ASSERT_TRUE(running.ok()) << running.status();
  EXPECT_EQ(running->state, "running");
  EXPECT_GT(running->heartbeat_ms, 0);
  // A resume elsewhere replaces the keys it names and keeps the others.
  std::unique_ptr<MetadataStore> other = OpenAnother();
  ASSERT_NE(other, nullptr);
  auto merged = other->UpdateRun(kRun, {.config_patch = R"({"lr":0.01,"opt":{"name":"adam"}})"});
  ASSERT_TRUE(merged.ok()) << merged.status();
  EXPECT_EQ(merged->config, R"({"batch_size":32,"lr":0.01,"opt":{"name":"adam"}})");
  EXPECT_EQ(merged->state, "running");  // untouched

  ASSERT_TRUE(store_->UpdateRun(kRun, {.state = "finished"}).ok());
  auto got = store_->GetRun(kRun);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->config, merged->config);
  EXPECT_EQ(got->state, "finished");
  EXPECT_EQ(got->heartbeat_ms, running->heartbeat_ms);
  auto listed = store_->ListRuns("alice", "mnist", "", 10);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->items.size(), 1u);
  EXPECT_EQ(listed->items[0].config, merged->config);
  EXPECT_EQ(listed->items[0].state, "finished");

  auto bad_state = store_->UpdateRun(kRun, {.state = "crashed"});
  EXPECT_EQ(bad_state.status().code(), StatusCode::kInvalidArgument);
  auto too_big = store_->UpdateRun(kRun, {.config_patch = R"({"blob":")" + std::string(70000, 'x') + "\"}"});
  ASSERT_EQ(too_big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_big.status().message().find("65536"), std::string::npos) << too_big.status();
  auto missing = store_->UpdateRun({"alice", "mnist", "nope"}, {.state = "running"});
  EXPECT_EQ(MissingRunPathPart(missing.status()), RunPathPart::kRun) << missing.status();
}

TEST_P(MetadataStoreConformance, ListProjectsOfAnEntityByName) {
  MustCreate({"alice", "zeta", "r1"});
  MustCreate({"alice", "alpha", "r1"});
  MustCreate({"alice", "alpha", "r2"});
  MustCreate({"bob", "beta", "r1"});
  auto projects = store_->ListProjects("alice");
  ASSERT_TRUE(projects.ok()) << projects.status();
  ASSERT_EQ(projects->size(), 2u);
  EXPECT_EQ((*projects)[0].name, "alpha");
  EXPECT_EQ((*projects)[1].name, "zeta");
  EXPECT_GT((*projects)[0].created_ms, 0);
  auto nobody = store_->ListProjects("carol");
  EXPECT_EQ(MissingRunPathPart(nobody.status()), RunPathPart::kEntity) << nobody.status();
}

INSTANTIATE_TEST_SUITE_P(Backends, MetadataStoreConformance, ::testing::Values("Sqlite", "Postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace cairn::internal
