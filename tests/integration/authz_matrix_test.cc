// The authorization matrix: every route of docs/http-api.md (and every route
// the router in src/server/handlers.cc knows) x every kind of caller, with the
// exact status code of each cell, printed as a table. Also: no answer and no
// log line ever carries a key.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/sha256.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::ServerProcess;
using testing::TempDir;

enum Caller { kNoKey, kMalformed, kWrongKey, kOtherEntity, kReadOnly, kReadWrite, kAdmin, kCallers };
constexpr const char* kCallerNames[kCallers] = {"no key", "malformed", "wrong key", "other entity",
                                                "read-only", "read-write", "admin"};

// A column of the printed table.
std::string Cell(const std::string& text) { return text + std::string(text.size() < 14 ? 14 - text.size() : 1, ' '); }

struct Route {
  std::string label;
  std::string method;
  std::string path;  // "{c}" is replaced by the caller's column number (fresh names per cell)
  std::string body;  // JSON; or "@file" for a file upload
  int expected[kCallers];
};

class AuthzMatrix : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    server_ = new ServerProcess(tmp_->path() / "data");
    keys_[kNoKey] = "";
    keys_[kMalformed] = "Basic YWxpY2U6c2VjcmV0";  // a whole header value, not a bearer key
    keys_[kWrongKey] = "cairn_ThisKeyWasNeverIssuedByThisServer0123";
    keys_[kOtherEntity] = testing::CreateKey(*server_, "bob");
    keys_[kReadOnly] = testing::CreateKey(*server_, "alice", /*read_only=*/true);
    keys_[kReadWrite] = testing::CreateKey(*server_, "alice");
    keys_[kAdmin] = server_->admin_key();
    // A run with one file, for the read routes.
    testing::WriteFile(tmp_->path() / "src" / "f.bin", "the bytes of f");
    testing::CommandResult r = testing::Cairn({"--base-url", server_->base_url(), "save", "--run", "alice/p/r",
                                               "--base", (tmp_->path() / "src").string(),
                                               (tmp_->path() / "src" / "f.bin").string()},
                                              {{"CAIRN_API_KEY", keys_[kReadWrite]}, {"HOME", "/nonexistent"}});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    // Every key and credential this suite presented (valid, wrong, malformed)
    // must be absent from every line of the server's log.
    const std::string log = server_->log();
    for (const std::string& key : keys_) {
      if (!key.empty() && log.find(key) != std::string::npos) ADD_FAILURE() << "a key appears in the server log";
    }
    if (log.find("YWxpY2U6c2VjcmV0") != std::string::npos) ADD_FAILURE() << "Basic credentials in the server log";
    delete server_;
    delete tmp_;
  }

  // Status code and body of one request.
  static std::pair<int, std::string> Call(Caller who, const Route& route, int column) {
    std::string path = route.path;
    if (auto pos = path.find("{c}"); pos != std::string::npos) path.replace(pos, 3, std::to_string(column));
    std::vector<std::string> argv{"/usr/bin/curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "30"};
    if (route.method == "HEAD") {
      argv.push_back("-I");
    } else {
      argv.insert(argv.end(), {"-X", route.method});
    }
    if (who == kMalformed) {
      argv.insert(argv.end(), {"-H", "Authorization: " + keys_[who]});
    } else if (who != kNoKey) {
      argv.insert(argv.end(), {"-H", "Authorization: Bearer " + keys_[who]});
    }
    if (route.body == "@file") {
      const fs::path file = tmp_->path() / "upload.bin";
      testing::WriteFile(file, "uploaded bytes");
      argv.insert(argv.end(), {"-H", "X-Cairn-Sha256: " + internal::Sha256Hex("uploaded bytes"), "--data-binary",
                               "@" + file.string()});
    } else if (!route.body.empty()) {
      argv.insert(argv.end(), {"--data", route.body});
    }
    argv.push_back(server_->base_url() + path);
    testing::CommandResult r = testing::Run(argv);
    const std::size_t nl = r.out.rfind('\n');
    return {std::atoi(r.out.substr(nl + 1).c_str()), r.out.substr(0, nl)};
  }

  static inline TempDir* tmp_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::string keys_[kCallers];
};

