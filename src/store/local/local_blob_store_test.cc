#include "store/local/local_blob_store.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "common/fs.h"
#include "common/sha256.h"
#include "store/metered_store.h"

namespace cairn::internal {
namespace {

class LocalBlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cairn-blob-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto store = LocalBlobStore::Open(dir_ / "blobs");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::size_t TmpFiles() const {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir_ / "blobs" / "tmp")) ++n;
    return n;
  }

  // Writes `data` in `chunk`-sized appends and commits it.
  Status Put(const std::string& data, const std::string& sha, std::uint64_t size, std::size_t chunk = 7) {
    auto w = store_->NewWriter();
    if (!w.ok()) return w.status();
    for (std::size_t off = 0; off < data.size(); off += chunk) {
      Status s = (*w)->Append(data.data() + off, std::min(chunk, data.size() - off));
      if (!s.ok()) return s;
    }
    return (*w)->Commit(sha, size);
  }

  std::string ReadAll(const std::string& sha, std::uint64_t offset, std::uint64_t length, std::size_t chunk = 5) {
    auto r = store_->Open(sha, offset, length);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    std::string out;
    char buf[64];
    for (;;) {
      auto n = (*r)->Read(buf, std::min(chunk, sizeof buf));
      EXPECT_TRUE(n.ok()) << n.status();
      if (!n.ok() || *n == 0) break;
      out.append(buf, *n);
    }
    return out;
  }

  std::filesystem::path dir_;
  std::unique_ptr<LocalBlobStore> store_;
};

const std::string kData = "the quick brown fox jumps over the lazy dog, again and again";

TEST_F(LocalBlobStoreTest, CommitPublishesUnderDigest) {
  const std::string sha = Sha256Hex(kData);
  ASSERT_TRUE(Put(kData, sha, kData.size()).ok());
  const auto path = dir_ / "blobs" / sha.substr(0, 2) / sha.substr(2, 2) / sha;
  EXPECT_EQ(store_->BlobPath(sha), path);
  EXPECT_TRUE(std::filesystem::exists(path));
  auto size = store_->Stat(sha);
  ASSERT_TRUE(size.ok());
  ASSERT_TRUE(size->has_value());
  EXPECT_EQ(**size, kData.size());
  EXPECT_EQ(TmpFiles(), 0u);
  EXPECT_EQ(ReadAll(sha, 0, kData.size()), kData);
}

TEST_F(LocalBlobStoreTest, EmptyBlob) {
  const std::string sha = Sha256Hex("");
  ASSERT_TRUE(Put("", sha, 0).ok());
  EXPECT_EQ(ReadAll(sha, 0, 0), "");
}

TEST_F(LocalBlobStoreTest, DigestOrSizeMismatchStoresNothing) {
  const std::string sha = Sha256Hex(kData);
  const std::string wrong = Sha256Hex("something else");
  Status s = Put(kData, wrong, kData.size());
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find(sha), std::string::npos) << s;
  EXPECT_NE(s.message().find(wrong), std::string::npos) << s;
  s = Put(kData, sha, kData.size() + 1);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_FALSE(store_->Stat(sha)->has_value());
  EXPECT_FALSE(store_->Stat(wrong)->has_value());
  EXPECT_EQ(TmpFiles(), 0u);
}

TEST_F(LocalBlobStoreTest, CancelAndDestructorDiscard) {
  {
    auto w = store_->NewWriter();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(kData.data(), kData.size()).ok());
    EXPECT_EQ((*w)->size(), kData.size());
    EXPECT_EQ(TmpFiles(), 1u);
    (*w)->Cancel();
    EXPECT_EQ(TmpFiles(), 0u);
    EXPECT_FALSE((*w)->Commit(Sha256Hex(kData), kData.size()).ok());
  }
  {
    auto w = store_->NewWriter();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(kData.data(), kData.size()).ok());
  }  // destroyed without Commit
  EXPECT_EQ(TmpFiles(), 0u);
  EXPECT_FALSE(store_->Stat(Sha256Hex(kData))->has_value());
}

TEST_F(LocalBlobStoreTest, DuplicateCommitKeepsExistingBlob) {
  const std::string sha = Sha256Hex(kData);
  ASSERT_TRUE(Put(kData, sha, kData.size()).ok());
  struct stat before;
  ASSERT_EQ(::stat(store_->BlobPath(sha).c_str(), &before), 0);
  ASSERT_TRUE(Put(kData, sha, kData.size(), 3).ok());
  struct stat after;
  ASSERT_EQ(::stat(store_->BlobPath(sha).c_str(), &after), 0);
  EXPECT_EQ(before.st_ino, after.st_ino);
  EXPECT_EQ(TmpFiles(), 0u);
}

