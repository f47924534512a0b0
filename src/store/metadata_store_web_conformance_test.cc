// MetadataStore conformance for the web UI (docs/adr/0023-web-ui.md): run
// and file summaries, sessions and their sweep, and who saved each version.
// Same fixture and backends as metadata_store_conformance_test.cc (which
// instantiates the suite for both).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/fs.h"
#include "store/metadata_store_conformance.h"

namespace cairn::internal {
namespace {


TEST_P(MetadataStoreConformance, VersionsRecordWhoSavedThem) {
  MustCreate(kRun);
  auto one = store_->CommitVersion(kRun, "m.pt", kSha, 1, "user:alice");
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_EQ(one->created_by, "user:alice");
  auto batch = store_->CommitVersions(kRun, {{"m.pt", kSha, 2, "sa:team/ci"}, {"n.pt", kSha, 3, ""}});
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ((*batch)[0].created_by, "sa:team/ci");
  EXPECT_EQ((*batch)[0].version, 2);
  auto unknown = store_->CommitVersion(kRun, "m.pt", kSha, 4);  // no saver given: unknown
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->version, 3);
  // Every read shows it, on another replica too.
  auto other = OpenAnother();
  ASSERT_NE(other, nullptr);
  auto versions = other->ListVersions(kRun, "m.pt");
  ASSERT_TRUE(versions.ok());
  ASSERT_EQ(versions->size(), 3u);
  EXPECT_EQ((*versions)[0].created_by, "user:alice");
  EXPECT_EQ((*versions)[1].created_by, "sa:team/ci");
  EXPECT_EQ((*versions)[2].created_by, "");
  auto first = other->GetFile(kRun, "m.pt", 1);
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ((*first)->created_by, "user:alice");
  auto files = other->ListFiles(kRun, "", "", 10);
  ASSERT_TRUE(files.ok());
  ASSERT_EQ(files->items.size(), 2u);
  EXPECT_EQ(files->items[0].created_by, "");  // m.pt v3
  EXPECT_EQ(files->items[1].created_by, "");  // n.pt
}

TEST_P(MetadataStoreConformance, ExpiredSessionsAreDeletedAndReturnedOnce) {
  const long long now = NowMs();
  ASSERT_TRUE(store_->PutSession({std::string(64, '1'), "key:a", now - 10, now - 1}).ok());
  ASSERT_TRUE(store_->PutSession({std::string(64, '2'), "userkey:b", now - 10, now}).ok());
  ASSERT_TRUE(store_->PutSession({std::string(64, '3'), "key:c", now, now + 60000}).ok());
  auto other = OpenAnother();
  ASSERT_NE(other, nullptr);
  auto swept = other->DeleteExpiredSessions(now);
  ASSERT_TRUE(swept.ok()) << swept.status();
  std::vector<std::string> subjects;
  for (const SessionRecord& r : *swept) subjects.push_back(r.subject);
  std::sort(subjects.begin(), subjects.end());
  EXPECT_EQ(subjects, (std::vector<std::string>{"key:a", "userkey:b"}));
  auto again = store_->DeleteExpiredSessions(now);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty()) << "a second sweep (another replica) finds nothing";
  auto live = store_->FindSession(std::string(64, '3'), now);
  ASSERT_TRUE(live.ok());
  EXPECT_TRUE(live->has_value());
  auto gone = store_->FindSession(std::string(64, '1'), 0);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
}

TEST_P(MetadataStoreConformance, WebSummariesOfRunsAndFiles) {
  const RunKey a{"alice", "mnist", "run-a"};
  const RunKey b{"alice", "mnist", "run-b"};
  MustCreate(a);
  MustCreate(b);
  MustCreate({"alice", "mnist", "other"});
  ASSERT_TRUE(store_->CommitVersion(b, "x.pt", std::string(64, '1'), 10).ok());
  ASSERT_TRUE(store_->CommitVersion(b, "x.pt", std::string(64, '2'), 30).ok());
  ASSERT_TRUE(store_->CommitVersion(b, "d/y.txt", std::string(64, '3'), 5).ok());
  auto first = store_->SummarizeRuns("alice", "mnist", "run-", "", 1);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->items.size(), 1u);
  EXPECT_EQ(first->items[0].run.run_id, "run-b");  // newest first (created later, or a later id)
  EXPECT_EQ(first->items[0].files, 2);
  EXPECT_EQ(first->items[0].bytes, 35u);  // latest versions only
  ASSERT_FALSE(first->next_cursor.empty());
  auto second = store_->SummarizeRuns("alice", "mnist", "run-", first->next_cursor, 1);
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->items.size(), 1u);
  EXPECT_EQ(second->items[0].run.run_id, "run-a");
  EXPECT_EQ(second->items[0].files, 0);
  EXPECT_TRUE(second->next_cursor.empty());
  auto all = store_->SummarizeRuns("alice", "mnist", "", "", 50);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->items.size(), 3u);
  EXPECT_EQ(MissingRunPathPart(store_->SummarizeRuns("alice", "nope", "", "", 5).status()), RunPathPart::kProject);
  EXPECT_EQ(store_->SummarizeRuns("alice", "mnist", "", "garbage", 5).status().code(), StatusCode::kInvalidArgument);

  auto files = store_->SummarizeFiles(b);
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].latest.name, "d/y.txt");
  EXPECT_EQ((*files)[0].versions, 1);
  EXPECT_EQ((*files)[1].latest.name, "x.pt");
  EXPECT_EQ((*files)[1].latest.version, 2);
  EXPECT_EQ((*files)[1].latest.size, 30u);
  EXPECT_EQ((*files)[1].versions, 2);
  EXPECT_EQ(MissingRunPathPart(store_->SummarizeFiles({"alice", "mnist", "nope"}).status()), RunPathPart::kRun);

  auto entities = store_->ListEntities();
  ASSERT_TRUE(entities.ok());
  EXPECT_EQ(*entities, std::vector<std::string>{"alice"});
}

TEST_P(MetadataStoreConformance, WebSessionsAcrossReplicasExpireAndEnd) {
  const long long now = 1'000'000;
  SessionRecord s{.token_hash = std::string(64, 's'), .subject = "key:abc", .created_ms = now, .expires_ms = now + 10};
  ASSERT_TRUE(store_->PutSession(s).ok());
  EXPECT_EQ(store_->PutSession(s).code(), StatusCode::kAlreadyExists);
  auto other = OpenAnother();
  ASSERT_NE(other, nullptr);
  auto found = other->FindSession(s.token_hash, now + 5);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->subject, "key:abc");
  auto expired = other->FindSession(s.token_hash, now + 10);
  ASSERT_TRUE(expired.ok());
  EXPECT_FALSE(expired->has_value());
  ASSERT_TRUE(other->DeleteSession(s.token_hash).ok());
  ASSERT_TRUE(other->DeleteSession(s.token_hash).ok());  // idempotent
  auto gone = store_->FindSession(s.token_hash, now + 5);
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
}

}  // namespace
}  // namespace cairn::internal
