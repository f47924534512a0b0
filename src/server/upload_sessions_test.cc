#include "server/upload_sessions.h"

#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/sha256.h"
#include "store/local/local_blob_store.h"

namespace cairn::internal {
namespace {

class UploadSessionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cairn-uploads-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static Status PutPart(UploadSessions& s, const UploadSession& session, std::uint64_t n, const std::string& bytes) {
    auto w = s.NewPartWriter(session, n);
    if (!w.ok()) return w.status();
    if (Status st = (*w)->Append(bytes.data(), bytes.size()); !st.ok()) return st;
    return (*w)->Commit("", session.PartLength(n));
  }

  std::filesystem::path dir_;
  const RunKey run_{"alice", "p", "r"};
};

TEST_F(UploadSessionsTest, PartsAssembleInOrderAndSurviveReopening) {
  const std::string a(1 << 20, 'a'), b = "tail";
  const std::string sha = Sha256Hex(a + b);
  std::string id;
  {
    auto s = UploadSessions::Open(dir_ / "uploads", std::chrono::hours(1));
    ASSERT_TRUE(s.ok()) << s.status();
    auto session = (*s)->Create(run_, "m.pt", sha, a.size() + b.size(), 1 << 20);
    ASSERT_TRUE(session.ok()) << session.status();
    EXPECT_EQ(session->part_count(), 2u);
    id = session->id;
    ASSERT_TRUE(PutPart(**s, *session, 1, b).ok());
  }
  auto s = UploadSessions::Open(dir_ / "uploads", std::chrono::hours(1));  // a server restart
  ASSERT_TRUE(s.ok());
  auto session = (*s)->Get(id);
  ASSERT_TRUE(session.ok()) << session.status();
  EXPECT_EQ(session->parts_received, std::vector<std::uint64_t>{1});
  auto blobs = LocalBlobStore::Open(dir_ / "blobs");
  ASSERT_TRUE(blobs.ok());
  EXPECT_EQ((*s)->AssembleInto(*session, **blobs).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(PutPart(**s, *session, 0, "too short").code(), StatusCode::kDataLoss);
  ASSERT_TRUE(PutPart(**s, *session, 0, a).ok());
  session = (*s)->Get(id);
  ASSERT_TRUE((*s)->AssembleInto(*session, **blobs).ok());
  auto stat = (*blobs)->Stat(sha);
  ASSERT_TRUE(stat.ok());
  EXPECT_EQ(*stat, std::optional<std::uint64_t>(a.size() + b.size()));
}

TEST_F(UploadSessionsTest, WrongDigestDiscardsTheSession) {
  auto s = UploadSessions::Open(dir_ / "uploads", std::chrono::hours(1));
  ASSERT_TRUE(s.ok());
  auto session = (*s)->Create(run_, "m.pt", std::string(64, 'a'), 3, 1 << 20);
  ASSERT_TRUE(session.ok());
  ASSERT_TRUE(PutPart(**s, *session, 0, "abc").ok());
  session = (*s)->Get(session->id);
  auto blobs = LocalBlobStore::Open(dir_ / "blobs");
  ASSERT_TRUE(blobs.ok());
  EXPECT_EQ((*s)->AssembleInto(*session, **blobs).code(), StatusCode::kDataLoss);
  EXPECT_EQ((*s)->Get(session->id).status().code(), StatusCode::kNotFound);
}

TEST_F(UploadSessionsTest, IdleSessionsExpire) {
  auto s = UploadSessions::Open(dir_ / "uploads", std::chrono::seconds(60));
  ASSERT_TRUE(s.ok());
  auto session = (*s)->Create(run_, "m.pt", std::string(64, 'a'), 3, 1 << 20);
  ASSERT_TRUE(session.ok());
  EXPECT_TRUE((*s)->Get(session->id).ok());
  // Last activity two minutes ago.
  const auto json = dir_ / "uploads" / session->id / "session.json";
  timespec old[2] = {{::time(nullptr) - 120, 0}, {::time(nullptr) - 120, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, json.c_str(), old, 0), 0);
  EXPECT_EQ((*s)->Get(session->id).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "uploads" / session->id));
  EXPECT_EQ((*s)->Create(run_, "m.pt", std::string(64, 'a'), 3, 1000).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*s)->Get("../../etc").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace cairn::internal
