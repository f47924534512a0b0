// kill -9 of `cairn save` and `cairn restore` at random moments: the run
// never shows a partial or mixed version, the restore target always holds
// either its old bytes or the new ones, and a rerun completes.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/sha256.h"
#include "faults/fault_util.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::BackgroundProcess;
using testing::ServerProcess;
using testing::TempDir;

constexpr std::uint64_t kFileSize = 24ull << 20;

class ClientKill : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(tmp_ / "data", std::map<std::string, std::optional<std::string>>{},
                                              testing::ServerBackend{});
    env_ = {{"CAIRN_API_KEY", testing::CreateKey(*server_, "alice")}, {"HOME", "/nonexistent"}};
  }

  std::vector<std::string> Args(std::vector<std::string> args) const {
    args.insert(args.begin(), {testing::CairnBinary().string(), "--base-url", server_->base_url()});
    return args;
  }

  // The sha256 of every version of `name`, oldest first.
  std::vector<std::string> Versions(const std::string& name) const {
    testing::CommandResult r =
        testing::Run({"/usr/bin/curl", "-sf", "-H", "Authorization: Bearer " + *env_.at("CAIRN_API_KEY"),
                      server_->base_url() + "/api/v1/runs/" + kRun + "/versions/" + name});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    std::vector<std::string> out;
    const nlohmann::json answer = nlohmann::json::parse(r.out);
    for (const auto& v : answer["versions"]) out.push_back(v["sha256"]);
    return out;
  }

  // Runs `args` in the background and SIGKILLs it after `after`; true when
  // it was still running then (the kill landed mid-transfer).
  bool RunAndKill(const std::vector<std::string>& args, std::chrono::microseconds after) const {
    BackgroundProcess p(Args(args), env_);
    std::this_thread::sleep_for(after);
    const bool running = ::kill(p.pid(), 0) == 0 && testing::ReadFile("/proc/" + std::to_string(p.pid()) + "/stat")
                                                            .find(") Z") == std::string::npos;
    ::kill(p.pid(), SIGKILL);
    p.Wait();
    return running;
  }

  std::chrono::microseconds Timed(const std::vector<std::string>& args) const {
    const auto start = std::chrono::steady_clock::now();
    testing::CommandResult r = testing::Run(Args(args), env_);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
  }

  static constexpr const char* kRun = "alice/faults/client";
  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::map<std::string, std::optional<std::string>> env_;
};

TEST_F(ClientKill, KilledSavesNeverShowAPartialVersionAndARerunCommits) {
  const unsigned seed = faults::FaultSeed("ClientKill.save");
  std::mt19937 rng(seed);
  const auto start = std::chrono::steady_clock::now();
  const fs::path dir = tmp_ / "src";
  std::set<std::string> attempted{testing::WriteRandomFile(dir / "model.bin", kFileSize, rng())};
  const std::vector<std::string> save{"save", "--run", kRun, "--base", dir.string(), (dir / "model.bin").string()};
  const auto duration = Timed(save);
  int kills = 0, mid_transfer = 0;
  for (int i = 0; i < 5; ++i, ++kills) {
    const std::string sha = testing::WriteRandomFile(dir / "model.bin", kFileSize, rng());
    attempted.insert(sha);
    mid_transfer += RunAndKill(save, std::chrono::microseconds(rng() % duration.count()));
    for (const std::string& v : Versions("model.bin")) EXPECT_EQ(attempted.count(v), 1u) << "a version of no save";
    testing::CommandResult rerun = testing::Run(Args(save), env_);
    ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
    const std::vector<std::string> versions = Versions("model.bin");
    ASSERT_FALSE(versions.empty());
    EXPECT_EQ(versions.back(), sha);
  }
  std::printf("[faults] ClientKill.save: %d kills (%d mid-transfer), every rerun committed, %.1f s\n", kills,
              mid_transfer, faults::SecondsSince(start));
}

