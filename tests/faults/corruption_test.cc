// Damage behind the server's back (a flipped byte, a truncated blob, a
// deleted blob): restore fails with a clear error and never writes the bad
// bytes; `cairn fsck` reports each one (and --quarantine moves them aside);
// saving the same bytes again repairs the store.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/sha256.h"
#include "faults/fault_util.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::ServerProcess;
using testing::TempDir;

TEST(Corruption, DamagedBlobsFailRestoreCleanlyAndFsckFindsAndQuarantinesThem) {
  const unsigned seed = faults::FaultSeed("Corruption");
  const auto start = std::chrono::steady_clock::now();
  TempDir tmp;
  ServerProcess server(tmp / "data", {}, testing::ServerBackend{});
  const std::map<std::string, std::optional<std::string>> env{{"CAIRN_API_KEY", testing::CreateKey(server, "alice")},
                                                              {"HOME", "/nonexistent"},
                                                              {"CAIRN_RETRY_MAX_ATTEMPTS", "2"},
                                                              {"CAIRN_RETRY_INITIAL_BACKOFF_MS", "20"}};
  const std::string run = "alice/faults/corrupt";
  const fs::path src = tmp / "src";
  const std::vector<std::string> names{"flipped.bin", "truncated.bin", "deleted.bin", "intact.bin"};
  std::map<std::string, std::string> sha;
  std::mt19937 rng(seed);
  std::vector<std::string> save{"--base-url", server.base_url(), "save", "--run", run, "--base", src.string()};
  for (const std::string& n : names) {
    sha[n] = testing::WriteRandomFile(src / n, 256 * 1024 + rng() % 65536, rng());
    save.push_back((src / n).string());
  }
  ASSERT_EQ(testing::Cairn(save, env).exit_code, 0);
  const std::vector<std::string> fsck{"fsck", "--data", server.data_dir().string(), "--json"};
  testing::CommandResult clean = testing::Cairn(fsck);
  ASSERT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_EQ(nlohmann::json::parse(clean.out)["blobs_checked"], 4);

  const std::uint64_t flip_at = rng() % (256 * 1024);
  testing::CorruptBlob(server, sha["flipped.bin"], flip_at);
  fs::resize_file(testing::BlobPath(server.data_dir(), sha["truncated.bin"]), 1000);
  fs::remove(testing::BlobPath(server.data_dir(), sha["deleted.bin"]));

  const fs::path root = tmp / "restore";
  for (const std::string n : {"flipped.bin", "truncated.bin", "deleted.bin"}) {
    fs::remove_all(root);
    testing::WriteFile(root / n, "the old local copy");
    testing::CommandResult r = testing::Cairn(
        {"--base-url", server.base_url(), "restore", n, "--run", run, "--root", root.string(), "--replace"}, env);
    EXPECT_EQ(r.exit_code, 1) << n << ": " << r.err;
    EXPECT_EQ(testing::ReadFile(root / n), "the old local copy") << n;
    int files = 0;
    for (const auto& e : fs::directory_iterator(root)) files += e.is_regular_file();
    EXPECT_EQ(files, 1) << n << ": something besides the old copy was left in " << root;
    EXPECT_EQ(r.err.find(server.data_dir().string()), std::string::npos) << "an internal path reached the client";
    // An integrity error, not "try again later": flipped bytes are caught by
    // the client's check, missing or short blobs by the server.
    EXPECT_NE(r.err.find(n == std::string("flipped.bin") ? "integrity" : "damaged or missing"), std::string::npos)
        << r.err;
    EXPECT_EQ(r.err.find("try again"), std::string::npos) << r.err;
    std::printf("[faults] Corruption: restore of %s: exit %d: %s", n.c_str(), r.exit_code, r.err.c_str());
  }
  EXPECT_EQ(testing::Cairn({"--base-url", server.base_url(), "restore", "intact.bin", "--run", run, "--root",
                            root.string()},
                           env)
                .exit_code,
            0);

  // fsck beside the running server: three problems, named.
  testing::CommandResult found = testing::Cairn(fsck);
  EXPECT_EQ(found.exit_code, 1) << found.err;
  auto report = nlohmann::json::parse(found.out);
  std::map<std::string, std::string> kinds;
  for (const auto& p : report["problems"]) kinds[p["sha256"]] = p["kind"];
  EXPECT_EQ(kinds, (std::map<std::string, std::string>{{sha["flipped.bin"], "corrupt"},
                                                       {sha["truncated.bin"], "corrupt"},
                                                       {sha["deleted.bin"], "missing"}}))
      << found.out;
  testing::CommandResult text = testing::Cairn({"fsck", "--data", server.data_dir().string()});
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.out.find(run + ":deleted.bin v1"), std::string::npos) << text.out;

  testing::CommandResult quarantined = testing::Cairn({"fsck", "--data", server.data_dir().string(), "--quarantine"});
  EXPECT_EQ(quarantined.exit_code, 1);
  for (const std::string n : {"flipped.bin", "truncated.bin"}) {
    EXPECT_TRUE(fs::exists(server.data_dir() / "quarantine" / sha[n])) << n;
    EXPECT_FALSE(fs::exists(testing::BlobPath(server.data_dir(), sha[n]))) << n;
  }
  EXPECT_EQ(fs::file_size(server.data_dir() / "quarantine" / sha["truncated.bin"]), 1000u);

  // Saving the same bytes again brings the blobs back: the store is whole.
  ASSERT_EQ(testing::Cairn(save, env).exit_code, 0);
  testing::CommandResult repaired = testing::Cairn(fsck);
  EXPECT_EQ(repaired.exit_code, 0) << repaired.out;
  for (const std::string n : {"flipped.bin", "truncated.bin", "deleted.bin"}) {
    testing::CommandResult r = testing::Cairn({"--base-url", server.base_url(), "restore", n, "--run", run, "--root",
                                               root.string(), "--replace", "--version", "1"},
                                              env);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(internal::Sha256Hex(testing::ReadFile(root / n)), sha[n]);
  }
  std::printf("[faults] Corruption: 3 blobs damaged, 3 restores refused, fsck found %zu, quarantined 2, repaired; "
              "%.1f s\n",
              report["problems"].size(), faults::SecondsSince(start));
}

}  // namespace
}  // namespace cairn
