// W&B scripts that look for a run first (issue 18, docs/wandb.md): the stock
// client's Api().runs(path, filters, order, per_page), Api().projects(entity)
// and the run states, against the real server (SQLite; PostgreSQL under the
// `backends` label). The stock client cannot be installed here, so its query
// texts are sent as it sends them: copied from wandb/apis/public/runs.py
// (_create_runs_query with LIGHTWEIGHT_RUN_FRAGMENT, the __type probes) and
// projects.py (Projects.QUERY) of the wandb/wandb repository.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "cairn/cairn.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::Cairn;
using testing::CommandResult;
using testing::ServerProcess;
using testing::TempDir;
using Env = std::map<std::string, std::optional<std::string>>;

constexpr const char* kProbeProject = R"(
       query ProbeProjectInput {
            ProjectType: __type(name:"Project") {
                fields {
                    name
                }
            }
        })";
constexpr const char* kRuns = R"(
        query Runs($project: String!, $entity: String!, $cursor: String, $perPage: Int = 50, $order: String, $filters: JSONString) {
            project(name: $project, entityName: $entity) {
                internalId
                runCount(filters: $filters)
                readOnly
                runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {
                    edges {
                        node {
                            projectId
                            ...LightweightRunFragment
                        }
                        cursor
                    }
                    pageInfo {
                        endCursor
                        hasNextPage
                    }
                }
            }
        }
        fragment LightweightRunFragment on Run {
    id
    tags
    name
    displayName
    sweepName
    state
    group
    jobType
    commit
    readOnly
    createdAt
    heartbeatAt
    description
    notes
    historyLineCount
    user {
        name
        username
    }
})";
// The full fragment's Run query (runs.py, Run._load_with_fragment), for config.
constexpr const char* kRunConfig = R"(
        query Run($project: String!, $entity: String!, $name: String!) {
            project(name: $project, entityName: $entity) {
                run(name: $name) {
                    projectId
                    ...RunFragment
                }
            }
        }
        fragment RunFragment on Run {
    id tags name displayName sweepName state config group jobType commit readOnly createdAt heartbeatAt
    description notes systemMetrics summaryMetrics historyLineCount user { name username } historyKeys
})";
constexpr const char* kProjects = R"(
        query Projects($entity: String, $cursor: String, $perPage: Int = 50) {
            models(entityName: $entity, after: $cursor, first: $perPage) {
                edges {
                    node {
                        ...ProjectFragment
                    }
                    cursor
                }
                pageInfo {
                    endCursor
                    hasNextPage
                }
            }
        }
        fragment ProjectFragment on Project {
    id
    name
    entityName
    createdAt
    isBenchmark
})";
constexpr const char* kFileUrl = R"(
query RunFiles($project: String!, $entity: String!, $name: String!, $fileNames: [String]) {
  project(name: $project, entityName: $entity) {
    run(name: $name) { files(names: $fileNames) { edges { node { name url md5 sizeBytes } } } }
  }
})";

