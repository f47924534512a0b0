// A full disk, on the server's data directory and on the client's restore
// root (small tmpfs mounts made by the test; root only): clean errors (507 from
// the server), nothing half-committed, the old file intact, and service as
// usual once there is space again.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/sha256.h"
#include "faults/fault_util.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::ServerProcess;
using testing::TempDir;

// Skips the test unless a tmpfs could be mounted at `dir`.
#define MOUNT_TMPFS_OR_SKIP(var, dir, size)                                                                   \
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs (the CI runs the faults as root)"; \
  faults::TmpfsMount var(dir, size);                                                                          \
  if (!var.mounted()) GTEST_SKIP() << "mount -t tmpfs failed at " << (dir) << ": " << std::strerror(errno)

TEST(FullDisk, ServerDataDirFullAnswers507CommitsNothingAndRecovers) {
  faults::FaultSeed("FullDisk.server");
  const auto start = std::chrono::steady_clock::now();
  TempDir tmp;
  // The data directory itself is the mount (the server's log stays outside).
  MOUNT_TMPFS_OR_SKIP(mount, tmp / "data", "8m");
  ServerProcess server(tmp / "data", {}, testing::ServerBackend{});
  const std::string key = testing::CreateKey(server, "alice");
  const std::map<std::string, std::optional<std::string>> env{
      {"CAIRN_API_KEY", key}, {"HOME", "/nonexistent"}, {"CAIRN_RETRY_MAX_ATTEMPTS", "2"}};
  const std::string run = "alice/faults/full";
  const fs::path src = tmp / "src";
  const std::string keep_sha = testing::WriteRandomFile(src / "keep.bin", 1 << 20, 1);
  const std::string big_sha = testing::WriteRandomFile(src / "big.bin", 2 << 20, 2);
  auto save = [&](const std::string& name) {
    return testing::Cairn({"--base-url", server.base_url(), "save", "--run", run, "--base", src.string(),
                           (src / name).string()},
                          env);
  };
  ASSERT_EQ(save("keep.bin").exit_code, 0);
  const pid_t pid = server.pid();

  const fs::path filler = faults::FillDisk(tmp / "data");
  testing::CommandResult full = save("big.bin");
  EXPECT_EQ(full.exit_code, 1) << full.err;
  EXPECT_NE(full.err.find("disk is full"), std::string::npos) << full.err;
  // The raw answer: 507 insufficient_storage, and no server path in it.
  testing::CommandResult raw = testing::Run(
      {"/usr/bin/curl", "-s", "-w", "\n%{http_code}", "-X", "PUT", "-H", "Authorization: Bearer " + key, "-H",
       "X-Cairn-Sha256: " + big_sha, "--data-binary", "@" + (src / "big.bin").string(),
       server.base_url() + "/api/v1/runs/" + run + "/files/big.bin"});
  EXPECT_EQ(raw.out.substr(raw.out.rfind('\n') + 1), "507") << raw.out;
  EXPECT_NE(raw.out.find("insufficient_storage"), std::string::npos) << raw.out;
  EXPECT_EQ(raw.out.find(server.data_dir().string()), std::string::npos) << raw.out;
  // The server writes the request's log line just after its answer.
  EXPECT_NE(server.LogOnceItHas("No space left on device").find("No space left on device"), std::string::npos)
      << "the log keeps the cause";

  // Nothing half-committed: no version, no upload left in the blob store's tmp/.
  testing::CommandResult versions =
      testing::Run({"/usr/bin/curl", "-s", "-H", "Authorization: Bearer " + key,
                    server.base_url() + "/api/v1/runs/" + run + "/versions/big.bin"});
  EXPECT_EQ(nlohmann::json::parse(versions.out)["versions"].size(), 0u) << versions.out;
  EXPECT_TRUE(fs::is_empty(server.data_dir() / "blobs" / "tmp"));
  // What was stored before is intact and still served.
  const fs::path root = tmp / "restore";
  ASSERT_EQ(testing::Cairn({"--base-url", server.base_url(), "restore", "keep.bin", "--run", run, "--root",
                            root.string()},
                           env)
                .exit_code,
            0);
  EXPECT_EQ(internal::Sha256Hex(testing::ReadFile(root / "keep.bin")), keep_sha);

  // Space comes back: the same server carries on.
  fs::remove(filler);
  ASSERT_EQ(save("big.bin").exit_code, 0);
  ASSERT_EQ(testing::Cairn({"--base-url", server.base_url(), "restore", "big.bin", "--run", run, "--root",
                            root.string()},
                           env)
                .exit_code,
            0);
  EXPECT_EQ(internal::Sha256Hex(testing::ReadFile(root / "big.bin")), big_sha);
  EXPECT_EQ(server.pid(), pid);
  server.Stop();
  EXPECT_EQ(testing::Cairn({"fsck", "--data", server.data_dir().string()}).exit_code, 0);
  std::printf("[faults] FullDisk.server: 507 while full, nothing committed, recovered in place; %.1f s\n",
              faults::SecondsSince(start));
}

TEST(FullDisk, ClientRootFullFailsClearlyAndKeepsTheOldFile) {
  faults::FaultSeed("FullDisk.client");
  const auto start = std::chrono::steady_clock::now();
  TempDir tmp;
  MOUNT_TMPFS_OR_SKIP(mount, tmp / "cli", "8m");
  ServerProcess server(tmp / "data", {}, testing::ServerBackend{});
  const std::map<std::string, std::optional<std::string>> env{{"CAIRN_API_KEY", testing::CreateKey(server, "alice")},
                                                              {"HOME", "/nonexistent"}};
  const std::string run = "alice/faults/fullclient";
  const std::string sha = testing::WriteRandomFile(tmp / "src" / "model.bin", 12 << 20, 3);
  ASSERT_EQ(testing::Cairn({"--base-url", server.base_url(), "save", "--run", run, "--base", (tmp / "src").string(),
                            (tmp / "src" / "model.bin").string()},
                           env)
                .exit_code,
            0);
  const fs::path root = tmp / "cli";
  testing::WriteFile(root / "model.bin", "the old checkpoint");
  const std::vector<std::string> restore{"--base-url", server.base_url(), "restore", "model.bin", "--run", run,
                                         "--root", root.string(), "--replace"};
  testing::CommandResult r = testing::Cairn(restore, env);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("No space left on device"), std::string::npos) << r.err;
  EXPECT_EQ(testing::ReadFile(root / "model.bin"), "the old checkpoint");
  int entries = 0;
  for (const auto& e : fs::directory_iterator(root)) entries += e.path().filename() != "lost+found";
  EXPECT_EQ(entries, 1) << "a partial download was left in " << root;

  ASSERT_TRUE(mount.Resize("32m"));
  r = testing::Cairn(restore, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(internal::Sha256Hex(testing::ReadFile(root / "model.bin")), sha);
  std::printf("[faults] FullDisk.client: restore into a full 8 MiB root refused, old file kept, then restored; "
              "%.1f s\n",
              faults::SecondsSince(start));
}

}  // namespace
}  // namespace cairn
