// Retention policies (docs/operations.md, "Retention"; decision in
// docs/adr/0022-operations.md), against the real `cairn server`: applied by
// two replicas at once while saves continue, a pass removes exactly the
// versions it should, never twice, never the latest and never a racing save;
// the background pass of --retention-interval; the CLI (set, show, clear,
// apply --dry-run) and its errors; who may. On SQLite + disk (two servers on
// one data directory) and, under the backends fixture, on PostgreSQL +
// radosgw.
#include <gtest/gtest.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/sha256.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::ServerProcess;
using testing::TempDir;
using Env = std::map<std::string, std::optional<std::string>>;
using Json = nlohmann::json;

constexpr const char* kAdminKey = "cairn_retentionretentionretention000001";

class Retention : public ::testing::Test {
 protected:
  void SetUp() override { backend_ = testing::NewServerBackend(); }

  // A server on the shared data directory and backend: a replica.
  std::unique_ptr<ServerProcess> Replica(std::vector<std::string> extra_args = {}) {
    return std::make_unique<ServerProcess>(tmp_ / "data", Env{{"CAIRN_ADMIN_KEY", kAdminKey}}, backend_,
                                           std::move(extra_args));
  }
  Env As(const ServerProcess& s, const std::string& key) const {
    return {{"CAIRN_BASE_URL", s.base_url()}, {"HOME", tmp_.path().string()}, {"CAIRN_API_KEY", key},
            {"CAIRN_ENTITY", std::nullopt},   {"XDG_CONFIG_HOME", std::nullopt}};
  }
  // curl; returns (status, body).
  static std::pair<int, std::string> Curl(const ServerProcess& s, const std::string& method, const std::string& path,
                                          const std::string& key, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{"/usr/bin/curl", "-s", "--max-time", "60", "-w", "\n%{http_code}", "-X", method,
                                  "-H", "Authorization: Bearer " + key};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(s.base_url() + path);
    CommandResult r = testing::Run(argv);
    const std::size_t nl = r.out.rfind('\n');
    if (nl == std::string::npos) return {0, r.out + r.err};
    return {std::atoi(r.out.substr(nl + 1).c_str()), r.out.substr(0, nl)};
  }
  static Json Api(const ServerProcess& s, const std::string& method, const std::string& path, const Json& body,
                  int expect = 200) {
    auto [status, text] = Curl(s, method, path, kAdminKey,
                               {"-H", "Content-Type: application/json", "--data", body.is_null() ? "" : body.dump()});
    EXPECT_EQ(status, expect) << method << " " << path << ": " << text;
    return Json::parse(text, nullptr, false);
  }
  // Saves `content` as `name` of `run` (e/p/r, which must exist); the version.
  std::int64_t Put(const ServerProcess& s, const std::string& run, const std::string& name, const std::string& content) {
    const fs::path file = tmp_ / ("put-" + std::to_string(counter_++));
    testing::WriteFile(file, content);
    auto [status, text] = Curl(s, "PUT", "/api/v1/runs/" + run + "/files/" + name, kAdminKey,
                               {"-H", "X-Cairn-Sha256: " + internal::Sha256Hex(content), "--data-binary",
                                "@" + file.string()});
    fs::remove(file);
    EXPECT_EQ(status, 201) << text;
    Json j = Json::parse(text, nullptr, false);
    return j.is_object() && j.contains("version") ? j["version"].get<std::int64_t>() : -1;
  }
  std::vector<std::int64_t> Versions(const ServerProcess& s, const std::string& run, const std::string& name) {
    Json j = Api(s, "GET", "/api/v1/runs/" + run + "/versions/" + name, nullptr);
    std::vector<std::int64_t> out;
    if (j.contains("versions")) {
      for (const Json& v : j["versions"]) out.push_back(v["version"].get<std::int64_t>());
    }
    return out;
  }

  TempDir tmp_;
  testing::ServerBackend backend_;
  std::atomic<int> counter_{0};
};