TEST_F(ClientKill, KilledRestoresLeaveTheOldOrTheNewFileAndARerunCompletes) {
  const unsigned seed = faults::FaultSeed("ClientKill.restore");
  std::mt19937 rng(seed);
  const auto start = std::chrono::steady_clock::now();
  const fs::path dir = tmp_ / "src";
  const std::string new_sha = testing::WriteRandomFile(dir / "model.bin", kFileSize, rng());
  ASSERT_EQ(testing::Run(Args({"save", "--run", kRun, "--base", dir.string(), (dir / "model.bin").string()}), env_)
                .exit_code,
            0);
  const fs::path root = tmp_ / "restore";
  const std::vector<std::string> restore{"restore", "model.bin", "--run", kRun, "--root", root.string(), "--replace"};
  const std::string old_sha = testing::WriteRandomFile(root / "model.bin", kFileSize / 2, rng());
  const std::string old_bytes = testing::ReadFile(root / "model.bin");
  Timed(restore);  // warm: the page cache holds the blob now
  const auto duration = Timed(restore);
  int kills = 0, mid_transfer = 0, old_seen = 0;
  for (int i = 0; i < 6; ++i, ++kills) {
    testing::WriteFile(root / "model.bin", old_bytes);
    mid_transfer += RunAndKill(restore, std::chrono::microseconds(rng() % duration.count()));
    const std::string sha = internal::Sha256Hex(testing::ReadFile(root / "model.bin"));
    ASSERT_TRUE(sha == old_sha || sha == new_sha) << "the target holds partial or mixed bytes after kill " << i;
    old_seen += sha == old_sha;
    testing::CommandResult rerun = testing::Run(Args(restore), env_);
    ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
    ASSERT_EQ(internal::Sha256Hex(testing::ReadFile(root / "model.bin")), new_sha);
  }
  // A rerun removes the temps that killed restores left beside the target.
  int leftovers = 0;
  for (const auto& e : fs::directory_iterator(root)) leftovers += e.path().filename() != "model.bin";
  EXPECT_EQ(leftovers, 0);
  std::printf("[faults] ClientKill.restore: %d kills (%d mid-transfer, %d left the old file), %d temp files left "
              "beside the target, %.1f s\n",
              kills, mid_transfer, old_seen, leftovers, faults::SecondsSince(start));
}

// `cairn save DIR` of many files killed midway: every version on the server
// is one whole file (its digest is that file's), and a rerun saves them all.
TEST_F(ClientKill, KilledBatchSaveCommitsOnlyWholeFiles) {
  const unsigned seed = faults::FaultSeed("ClientKill.batch_save");
  std::mt19937 rng(seed);
  const auto start = std::chrono::steady_clock::now();
  const fs::path dir = tmp_ / "src";
  std::map<std::string, std::string> want;
  for (int i = 0; i < 300; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "batch/f-%04d.bin", i);
    want[name] = testing::WriteRandomFile(dir / name, (64 << 10) + rng() % (512 << 10), rng());
  }
  const std::vector<std::string> save{"save", (dir / "batch").string(), "--run", kRun, "--base", dir.string(), "-q"};
  const auto duration = Timed(save);  // into the run once; the kills below add versions
  const auto list = [&] {
    testing::CommandResult r = testing::Run(Args({"ls", kRun, "--json"}), env_);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return nlohmann::json::parse(r.out.empty() ? "[]" : r.out);
  };
  std::map<std::string, std::set<std::string>> written;  // every content each file ever had
  for (const auto& [name, sha] : want) written[name].insert(sha);
  int mid_transfer = 0;
  for (int round = 0; round < 3; ++round) {
    // New content for every file, so that what the killed save committed is recognisable.
    for (auto& [name, sha] : want) {
      sha = testing::WriteRandomFile(dir / name, (64 << 10) + rng() % (512 << 10), rng());
      written[name].insert(sha);
    }
    const auto after = duration.count() / 5 + static_cast<long>(rng() % (duration.count() * 3 / 5));
    mid_transfer += RunAndKill(save, std::chrono::microseconds(after));
    int committed = 0;
    for (const auto& f : list()) {
      const std::string name = f["name"];
      ASSERT_TRUE(want.count(name)) << "a file that was never saved: " << name;
      const std::string sha = f["sha256"];
      EXPECT_EQ(written[name].count(sha), 1u) << name << ": the latest version is no whole file";
      if (sha == want[name]) {
        ++committed;
        EXPECT_EQ(f["size"].get<std::uint64_t>(), fs::file_size(dir / name));
      }
    }
    testing::CommandResult rerun = testing::Run(Args(save), env_);
    ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
    const nlohmann::json after_rerun = list();
    EXPECT_EQ(after_rerun.size(), want.size());
    for (const auto& f : after_rerun) EXPECT_EQ(f["sha256"].get<std::string>(), want[f["name"]]);
    std::printf("[faults] ClientKill.batch_save: round %d killed after %ld ms with %d of %zu files committed\n", round,
                static_cast<long>(after / 1000), committed, want.size());
  }
  std::printf("[faults] ClientKill.batch_save: 3 kills (%d mid-transfer), %.1f s\n", mid_transfer,
              faults::SecondsSince(start));
}

