#include "store/sqlite/sqlite_metadata_store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/migrations.h"

namespace cairn::internal {
namespace {

class SqliteMetadataStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cairn-sqlite-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto store = SqliteMetadataStore::Open(dir_ / "cairn.db");
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  RunRecord MustCreate(const RunKey& key) {
    bool created = false;
    auto run = store_->CreateOrResumeRun(key, ResumeMode::kNever, &created);
    EXPECT_TRUE(run.ok()) << run.status();
    EXPECT_TRUE(created);
    return run.ok() ? *run : RunRecord{};
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqliteMetadataStore> store_;
};

const RunKey kRun{"alice", "mnist", "r1"};

TEST_F(SqliteMetadataStoreTest, MigratesOnOpenAndReopens) {
  EXPECT_EQ(store_->SchemaVersion(), LatestSchemaVersion());
  MustCreate(kRun);
  store_.reset();
  auto again = SqliteMetadataStore::Open(dir_ / "cairn.db");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->SchemaVersion(), LatestSchemaVersion());
  EXPECT_TRUE((*again)->GetRun(kRun).ok());
}

TEST_F(SqliteMetadataStoreTest, OpenRejectsNonDatabase) {
  std::FILE* f = std::fopen((dir_ / "junk.db").c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fputs("this is certainly not a sqlite database, it is long enough to have a header....", f);
  std::fclose(f);
  auto store = SqliteMetadataStore::Open(dir_ / "junk.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kDataLoss) << store.status();
}

// The behaviour every backend shares (runs, versions, listings, keys,
// concurrency) is tested once for all in ../metadata_store_conformance_test.cc.

TEST(SqliteStatusTest, MapsResultCodes) {
  EXPECT_EQ(SqliteStatus(13 /*SQLITE_FULL*/, nullptr, "x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(SqliteStatus(5 /*SQLITE_BUSY*/, nullptr, "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(SqliteStatus(19 /*SQLITE_CONSTRAINT*/, nullptr, "x").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(SqliteStatus(11 /*SQLITE_CORRUPT*/, nullptr, "x").code(), StatusCode::kDataLoss);
  EXPECT_EQ(SqliteStatus(14 /*SQLITE_CANTOPEN*/, nullptr, "x").code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(SqliteStatus(0, nullptr, "x").ok());
}

}  // namespace
}  // namespace cairn::internal
