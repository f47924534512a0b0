// What every AccountStore (the account part of each MetadataStore) must do,
// on SQLite and on PostgreSQL (tests/testing/backends.h): users and teams in
// one namespace, members and roles, service accounts, keys with ids, expiry,
// last use and revocation seen by another replica at once, run creators, and
// the audit log with its summary rows.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "store/metadata_store.h"
#include "store/postgres/postgres_metadata_store.h"
#include "store/sqlite/sqlite_metadata_store.h"
#include "testing/backends.h"

namespace cairn::internal {
namespace {

class AccountStoreConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "Postgres") {
      const std::string reason = testing::BackendsSkipReason();
      if (!reason.empty()) GTEST_SKIP() << reason;
      pg_url_ = testing::NewTestDatabase(*testing::TestDbUrl());
    } else {
      std::string tmpl = (std::filesystem::temp_directory_path() / "cairn-accounts-test-XXXXXX").string();
      ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
      dir_ = tmpl;
    }
    store_ = OpenAnother();
    replica_ = OpenAnother();
    ASSERT_NE(store_, nullptr);
    ASSERT_NE(replica_, nullptr);
  }
  void TearDown() override {
    store_.reset();
    replica_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
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

  std::filesystem::path dir_;
  std::string pg_url_;
  std::unique_ptr<MetadataStore> store_;
  std::unique_ptr<MetadataStore> replica_;
};

