// PostgreSQL-specific behaviour: migrations under concurrency and version
// skew, connection failures, and the libpq -> Status mapping. What every
// backend does is in ../metadata_store_conformance_test.cc.
#include "store/postgres/postgres_metadata_store.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "store/migrations.h"
#include "testing/backends.h"

namespace cairn::internal {
namespace {

class PostgresMetadataStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string reason = testing::BackendsSkipReason();
    if (!reason.empty()) GTEST_SKIP() << reason;
    url_ = testing::NewTestDatabase(*testing::TestDbUrl());
  }
  std::string url_;
};

TEST_F(PostgresMetadataStoreTest, MigratesOnOpenAndReopens) {
  auto store = PostgresMetadataStore::Open(url_);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->SchemaVersion(), LatestSchemaVersion());
  bool created = false;
  ASSERT_TRUE((*store)->CreateOrResumeRun({"a", "p", "r"}, ResumeMode::kNever, &created).ok());
  store->reset();
  auto again = PostgresMetadataStore::Open(url_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->SchemaVersion(), LatestSchemaVersion());
  EXPECT_TRUE((*again)->GetRun({"a", "p", "r"}).ok());
  auto applied = testing::PgQuery(url_, "SELECT max(version) FROM schema_migrations");
  EXPECT_EQ(applied[0][0], std::to_string(LatestSchemaVersion()));
}

// Replicas starting at the same moment on an empty database: one migrates,
// the others wait for its advisory lock and find the work done.
TEST_F(PostgresMetadataStoreTest, ReplicasStartingTogetherMigrateOnce) {
  constexpr int kReplicas = 6;
  std::vector<Status> results(kReplicas);
  std::vector<std::thread> threads;
  for (int i = 0; i < kReplicas; ++i) {
    threads.emplace_back([&, i] { results[i] = PostgresMetadataStore::Open(url_).status(); });
  }
  for (auto& t : threads) t.join();
  for (const Status& s : results) EXPECT_TRUE(s.ok()) << s;
  auto applied = testing::PgQuery(url_, "SELECT max(version) FROM schema_migrations");
  EXPECT_EQ(applied[0][0], std::to_string(LatestSchemaVersion()));
}

TEST_F(PostgresMetadataStoreTest, RefusesADatabaseFromANewerCairn) {
  ASSERT_TRUE(PostgresMetadataStore::Open(url_).ok());
  testing::PgQuery(url_, "INSERT INTO schema_migrations(version, applied_ms) VALUES (999, 0)");
  auto store = PostgresMetadataStore::Open(url_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition) << store.status();
  EXPECT_NE(store.status().message().find("999"), std::string::npos) << store.status();
}

TEST_F(PostgresMetadataStoreTest, WrongPasswordIsAConfigurationErrorWithoutThePassword) {
  std::string bad = url_;
  const std::size_t colon = bad.find(':', bad.find("://") + 3);
  const std::size_t at = bad.find('@');
  ASSERT_NE(colon, std::string::npos);
  bad.replace(colon + 1, at - colon - 1, "wrong-secret");
  auto store = PostgresMetadataStore::Open(bad);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kFailedPrecondition) << store.status();
  EXPECT_EQ(store.status().message().find("wrong-secret"), std::string::npos) << store.status();
}

TEST_F(PostgresMetadataStoreTest, PoolOfOneServesManyThreads) {
  auto store = PostgresMetadataStore::Open(url_, {.pool_size = 1});
  ASSERT_TRUE(store.ok()) << store.status();
  bool created = false;
  ASSERT_TRUE((*store)->CreateOrResumeRun({"a", "p", "r"}, ResumeMode::kNever, &created).ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        EXPECT_TRUE((*store)->CommitVersion({"a", "p", "r"}, "f", std::string(64, 'a'), 1).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  auto versions = (*store)->ListVersions({"a", "p", "r"}, "f");
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->size(), 40u);
}

// A connection the server dropped (restart, idle timeout) is replaced on
// the next call, not reported to the caller.
TEST_F(PostgresMetadataStoreTest, ReconnectsAfterTheServerDropsPooledConnections) {
  auto store = PostgresMetadataStore::Open(url_, {.pool_size = 2});
  ASSERT_TRUE(store.ok()) << store.status();
  bool created = false;
  ASSERT_TRUE((*store)->CreateOrResumeRun({"a", "p", "r"}, ResumeMode::kNever, &created).ok());
  const std::string db = url_.substr(url_.rfind('/') + 1);
  testing::PgQuery(*testing::TestDbUrl(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" +
                                              db + "' AND pid <> pg_backend_pid()");
  auto v = (*store)->CommitVersion({"a", "p", "r"}, "f", std::string(64, 'a'), 1);
  EXPECT_TRUE(v.ok()) << v.status();
}

TEST(PostgresUnreachableTest, NoServerIsUnavailable) {
  auto store = PostgresMetadataStore::Open("postgresql://u:topsecret@127.0.0.1:1/db", {.connect_timeout_s = 2});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), StatusCode::kUnavailable) << store.status();
  EXPECT_EQ(store.status().message().find("topsecret"), std::string::npos) << store.status();
}

TEST(RedactDbUrlTest, HidesOnlyThePassword) {
  EXPECT_EQ(RedactDbUrl("postgresql://ci:cipw@127.0.0.1:5432/db"), "postgresql://ci:***@127.0.0.1:5432/db");
  EXPECT_EQ(RedactDbUrl("postgresql://ci@127.0.0.1:5432/db"), "postgresql://ci@127.0.0.1:5432/db");
  EXPECT_EQ(RedactDbUrl("postgresql://127.0.0.1:5432/db"), "postgresql://127.0.0.1:5432/db");
}

}  // namespace
}  // namespace cairn::internal