TEST_F(LocalBlobStoreTest, RangeReads) {
  const std::string sha = Sha256Hex(kData);
  ASSERT_TRUE(Put(kData, sha, kData.size()).ok());
  EXPECT_EQ(ReadAll(sha, 4, 5), "quick");
  EXPECT_EQ(ReadAll(sha, kData.size() - 3, 3), "ain");
  EXPECT_EQ(ReadAll(sha, kData.size(), 0), "");
  EXPECT_EQ(ReadAll(sha, 10, 20, 1), kData.substr(10, 20));
  auto beyond = store_->Open(sha, 5, kData.size());
  ASSERT_FALSE(beyond.ok());
  EXPECT_EQ(beyond.status().code(), StatusCode::kInvalidArgument);
  auto absent = store_->Open(Sha256Hex("absent"), 0, 0);
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.status().code(), StatusCode::kNotFound);
}

TEST_F(LocalBlobStoreTest, OpenClearsLeftoverTempFiles) {
  std::ofstream(dir_ / "blobs" / "tmp" / "upload-stale") << "partial";
  auto w = store_->NewWriter();  // an upload in progress is also a leftover for the next open
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(TmpFiles(), 2u);
  auto reopened = LocalBlobStore::Open(dir_ / "blobs");
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ(TmpFiles(), 0u);
}

TEST_F(LocalBlobStoreTest, OpenBesideAServerLeavesUploadsInProgressAlone) {
  auto w = store_->NewWriter();
  ASSERT_TRUE(w.ok());
  auto tool = LocalBlobStore::Open(dir_ / "blobs", {.clear_uploads = false});
  ASSERT_TRUE(tool.ok());
  EXPECT_EQ(TmpFiles(), 1u);
}

TEST_F(LocalBlobStoreTest, ListBlobsSkipsUploadsAndStrayFiles) {
  const std::string sha = Sha256Hex(kData);
  ASSERT_TRUE(Put(kData, sha, kData.size()).ok());
  auto upload = store_->NewWriter();  // in tmp/: not a blob
  ASSERT_TRUE(upload.ok());
  std::ofstream(store_->BlobPath(sha).parent_path() / "notes.txt") << "not a blob";
  std::vector<BlobInfo> seen;
  ASSERT_TRUE(store_->ListBlobs([&](const BlobInfo& b) {
                      seen.push_back(b);
                      return OkStatus();
                    }).ok());
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].sha256, sha);
  EXPECT_EQ(seen[0].size, kData.size());
  EXPECT_NEAR(static_cast<double>(seen[0].modified_ms), static_cast<double>(NowMs()), 60000.0);
}

TEST_F(LocalBlobStoreTest, RemoveBlobKeepsBlobsRecommittedSinceTheCutoff) {
  const std::string sha = Sha256Hex(kData);
  ASSERT_TRUE(Put(kData, sha, kData.size()).ok());
  const long long now = NowMs();
  // Written just now: a cutoff in the past keeps it.
  auto kept = store_->RemoveBlob(sha, now - 60000);
  ASSERT_TRUE(kept.ok());
  EXPECT_FALSE(*kept);
  // Make it old; a re-commit of the same bytes makes it young again.
  struct timespec old[2] = {{now / 1000 - 7200, 0}, {now / 1000 - 7200, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, store_->BlobPath(sha).c_str(), old, 0), 0);
  ASSERT_TRUE(Put(kData, sha, kData.size()).ok());
  kept = store_->RemoveBlob(sha, now - 60000);
  ASSERT_TRUE(kept.ok());
  EXPECT_FALSE(*kept);
  EXPECT_TRUE(std::filesystem::exists(store_->BlobPath(sha)));
  // Old and untouched: removed, and nothing is left parked in tmp/.
  ASSERT_EQ(::utimensat(AT_FDCWD, store_->BlobPath(sha).c_str(), old, 0), 0);
  auto removed = store_->RemoveBlob(sha, now - 60000);
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(*removed);
  EXPECT_FALSE(std::filesystem::exists(store_->BlobPath(sha)));
  EXPECT_EQ(TmpFiles(), 0u);
  auto again = store_->RemoveBlob(sha, now);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
  // A commit after the removal publishes its own copy.
  ASSERT_TRUE(Put(kData, sha, kData.size()).ok());
  EXPECT_EQ(ReadAll(sha, 0, kData.size()), kData);
}

TEST_F(LocalBlobStoreTest, RejectsNonDigestKeys) {
  EXPECT_EQ(store_->Stat("../../etc/passwd").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Open("ABC", 0, 0).status().code(), StatusCode::kInvalidArgument);
  auto w = store_->NewWriter();
  ASSERT_TRUE(w.ok());
  EXPECT_EQ((*w)->Commit("not-a-digest", 0).code(), StatusCode::kInvalidArgument);
}