class WandbRuns : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    fs::create_directories(tmp_->path() / "home");
    server_ = new ServerProcess(tmp_->path() / "data", {{"CAIRN_RUN_STALE_AFTER_S", "3"}});
    alice_ = testing::CreateKey(*server_, "alice");
  }
  static void TearDownTestSuite() {
    delete server_;
    delete tmp_;
  }
  static Env AliceEnv() {
    return {{"CAIRN_BASE_URL", server_->base_url()}, {"CAIRN_API_KEY", alice_},
            {"HOME", (tmp_->path() / "home").string()}, {"CAIRN_RESUME", std::nullopt},
            {"CAIRN_RUN_ID", std::nullopt},          {"CAIRN_ENTITY", std::nullopt}};
  }

  // curl with Basic api:KEY, as the client sends; returns (status, body).
  static std::pair<int, std::string> Curl(std::vector<std::string> args) {
    TempDir t;
    std::vector<std::string> argv{"/usr/bin/curl", "-s", "-L", "-o", (t / "out").string(), "-w", "%{http_code}",
                                  "--max-time",    "60", "-u", "api:" + alice_};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult r = testing::Run(argv);
    return {std::atoi(r.out.c_str()), fs::exists(t / "out") ? testing::ReadFile(t / "out") : ""};
  }
  static Json Post(const std::string& query, const Json& variables = Json::object()) {
    TempDir t;
    testing::WriteFile(t / "body", Json{{"query", query}, {"variables", variables}}.dump());
    auto [status, body] = Curl({"-X", "POST", "-H", "Content-Type: application/json", "--data-binary",
                                "@" + (t / "body").string(), server_->base_url() + "/graphql"});
    Json j = Json::parse(body, nullptr, false);
    j["http_status"] = status;
    return j;
  }
  // PUT of a run through the HTTP API (what init() sends).
  static void PutRun(const std::string& project, const std::string& id, const Json& body) {
    TempDir t;
    testing::WriteFile(t / "body", body.dump());
    auto [status, out] = Curl({"-X", "PUT", "--data-binary", "@" + (t / "body").string(),
                               server_->base_url() + "/api/v1/runs/alice/" + project + "/" + id});
    ASSERT_TRUE(status == 200 || status == 201) << status << " " << out;
  }

  // Every page of Api().runs(path, filters, order, per_page): the run ids in
  // order, the runCount of each page, and the errors.
  struct Listing {
    std::vector<std::string> ids;
    std::vector<long long> counts;
    int pages = 0;
    Json errors;
  };
  static Listing ListRuns(const std::string& project, const Json& filters, const std::string& order, int per_page) {
    Listing out;
    Json cursor = nullptr;
    for (;;) {
      Json r = Post(kRuns, {{"project", project}, {"entity", "alice"}, {"cursor", cursor}, {"perPage", per_page},
                            {"order", order}, {"filters", filters.dump()}});
      if (r.contains("errors")) {
        out.errors = r["errors"];
        return out;
      }
      const Json& p = r["data"]["project"];
      ++out.pages;
      out.counts.push_back(p["runCount"].get<long long>());
      for (const Json& e : p["runs"]["edges"]) out.ids.push_back(e["node"]["name"].get<std::string>());
      if (!p["runs"]["pageInfo"]["hasNextPage"].get<bool>()) return out;
      cursor = p["runs"]["edges"].back()["cursor"];
    }
  }
  static std::string StateOf(const std::string& project, const std::string& id) {
    Json r = Post(kRunConfig, {{"project", project}, {"entity", "alice"}, {"name", id}});
    const Json& run = r["data"]["project"]["run"];
    return run.is_object() ? run["state"].get<std::string>() : "absent";
  }

  static inline TempDir* tmp_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::string alice_;
};

