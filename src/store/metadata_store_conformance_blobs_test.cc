// MetadataStore conformance (see metadata_store_conformance_test.cc): blobs, quotas
// and keys (the web UI's reads: metadata_store_web_conformance_test.cc).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/metadata_store_conformance.h"

namespace cairn::internal {
namespace {

TEST_P(MetadataStoreConformance, FindEntityBlobStaysWithinTheEntity) {
  MustCreate(kRun);
  MustCreate({"bob", "mnist", "r1"});
  ASSERT_TRUE(store_->CommitVersion(kRun, "model.pt", kSha, 42).ok());
  auto mine = store_->FindEntityBlob("alice", kSha);
  ASSERT_TRUE(mine.ok()) << mine.status();
  EXPECT_EQ(*mine, std::optional<std::uint64_t>(42));
  auto theirs = store_->FindEntityBlob("bob", kSha);
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  EXPECT_FALSE(theirs->has_value());
  auto unknown = store_->FindEntityBlob("alice", std::string(64, 'b'));
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(unknown->has_value());
}

TEST_P(MetadataStoreConformance, QuotasAndUsedBytesCountEachBlobOncePerEntity) {
  auto none = store_->GetQuota("alice");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(store_->SetQuota("alice", 1000).ok());  // before the entity exists
  ASSERT_TRUE(store_->SetQuota("alice", 5000).ok());  // replaced
  EXPECT_EQ(*store_->GetQuota("alice"), std::optional<std::uint64_t>(5000));
  EXPECT_EQ(*store_->EntityUsedBytes("alice"), 0u);

  MustCreate(kRun);
  MustCreate({"alice", "other", "r2"});
  MustCreate({"bob", "mnist", "r1"});
  const std::string other(64, 'b');
  ASSERT_TRUE(store_->CommitVersion(kRun, "a.bin", kSha, 100).ok());
  ASSERT_TRUE(store_->CommitVersion(kRun, "a.bin", kSha, 100).ok());                  // same blob again
  ASSERT_TRUE(store_->CommitVersion({"alice", "other", "r2"}, "b", kSha, 100).ok());  // and in another project
  ASSERT_TRUE(store_->CommitVersion(kRun, "c.bin", other, 7).ok());
  ASSERT_TRUE(store_->CommitVersion({"bob", "mnist", "r1"}, "x", kSha, 100).ok());
  EXPECT_EQ(*store_->EntityUsedBytes("alice"), 107u);
  EXPECT_EQ(*store_->EntityUsedBytes("bob"), 100u);
  EXPECT_EQ(*store_->EntityUsedBytes("nobody"), 0u);

  ASSERT_TRUE(store_->SetQuota("alice", std::nullopt).ok());
  EXPECT_FALSE(store_->GetQuota("alice")->has_value());
  ASSERT_TRUE(store_->SetQuota("alice", std::nullopt).ok());  // idempotent
}

TEST_P(MetadataStoreConformance, BlobReferencesAreOnePerDigestWithACountAndAnExample) {
  MustCreate(kRun);
  MustCreate(RunKey{"bob", "p", "r2"});
  const std::string other(64, 'b');
  ASSERT_TRUE(store_->CommitVersion(kRun, "a.bin", kSha, 10).ok());
  ASSERT_TRUE(store_->CommitVersion(kRun, "a.bin", other, 20).ok());
  ASSERT_TRUE(store_->CommitVersion(RunKey{"bob", "p", "r2"}, "c.bin", kSha, 10).ok());
  auto refs = store_->ListBlobReferences();
  ASSERT_TRUE(refs.ok()) << refs.status();
  std::sort(refs->begin(), refs->end(), [](const auto& x, const auto& y) { return x.sha256 < y.sha256; });
  ASSERT_EQ(refs->size(), 2u);
  EXPECT_EQ((*refs)[0].sha256, kSha);
  EXPECT_EQ((*refs)[0].size, 10u);
  EXPECT_EQ((*refs)[0].versions, 2);
  EXPECT_EQ((*refs)[0].example, "alice/mnist/r1:a.bin v1");
  EXPECT_EQ((*refs)[1].sha256, other);
  EXPECT_EQ((*refs)[1].example, "alice/mnist/r1:a.bin v2");
}

TEST_P(MetadataStoreConformance, Keys) {
  KeyRecord key{.key_hash = std::string(64, 'k'), .entity = "alice", .admin = false, .read_only = true};
  ASSERT_TRUE(store_->PutKey(key).ok());
  EXPECT_EQ(store_->PutKey(key).code(), StatusCode::kAlreadyExists);
  auto found = store_->FindKey(key.key_hash);
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->entity, "alice");
  EXPECT_TRUE((*found)->read_only);
  EXPECT_FALSE((*found)->admin);
  EXPECT_GT((*found)->created_ms, 0);
  auto missing = store_->FindKey(std::string(64, 'x'));
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST_P(MetadataStoreConformance, BlobMd5IsRecordedOnceAndSeenByOtherReplicas) {
  const std::string sha(64, 'a');
  auto none = store_->GetBlobMd5(sha);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE(store_->PutBlobMd5(sha, "1B2M2Y8AsgTpgAmY7PhCfg==").ok());
  // A second writer (another replica that computed it too) changes nothing.
  auto other = OpenAnother();
  ASSERT_NE(other, nullptr);
  ASSERT_TRUE(other->PutBlobMd5(sha, "1B2M2Y8AsgTpgAmY7PhCfg==").ok());
  auto found = other->GetBlobMd5(sha);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ(**found, "1B2M2Y8AsgTpgAmY7PhCfg==");
  auto unrelated = store_->GetBlobMd5(std::string(64, 'b'));
  ASSERT_TRUE(unrelated.ok());
  EXPECT_FALSE(unrelated->has_value());
}

}  // namespace
}  // namespace cairn::internal
