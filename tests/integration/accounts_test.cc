// Accounts through the `cairn` command (docs/adr/0021-accounts-and-deletion.md):
// users with passwords read from stdin, teams and roles, service accounts,
// keys that are listed (never their secrets), scoped, expired and revoked,
// `cairn login --user`, and the audit log (with a burst of 1,000 downloads
// adding a few summary rows). Then the secrets -- key secrets and passwords --
// are looked for in the database files, the server's log and every answer.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "common/sha256.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::CommandResult;
using testing::ServerProcess;
using testing::TempDir;
using Json = nlohmann::json;
using Env = std::map<std::string, std::optional<std::string>>;

constexpr const char* kAlicePassword = "alice-Sup3r-secret-passphrase";
constexpr const char* kBobPassword = "bob-Another-secret-passphrase";

class Accounts : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(tmp_ / "data");
    fs::create_directories(tmp_ / "home");
  }
  // The cairn command with `key` (none: ~/.netrc in a test HOME), stdin text.
  CommandResult Cli(std::vector<std::string> args, const std::string& key, const std::string& stdin_text = "") {
    args.insert(args.begin(), {testing::CairnBinary().string(), "--base-url", server_->base_url()});
    Env env{{"HOME", (tmp_ / "home").string()}, {"CAIRN_API_KEY", key.empty() ? std::nullopt : std::optional(key)}};
    CommandResult r = testing::Run(args, env, stdin_text);
    outputs_ += r.out + r.err;
    return r;
  }
  std::string Admin() const { return server_->admin_key(); }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::string outputs_;  // everything every command printed
};

