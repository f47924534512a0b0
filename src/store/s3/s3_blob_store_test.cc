// S3BlobStore against a real radosgw (the `backends` CTest fixture), each
// test under its own key prefix.
#include "store/s3/s3_blob_store.h"

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "common/fs.h"
#include "common/sha256.h"
#include "testing/backends.h"

namespace cairn::internal {
namespace {

std::string RandomBytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// GET without any credentials (for presigned URLs).
std::pair<long, std::string> PlainGet(const std::string& url) {
  CURL* h = curl_easy_init();
  std::string body;
  curl_easy_setopt(h, CURLOPT_URL, url.c_str());
  curl_easy_setopt(
      h, CURLOPT_WRITEFUNCTION, +[](char* d, std::size_t s, std::size_t n, void* u) {
        static_cast<std::string*>(u)->append(d, s * n);
        return s * n;
      });
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  long code = 0;
  if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  curl_easy_cleanup(h);
  return {code, body};
}

class S3BlobStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string reason = testing::BackendsSkipReason();
    if (!reason.empty()) GTEST_SKIP() << reason;
    std::string tmpl = (std::filesystem::temp_directory_path() / "cairn-s3-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    url_ = testing::NewTestBlobsUrl(*testing::TestBlobsUrl());
    store_ = OpenStore({.staging_dir = dir_ / "staging"});
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<S3BlobStore> OpenStore(const S3BlobStoreOptions& options) {
    auto s = S3BlobStore::Open(url_, options);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  static Status Put(BlobStore& store, const std::string& data, std::size_t chunk = 1 << 20) {
    auto w = store.NewWriter();
    if (!w.ok()) return w.status();
    for (std::size_t i = 0; i < data.size(); i += chunk) {
      if (Status s = (*w)->Append(data.data() + i, std::min(chunk, data.size() - i)); !s.ok()) return s;
    }
    return (*w)->Commit(Sha256Hex(data), data.size());
  }

  static std::string ReadAll(BlobStore& store, const std::string& sha, std::uint64_t offset, std::uint64_t length) {
    auto r = store.Open(sha, offset, length);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    std::string out;
    char buf[100000];
    for (;;) {
      auto n = (*r)->Read(buf, sizeof buf);
      EXPECT_TRUE(n.ok()) << n.status();
      if (!n.ok() || *n == 0) break;
      out.append(buf, *n);
    }
    return out;
  }

  std::filesystem::path dir_;
  std::string url_;
  std::unique_ptr<S3BlobStore> store_;
};

TEST_F(S3BlobStoreTest, PutStatReadRanges) {
  const std::string data = RandomBytes(300000, 1);
  const std::string sha = Sha256Hex(data);
  auto before = store_->Stat(sha);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_FALSE(before->has_value());
  ASSERT_TRUE(Put(*store_, data).ok());
  auto after = store_->Stat(sha);
  ASSERT_TRUE(after.ok() && after->has_value()) << after.status();
  EXPECT_EQ(**after, data.size());
  EXPECT_EQ(ReadAll(*store_, sha, 0, data.size()), data);
  EXPECT_EQ(ReadAll(*store_, sha, 1000, 5), data.substr(1000, 5));
  EXPECT_EQ(ReadAll(*store_, sha, data.size() - 1, 1), data.substr(data.size() - 1));
  EXPECT_EQ(ReadAll(*store_, sha, data.size(), 0), "");
  // Content-addressed: committing the same bytes again is fine.
  EXPECT_TRUE(Put(*store_, data).ok());
}

TEST_F(S3BlobStoreTest, EmptyBlob) {
  ASSERT_TRUE(Put(*store_, "").ok());
  EXPECT_EQ(ReadAll(*store_, Sha256Hex(""), 0, 0), "");
  auto st = store_->Stat(Sha256Hex(""));
  ASSERT_TRUE(st.ok() && st->has_value());
  EXPECT_EQ(**st, 0u);
}

TEST_F(S3BlobStoreTest, WrongDigestOrSizeStoresNothing) {
  const std::string data = "the bytes that arrived";
  auto w = store_->NewWriter();
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append(data.data(), data.size()).ok());
  Status s = (*w)->Commit(Sha256Hex("the bytes that were meant"), data.size());
  EXPECT_EQ(s.code(), StatusCode::kDataLoss) << s;
  auto st = store_->Stat(Sha256Hex(data));
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->has_value());
}

TEST_F(S3BlobStoreTest, StagingLeavesNoFiles) {
  auto w = store_->NewWriter();
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append("abc", 3).ok());
  // Staging files are unlinked at creation: a crash (kill -9) leaves nothing.
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "staging"));
  (*w)->Cancel();
  EXPECT_FALSE(store_->Stat(Sha256Hex("abc"))->has_value());
}

