// The fixture of the MetadataStore conformance tests (test-only): each test
// runs against SQLite in a temp directory and PostgreSQL in a fresh database
// on the `backends` fixture's server (tests/testing/backends.h); OpenAnother()
// stands in for a second server replica on the same database.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "store/metadata_store.h"
#include "store/postgres/postgres_metadata_store.h"
#include "store/sqlite/sqlite_metadata_store.h"
#include "testing/backends.h"

namespace cairn::internal {

class MetadataStoreConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "Postgres") {
      const std::string reason = testing::BackendsSkipReason();
      if (!reason.empty()) GTEST_SKIP() << reason;
      pg_url_ = testing::NewTestDatabase(*testing::TestDbUrl());
    } else {
      std::string tmpl = (std::filesystem::temp_directory_path() / "cairn-store-test-XXXXXX").string();
      ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
      dir_ = tmpl;
    }
    store_ = OpenAnother();
    ASSERT_NE(store_, nullptr);
  }
  void TearDown() override {
    store_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  // Another store on the same database (another connection or process).
  std::unique_ptr<MetadataStore> OpenAnother() {
    if (!pg_url_.empty()) {
      auto s = PostgresMetadataStore::Open(pg_url_);
      EXPECT_TRUE(s.ok()) << s.status();
      return s.ok() ? std::unique_ptr<MetadataStore>(std::move(s).value()) : nullptr;
    }
    auto s = SqliteMetadataStore::Open(dir_ / "cairn.db");
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::unique_ptr<MetadataStore>(std::move(s).value()) : nullptr;
  }

  RunRecord MustCreate(const RunKey& key) {
    bool created = false;
    auto run = store_->CreateOrResumeRun(key, ResumeMode::kNever, &created);
    EXPECT_TRUE(run.ok()) << run.status();
    EXPECT_TRUE(created);
    return run.ok() ? *run : RunRecord{};
  }

  std::filesystem::path dir_;
  std::string pg_url_;
  std::unique_ptr<MetadataStore> store_;
};

inline const RunKey kRun{"alice", "mnist", "r1"};
inline const std::string kSha(64, 'a');

}  // namespace cairn::internal