// A glob restore of 2,000 small files killed midway: what it placed is whole
// and verified, and a rerun completes every file and leaves nothing beside
// them -- no partial, sidecar, placing temp or lock file (a `.NAME.cairn-lock`
// stayed behind when the killed run had already placed NAME, before ADR 0026).
TEST_F(ClientKill, KilledGlobRestoreOfManyFilesRerunsToVerifiedFilesAndNothingBeside) {
  const unsigned seed = faults::FaultSeed("ClientKill.glob");
  std::mt19937 rng(seed);
  const auto start = std::chrono::steady_clock::now();
  constexpr int kFiles = 2000;
  const fs::path dir = tmp_ / "src";
  std::map<std::string, std::string> want;  // name -> sha256
  std::vector<std::string> save{"save", "--run", kRun, "--base", dir.string()};
  for (int i = 0; i < kFiles; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "shards/s-%05d.bin", i);
    want[name] = testing::WriteRandomFile(dir / name, 64 << 10, rng());
    save.push_back((dir / name).string());
  }
  testing::CommandResult saved = testing::Run(Args(save), env_);
  ASSERT_EQ(saved.exit_code, 0) << saved.err;
  const auto restore = [&](const fs::path& root) {
    return std::vector<std::string>{"restore", "shards/*", "--run", kRun, "--root", root.string(), "--quiet"};
  };
  const auto duration = Timed(restore(tmp_ / "warm"));  // also warms the server's page cache
  int mid_transfer = 0;
  for (int round = 0; round < 3; ++round) {
    const fs::path root = tmp_ / ("r" + std::to_string(round));
    const auto after = duration.count() / 5 + static_cast<long>(rng() % (duration.count() * 3 / 5));
    mid_transfer += RunAndKill(restore(root), std::chrono::microseconds(after));
    // What the killed run placed is whole and verified.
    int placed = 0, dot_files = 0;
    for (const auto& e : fs::directory_iterator(root / "shards")) {
      const std::string base = e.path().filename().string();
      dot_files += base.front() == '.';
      if (base.front() == '.') continue;
      ++placed;
      ASSERT_EQ(internal::Sha256Hex(testing::ReadFile(e.path())), want.at("shards/" + base)) << "half-written";
    }
    testing::CommandResult rerun = testing::Run(Args(restore(root)), env_);
    ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
    std::vector<std::string> beside;
    int verified = 0;
    for (const auto& e : fs::directory_iterator(root / "shards")) {
      const std::string base = e.path().filename().string();
      if (!want.count("shards/" + base)) {
        beside.push_back(base);
        continue;
      }
      verified += internal::Sha256Hex(testing::ReadFile(e.path())) == want.at("shards/" + base);
    }
    EXPECT_EQ(verified, kFiles);
    EXPECT_TRUE(beside.empty()) << beside.size() << " files left beside the restored ones, e.g. " << beside.front();
    std::printf(
        "[faults] ClientKill.glob: round %d killed after %ld ms with %d of %d files placed, %d dot files "
        "beside them\n",
        round, static_cast<long>(after / 1000), placed, kFiles, dot_files);
  }
  std::printf("[faults] ClientKill.glob: 3 kills (%d mid-transfer), every rerun complete and clean, %.1f s\n",
              mid_transfer, faults::SecondsSince(start));
}

}  // namespace
}  // namespace cairn
