// The authorization matrix (docs/adr/0021-accounts-and-deletion.md): every
// route of docs/http-api.md x every kind of caller -- anonymous, a team's
// viewer, member and admin, a member of another team, a service account's
// read and write keys, an expired key, a revoked key, the server admin --
// with the exact status of each cell, printed as a table. Runs on SQLite +
// disk and, under the backends fixture, on PostgreSQL + radosgw. Also: no
// answer and no log line ever carries a key or a password.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "common/sha256.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::ServerProcess;
using testing::TempDir;
using Json = nlohmann::json;

enum Caller { kNoKey, kViewer, kMember, kTeamAdmin, kOtherTeam, kSaRead, kSaWrite, kExpired, kRevoked, kAdmin, kCallers };
constexpr const char* kCallerNames[kCallers] = {"anonymous", "viewer",   "member",  "team admin", "other team",
                                                "sa read",   "sa write", "expired", "revoked",    "admin"};

// A column of the printed table.
std::string Cell(const std::string& text) { return text + std::string(text.size() < 12 ? 12 - text.size() : 1, ' '); }
std::string Password(const std::string& user) { return "pw-" + user + "-correct-horse"; }

struct Route {
  std::string label;
  std::string method;
  std::string path;  // "{c}": the caller's column number (fresh names per cell); "{k}": a key to revoke per cell
  std::string body;  // JSON ("{c}" replaced too); or "@file" for a file upload
  int expected[kCallers];
};

class AuthzMatrix : public ::testing::Test {
 protected:
  static std::pair<int, std::string> Curl(const std::string& method, const std::string& path,
                                          const std::string& key, const std::string& body = "") {
    std::vector<std::string> argv{"/usr/bin/curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "30"};
    if (method == "HEAD") {
      argv.push_back("-I");
    } else {
      argv.insert(argv.end(), {"-X", method});
    }
    if (!key.empty()) argv.insert(argv.end(), {"-H", "Authorization: Bearer " + key});
    if (body == "@file") {
      const fs::path file = tmp_->path() / "upload.bin";
      testing::WriteFile(file, "uploaded bytes");
      argv.insert(argv.end(), {"-H", "X-Cairn-Sha256: " + internal::Sha256Hex("uploaded bytes"), "--data-binary",
                               "@" + file.string()});
    } else if (body == "@batch") {  // one record of PUT .../batch (docs/http-api.md, "Batch saves")
      const fs::path file = tmp_->path() / "batch.bin";
      const std::string bytes = "batched bytes";
      testing::WriteFile(file, internal::Sha256Hex(bytes) + " " + std::to_string(bytes.size()) + " b.bin\n" + bytes);
      argv.insert(argv.end(), {"--data-binary", "@" + file.string()});
    } else if (!body.empty()) {
      argv.insert(argv.end(), {"-H", "Content-Type: application/json", "--data", body});
    }
    argv.push_back(server_->base_url() + path);
    testing::CommandResult r = testing::Run(argv);
    const std::size_t nl = r.out.rfind('\n');
    return {std::atoi(r.out.substr(nl + 1).c_str()), r.out.substr(0, nl)};
  }
  // As the admin; the JSON answer (fails the test unless 2xx).
  static Json Admin(const std::string& method, const std::string& path, const Json& body) {
    auto [status, text] = Curl(method, path, keys_[kAdmin], body.is_null() ? "" : body.dump());
    EXPECT_TRUE(status / 100 == 2) << method << " " << path << ": " << status << " " << text;
    return Json::parse(text, nullptr, false);
  }
  static void User(const std::string& name) {
    Admin("POST", "/api/v1/users", Json{{"name", name}, {"password", Password(name)}});
  }
  static std::string UserKey(const std::string& name) {
    return Admin("POST", "/api/v1/keys", Json{{"user", name}})["key"].get<std::string>();
  }

  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    server_ = new ServerProcess(tmp_->path() / "data");
    keys_[kAdmin] = server_->admin_key();
    for (const char* u : {"vic", "mem", "tad", "oth"}) User(u);
    for (int c = 0; c < kCallers; ++c) User("x" + std::to_string(c));
    Admin("POST", "/api/v1/teams", Json{{"name", "vision"}});
    Admin("POST", "/api/v1/teams", Json{{"name", "nlp"}});
    Admin("PUT", "/api/v1/teams/vision/members/vic", Json{{"role", "viewer"}});
    Admin("PUT", "/api/v1/teams/vision/members/mem", Json{{"role", "member"}});
    Admin("PUT", "/api/v1/teams/vision/members/tad", Json{{"role", "admin"}});
    Admin("PUT", "/api/v1/teams/nlp/members/oth", Json{{"role", "member"}});
    Admin("POST", "/api/v1/teams/vision/service-accounts", Json{{"name", "ci"}});
    keys_[kViewer] = UserKey("vic");
    keys_[kMember] = UserKey("mem");
    keys_[kTeamAdmin] = UserKey("tad");
    keys_[kOtherTeam] = UserKey("oth");
    keys_[kSaRead] =
        Admin("POST", "/api/v1/keys", Json{{"service_account", "vision/ci"}, {"scope", "read"}})["key"].get<std::string>();
    keys_[kSaWrite] = Admin("POST", "/api/v1/keys", Json{{"service_account", "vision/ci"}})["key"].get<std::string>();
    const long long now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    keys_[kExpired] =
        Admin("POST", "/api/v1/keys", Json{{"user", "mem"}, {"expires_ms", now_ms + 1000}})["key"].get<std::string>();
    Json revoked = Admin("POST", "/api/v1/keys", Json{{"user", "mem"}});
    keys_[kRevoked] = revoked["key"];
    Admin("DELETE", "/api/v1/keys/" + revoked["id"].get<std::string>(), nullptr);
    // Per column: a service-account key to revoke, a run made by the member.
    for (int c = 0; c < kCallers; ++c) {
      revocable_[c] = Admin("POST", "/api/v1/keys", Json{{"service_account", "vision/ci"}})["id"];
      EXPECT_EQ(Curl("PUT", "/api/v1/runs/vision/p/m" + std::to_string(c), keys_[kMember], "{}").first, 201);
    }
    // A run with one file, made by the team admin, for the read routes.
    ASSERT_EQ(Curl("PUT", "/api/v1/runs/vision/p/r", keys_[kTeamAdmin], "{}").first, 201);
    ASSERT_EQ(Curl("PUT", "/api/v1/runs/vision/p/r/files/f.bin", keys_[kTeamAdmin], "@file").first, 201);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the expired key's time is up
  }
  static void TearDownTestSuite() {
    delete server_;
    delete tmp_;
  }