std::vector<std::int64_t> Range(std::int64_t from, std::int64_t to) {
  std::vector<std::int64_t> v;
  for (std::int64_t i = from; i <= to; ++i) v.push_back(i);
  return v;
}

TEST_F(Retention, TwoReplicasApplyingWhileSavesContinueRemoveExactlyWhatTheyShouldOnce) {
  auto a = Replica();
  auto b = Replica();
  for (const char* run : {"ret/p/r1", "ret/p/r2"}) Api(*a, "PUT", std::string("/api/v1/runs/") + run, Json::object(), 201);
  for (int i = 1; i <= 6; ++i) {
    Put(*a, "ret/p/r1", "ckpt/model.pt", "r1 model " + std::to_string(i));
    Put(*b, "ret/p/r2", "ckpt/model.pt", "r2 model " + std::to_string(i));
  }
  for (int i = 1; i <= 3; ++i) Put(*a, "ret/p/r1", "logs/train.txt", "log " + std::to_string(i));
  // Keep the newest 2 checkpoints; logs are not covered.
  Api(*a, "PUT", "/api/v1/retention/ret/p", Json{{"pattern", "ckpt/*"}, {"keep_last", 2}});

  // Saves continue through replica a while both replicas apply, repeatedly.
  std::atomic<bool> stop{false};
  std::vector<std::int64_t> saved;
  std::thread saver([&] {
    for (int i = 7; !stop.load(); ++i) saved.push_back(Put(*a, "ret/p/r1", "ckpt/model.pt", "r1 model " + std::to_string(i)));
  });
  std::vector<Json> answers[2];
  std::thread appliers[2];
  for (int k = 0; k < 2; ++k) {
    appliers[k] = std::thread([&, k] {
      const ServerProcess& s = k == 0 ? *a : *b;
      for (int round = 0; round < 4; ++round) {
        answers[k].push_back(Api(s, "POST", "/api/v1/retention/ret/p/apply", Json{{"dry_run", false}}));
        // The newest saved version is always there.
        std::vector<std::int64_t> left = Versions(s, "ret/p/r1", "ckpt/model.pt");
        EXPECT_GE(left.size(), 1u);
      }
    });
  }
  for (auto& t : appliers) t.join();
  stop = true;
  saver.join();
  ASSERT_FALSE(saved.empty());
  EXPECT_EQ(saved, Range(7, 6 + static_cast<std::int64_t>(saved.size()))) << "a save was lost or misnumbered";
  // Settle: one more pass after the saves stopped.
  answers[0].push_back(Api(*b, "POST", "/api/v1/retention/ret/p/apply", Json::object()));

  // Every removal reported once, across both replicas and every round.
  std::set<std::pair<std::string, std::int64_t>> removed;
  for (const auto& list : answers) {
    for (const Json& answer : list) {
      ASSERT_TRUE(answer.contains("versions")) << answer;
      for (const Json& v : answer["versions"]) {
        EXPECT_EQ(v["name"], "ckpt/model.pt") << "logs are not covered by the policy";
        EXPECT_TRUE(removed.insert({v["run"].get<std::string>(), v["version"].get<std::int64_t>()}).second)
            << "removed twice: " << v;
      }
    }
  }
  const std::int64_t last = saved.back();
  std::set<std::pair<std::string, std::int64_t>> expected;
  for (std::int64_t v = 1; v <= last - 2; ++v) expected.insert({"r1", v});
  for (std::int64_t v = 1; v <= 4; ++v) expected.insert({"r2", v});
  EXPECT_EQ(removed, expected);
  EXPECT_EQ(Versions(*b, "ret/p/r1", "ckpt/model.pt"), Range(last - 1, last));
  EXPECT_EQ(Versions(*a, "ret/p/r2", "ckpt/model.pt"), Range(5, 6));
  EXPECT_EQ(Versions(*a, "ret/p/r1", "logs/train.txt"), Range(1, 3));
  // Removed versions are gone at once, through either replica; the latest restores.
  auto [gone, body] = Curl(*b, "GET", "/api/v1/runs/ret/p/r1/files/ckpt/model.pt?version=1", kAdminKey);
  EXPECT_EQ(gone, 404) << body;
  auto [latest, content] = Curl(*a, "GET", "/api/v1/runs/ret/p/r1/files/ckpt/model.pt", kAdminKey);
  EXPECT_EQ(latest, 200);
  EXPECT_EQ(content, "r1 model " + std::to_string(last));

  // The passes are audit-logged with their counts, and counted in /metrics.
  Json audit = Api(*a, "GET", "/api/v1/audit?entity=ret", nullptr);
  std::int64_t audited = 0;
  for (const Json& e : audit["events"]) {
    if (e["action"] == "retention.apply") audited += e["count"].get<std::int64_t>();
  }
  EXPECT_EQ(audited, static_cast<std::int64_t>(expected.size())) << audit.dump();
  auto [mstatus, metrics] = Curl(*a, "GET", "/metrics", "");
  EXPECT_NE(metrics.find("cairn_retention_passes_total{trigger=\"request\",result=\"ok\"}"), std::string::npos);
  EXPECT_NE(metrics.find("cairn_retention_removed_versions_total"), std::string::npos);
}

