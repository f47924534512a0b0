// Cairn's main job end to end: examples/train_resume killed with SIGKILL at
// random steps, resumed with resume=auto, always ends with the digest of an
// uninterrupted run; a server outage during training loses no checkpoint.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <set>
#include <thread>

#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::BackgroundProcess;
using testing::Cairn;
using testing::CommandResult;
using testing::ServerProcess;
using testing::TempDir;
using Env = std::map<std::string, std::optional<std::string>>;

std::string Capture(const std::string& text, const std::string& pattern) {
  std::smatch m;
  if (std::regex_search(text, m, std::regex(pattern))) return m[1];
  return "";
}

class TrainResume : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    server_ = new ServerProcess(tmp_->path() / "data");
    key_ = testing::CreateKey(*server_, "trainer");
  }
  static void TearDownTestSuite() {
    delete server_;
    delete tmp_;
  }
  static Env EnvFor(const fs::path& dir) {
    return {{"CAIRN_BASE_URL", server_->base_url()}, {"CAIRN_API_KEY", key_}, {"CAIRN_DIR", dir.string()},
            {"HOME", tmp_->path().string()}, {"CAIRN_RESUME", std::nullopt}, {"CAIRN_RUN_ID", std::nullopt},
            {"CAIRN_ENTITY", std::nullopt}, {"CAIRN_MODE", std::nullopt}};
  }
  static CommandResult Train(const fs::path& dir, std::vector<std::string> args) {
    std::vector<std::string> argv{testing::ExampleBinary("train_resume").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::Run(argv, EnvFor(dir));
  }
  static inline TempDir* tmp_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::string key_;
};

TEST_F(TrainResume, RandomSigkillsAlwaysEndWithTheUninterruptedDigest) {
  const std::vector<std::string> common{"--steps", "120", "--checkpoint-every", "7"};
  TempDir clean;
  CommandResult reference = Train(clean.path(), common);
  ASSERT_EQ(reference.exit_code, 0) << reference.err;
  std::string want = Capture(reference.out, "final weights sha256 ([0-9a-f]{64})");
  ASSERT_FALSE(want.empty()) << reference.out;
  EXPECT_FALSE(fs::exists(clean / "cairn/resume.json")) << "a clean finish deletes the resume file";

  for (const std::string policy : {"now", "live"}) {
    std::mt19937 rng(policy == "now" ? 11 : 12);
    std::set<int> crash_steps;
    int kills = 0;
    while (crash_steps.size() < 8) crash_steps.insert(std::uniform_int_distribution<int>(1, 119)(rng));
    TempDir dir;
    std::string run_id;
    for (int crash : crash_steps) {
      std::vector<std::string> args = common;
      args.insert(args.end(), {"--policy", policy, "--crash-at", std::to_string(crash)});
      CommandResult killed = Train(dir.path(), args);
      std::string id = Capture(killed.out, "(?:started|resumed) run \\S+/(\\S+)");
      if (run_id.empty()) run_id = id;
      EXPECT_EQ(id, run_id) << "resume=auto must take the same run after a crash";
      // Crash steps ascend and a resumed run restarts at or before the previous
      // crash, so every one of these runs must reach its crash step and die there.
      EXPECT_EQ(killed.exit_code, -1) << "expected SIGKILL at step " << crash << ":\n" << killed.out;
      EXPECT_NE(killed.out.find("crashing at step " + std::to_string(crash)), std::string::npos) << killed.out;
      EXPECT_TRUE(fs::exists(dir / "cairn/resume.json"));
      if (killed.exit_code == -1) ++kills;
    }
    std::printf("[ policy %s ] %d SIGKILLs at steps", policy.c_str(), kills);
    for (int c : crash_steps) std::printf(" %d", c);
    std::printf("\n");
    std::vector<std::string> args = common;
    args.insert(args.end(), {"--policy", policy});
    CommandResult last = Train(dir.path(), args);
    ASSERT_EQ(last.exit_code, 0) << last.err;
    EXPECT_EQ(Capture(last.out, "(?:started|resumed) run \\S+/(\\S+)"), run_id);
    EXPECT_EQ(Capture(last.out, "final weights sha256 ([0-9a-f]{64})"), want) << policy << ":\n" << last.out;
    EXPECT_FALSE(fs::exists(dir / "cairn/resume.json"));
  }
}