TEST_F(WandbRuns, ListsFiltersOrdersAndCountsAcrossPages) {
  // r0..r6: batch size 32 for even i, 64 for odd; r1 and r4 still running.
  for (int i = 0; i < 7; ++i) {
    Json body{{"resume", "allow"}, {"config", {{"batch_size", i % 2 == 0 ? 32 : 64}, {"lr", 0.1}}}};
    if (i == 1 || i == 4) body["state"] = "running";
    PutRun("proj", "r" + std::to_string(i), body);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // distinct creation times
  }
  PutRun("other", "x", {{"resume", "allow"}});

  Json probe = Post(kProbeProject);
  ASSERT_TRUE(probe["data"]["ProjectType"]["fields"].is_array()) << probe;

  Listing all = ListRuns("proj", Json::object(), "+created_at", 3);
  ASSERT_TRUE(all.errors.is_null()) << all.errors;
  EXPECT_EQ(all.pages, 3);
  EXPECT_EQ(all.ids, (std::vector<std::string>{"r0", "r1", "r2", "r3", "r4", "r5", "r6"}));
  for (long long c : all.counts) EXPECT_EQ(c, 7);

  Listing newest = ListRuns("proj", Json::object(), "-created_at", 2);
  EXPECT_EQ(newest.ids, (std::vector<std::string>{"r6", "r5", "r4", "r3", "r2", "r1", "r0"}));

  Listing finished32 = ListRuns("proj", {{"state", "finished"}, {"config.batch_size", 32}}, "-created_at", 50);
  ASSERT_TRUE(finished32.errors.is_null()) << finished32.errors;
  EXPECT_EQ(finished32.ids, (std::vector<std::string>{"r6", "r2", "r0"}));  // r4 is running
  EXPECT_EQ(finished32.counts, (std::vector<long long>{3}));

  Listing value_form = ListRuns("proj", {{"config.batch_size.value", {{"$in", {64}}}}}, "name", 50);
  EXPECT_EQ(value_form.ids, (std::vector<std::string>{"r1", "r3", "r5"}));

  Listing bad = ListRuns("proj", {{"state", {{"$regex", "fin"}}}}, "+created_at", 50);
  ASSERT_TRUE(bad.errors.is_array()) << "an unknown operator must be an error, never an empty list";
  EXPECT_NE(bad.errors.dump().find("$regex"), std::string::npos) << bad.errors;

  // run.config in the form the client unwraps ({"KEY": {"value": V}}).
  Json run = Post(kRunConfig, {{"project", "proj"}, {"entity", "alice"}, {"name", "r3"}});
  Json config = Json::parse(run["data"]["project"]["run"]["config"].get<std::string>());
  EXPECT_EQ(config["batch_size"]["value"], 64) << run;
  EXPECT_EQ(config["lr"]["value"], 0.1) << run;

  // `cairn runs --json` shows state and config too.
  CommandResult cli = Cairn({"runs", "alice/proj", "--json"}, AliceEnv());
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  Json runs = Json::parse(cli.out);
  ASSERT_EQ(runs.size(), 7u);
  EXPECT_EQ(runs[1]["state"], "running");
  EXPECT_EQ(runs[1]["config"]["batch_size"], 64);

  Json projects = Post(kProjects, {{"entity", "alice"}, {"perPage", 1}});
  ASSERT_FALSE(projects.contains("errors")) << projects;
  EXPECT_EQ(projects["data"]["models"]["edges"][0]["node"]["name"], "other");
  EXPECT_TRUE(projects["data"]["models"]["pageInfo"]["hasNextPage"].get<bool>());
  Json second = Post(kProjects, {{"entity", "alice"}, {"perPage", 1},
                                 {"cursor", projects["data"]["models"]["edges"][0]["cursor"]}});
  EXPECT_EQ(second["data"]["models"]["edges"][0]["node"]["name"], "proj") << second;
}