TEST_F(Retention, EntityDefaultAppliesInTheBackgroundUnlessTheProjectHasItsOwn) {
  auto s = Replica({"--retention-interval", "1s"});
  for (const char* run : {"bg/p/r", "bg/q/r"}) Api(*s, "PUT", std::string("/api/v1/runs/") + run, Json::object(), 201);
  for (int i = 1; i <= 4; ++i) {
    Put(*s, "bg/p/r", "a.bin", "p " + std::to_string(i));
    Put(*s, "bg/q/r", "a.bin", "q " + std::to_string(i));
  }
  Api(*s, "PUT", "/api/v1/retention/bg", Json{{"keep_last", 1}});               // the entity's default
  Api(*s, "PUT", "/api/v1/retention/bg/q", Json{{"max_age_seconds", 86400}});  // q's own: everything is young
  Json shown = Api(*s, "GET", "/api/v1/retention/bg/q", nullptr);
  EXPECT_EQ(shown["applies"], "project") << shown;
  EXPECT_EQ(shown["policies"][0]["max_age"], "1d") << shown;
  for (int i = 0; i < 100 && Versions(*s, "bg/p/r", "a.bin").size() > 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(Versions(*s, "bg/p/r", "a.bin"), Range(4, 4)) << s->log();
  EXPECT_EQ(Versions(*s, "bg/q/r", "a.bin"), Range(1, 4));
  EXPECT_NE(s->log().find("retention: bg/p: removed 3 versions"), std::string::npos) << s->log();
  EXPECT_EQ(s->Stop(), 0) << "the server did not stop cleanly with the background pass";
}

TEST_F(Retention, CliSetShowClearApplyDryRunAndErrors) {
  auto s = Replica();
  Api(*s, "PUT", "/api/v1/runs/cli/p/r", Json::object(), 201);
  for (int i = 1; i <= 3; ++i) Put(*s, "cli/p/r", "ckpt/w.bin", std::string(1000 * i, 'x'));
  const Env admin = As(*s, kAdminKey);

  CommandResult set = testing::Cairn({"retention", "set", "cli/p", "--pattern", "ckpt/*", "--keep-last", "1"}, admin);
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_NE(set.out.find("ckpt/*"), std::string::npos) << set.out;
  CommandResult def = testing::Cairn({"retention", "set", "cli", "--default", "--max-age", "30d"}, admin);
  ASSERT_EQ(def.exit_code, 0) << def.err;
  CommandResult show = testing::Cairn({"retention", "show", "cli/p", "--json"}, admin);
  ASSERT_EQ(show.exit_code, 0) << show.err;
  Json j = Json::parse(show.out, nullptr, false);
  EXPECT_EQ(j["applies"], "project") << show.out;
  EXPECT_EQ(j["policies"][0]["keep_last"], 1);
  EXPECT_EQ(j["entity_default"][0]["max_age"], "30d");
  EXPECT_EQ(j["entity_default"][0]["max_age_seconds"], 30 * 86400);

  CommandResult dry = testing::Cairn({"retention", "apply", "cli/p", "--dry-run"}, admin);
  ASSERT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("would remove 2 versions"), std::string::npos) << dry.out;
  EXPECT_NE(dry.out.find(", 3000 bytes)"), std::string::npos) << dry.out;  // 1000 + 2000
  EXPECT_NE(dry.out.find("ckpt/w.bin\tv1"), std::string::npos) << dry.out;
  EXPECT_EQ(Versions(*s, "cli/p/r", "ckpt/w.bin"), Range(1, 3)) << "a dry run removed something";
  CommandResult apply = testing::Cairn({"retention", "apply", "cli/p"}, admin);
  ASSERT_EQ(apply.exit_code, 0) << apply.err;
  EXPECT_NE(apply.out.find("removed 2 versions"), std::string::npos) << apply.out;
  EXPECT_EQ(Versions(*s, "cli/p/r", "ckpt/w.bin"), Range(3, 3));
  CommandResult again = testing::Cairn({"retention", "apply", "cli/p"}, admin);
  EXPECT_NE(again.out.find("removed 0 versions"), std::string::npos) << again.out;

  // Clearing one pattern, then a pattern that is not there.
  CommandResult clear = testing::Cairn({"retention", "clear", "cli/p", "--pattern", "ckpt/*"}, admin);
  EXPECT_EQ(clear.exit_code, 0) << clear.err;
  EXPECT_NE(clear.out.find("applies: entity_default"), std::string::npos) << clear.out;
  CommandResult missing = testing::Cairn({"retention", "clear", "cli/p", "--pattern", "nope/*"}, admin);
  EXPECT_EQ(missing.exit_code, 4) << missing.err;
  EXPECT_NE(missing.err.find("no retention policy with pattern 'nope/*'"), std::string::npos) << missing.err;

  // Errors, each before or from the server, saying what to do.
  struct Case {
    std::vector<std::string> args;
    int exit_code;
    std::string says;
  } cases[] = {
      {{"retention", "set", "cli/p"}, 2, "--keep-last N and/or --max-age"},
      {{"retention", "set", "cli/p", "--max-age", "soon"}, 2, "is not a duration"},
      {{"retention", "set", "cli/p", "--keep-last", "0"}, 2, "1 or more"},
      {{"retention", "set", "cli", "--keep-last", "3"}, 2, "ENTITY --default"},
      {{"retention", "set", "cli/p", "--default", "--keep-last", "3"}, 2, "--default takes an entity alone"},
      {{"retention", "apply", "cli"}, 2, "ENTITY/PROJECT"},
      {{"retention", "apply", "cli/nothere"}, 4, "cli/nothere"},
  };
  for (const Case& c : cases) {
    CommandResult r = testing::Cairn(c.args, admin);
    EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
    EXPECT_NE(r.err.find(c.says), std::string::npos) << r.err;
  }
  // A read-only key of the entity sees the policies but may not change or apply them.
  const std::string reader = testing::CreateKey(*s, "cli", /*read_only=*/true);
  EXPECT_EQ(testing::Cairn({"retention", "show", "cli/p"}, As(*s, reader)).exit_code, 0);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"retention", "set", "cli/p", "--keep-last", "1"},
        std::vector<std::string>{"retention", "apply", "cli/p", "--dry-run"},
        std::vector<std::string>{"retention", "clear", "cli", "--default"}}) {
    CommandResult r = testing::Cairn(args, As(*s, reader));
    EXPECT_EQ(r.exit_code, 5) << r.err;
  }
  CommandResult help = testing::Cairn({"retention", "set", "--help"}, {});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--max-age"), std::string::npos) << help.out;
}

}  // namespace
}  // namespace cairn