TEST_F(Accounts, UsersTeamsKeysLoginAuditAndNoSecretAnywhere) {
  // Users: the password comes from stdin, never argv.
  ASSERT_EQ(Cli({"users", "create", "alice", "--password-stdin"}, Admin(), std::string(kAlicePassword) + "\n").exit_code, 0);
  ASSERT_EQ(Cli({"users", "create", "bob", "--password-stdin"}, Admin(), std::string(kBobPassword) + "\n").exit_code, 0);
  EXPECT_EQ(Cli({"users", "create", "carol", "--password-stdin"}, Admin(), "short\n").exit_code, 2);
  EXPECT_EQ(Cli({"users", "create", "carol"}, Admin(), "").exit_code, 2) << "no terminal, no --password-stdin";
  EXPECT_EQ(Cli({"users", "create", "mallory", "--password-stdin"}, "", "long-enough-password\n").exit_code, 5);
  CommandResult users = Cli({"users", "ls", "--json"}, Admin());
  ASSERT_EQ(users.exit_code, 0) << users.err;
  EXPECT_EQ(Json::parse(users.out).size(), 2u);

  // `cairn login --user` stores a new key in ~/.netrc; later commands use it.
  EXPECT_EQ(Cli({"login", "--user", "alice", "--password-stdin"}, "", "wrong-password\n").exit_code, 5);
  CommandResult login = Cli({"login", "--user", "alice", "--password-stdin"}, "", std::string(kAlicePassword) + "\n");
  ASSERT_EQ(login.exit_code, 0) << login.err;
  const std::string netrc = testing::ReadFile(tmp_ / "home" / ".netrc");
  EXPECT_NE(netrc.find("password cairn-"), std::string::npos);
  EXPECT_EQ(fs::status(tmp_ / "home" / ".netrc").permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);

  // Alice makes a team and adds Bob as a viewer; Bob can read, not write.
  ASSERT_EQ(Cli({"teams", "create", "vision"}, "").exit_code, 0);
  ASSERT_EQ(Cli({"teams", "add", "vision", "bob", "--role", "viewer"}, "").exit_code, 0);
  EXPECT_EQ(Cli({"teams", "add", "vision", "bob", "--role", "boss"}, "").exit_code, 2);
  CommandResult teams = Cli({"teams", "ls"}, "");
  ASSERT_EQ(teams.exit_code, 0);
  EXPECT_EQ(teams.out, "vision\talice:admin\tbob:viewer\n");
  const std::string bob_key = Cli({"keys", "create", "--user", "bob", "--name", "laptop"}, Admin()).out;
  ASSERT_EQ(bob_key.rfind("cairn-", 0), 0u) << bob_key;
  const std::string bob = bob_key.substr(0, bob_key.find('\n'));
  testing::WriteFile(tmp_ / "src" / "w.pt", "weights");
  const std::vector<std::string> save = {"save", "--run", "vision/p/r", "--base", (tmp_ / "src").string(),
                                         (tmp_ / "src" / "w.pt").string()};
  ASSERT_EQ(Cli(save, "").exit_code, 0);
  EXPECT_EQ(Cli(save, bob).exit_code, 5);
  EXPECT_EQ(Cli({"restore", "w.pt", "--run", "vision/p/r", "--root", (tmp_ / "out").string()}, bob).exit_code, 0);
  EXPECT_EQ(Cli({"rm", "--run", "vision/p/r", "--yes"}, bob).exit_code, 5);

  // A service account's read key with an expiry and a name; listed without its secret.
  ASSERT_EQ(Cli({"service-accounts", "create", "vision", "ci"}, "").exit_code, 0);
  CommandResult ci = Cli({"keys", "create", "--service-account", "vision/ci", "--scope", "read", "--expires", "1h",
                          "--name", "nightly"},
                         "");
  ASSERT_EQ(ci.exit_code, 0) << ci.err;
  const std::string ci_key = ci.out.substr(0, ci.out.find('\n'));
  EXPECT_EQ(ci_key.size(), 46u);
  EXPECT_EQ(Cli(save, ci_key).exit_code, 5) << "a read key";
  CommandResult ls = Cli({"keys", "ls", "--json"}, "");
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  Json keys = Json::parse(ls.out);
  std::string ci_id;
  for (const Json& k : keys) {
    if (k["name"] == "nightly") {
      ci_id = k["id"];
      EXPECT_EQ(k["owner"], "service-account:vision/ci");
      EXPECT_EQ(k["scope"], "read");
      EXPECT_TRUE(k["expires_at"].is_string());
    }
  }
  ASSERT_FALSE(ci_id.empty()) << ls.out;
  EXPECT_EQ(Cli({"keys", "revoke", ci_id}, bob).exit_code, 5) << "a viewer may not";
  ASSERT_EQ(Cli({"keys", "revoke", ci_id}, "").exit_code, 0);
  EXPECT_EQ(Cli({"ls", "vision/p/r"}, ci_key).exit_code, 5) << "revoked";
  EXPECT_EQ(Cli({"keys", "create", "--user", "bob", "--entity", "x"}, Admin()).exit_code, 2) << "one owner";

  // A burst of 1,000 downloads (one connection) adds a few summary rows.
  {
    std::ofstream cfg(tmp_ / "curl.cfg");
    cfg << "header = \"Authorization: Bearer " << bob << "\"\n";
    for (int i = 0; i < 1000; ++i) {
      cfg << "url = \"" << server_->base_url() << "/api/v1/runs/vision/p/r/files/w.pt\"\noutput = \"/dev/null\"\n";
    }
  }
  CommandResult burst = testing::Run({"/usr/bin/curl", "-s", "-f", "--config", (tmp_ / "curl.cfg").string()});
  ASSERT_EQ(burst.exit_code, 0) << burst.err;
  ASSERT_EQ(Cli({"rm", "--run", "vision/p/r", "w.pt", "--yes"}, "").exit_code, 0);
  CommandResult audit = Cli({"audit", "--entity", "vision", "--json"}, "");
  ASSERT_EQ(audit.exit_code, 0) << audit.err;
  Json events = Json::parse(audit.out);
  int download_rows = 0;
  std::int64_t downloads = 0;
  std::set<std::string> seen;
  for (const Json& e : events) {
    seen.insert(e["action"].get<std::string>() + " " + e["actor"].get<std::string>());
    if (e["action"] == "file.download") {
      ++download_rows;
      downloads += e["count"].get<std::int64_t>();
    }
  }
  EXPECT_LE(download_rows, 6) << audit.out;
  EXPECT_GE(downloads, 1000) << audit.out;
  for (const char* want : {"team.create user:alice", "member.set user:alice", "service_account.create user:alice",
                           "key.create user:alice", "key.revoke user:alice", "run.create user:alice",
                           "file.save user:alice", "file.delete user:alice", "file.download user:bob"}) {
    EXPECT_EQ(seen.count(want), 1u) << want << " missing in\n" << audit.out;
  }
  EXPECT_EQ(Cli({"audit", "--entity", "vision"}, bob).exit_code, 5) << "a viewer may not read it";
  CommandResult all = Cli({"audit", "--json", "--since", "1h"}, Admin());
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_NE(all.out.find("\"user.create\""), std::string::npos);
  EXPECT_NE(all.out.find("\"auth.fail\""), std::string::npos) << "the wrong password and the revoked key";

  // The secrets: nowhere in the database files, the log, or any answer (the
  // key secrets were printed once, by `keys create`, on stdout only).
  const std::string secrets[] = {kAlicePassword, kBobPassword, bob.substr(6), ci_key.substr(6),
                                 netrc.substr(netrc.find("password cairn-") + 15, 40)};
  std::string stored;
  for (const auto& f : fs::recursive_directory_iterator(server_->data_dir())) {
    if (f.is_regular_file() && f.path().string().find("/blobs/") == std::string::npos) {
      stored += testing::ReadFile(f.path());
    }
  }
  ASSERT_FALSE(stored.empty());
  const std::string log = server_->log();
  std::string answers = outputs_;
  for (const std::string& k : {bob_key, ci.out}) answers.erase(answers.find(k), k.size());  // the one-time prints
  for (const std::string& secret : secrets) {
    EXPECT_EQ(stored.find(secret), std::string::npos) << "a secret in the data directory";
    EXPECT_EQ(log.find(secret), std::string::npos) << "a secret in the server log";
    EXPECT_EQ(answers.find(secret), std::string::npos) << "a secret in an answer";
  }
  EXPECT_NE(stored.find("$argon2id$"), std::string::npos) << "passwords are stored as argon2id hashes";
}

TEST_F(Accounts, HelpSaysHowAndAdminOnlyCommandsSayWho) {
  EXPECT_NE(testing::Cairn({"users", "create", "--help"}).out.find("--password-stdin"), std::string::npos);
  EXPECT_NE(testing::Cairn({"keys", "create", "--help"}).out.find("--expires"), std::string::npos);
  EXPECT_NE(testing::Cairn({"teams", "add", "--help"}).out.find("viewer"), std::string::npos);
  EXPECT_NE(testing::Cairn({"login", "--help"}).out.find("--user"), std::string::npos);
  CommandResult denied = Cli({"users", "create", "eve", "--password-stdin"},
                             Cli({"keys", "create", "--entity", "eve"}, Admin()).out.substr(0, 46),
                             "long-enough-password\n");
  EXPECT_EQ(denied.exit_code, 5);
  EXPECT_NE(denied.err.find("admin"), std::string::npos) << denied.err;
}

}  // namespace
}  // namespace cairn