TEST_F(S3BlobStoreTest, MultipartUploadAndWindowedReads) {
  auto store = OpenStore({.staging_dir = dir_ / "staging2",
                          .multipart_threshold = 6u << 20,
                          .part_size = 5u << 20,
                          .read_window = 1u << 20});
  ASSERT_NE(store, nullptr);
  const std::string data = RandomBytes((12u << 20) + 3, 2);  // 3 parts: 5 + 5 + 2 MiB + 3 bytes
  const std::string sha = Sha256Hex(data);
  ASSERT_TRUE(Put(*store, data, 256 * 1024).ok());
  EXPECT_EQ(**store->Stat(sha), data.size());
  EXPECT_EQ(Sha256Hex(ReadAll(*store, sha, 0, data.size())), sha);
  const std::uint64_t off = (5u << 20) - 10;  // across a part and a window boundary
  EXPECT_EQ(ReadAll(*store, sha, off, 3u << 20), data.substr(off, 3u << 20));
  // No multipart upload is left open under this test's prefix (other tests
  // share the bucket and may be uploading in parts right now).
  auto uploads =
      store->client().Send("GET", "", {{"uploads", ""}, {"prefix", store->client().location().prefix}}, {}, S3Body{});
  ASSERT_TRUE(uploads.ok());
  EXPECT_EQ(uploads->body.find("<Upload>"), std::string::npos) << uploads->body;
}

TEST_F(S3BlobStoreTest, MissingBlobAndBadRanges) {
  const std::string missing(64, 'e');
  EXPECT_EQ(store_->Open(missing, 0, 10).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Open(missing, 0, 0).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Open("not-a-digest", 0, 1).status().code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE(Put(*store_, "0123456789").ok());
  const std::string sha = Sha256Hex("0123456789");
  EXPECT_EQ(store_->Open(sha, 5, 10).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->Open(sha, 20, 1).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(S3BlobStoreTest, PresignedUrlServesTheBlobAndRejectsTampering) {
  const std::string data = RandomBytes(5000, 3);
  const std::string sha = Sha256Hex(data);
  ASSERT_TRUE(Put(*store_, data).ok());
  auto url = store_->PresignGet(sha, std::chrono::seconds(60));
  ASSERT_TRUE(url.ok());
  auto [code, body] = PlainGet(*url);
  EXPECT_EQ(code, 200);
  EXPECT_EQ(body, data);
  std::string forged = *url;
  forged.back() = forged.back() == '0' ? '1' : '0';
  EXPECT_EQ(PlainGet(forged).first, 403);
}

TEST_F(S3BlobStoreTest, ListAndRemoveBlobsHonourTheCutoff) {
  const std::string data = RandomBytes(1000, 9);
  const std::string sha = Sha256Hex(data);
  ASSERT_TRUE(Put(*store_, data).ok());
  std::vector<BlobInfo> seen;
  ASSERT_TRUE(store_->ListBlobs([&](const BlobInfo& b) {
                      seen.push_back(b);
                      return OkStatus();
                    }).ok());
  ASSERT_EQ(seen.size(), 1u);  // this test's fresh prefix holds only this blob
  EXPECT_EQ(seen[0].sha256, sha);
  EXPECT_EQ(seen[0].size, data.size());
  EXPECT_NEAR(static_cast<double>(seen[0].modified_ms), static_cast<double>(NowMs()), 120000.0);
  ASSERT_TRUE(Put(*store_, data).ok());  // a re-commit refreshes LastModified (copy onto itself)
  auto kept = store_->RemoveBlob(sha, NowMs() - 120000);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_FALSE(*kept);
  auto removed = store_->RemoveBlob(sha, NowMs() + 120000);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_TRUE(*removed);
  auto st = store_->Stat(sha);
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->has_value());
}

TEST_F(S3BlobStoreTest, OpenChecksBucketAndCredentials) {
  std::string no_bucket = url_;
  no_bucket.replace(5, no_bucket.find('/', 5) - 5, "no-such-bucket");
  auto a = S3BlobStore::Open(no_bucket, {.staging_dir = dir_ / "s"});
  EXPECT_EQ(a.status().code(), StatusCode::kFailedPrecondition) << a.status();

  const std::string saved = std::getenv("AWS_SECRET_ACCESS_KEY");
  ::setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret", 1);
  auto b = S3BlobStore::Open(url_, {.staging_dir = dir_ / "s"});
  ::setenv("AWS_SECRET_ACCESS_KEY", saved.c_str(), 1);
  EXPECT_EQ(b.status().code(), StatusCode::kPermissionDenied) << b.status();
}

}  // namespace
}  // namespace cairn::internal