  static std::pair<int, std::string> Call(Caller who, const Route& route, int column) {
    auto fill = [&](std::string text) {
      for (std::size_t pos; (pos = text.find("{c}")) != std::string::npos;) text.replace(pos, 3, std::to_string(column));
      if (auto pos = text.find("{k}"); pos != std::string::npos) text.replace(pos, 3, revocable_[column]);
      return text;
    };
    return Curl(route.method, fill(route.path), keys_[who], fill(route.body));
  }

  static inline TempDir* tmp_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::string keys_[kCallers];
  static inline std::string revocable_[kCallers];
};

TEST_F(AuthzMatrix, EveryRouteTimesEveryCallerHasItsExactStatus) {
  const std::string login = R"({"user":"vic","password":")" + Password("vic") + R"("})";
  // clang-format off
  //                                                                  anon view  mem tadm othr sa-r sa-w expd revk admin
  const std::vector<Route> routes = {
      {"GET health", "GET", "/api/v1/health", "",                         {200, 200, 200, 200, 200, 200, 200, 200, 200, 200}},
      {"GET whoami", "GET", "/api/v1/whoami", "",                         {401, 200, 200, 200, 200, 200, 200, 401, 401, 200}},
      {"POST login", "POST", "/api/v1/login", login,                      {201, 201, 201, 201, 201, 201, 201, 201, 201, 201}},
      {"POST login (bad)", "POST", "/api/v1/login", R"({"user":"vic","password":"wrong-password"})",
                                                                          {401, 401, 401, 401, 401, 401, 401, 401, 401, 401}},
      {"GET users", "GET", "/api/v1/users", "",                           {401, 200, 200, 200, 200, 200, 200, 401, 401, 200}},
      {"POST users", "POST", "/api/v1/users", R"({"name":"u{c}","password":"long-enough-pw"})",
                                                                          {401, 403, 403, 403, 403, 403, 403, 401, 401, 201}},
      {"GET teams", "GET", "/api/v1/teams", "",                           {401, 200, 200, 200, 200, 200, 200, 401, 401, 200}},
      {"POST teams", "POST", "/api/v1/teams", R"({"name":"t{c}"})",       {401, 201, 201, 201, 201, 403, 403, 401, 401, 201}},
      {"PUT member", "PUT", "/api/v1/teams/vision/members/x{c}", R"({"role":"viewer"})",
                                                                          {401, 403, 403, 200, 403, 403, 403, 401, 401, 200}},
      {"DELETE member", "DELETE", "/api/v1/teams/vision/members/x{c}", "",{401, 403, 403, 200, 403, 403, 403, 401, 401, 200}},
      {"POST svc account", "POST", "/api/v1/teams/vision/service-accounts", R"({"name":"s{c}"})",
                                                                          {401, 403, 403, 201, 403, 403, 403, 401, 401, 201}},
      {"GET keys", "GET", "/api/v1/keys", "",                             {401, 200, 200, 200, 200, 200, 200, 401, 401, 200}},
      {"POST key (sa)", "POST", "/api/v1/keys", R"({"service_account":"vision/ci","scope":"read"})",
                                                                          {401, 403, 403, 201, 403, 403, 403, 401, 401, 201}},
      {"POST key (user)", "POST", "/api/v1/keys", R"({"user":"vic"})",    {401, 201, 403, 403, 403, 403, 403, 401, 401, 201}},
      {"POST key (entity)", "POST", "/api/v1/keys", R"({"entity":"vision"})",
                                                                          {401, 403, 403, 403, 403, 403, 403, 401, 401, 201}},
      {"DELETE key", "DELETE", "/api/v1/keys/{k}", "",                    {401, 403, 403, 200, 403, 403, 403, 401, 401, 200}},
      {"GET audit (team)", "GET", "/api/v1/audit?entity=vision", "",      {401, 403, 403, 200, 403, 403, 403, 401, 401, 200}},
      {"GET audit (all)", "GET", "/api/v1/audit", "",                     {401, 403, 403, 403, 403, 403, 403, 401, 401, 200}},
      {"PUT run (new)", "PUT", "/api/v1/runs/vision/p/new{c}", R"({"resume":"allow"})",
                                                                          {401, 403, 201, 201, 403, 403, 201, 401, 401, 201}},
      {"PUT run (exists)", "PUT", "/api/v1/runs/vision/p/r", R"({"resume":"allow"})",
                                                                          {401, 403, 200, 200, 403, 403, 200, 401, 401, 200}},
      {"GET run", "GET", "/api/v1/runs/vision/p/r", "",                   {401, 200, 200, 200, 403, 200, 200, 401, 401, 200}},
      {"GET run (missing)", "GET", "/api/v1/runs/vision/p/missing", "",   {401, 404, 404, 404, 403, 404, 404, 401, 401, 404}},
      {"GET runs", "GET", "/api/v1/runs/vision/p", "",                    {401, 200, 200, 200, 403, 200, 200, 401, 401, 200}},
      {"GET files", "GET", "/api/v1/runs/vision/p/r/files", "",           {401, 200, 200, 200, 403, 200, 200, 401, 401, 200}},
      {"GET meta", "GET", "/api/v1/runs/vision/p/r/meta/f.bin", "",       {401, 200, 200, 200, 403, 200, 200, 401, 401, 200}},
      {"GET versions", "GET", "/api/v1/runs/vision/p/r/versions/f.bin", "",
                                                                          {401, 200, 200, 200, 403, 200, 200, 401, 401, 200}},
      {"GET file", "GET", "/api/v1/runs/vision/p/r/files/f.bin", "",      {401, 200, 200, 200, 403, 200, 200, 401, 401, 200}},
      {"HEAD file", "HEAD", "/api/v1/runs/vision/p/r/files/f.bin", "",    {401, 200, 200, 200, 403, 200, 200, 401, 401, 200}},
      {"PUT file", "PUT", "/api/v1/runs/vision/p/r/files/up{c}.bin", "@file",
                                                                          {401, 403, 201, 201, 403, 403, 201, 401, 401, 201}},
      {"POST upload", "POST", "/api/v1/runs/vision/p/r/uploads/big{c}.bin",
       R"({"sha256":"0000000000000000000000000000000000000000000000000000000000000000","size":10})",
                                                                          {401, 403, 201, 201, 403, 403, 201, 401, 401, 201}},
      // Deletion: a run's creator or an admin of its entity (r was made by the team admin).
      {"DELETE file", "DELETE", "/api/v1/runs/vision/p/r/files/up{c}.bin", "",
                                                                          {401, 403, 403, 200, 403, 403, 403, 401, 401, 200}},
      {"DELETE own run", "DELETE", "/api/v1/runs/vision/p/new{c}", "",    {401, 403, 200, 200, 403, 403, 200, 401, 401, 200}},
      {"DELETE member's", "DELETE", "/api/v1/runs/vision/p/m{c}", "",     {401, 403, 200, 200, 403, 403, 403, 401, 401, 200}},
      {"PUT batch", "PUT", "/api/v1/runs/vision/p/r/batch", "@batch",     {401, 403, 201, 201, 403, 403, 201, 401, 401, 201}},
      // Operations (docs/operations.md): probes and metrics need no key (by default); quotas.
      {"GET healthz", "GET", "/healthz", "",                              {200, 200, 200, 200, 200, 200, 200, 200, 200, 200}},
      {"GET readyz", "GET", "/readyz", "",                                {200, 200, 200, 200, 200, 200, 200, 200, 200, 200}},
      {"GET metrics", "GET", "/metrics", "",                              {200, 200, 200, 200, 200, 200, 200, 200, 200, 200}},
      {"GET quota", "GET", "/api/v1/quotas/vision", "",                   {401, 200, 200, 200, 403, 200, 200, 401, 401, 200}},
      {"PUT quota", "PUT", "/api/v1/quotas/vision", R"({"max_bytes":null})",
                                                                          {401, 403, 403, 403, 403, 403, 403, 401, 401, 200}},
      // Retention policies: readers see them; an admin of the entity (or the server admin) changes and applies them.
      {"GET retention", "GET", "/api/v1/retention/vision/p", "",          {401, 200, 200, 200, 403, 200, 200, 401, 401, 200}},
      {"PUT retention", "PUT", "/api/v1/retention/vision/p", R"({"pattern":"none{c}/*","keep_last":5})",
                                                                          {401, 403, 403, 200, 403, 403, 403, 401, 401, 200}},
      {"POST apply (dry)", "POST", "/api/v1/retention/vision/p/apply", R"({"dry_run":true})",
                                                                          {401, 403, 403, 200, 403, 403, 403, 401, 401, 200}},
      {"POST apply", "POST", "/api/v1/retention/vision/p/apply", R"({"dry_run":false})",
                                                                          {401, 403, 403, 200, 403, 403, 403, 401, 401, 200}},
      {"DELETE retention", "DELETE", "/api/v1/retention/vision/p", "",    {401, 403, 403, 200, 403, 403, 403, 401, 401, 200}},
      {"GET ret default", "GET", "/api/v1/retention/vision", "",          {401, 200, 200, 200, 403, 200, 200, 401, 401, 200}},
      {"PUT ret default", "PUT", "/api/v1/retention/vision", R"({"pattern":"none{c}/*","max_age_seconds":60})",
                                                                          {401, 403, 403, 200, 403, 403, 403, 401, 401, 200}},
      {"DELETE ret default", "DELETE", "/api/v1/retention/vision", "",    {401, 403, 403, 200, 403, 403, 403, 401, 401, 200}},
      // The web UI's routes (docs/adr/0023-web-ui.md); a sign-in without X-Cairn-Csrf is refused.
      {"POST session", "POST", "/api/v1/session", login,                  {403, 403, 403, 403, 403, 403, 403, 403, 403, 403}},
      {"GET session", "GET", "/api/v1/session", "",                       {401, 200, 200, 200, 200, 200, 200, 401, 401, 200}},
      {"DELETE session", "DELETE", "/api/v1/session", "",                 {401, 200, 200, 200, 200, 200, 200, 401, 401, 200}},
      {"GET entities", "GET", "/api/v1/entities", "",                     {401, 200, 200, 200, 200, 200, 200, 401, 401, 200}},
      {"GET projects", "GET", "/api/v1/entities/vision/projects", "",     {401, 200, 200, 200, 403, 200, 200, 401, 401, 200}},
      {"GET run summaries", "GET", "/api/v1/projects/vision/p/runs", "",  {401, 200, 200, 200, 403, 200, 200, 401, 401, 200}},
      {"GET file tree", "GET", "/api/v1/runs/vision/p/r/tree", "",        {401, 200, 200, 200, 403, 200, 200, 401, 401, 200}},
      {"GET page", "GET", "/vision/p/runs/r", "",                         {200, 200, 200, 200, 200, 200, 200, 200, 200, 200}},
      {"GET no route", "GET", "/api/v1/nothing", "",                      {404, 404, 404, 404, 404, 404, 404, 404, 404, 404}},
      {"PATCH run", "PATCH", "/api/v1/runs/vision/p/r", "",               {405, 405, 405, 405, 405, 405, 405, 405, 405, 405}},
  };
  // clang-format on
  std::string table = "\n" + std::string(20, ' ');
  for (const char* name : kCallerNames) table += Cell(name);
  table += "\n";
  int cells = 0, wrong = 0;
  for (const Route& route : routes) {
    table += route.label + std::string(20 - std::min<std::size_t>(19, route.label.size()), ' ');
    for (int c = 0; c < kCallers; ++c) {
      auto [status, body] = Call(static_cast<Caller>(c), route, c);
      ++cells;
      const bool ok = status == route.expected[c];
      wrong += !ok;
      table += Cell(std::to_string(status) + (ok ? "" : "!=" + std::to_string(route.expected[c])));
      EXPECT_EQ(status, route.expected[c]) << route.label << " as " << kCallerNames[c] << ": " << body;
      for (const std::string& key : keys_) {
        if (key.size() > 10) {
          EXPECT_EQ(body.find(key.substr(6)), std::string::npos) << "a key in an answer";
        }
      }
      EXPECT_EQ(body.find("correct-horse"), std::string::npos) << "a password in an answer";
      if (status >= 400 && route.method != "HEAD") {
        auto j = Json::parse(body, nullptr, false);
        EXPECT_TRUE(j.is_object() && j.contains("error")) << route.label << ": " << body;
      }
    }
    table += "\n";
  }
  std::printf("%s%d cells, %d wrong\n", table.c_str(), cells, wrong);

  // Keys and passwords never reach the server's log (not even refused ones).
  const std::string log = server_->log();
  for (const std::string& key : keys_) {
    if (key.size() > 10) {
      EXPECT_EQ(log.find(key.substr(6)), std::string::npos) << "a key in the server log";
    }
  }
  EXPECT_EQ(log.find("correct-horse"), std::string::npos) << "a password in the server log";
}

TEST_F(AuthzMatrix, ExpiredAndRevokedKeysSayWhy) {
  auto [expired, e] = Curl("GET", "/api/v1/whoami", keys_[kExpired]);
  EXPECT_EQ(expired, 401);
  EXPECT_NE(e.find("expired"), std::string::npos) << e;
  auto [revoked, r] = Curl("GET", "/api/v1/whoami", keys_[kRevoked]);
  EXPECT_EQ(revoked, 401);
  EXPECT_NE(r.find("revoked"), std::string::npos) << r;
  // And the CLI exits 5 for both.
  for (Caller c : {kExpired, kRevoked}) {
    testing::CommandResult ls = testing::Cairn({"--base-url", server_->base_url(), "ls", "vision/p/r"},
                                               {{"CAIRN_API_KEY", keys_[c]}, {"HOME", "/nonexistent"}});
    EXPECT_EQ(ls.exit_code, 5) << kCallerNames[c] << ": " << ls.err;
  }
}

TEST_F(AuthzMatrix, ReadOnlyKeysComeFromTheCli) {
  testing::CommandResult r = testing::Cairn(
      {"--base-url", server_->base_url(), "keys", "create", "--entity", "carol", "--read-only"},
      {{"CAIRN_API_KEY", keys_[kAdmin]}, {"HOME", "/nonexistent"}});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string key = r.out.substr(0, r.out.find('\n'));
  testing::CommandResult who = testing::Run(
      {"/usr/bin/curl", "-s", "-H", "Authorization: Bearer " + key, server_->base_url() + "/api/v1/whoami"});
  auto j = Json::parse(who.out);
  EXPECT_EQ(j["entity"], "carol");
  EXPECT_EQ(j["read_only"], true);
  // A read-only key cannot make keys either, and the CLI says why.
  testing::CommandResult denied = testing::Cairn(
      {"--base-url", server_->base_url(), "keys", "create", "--entity", "carol"},
      {{"CAIRN_API_KEY", key}, {"HOME", "/nonexistent"}});
  EXPECT_EQ(denied.exit_code, 5) << denied.err;
  EXPECT_NE(denied.err.find("admin"), std::string::npos) << denied.err;
  EXPECT_NE(testing::Cairn({"keys", "create", "--help"}).out.find("--read-only"), std::string::npos);
}

}  // namespace
}  // namespace cairn