TEST_P(AccountStoreConformance, UsersAndTeamsShareOneNamespace) {
  ASSERT_TRUE(store_->CreateUser({.name = "alice", .password_hash = "$argon2id$x", .admin = true}).ok());
  ASSERT_TRUE(store_->CreateUser({.name = "bob", .password_hash = "$argon2id$y"}).ok());
  EXPECT_EQ(store_->CreateUser({.name = "alice", .password_hash = "z"}).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(replica_->CreateTeam("alice").code(), StatusCode::kAlreadyExists);
  ASSERT_TRUE(replica_->CreateTeam("vision").ok());
  EXPECT_EQ(store_->CreateUser({.name = "vision", .password_hash = "z"}).code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->CreateTeam("vision").code(), StatusCode::kAlreadyExists);

  auto alice = replica_->FindUser("alice");
  ASSERT_TRUE(alice.ok()) << alice.status();
  ASSERT_TRUE(alice->has_value());
  EXPECT_EQ((*alice)->password_hash, "$argon2id$x");
  EXPECT_TRUE((*alice)->admin);
  EXPECT_GT((*alice)->created_ms, 0);
  auto nobody = replica_->FindUser("carol");
  ASSERT_TRUE(nobody.ok());
  EXPECT_FALSE(nobody->has_value());
  auto users = replica_->ListUsers();
  ASSERT_TRUE(users.ok());
  ASSERT_EQ(users->size(), 2u);
  EXPECT_EQ((*users)[0].name, "alice");
  EXPECT_EQ((*users)[1].name, "bob");
  EXPECT_TRUE(*store_->IsTeam("vision"));
  EXPECT_FALSE(*store_->IsTeam("alice"));
}

TEST_P(AccountStoreConformance, MembersAndRoles) {
  ASSERT_TRUE(store_->CreateUser({.name = "alice", .password_hash = "h"}).ok());
  ASSERT_TRUE(store_->CreateUser({.name = "bob", .password_hash = "h"}).ok());
  ASSERT_TRUE(store_->CreateTeam("vision").ok());
  ASSERT_TRUE(store_->CreateTeam("nlp").ok());
  auto prev = store_->SetMember("vision", "alice", "admin");
  ASSERT_TRUE(prev.ok()) << prev.status();
  EXPECT_EQ(*prev, "");
  ASSERT_TRUE(store_->SetMember("vision", "bob", "viewer").ok());
  prev = replica_->SetMember("vision", "bob", "member");
  ASSERT_TRUE(prev.ok());
  EXPECT_EQ(*prev, "viewer");
  ASSERT_TRUE(store_->SetMember("nlp", "bob", "admin").ok());
  EXPECT_EQ(store_->SetMember("nope", "bob", "admin").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->SetMember("vision", "carol", "admin").status().code(), StatusCode::kNotFound);

  auto roles = replica_->RolesOf("bob");
  ASSERT_TRUE(roles.ok());
  ASSERT_EQ(roles->size(), 2u);
  EXPECT_EQ((*roles)[0], std::make_pair(std::string("nlp"), std::string("admin")));
  EXPECT_EQ((*roles)[1], std::make_pair(std::string("vision"), std::string("member")));
  auto teams = replica_->ListTeams();
  ASSERT_TRUE(teams.ok());
  ASSERT_EQ(teams->size(), 2u);
  EXPECT_EQ((*teams)[1].name, "vision");
  ASSERT_EQ((*teams)[1].members.size(), 2u);
  EXPECT_EQ((*teams)[1].members[0].user, "alice");
  EXPECT_EQ((*teams)[1].members[0].role, "admin");

  EXPECT_TRUE(*store_->RemoveMember("vision", "bob"));
  EXPECT_FALSE(*replica_->RemoveMember("vision", "bob"));
  roles = replica_->RolesOf("bob");
  ASSERT_TRUE(roles.ok());
  EXPECT_EQ(roles->size(), 1u);
}

TEST_P(AccountStoreConformance, KeysHaveIdsAndRevocationIsSeenByAnotherReplica) {
  ASSERT_TRUE(store_->CreateServiceAccount("vision", "ci", /*if_missing=*/false).ok());
  EXPECT_EQ(store_->CreateServiceAccount("vision", "ci", false).code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(store_->CreateServiceAccount("vision", "ci", /*if_missing=*/true).ok());
  EXPECT_TRUE(*replica_->ServiceAccountExists("vision", "ci"));
  EXPECT_FALSE(*replica_->ServiceAccountExists("vision", "cd"));

  const KeyRecord key{.key_hash = std::string(64, 'k'),
                      .entity = "vision",
                      .read_only = true,
                      .name = "nightly",
                      .service_account = "ci",
                      .expires_ms = 4102444800000};
  ASSERT_TRUE(store_->PutKey(key).ok());
  EXPECT_EQ(store_->PutKey(key).code(), StatusCode::kAlreadyExists);
  auto found = replica_->FindKey(key.key_hash);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  const KeyRecord& k = **found;
  EXPECT_EQ(k.id, KeyIdFromHash(key.key_hash));
  EXPECT_EQ(k.name, "nightly");
  EXPECT_EQ(k.entity, "vision");
  EXPECT_EQ(k.service_account, "ci");
  EXPECT_TRUE(k.read_only);
  EXPECT_EQ(k.expires_ms, 4102444800000);
  EXPECT_EQ(k.last_used_ms, 0);
  EXPECT_EQ(k.revoked_ms, 0);
  EXPECT_GT(k.created_ms, 0);

  ASSERT_TRUE(store_->PutKey({.key_hash = std::string(64, 'u'), .entity = "alice", .user = "alice"}).ok());
  auto all = replica_->ListKeys();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);

  ASSERT_TRUE(store_->TouchKey(k.id, 1234).ok());
  auto by_id = replica_->FindKeyById(k.id);
  ASSERT_TRUE(by_id.ok());
  ASSERT_TRUE(by_id->has_value());
  EXPECT_EQ((*by_id)->last_used_ms, 1234);
  EXPECT_TRUE(*store_->RevokeKey(k.id, 5678));
  EXPECT_FALSE(*store_->RevokeKey(k.id, 9999)) << "revoked once";
  EXPECT_FALSE(*store_->RevokeKey("knothere", 1));
  found = replica_->FindKey(key.key_hash);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ((*found)->revoked_ms, 5678);
}

TEST_P(AccountStoreConformance, RunCreators) {
  const RunKey run{"vision", "p", "r"};
  bool created = false;
  ASSERT_TRUE(store_->CreateOrResumeRun(run, ResumeMode::kNever, &created).ok());
  auto creator = replica_->GetRunCreator(run);
  ASSERT_TRUE(creator.ok()) << creator.status();
  EXPECT_EQ(*creator, "");
  ASSERT_TRUE(store_->SetRunCreator(run, "user:bob").ok());
  creator = replica_->GetRunCreator(run);
  ASSERT_TRUE(creator.ok());
  EXPECT_EQ(*creator, "user:bob");
  EXPECT_EQ(MissingRunPathPart(store_->GetRunCreator({"vision", "p", "nope"}).status()), RunPathPart::kRun);
  EXPECT_EQ(MissingRunPathPart(store_->SetRunCreator({"vision", "p", "nope"}, "x")), RunPathPart::kRun);
}

TEST_P(AccountStoreConformance, AuditEventsAndSummaryRows) {
  ASSERT_TRUE(store_->AppendAudit({.time_ms = 1000, .actor = "user:bob", .key_id = "k1", .action = "run.delete",
                                   .entity = "vision", .target = "vision/p/r", .address = "127.0.0.1"})
                  .ok());
  for (int i = 0; i < 3; ++i) {
    AuditEvent read{.time_ms = 2000 + i, .actor = "sa:vision/ci", .action = "file.download", .entity = "vision",
                    .target = "vision/p/r", .count = 2, .bytes = 100, .summary_key = "dl|sa:vision/ci|vision/p/r|0"};
    MetadataStore* which = i % 2 == 0 ? store_.get() : replica_.get();
    ASSERT_TRUE(which->AppendAudit(read).ok());
  }
  ASSERT_TRUE(store_->AppendAudit({.time_ms = 3000, .actor = "admin", .action = "key.create", .entity = "nlp",
                                   .target = "k2"})
                  .ok());
  auto all = replica_->ListAudit("", 0, 100);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].action, "run.delete");
  EXPECT_EQ((*all)[0].key_id, "k1");
  EXPECT_EQ((*all)[1].action, "file.download");
  EXPECT_EQ((*all)[1].count, 6);
  EXPECT_EQ((*all)[1].bytes, 300);
  EXPECT_EQ((*all)[1].time_ms, 2000) << "a summary keeps its first time";
  auto vision = replica_->ListAudit("vision", 0, 100);
  ASSERT_TRUE(vision.ok());
  EXPECT_EQ(vision->size(), 2u);
  auto recent = replica_->ListAudit("", 2500, 100);
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 1u);
  EXPECT_EQ((*recent)[0].action, "key.create");
  auto newest = replica_->ListAudit("", 0, 1);
  ASSERT_TRUE(newest.ok());
  ASSERT_EQ(newest->size(), 1u);
  EXPECT_EQ((*newest)[0].action, "key.create");
}

INSTANTIATE_TEST_SUITE_P(Backends, AccountStoreConformance, ::testing::Values("Sqlite", "Postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace cairn::internal