TEST_F(LocalBlobStoreTest, AdoptMovesAVerifiedFileInPlaceAndRefusesAWrongOne) {
  const std::filesystem::path file = dir_ / "assembled";
  std::ofstream(file) << "assembled bytes";
  const std::string sha = Sha256Hex("assembled bytes");
  EXPECT_EQ(store_->Adopt(file, Sha256Hex("other"), 15).code(), StatusCode::kDataLoss);
  EXPECT_EQ(store_->Adopt(file, sha, 14).code(), StatusCode::kDataLoss);
  EXPECT_TRUE(std::filesystem::exists(file)) << "a refused file stays where it was";
  ASSERT_TRUE(store_->Adopt(file, sha, 15).ok());
  EXPECT_FALSE(std::filesystem::exists(file));
  EXPECT_EQ(ReadAll(sha, 0, 15), "assembled bytes");
}

}  // namespace
}  // namespace cairn::internal

namespace cairn::internal {
namespace {

// A BlobGroup (batch saves): committed blobs stay invisible until Sync(),
// then all are there; a group dropped before Sync() leaves nothing behind.
TEST_F(LocalBlobStoreTest, GroupPublishesItsBlobsOnlyAtSync) {
  const std::string a = "group blob a", b = "group blob b";
  {
    std::unique_ptr<BlobGroup> dropped = store_->NewGroup();
    auto w = dropped->NewWriter();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(a.data(), a.size()).ok());
    ASSERT_TRUE((*w)->Commit(Sha256Hex(a), a.size()).ok());
  }
  EXPECT_FALSE(store_->Stat(Sha256Hex(a))->has_value());
  EXPECT_EQ(TmpFiles(), 0u);

  std::unique_ptr<BlobGroup> group = store_->NewGroup();
  for (const std::string* s : {&a, &b}) {
    auto w = group->NewWriter();
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->Append(s->data(), s->size()).ok());
    ASSERT_TRUE((*w)->Commit(Sha256Hex(*s), s->size()).ok());
  }
  auto bad = group->NewWriter();
  ASSERT_TRUE(bad.ok());
  ASSERT_TRUE((*bad)->Append("x", 1).ok());
  EXPECT_EQ((*bad)->Commit(Sha256Hex("y"), 1).code(), StatusCode::kDataLoss);
  EXPECT_FALSE(store_->Stat(Sha256Hex(a))->has_value());
  ASSERT_TRUE(group->Sync().ok());
  EXPECT_EQ(store_->Stat(Sha256Hex(a))->value_or(0), a.size());
  EXPECT_EQ(store_->Stat(Sha256Hex(b))->value_or(0), b.size());
  EXPECT_FALSE(store_->Stat(Sha256Hex("x"))->has_value());
  EXPECT_TRUE(group->Sync().ok());  // nothing left to do
  EXPECT_EQ(TmpFiles(), 0u);
}

// Counts the decorator's samples by operation.
class CountingObserver final : public StoreObserver {
 public:
  void ObserveStoreCall(std::string_view /*store*/, std::string_view operation, double /*seconds*/,
                        const Status& /*status*/) override {
    ++calls[std::string(operation)];
  }
  std::map<std::string, int> calls;
};

// The server wraps its blob store in MeteredBlobStore (metrics on, the
// default): the batch route must still find groups through it, or every
// file of a batch is fsynced on its own.
TEST_F(LocalBlobStoreTest, MeteredStoreKeepsGroupsAndTimesThem) {
  CountingObserver observer;
  MeteredBlobStore metered(store_.get(), &observer);
  BlobStore* blobs = &metered;
  auto* grouped = dynamic_cast<GroupedBlobWriting*>(blobs);
  ASSERT_NE(grouped, nullptr);
  std::unique_ptr<BlobGroup> group = grouped->NewGroup();
  ASSERT_NE(group, nullptr);
  const std::string a = "metered group blob";
  auto w = group->NewWriter();
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append(a.data(), a.size()).ok());
  ASSERT_TRUE((*w)->Commit(Sha256Hex(a), a.size()).ok());
  EXPECT_FALSE(store_->Stat(Sha256Hex(a))->has_value());  // a group's blob waits for Sync()
  ASSERT_TRUE(group->Sync().ok());
  EXPECT_EQ(store_->Stat(Sha256Hex(a))->value_or(0), a.size());
  EXPECT_EQ(observer.calls["new_writer"], 1);
  EXPECT_EQ(observer.calls["writer_commit"], 1);
  EXPECT_EQ(observer.calls["group_sync"], 1);

  // Decorators stack: groups still pass through two of them.
  MeteredBlobStore twice(&metered, &observer);
  EXPECT_NE(twice.NewGroup(), nullptr);
}

}  // namespace
}  // namespace cairn::internal