TEST_F(TrainResume, ServerOutageDuringTrainingLosesNoCheckpoint) {
  TempDir dir;
  std::vector<std::string> argv{testing::ExampleBinary("train_resume").string(), "--steps", "150",
                                "--checkpoint-every", "10", "--step-ms", "20", "--project", "outage"};
  BackgroundProcess trainer(argv, EnvFor(dir.path()));
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  ASSERT_EQ(server_->Stop(), 0);
  std::this_thread::sleep_for(std::chrono::seconds(4));  // training goes on; uploads fail and retry
  server_->Start();
  CommandResult done = trainer.Wait();
  ASSERT_EQ(done.exit_code, 0) << done.out << done.err;
  std::string run = Capture(done.out, "(?:started|resumed) run (\\S+)");
  CommandResult ls = Cairn({"ls", run, "--json"}, EnvFor(dir.path()));
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  std::set<std::string> names;
  for (auto& f : nlohmann::json::parse(ls.out)) names.insert(f["name"].get<std::string>());
  for (int step = 10; step <= 150; step += 10) {
    char name[40];
    std::snprintf(name, sizeof name, "ckpt/step-%06d.bin", step);
    EXPECT_TRUE(names.count(name)) << name << " is missing on the server";
  }
  EXPECT_TRUE(names.count("checkpoint.bin"));
  // The latest checkpoint.bin on the server is the final one.
  TempDir out;
  CommandResult r = Cairn({"restore", "checkpoint.bin", "--run", run, "--root", out.path().string()},
                          EnvFor(dir.path()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  fs::path local_final;
  for (auto& e : fs::recursive_directory_iterator(dir / "cairn")) {
    if (e.path().filename() == "step-000150.bin") local_final = e.path();
  }
  ASSERT_FALSE(local_final.empty());
  EXPECT_EQ(testing::ReadFile(out / "checkpoint.bin"), testing::ReadFile(local_final));
}

// docs/spec/restore.md step 5: an offline run started from scratch finds "no
// checkpoint yet" instead of failing; synced, it restores what it trained, and
// its digest is an online run's. Resumed offline, or another run's path, the
// clear error stays.
TEST_F(TrainResume, OfflineRunFromScratchTrainsSyncsAndRestoresTheOnlineDigest) {
  const std::vector<std::string> common{"--steps", "60", "--checkpoint-every", "10", "--project", "offline"};
  TempDir online_dir;
  CommandResult online = Train(online_dir.path(), common);
  ASSERT_EQ(online.exit_code, 0) << online.err;
  const std::string want = Capture(online.out, "final weights sha256 ([0-9a-f]{64})");
  ASSERT_FALSE(want.empty()) << online.out;

  TempDir dir;
  Env offline = EnvFor(dir.path());
  offline["CAIRN_MODE"] = "offline";
  offline["CAIRN_BASE_URL"] = "http://127.0.0.1:9";  // never asked
  std::vector<std::string> argv{testing::ExampleBinary("train_resume").string()};
  argv.insert(argv.end(), common.begin(), common.end());
  CommandResult trained = testing::Run(argv, offline);
  ASSERT_EQ(trained.exit_code, 0) << trained.out << trained.err;
  EXPECT_NE(trained.out.find("started run"), std::string::npos) << trained.out;
  EXPECT_EQ(Capture(trained.out, "final weights sha256 ([0-9a-f]{64})"), want) << trained.out;

  fs::path run_dir;
  for (const auto& e : fs::directory_iterator(dir / "cairn")) {
    if (e.is_directory() && e.path().filename().string().rfind("run-", 0) == 0) run_dir = e.path();
  }
  ASSERT_FALSE(run_dir.empty());
  CommandResult sync = Cairn({"sync", run_dir.string()}, EnvFor(dir.path()));
  ASSERT_EQ(sync.exit_code, 0) << sync.out << sync.err;
  const std::string run_id = Capture(trained.out, "started run \\S*/(\\S+)");
  ASSERT_FALSE(run_id.empty()) << trained.out;

  // Another process loads the synced run's checkpoint: the same bytes, the online digest.
  TempDir out;
  CommandResult inspect = testing::Run({testing::ExampleBinary("train_resume").string(), "--inspect",
                                        "trainer/offline/" + run_id, "--root", out.path().string()},
                                       EnvFor(dir.path()));
  ASSERT_EQ(inspect.exit_code, 0) << inspect.out << inspect.err;
  EXPECT_NE(inspect.out.find("step 60, weights sha256 " + want), std::string::npos) << inspect.out;
  EXPECT_EQ(testing::ReadFile(out / "checkpoint.bin"), testing::ReadFile(run_dir / "files/checkpoint.bin"));

  // Offline, another run's path still fails clearly (exit 1, says offline).
  Env offline_other = offline;
  CommandResult other = testing::Run({testing::ExampleBinary("train_resume").string(), "--inspect",
                                      "trainer/offline/" + run_id, "--root", out.path().string() + "/x"},
                                     offline_other);
  EXPECT_EQ(other.exit_code, 1) << other.out << other.err;
  EXPECT_NE(other.err.find("mode is offline"), std::string::npos) << other.err;

  // Offline and resumed after a crash: the checkpoint may be only in the store, so the error stays.
  TempDir crashy;
  Env crashy_env = EnvFor(crashy.path());
  crashy_env["CAIRN_MODE"] = "offline";
  std::vector<std::string> crash_argv = argv;
  crash_argv.insert(crash_argv.end(), {"--crash-at", "15"});
  CommandResult killed = testing::Run(crash_argv, crashy_env);
  EXPECT_EQ(killed.exit_code, -1) << killed.out << killed.err;
  CommandResult resumed = testing::Run(argv, crashy_env);
  EXPECT_EQ(resumed.exit_code, 1) << resumed.out << resumed.err;
  EXPECT_NE(resumed.out.find("resumed run"), std::string::npos) << resumed.out;
  EXPECT_NE(resumed.err.find("mode is offline"), std::string::npos) << resumed.err;
}

}  // namespace
}  // namespace cairn