TEST_F(AuthzMatrix, EveryRouteTimesEveryCallerHasItsExactStatus) {
  //                                                     none  bad  wrong other  ro   rw  admin
  const std::vector<Route> routes = {
      {"GET health", "GET", "/api/v1/health", "", {200, 200, 200, 200, 200, 200, 200}},
      {"GET whoami", "GET", "/api/v1/whoami", "", {401, 401, 401, 200, 200, 200, 200}},
      {"POST keys", "POST", "/api/v1/keys", R"({"entity":"alice","read_only":true})",
       {401, 401, 401, 403, 403, 403, 201}},
      {"PUT run (new)", "PUT", "/api/v1/runs/alice/p/new{c}", R"({"resume":"allow"})",
       {401, 401, 401, 403, 403, 201, 201}},
      {"PUT run (exists)", "PUT", "/api/v1/runs/alice/p/r", R"({"resume":"allow"})",
       {401, 401, 401, 403, 403, 200, 200}},
      {"GET run", "GET", "/api/v1/runs/alice/p/r", "", {401, 401, 401, 403, 200, 200, 200}},
      {"GET run (missing)", "GET", "/api/v1/runs/alice/p/missing", "", {401, 401, 401, 403, 404, 404, 404}},
      {"GET runs", "GET", "/api/v1/runs/alice/p", "", {401, 401, 401, 403, 200, 200, 200}},
      {"GET files", "GET", "/api/v1/runs/alice/p/r/files", "", {401, 401, 401, 403, 200, 200, 200}},
      {"GET meta", "GET", "/api/v1/runs/alice/p/r/meta/f.bin", "", {401, 401, 401, 403, 200, 200, 200}},
      {"GET versions", "GET", "/api/v1/runs/alice/p/r/versions/f.bin", "", {401, 401, 401, 403, 200, 200, 200}},
      {"GET file", "GET", "/api/v1/runs/alice/p/r/files/f.bin", "", {401, 401, 401, 403, 200, 200, 200}},
      {"HEAD file", "HEAD", "/api/v1/runs/alice/p/r/files/f.bin", "", {401, 401, 401, 403, 200, 200, 200}},
      {"PUT file", "PUT", "/api/v1/runs/alice/p/r/files/up{c}.bin", "@file", {401, 401, 401, 403, 403, 201, 201}},
      {"GET no route", "GET", "/api/v1/nothing", "", {404, 404, 404, 404, 404, 404, 404}},
      // Deletion: of what the rows above made for the read-write and admin columns.
      {"DELETE file", "DELETE", "/api/v1/runs/alice/p/r/files/up{c}.bin", "", {401, 401, 401, 403, 403, 200, 200}},
      {"DELETE run", "DELETE", "/api/v1/runs/alice/p/new{c}", "", {401, 401, 401, 403, 403, 200, 200}},
      {"PATCH run", "PATCH", "/api/v1/runs/alice/p/r", "", {405, 405, 405, 405, 405, 405, 405}},
  };
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
      EXPECT_EQ(status, route.expected[c]) << route.label << " with " << kCallerNames[c] << ": " << body;
      for (const std::string& key : keys_) {
        if (key.size() > 10) {
          EXPECT_EQ(body.find(key.substr(6)), std::string::npos) << "a key in an answer";
        }
      }
      if (status >= 400 && route.method != "HEAD") {
        auto j = nlohmann::json::parse(body, nullptr, false);
        EXPECT_TRUE(j.is_object() && j.contains("error")) << route.label << ": " << body;
      }
    }
    table += "\n";
  }
  std::printf("%s%d cells, %d wrong\n", table.c_str(), cells, wrong);

  // Keys never reach the server's log (not even the ones it refused).
  const std::string log = server_->log();
  for (const std::string& key : keys_) {
    if (key.size() > 10) {
      EXPECT_EQ(log.find(key.substr(6)), std::string::npos) << "a key in the server log";
    }
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
  auto j = nlohmann::json::parse(who.out);
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