TEST_F(WandbRuns, NewestFinishedRunWithBatchSize32GivesBackItsFile) {
  TempDir files;
  for (int i = 0; i < 3; ++i) {
    const std::string id = "m" + std::to_string(i);
    PutRun("models", id, {{"resume", "allow"}, {"config", {{"batch_size", 32}}}});
    testing::WriteFile(files / "model.pt", "weights of " + id);
    CommandResult save = Cairn({"save", (files / "model.pt").string(), "--run", "alice/models/" + id, "--base",
                                files.path().string()},
                               AliceEnv());
    ASSERT_EQ(save.exit_code, 0) << save.err;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  PutRun("models", "m3", {{"resume", "allow"}, {"config", {{"batch_size", 32}}}, {"state", "running"}});

  Listing found = ListRuns("models", {{"state", "finished"}, {"config.batch_size", 32}}, "-created_at", 1);
  ASSERT_FALSE(found.ids.empty()) << found.errors;
  EXPECT_EQ(found.ids.front(), "m2");
  Json file = Post(kFileUrl, {{"project", "models"}, {"entity", "alice"}, {"name", found.ids.front()},
                              {"fileNames", {"model.pt"}}});
  const Json& node = file["data"]["project"]["run"]["files"]["edges"][0]["node"];
  auto [status, bytes] = Curl({node["url"].get<std::string>()});
  EXPECT_EQ(status, 200);
  EXPECT_EQ(bytes, "weights of m2");
}

TEST_F(WandbRuns, KilledTrainingIsCrashedThenRunningAgainThenFinished) {
  TempDir dir;
  Env env = AliceEnv();
  env["CAIRN_DIR"] = dir.path().string();
  env["CAIRN_HEARTBEAT_S"] = "1";
  const std::string trainer = testing::ExampleBinary("train_resume").string();
  CommandResult killed = testing::Run(
      {trainer, "--steps", "40", "--checkpoint-every", "5", "--step-ms", "50", "--crash-at", "12", "--project", "crash"},
      env);
  ASSERT_EQ(killed.exit_code, -1) << "expected a SIGKILL:\n" << killed.out << killed.err;
  const std::size_t at = killed.out.find("started run alice/crash/");
  ASSERT_NE(at, std::string::npos) << killed.out;
  std::string id = killed.out.substr(at + std::string("started run alice/crash/").size());
  id = id.substr(0, id.find_first_of(" \n"));

  // Stale after 3 s without a heartbeat (CAIRN_RUN_STALE_AFTER_S).
  const auto killed_at = std::chrono::steady_clock::now();
  std::string state;
  while ((state = StateOf("crash", id)) != "crashed" && std::chrono::steady_clock::now() - killed_at < std::chrono::seconds(30)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_EQ(state, "crashed");
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, std::chrono::seconds(10));

  // The resumed process holds it again (heartbeats every second) ...
  testing::BackgroundProcess resumed(
      {trainer, "--steps", "120", "--checkpoint-every", "5", "--step-ms", "50", "--project", "crash"}, env);
  const auto started = std::chrono::steady_clock::now();
  while ((state = StateOf("crash", id)) != "running" && std::chrono::steady_clock::now() - started < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(state, "running");
  std::this_thread::sleep_for(std::chrono::seconds(4));  // longer than the threshold: beats keep it running
  EXPECT_EQ(StateOf("crash", id), "running");
  // ... and finish() marks it finished.
  CommandResult done = resumed.Wait();
  ASSERT_EQ(done.exit_code, 0) << done.out << done.err;
  EXPECT_NE(done.out.find("resumed run alice/crash/" + id), std::string::npos) << done.out;
  EXPECT_EQ(StateOf("crash", id), "finished");
}

TEST_F(WandbRuns, InitSetsTheConfigAndResumeMergesIt) {
  TempDir dir;
  const ClientOptions client{.base_url = server_->base_url(), .api_key = alice_, .entity = "alice",
                             .project = "sdk", .dir = dir.path().string()};
  auto bad = init({.client = client, .id = "c1", .config = "[32]"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("JSON object"), std::string::npos) << bad.status();
  auto huge = init({.client = client, .id = "c1", .config = R"({"x":")" + std::string(70000, 'y') + "\"}"});
  ASSERT_EQ(huge.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(huge.status().message().find("65536"), std::string::npos) << huge.status();

  auto run = init({.client = client, .id = "c1", .config = R"({"batch_size": 32, "lr": 0.1})"});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(StateOf("sdk", "c1"), "running");
  ASSERT_TRUE(run->finish().ok());
  EXPECT_EQ(StateOf("sdk", "c1"), "finished");

  auto resumed = init({.client = client, .id = "c1", .resume = "must", .config = R"({"lr": 0.01})"});
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ(StateOf("sdk", "c1"), "running");
  ASSERT_TRUE(resumed->finish().ok());
  Json r = Post(kRunConfig, {{"project", "sdk"}, {"entity", "alice"}, {"name", "c1"}});
  Json config = Json::parse(r["data"]["project"]["run"]["config"].get<std::string>());
  EXPECT_EQ(config, Json::parse(R"({"batch_size":{"value":32,"desc":null},"lr":{"value":0.01,"desc":null}})"));
}

}  // namespace
}  // namespace cairn
