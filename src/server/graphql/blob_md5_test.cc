// MD5 of stored blobs over a real SQLite + local-disk store: on demand, in the
// background, and refused for damaged bytes.
#include "server/graphql/blob_md5.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "common/sha256.h"
#include "store/store.h"

namespace cairn::internal::graphql {
namespace {

class BlobMd5Test : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cairn-md5-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto store = OpenStore({.data_dir = dir_});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Put(const std::string& bytes) {
    auto writer = store_.blobs->NewWriter();
    EXPECT_TRUE(writer.ok());
    EXPECT_TRUE((*writer)->Append(bytes.data(), bytes.size()).ok());
    std::string sha = Sha256Hex(bytes);
    EXPECT_TRUE((*writer)->Commit(sha, bytes.size()).ok());
    return sha;
  }
  std::filesystem::path BlobFile(const std::string& sha) {
    return dir_ / "blobs" / sha.substr(0, 2) / sha.substr(2, 2) / sha;
  }

  std::filesystem::path dir_;
  Store store_;
};

TEST_F(BlobMd5Test, ComputedOnceThenRead) {
  const std::string sha = Put("");
  auto md5 = BlobMd5Base64(*store_.metadata, *store_.blobs, sha, 0);
  ASSERT_TRUE(md5.ok()) << md5.status();
  EXPECT_EQ(*md5, "1B2M2Y8AsgTpgAmY7PhCfg==");  // MD5 of nothing
  // Recorded: later answers come from the store, even with the blob gone.
  std::filesystem::remove(BlobFile(sha));
  auto again = BlobMd5Base64(*store_.metadata, *store_.blobs, sha, 0);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *md5);
}

TEST_F(BlobMd5Test, DamagedBytesGetNoMd5) {
  const std::string sha = Put("The quick brown fox jumps over the lazy dog");
  {
    std::fstream f(BlobFile(sha), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4);
    f.put('Q');
  }
  auto md5 = BlobMd5Base64(*store_.metadata, *store_.blobs, sha, 43);
  EXPECT_EQ(md5.status().code(), StatusCode::kDataLoss) << md5.status();
  EXPECT_NE(md5.status().message().find("do not match their SHA-256"), std::string::npos);
  auto recorded = store_.metadata->GetBlobMd5(sha);
  ASSERT_TRUE(recorded.ok());
  EXPECT_FALSE(recorded->has_value());
  // A missing blob is an error too, never a digest.
  EXPECT_FALSE(BlobMd5Base64(*store_.metadata, *store_.blobs, std::string(64, 'f'), 1).ok());
}

TEST_F(BlobMd5Test, IndexerRecordsCommittedBlobsInTheBackground) {
  const std::string a = Put("The quick brown fox jumps over the lazy dog");
  const std::string b = Put(std::string(3 << 20, 'x'));
  Md5Indexer indexer(store_.metadata.get(), store_.blobs.get());
  indexer.Enqueue(a, 43);
  indexer.Enqueue(b, 3 << 20);
  indexer.WaitIdle();
  auto md5a = store_.metadata->GetBlobMd5(a);
  ASSERT_TRUE(md5a.ok());
  ASSERT_TRUE(md5a->has_value());
  EXPECT_EQ(**md5a, "nhB9nTcrtoJr2B01QqQZ1g==");
  auto md5b = store_.metadata->GetBlobMd5(b);
  ASSERT_TRUE(md5b.ok() && md5b->has_value());
}

// The indexer hears of uploads as an observer of committed uploads; a commit
// by reference brings no new bytes and is skipped.
TEST_F(BlobMd5Test, IndexerObservesCommittedUploads) {
  const std::string a = Put("The quick brown fox jumps over the lazy dog");
  const std::string b = Put("bytes committed by reference");
  Md5Indexer indexer(store_.metadata.get(), store_.blobs.get());
  UploadEvents events;
  events.Subscribe(&indexer);
  events.Committed({.run = {"e", "p", "r"}, .name = "a", .sha256 = a, .size = 43, .version = 1});
  events.Committed({.run = {"e", "p", "r"}, .name = "b", .sha256 = b, .size = 28, .version = 1, .by_reference = true});
  indexer.WaitIdle();
  auto md5a = store_.metadata->GetBlobMd5(a);
  ASSERT_TRUE(md5a.ok() && md5a->has_value());
  EXPECT_EQ(**md5a, "nhB9nTcrtoJr2B01QqQZ1g==");
  auto md5b = store_.metadata->GetBlobMd5(b);
  ASSERT_TRUE(md5b.ok());
  EXPECT_FALSE(md5b->has_value());
}

TEST_F(BlobMd5Test, IndexerStopsPromptlyWithWorkQueued) {
  const std::string big = Put(std::string(64 << 20, 'y'));
  const auto start = std::chrono::steady_clock::now();
  {
    Md5Indexer indexer(store_.metadata.get(), store_.blobs.get());
    for (int i = 0; i < 100; ++i) indexer.Enqueue(big, 64 << 20);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace cairn::internal::graphql
