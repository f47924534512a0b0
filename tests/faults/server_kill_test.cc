// kill -9 of the server at random moments while several `cairn save`
// processes upload: every acknowledged save restores byte-identical, nothing
// else is visible as a version except saves that were cut off by a kill after
// their commit, and `cairn fsck` finds the store clean.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

#include "common/sha256.h"
#include "faults/fault_util.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::ServerProcess;
using testing::TempDir;

struct Attempt {
  std::string name;
  std::string sha256;
  bool acknowledged = false;
  long version = 0;  // from the CLI's output when acknowledged
};

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

TEST(ServerKill, AcknowledgedSavesSurviveRandomSigkillsAndNothingElseIsVisible) {
  const unsigned seed = faults::FaultSeed("ServerKill");
  const int kKills = EnvInt("CAIRN_FAULT_KILLS", 8);
  constexpr int kClients = 3;
  const auto start = std::chrono::steady_clock::now();

  TempDir tmp;
  ServerProcess server(tmp / "data", {}, testing::ServerBackend{});
  const std::string key = testing::CreateKey(server, "alice");
  const std::string run = "alice/faults/kill";
  const std::map<std::string, std::optional<std::string>> env{{"CAIRN_API_KEY", key},
                                                              {"HOME", "/nonexistent"},
                                                              {"CAIRN_RETRY_MAX_ATTEMPTS", "3"},
                                                              {"CAIRN_RETRY_INITIAL_BACKOFF_MS", "50"},
                                                              {"CAIRN_RETRY_MAX_SECONDS", "5"}};
  testing::WriteFile(tmp / "seed.txt", "x");
  ASSERT_EQ(testing::Cairn({"--base-url", server.base_url(), "save", "--run", run, "--base", tmp.path().string(),
                            (tmp / "seed.txt").string()},
                           env)
                .exit_code,
            0);

  std::mutex mu;
  std::vector<Attempt> attempts;  // guarded by mu
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937 rng(seed + static_cast<unsigned>(c));
      const fs::path dir = tmp / ("client" + std::to_string(c));
      for (int i = 0; !stop; ++i) {
        // Each save has its own bytes, so every version tells which save made it.
        const std::string name = "c" + std::to_string(c) + "/model.bin";
        const std::uint64_t size = 32 * 1024 + rng() % (1024 * 1024);
        Attempt a{.name = name, .sha256 = testing::WriteRandomFile(dir / name, size, rng())};
        testing::CommandResult r = testing::Cairn(
            {"--base-url", server.base_url(), "save", "--run", run, "--base", dir.string(), (dir / name).string()},
            env);
        if (r.exit_code == 0) {
          a.acknowledged = true;
          a.version = std::atol(r.out.substr(r.out.rfind("\tv") + 2).c_str());
          EXPECT_NE(r.out.find(a.sha256), std::string::npos) << r.out;
        }
        std::lock_guard<std::mutex> lock(mu);
        attempts.push_back(std::move(a));
      }
    });
  }

  auto acknowledged_so_far = [&] {
    std::lock_guard<std::mutex> lock(mu);
    return std::count_if(attempts.begin(), attempts.end(), [](const Attempt& a) { return a.acknowledged; });
  };
  std::mt19937 rng(seed);
  for (int k = 0; k < kKills; ++k) {
    // Some saves get through between kills (however slow the machine), then
    // the kill lands at a random moment of the ones in flight.
    const auto before = acknowledged_so_far();
    faults::WaitFor([&] { return acknowledged_so_far() > before; }, std::chrono::seconds(15));
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 400));
    server.Kill();
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 200));
    server.Start();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  for (auto& t : clients) t.join();

  // What the server shows, per name: version -> sha256.
  std::map<std::string, std::map<long, std::string>> visible;
  for (int c = 0; c < kClients; ++c) {
    const std::string name = "c" + std::to_string(c) + "/model.bin";
    testing::CommandResult r = testing::Run(
        {"/usr/bin/curl", "-sf", "-H", "Authorization: Bearer " + key,
         server.base_url() + "/api/v1/runs/" + run + "/versions/" + name});
    ASSERT_EQ(r.exit_code, 0);
    const nlohmann::json answer = nlohmann::json::parse(r.out);
    for (const auto& v : answer["versions"]) {
      visible[name][v["version"].get<long>()] = v["sha256"].get<std::string>();
    }
  }

  int acknowledged = 0, verified = 0, failed = 0, committed_unacknowledged = 0;
  std::set<std::string> attempted;
  for (const Attempt& a : attempts) attempted.insert(a.sha256);
  for (const Attempt& a : attempts) {
    if (!a.acknowledged) {
      ++failed;
      continue;
    }
    ++acknowledged;
    ASSERT_EQ(visible[a.name][a.version], a.sha256) << a.name << " v" << a.version << " was acknowledged";
    const fs::path root = tmp / "restored" / std::to_string(acknowledged);
    testing::CommandResult r =
        testing::Cairn({"--base-url", server.base_url(), "restore", a.name, "--run", run, "--root", root.string(),
                        "--version", std::to_string(a.version)},
                       env);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    ASSERT_EQ(internal::Sha256Hex(testing::ReadFile(root / a.name)), a.sha256);
    ++verified;
  }
  std::set<std::string> acked;
  for (const Attempt& a : attempts) {
    if (a.acknowledged) acked.insert(a.sha256);
  }
  for (const auto& [name, versions] : visible) {
    for (const auto& [version, sha] : versions) {
      // Every version is the whole of one attempted save, never mixed bytes.
      EXPECT_EQ(attempted.count(sha), 1u) << name << " v" << version << " matches no save";
      if (acked.count(sha) == 0) ++committed_unacknowledged;
    }
  }
  // A save the server committed just before a kill cut its answer off is
  // visible without an acknowledgement: at most one per client per kill.
  EXPECT_LE(committed_unacknowledged, kKills * kClients);

  server.Stop();
  testing::CommandResult fsck = testing::Cairn({"fsck", "--data", (tmp / "data").string()});
  EXPECT_EQ(fsck.exit_code, 0) << fsck.out << fsck.err;
  // Blobs of saves cut off between blob and version commit are orphans: gc
  // takes them, and the store stays whole.
  testing::CommandResult gc = testing::Cairn({"gc", "--data", (tmp / "data").string(), "--grace", "0s"});
  EXPECT_EQ(gc.exit_code, 0) << gc.err;
  const long orphans = std::count(gc.out.begin(), gc.out.end(), '\n');
  EXPECT_EQ(testing::Cairn({"fsck", "--data", (tmp / "data").string()}).exit_code, 0);

  std::printf("[faults] ServerKill: %d kills, %zu saves attempted, %d acknowledged, %d verified after restart, "
              "%d failed (%d of them committed before the kill), fsck exit %d, gc removed %ld orphans, %.1f s\n",
              kKills, attempts.size(), acknowledged, verified, failed, committed_unacknowledged, fsck.exit_code,
              orphans, faults::SecondsSince(start));
  EXPECT_EQ(verified, acknowledged);
  EXPECT_GE(acknowledged, kKills) << "too few saves got through to prove anything";
}

}  // namespace
}  // namespace cairn
