// The one verifying writer over a sink that records what it was asked to do.
#include "store/verifying_writer.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace cairn::internal {
namespace {

struct Log {
  std::string bytes;
  int published = 0;
  int discarded = 0;
};

class RecordingSink final : public BlobSink {
 public:
  explicit RecordingSink(Log* log) : log_(log) {}
  Status Write(const char* data, std::size_t n, std::uint64_t offset) override {
    EXPECT_EQ(offset, log_->bytes.size());
    log_->bytes.append(data, n);
    return OkStatus();
  }
  Status Publish(const std::string& sha256, std::uint64_t size) override {
    EXPECT_EQ(sha256, Sha256Hex(log_->bytes));
    EXPECT_EQ(size, log_->bytes.size());
    ++log_->published;
    return OkStatus();
  }
  void Discard() override { ++log_->discarded; }

 private:
  Log* log_;
};

TEST(VerifyingWriterTest, PublishesOnlyVerifiedBytesOnce) {
  Log log;
  VerifyingWriter w(std::make_unique<RecordingSink>(&log));
  ASSERT_TRUE(w.Append("abc", 3).ok());
  ASSERT_TRUE(w.Append("de", 2).ok());
  EXPECT_EQ(w.size(), 5u);
  ASSERT_TRUE(w.Commit(Sha256Hex("abcde"), 5).ok());
  EXPECT_EQ(log.published, 1);
  EXPECT_EQ(log.discarded, 1);  // the sink is released after publishing
  EXPECT_EQ(w.Commit(Sha256Hex("abcde"), 5).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(w.Append("x", 1).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(log.published, 1);
}

TEST(VerifyingWriterTest, MismatchDiscardsAndNamesBothDigests) {
  Log log;
  VerifyingWriter w(std::make_unique<RecordingSink>(&log));
  ASSERT_TRUE(w.Append("abc", 3).ok());
  Status s = w.Commit(Sha256Hex("abd"), 3);
  EXPECT_EQ(s.code(), StatusCode::kDataLoss);
  EXPECT_NE(s.message().find(Sha256Hex("abc")), std::string::npos) << s;
  EXPECT_NE(s.message().find(Sha256Hex("abd")), std::string::npos) << s;
  EXPECT_EQ(log.published, 0);
  EXPECT_EQ(log.discarded, 1);
  Log sized;
  VerifyingWriter short_one(std::make_unique<RecordingSink>(&sized));
  ASSERT_TRUE(short_one.Append("abc", 3).ok());
  EXPECT_EQ(short_one.Commit(Sha256Hex("abc"), 4).code(), StatusCode::kDataLoss);
  EXPECT_EQ(short_one.Commit(Sha256Hex("abc"), 3).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(sized.published, 0);
}

TEST(VerifyingWriterTest, DestructorCancelsNeverCommits) {
  Log log;
  {
    VerifyingWriter w(std::make_unique<RecordingSink>(&log));
    ASSERT_TRUE(w.Append("abc", 3).ok());
  }
  EXPECT_EQ(log.published, 0);
  EXPECT_EQ(log.discarded, 1);
}

TEST(VerifyingWriterTest, OptionalDigestChecksTheSizeOnly) {
  Log log;
  VerifyingWriter w(std::make_unique<RecordingSink>(&log), {.digest_optional = true});
  ASSERT_TRUE(w.Append("abc", 3).ok());
  EXPECT_TRUE(w.Commit("", 3).ok());
  Log bad;
  VerifyingWriter strict(std::make_unique<RecordingSink>(&bad));
  ASSERT_TRUE(strict.Append("abc", 3).ok());
  EXPECT_EQ(strict.Commit("", 3).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.published, 0);
}

}  // namespace
}  // namespace cairn::internal
