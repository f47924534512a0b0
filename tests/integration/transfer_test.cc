// Downloads at scale against the real server (docs/transfers.md): a restore
// SIGKILLed mid-transfer and resumed, a partial of another version discarded,
// concurrent restores of one target (and of one glob) from several
// processes, the content cache (limit, LRU, a hit with the server stopped),
// glob restores with all-or-nothing, the progress callback, and listing
// versions.
//
// What went over the wire is read from the server's request log
// ("GET <target> <status> <bytes>B <ms>ms").
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "cairn/cairn.h"
#include "common/sha256.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::BackgroundProcess;
using testing::Cairn;
using testing::CommandResult;
using testing::ReadFile;
using testing::ServerProcess;
using testing::TempDir;
using testing::WriteFile;
using testing::WriteRandomFile;
using Env = std::map<std::string, std::optional<std::string>>;
using namespace std::chrono_literals;

constexpr std::uint64_t kMiB = 1 << 20;

class Transfers : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(tmp_ / "data");
    key_ = testing::CreateKey(*server_, "alice");
  }
  // The CLI's environment: small parts and 4 connections so a few MiB use
  // the parallel path (one connection is the default).
  Env Base() const {
    return {{"CAIRN_BASE_URL", server_->base_url()},
            {"CAIRN_API_KEY", key_},
            {"HOME", tmp_.path().string()},
            {"CAIRN_PARALLEL_PARTS", "4"},
            {"CAIRN_PARALLEL_MIN_BYTES", std::to_string(2 * kMiB)},
            {"CAIRN_PART_BYTES", std::to_string(kMiB)},
            {"CAIRN_RETRY_MAX_SECONDS", "2"}};
  }
  Env WithCache(std::uint64_t max_bytes) const {
    Env e = Base();
    e["CAIRN_CACHE_DIR"] = (tmp_ / "cache").string();
    e["CAIRN_CACHE_MAX_BYTES"] = std::to_string(max_bytes);
    // A copy fill, so the cache fills on any filesystem (/tmp is ext4 here:
    // no reflinks); the default (reflink) is CacheFillsOnlyByReflink's.
    e["CAIRN_CACHE_FILL"] = "copy";
    return e;
  }
  std::string Save(const std::string& run, const std::string& name, std::uint64_t size, unsigned seed) {
    const fs::path src = tmp_ / "src" / name;
    fs::create_directories(src.parent_path());
    std::string sha = WriteRandomFile(src, size, seed);
    CommandResult r =
        Cairn({"save", src.string(), "--run", "alice/p/" + run, "--base", (tmp_ / "src").string()}, Base());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return sha;
  }
  // Bytes of file contents the server sent since log offset `from`, counting
  // only answers that were delivered whole: once they come to `expected` and
  // 250 ms have passed, as soon as they pass it, or as they are after 5 s (the
  // server logs an answer just after sending it, so a client can exit before
  // its last answer is in the log).
  std::uint64_t FileBytesSent(std::size_t from, std::uint64_t expected) const {
    static const std::regex kLine(R"(GET /api/v1/runs/\S+/files/\S+ (200|206) (\d+)B \d+ms( in=\d+B)?$)");
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
      std::istringstream log(server_->log().substr(from));
      std::uint64_t total = 0;
      for (std::string line; std::getline(log, line);) {
        std::smatch m;
        if (std::regex_search(line, m, kLine)) total += std::stoull(m[2]);
      }
      const auto waited = std::chrono::steady_clock::now() - start;
      // At the expected count only after a moment in which a late line of a
      // download that should not have happened would have shown (the count
      // only grows: more than expected fails at once).
      if (total > expected || waited >= std::chrono::seconds(5)) return total;
      if (total == expected && waited >= std::chrono::milliseconds(250)) return total;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  std::string Sha(const fs::path& p) const { return internal::Sha256Hex(ReadFile(p)); }
  // For a CLI run under strace: LeakSanitizer cannot run under ptrace, so in
  // the ASan build such a run has no leak checking (every other keeps it).
  static Env WithoutLeakChecks(Env env) {
    const char* asan = std::getenv("ASAN_OPTIONS");
    env["ASAN_OPTIONS"] = (asan != nullptr && *asan != '\0' ? std::string(asan) + ":" : std::string()) + "detect_leaks=0";
    return env;
  }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::string key_;
};

// With 4 connections (parts written at their offsets, read back for hashing)
// and with one (bytes through the front ring: received, hashed and written
// on three threads), as the default.
TEST_F(Transfers, RestoreKilledMidwayResumesWithOnlyTheRestAndPublishesAVerifiedFile) {
  for (const std::string parts : {"4", "1"}) {
    SCOPED_TRACE("CAIRN_PARALLEL_PARTS=" + parts);
    const std::uint64_t size = 24 * kMiB;
    const std::string run = "kill" + parts;
    const std::string sha = Save(run, "big.bin", size, 7);
    const fs::path root = tmp_ / ("root" + parts);
    const fs::path target = root / "big.bin", sidecar = root / ".big.bin.cairn-partial.json";
    Env base = Base();
    base["CAIRN_PARALLEL_PARTS"] = parts;
    Env slow = base;
    slow["CAIRN_MAX_RECV_BYTES_PER_SEC"] = std::to_string((parts == "1" ? 6 : 2) * kMiB);  // about 3-4 s in all
    {
      BackgroundProcess restore(
          {testing::CairnBinary().string(), "restore", "big.bin", "--run", "alice/p/" + run, "--root", root.string()},
          slow);
      // Kill once the sidecar records at least 40%.
      for (auto until = std::chrono::steady_clock::now() + 20s; std::chrono::steady_clock::now() < until;) {
        auto j = nlohmann::json::parse(fs::exists(sidecar) ? ReadFile(sidecar) : "{}", nullptr, false);
        std::uint64_t done = 0;
        if (j.is_object() && j.contains("done")) {
          for (const auto& r : j["done"]) done += r[1].get<std::uint64_t>() - r[0].get<std::uint64_t>();
        }
        if (done >= size * 2 / 5) break;
        std::this_thread::sleep_for(20ms);
      }
      ::kill(restore.pid(), SIGKILL);
      EXPECT_EQ(restore.Wait().exit_code, -1);
    }
    EXPECT_FALSE(fs::exists(target)) << "the target must never hold partial bytes";
    ASSERT_TRUE(fs::exists(sidecar));
    auto side = nlohmann::json::parse(ReadFile(sidecar));
    EXPECT_EQ(side["sha256"], sha);
    std::uint64_t kept = 0;
    for (const auto& r : side["done"]) kept += r[1].get<std::uint64_t>() - r[0].get<std::uint64_t>();
    ASSERT_GE(kept, size * 2 / 5);
    ASSERT_LT(kept, size);

    std::this_thread::sleep_for(300ms);  // let the server log the connections the kill cut
    const std::size_t mark = server_->log().size();
    CommandResult again = Cairn({"restore", "big.bin", "--run", "alice/p/" + run, "--root", root.string()}, base);
    ASSERT_EQ(again.exit_code, 0) << again.err;
    EXPECT_EQ(Sha(target), sha);
    EXPECT_EQ(FileBytesSent(mark, size - kept), size - kept) << "the rerun must ask for exactly the missing bytes";
    EXPECT_FALSE(fs::exists(sidecar));
    EXPECT_FALSE(fs::exists(root / ".big.bin.cairn-partial"));
  }
}

TEST_F(Transfers, PartialOfAnotherVersionIsDiscardedNeverSpliced) {
  const std::uint64_t size = 3 * kMiB;
  const std::string v1 = Save("ver1", "m.bin", size, 1);
  const std::string v1_bytes = ReadFile(tmp_ / "src/m.bin");
  const std::string v2 = Save("ver1", "m.bin", size, 2);  // same name and size, new bytes
  // What a restore of v1 killed at half-way leaves behind.
  const fs::path root = tmp_ / "root";
  fs::create_directories(root);
  WriteFile(root / ".m.bin.cairn-partial", v1_bytes.substr(0, size / 2));
  WriteFile(
      root / ".m.bin.cairn-partial.json",
      nlohmann::json{{"format", 1}, {"sha256", v1}, {"size", size}, {"version", 1}, {"done", {{0, size / 2}}}}.dump());
  const std::size_t mark = server_->log().size();
  CommandResult r = Cairn({"restore", "m.bin", "--run", "alice/p/ver1", "--root", root.string()}, Base());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Sha(root / "m.bin"), v2);
  EXPECT_EQ(FileBytesSent(mark, size), size);
  EXPECT_FALSE(fs::exists(root / ".m.bin.cairn-partial"));

  // A partial that claims v2's digest but holds other bytes (a power loss
  // under the sidecar): the whole-file check catches it, and the file is
  // fetched again from zero.
  fs::remove(root / "m.bin");
  WriteFile(root / ".m.bin.cairn-partial", v1_bytes.substr(0, size / 2));
  WriteFile(
      root / ".m.bin.cairn-partial.json",
      nlohmann::json{{"format", 1}, {"sha256", v2}, {"size", size}, {"version", 2}, {"done", {{0, size / 2}}}}.dump());
  r = Cairn({"restore", "m.bin", "--run", "alice/p/ver1", "--root", root.string()}, Base());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Sha(root / "m.bin"), v2);
}

TEST_F(Transfers, ConcurrentRestoresOfOneTargetFetchOnceAndAllEndWithTheWholeFile) {
  const std::uint64_t size = 8 * kMiB;
  const std::string sha = Save("conc1", "c.bin", size, 3);
  const fs::path root = tmp_ / "root";
  Env slow = Base();
  slow["CAIRN_MAX_RECV_BYTES_PER_SEC"] = std::to_string(4 * kMiB);
  const std::size_t mark = server_->log().size();
  std::vector<std::unique_ptr<BackgroundProcess>> procs;
  for (int i = 0; i < 4; ++i) {
    procs.push_back(std::make_unique<BackgroundProcess>(
        std::vector<std::string>{testing::CairnBinary().string(), "restore", "c.bin", "--run", "alice/p/conc1",
                                 "--root", root.string()},
        slow));
  }
  for (auto& p : procs) {
    CommandResult r = p->Wait();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, (root / "c.bin").string() + "\n");
  }
  EXPECT_EQ(Sha(root / "c.bin"), sha);
  EXPECT_EQ(FileBytesSent(mark, size), size) << "one process fetches, the others share its result";
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(root)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"c.bin"}) << "no partial, sidecar or lock left beside it";
}

// Three processes restoring the same glob into one root, their files
// published in groups (each waiting file holds its lock, the partial): none
// waits forever on another's group, each file is fetched once in all, and
// nothing but the files is left.
TEST_F(Transfers, ConcurrentGlobRestoresOfTheSameFilesFetchEachOnceAndLeaveOnlyTheFiles) {
  constexpr int kFiles = 400;
  constexpr std::uint64_t kSize = 16 << 10;
  std::map<std::string, std::string> sha;
  for (int i = 0; i < kFiles; ++i) {
    const std::string name = "g/f-" + std::to_string(i) + ".bin";
    sha[name] = WriteRandomFile(tmp_ / "src" / name, kSize, 1000 + i);
  }
  CommandResult saved = Cairn({"save", (tmp_ / "src" / "g").string(), "--run", "alice/p/cglob", "--base",
                               (tmp_ / "src").string(), "--quiet"},
                              Base());
  ASSERT_EQ(saved.exit_code, 0) << saved.err;
  const fs::path root = tmp_ / "root";
  Env env = Base();
  env["CAIRN_MAX_RECV_BYTES_PER_SEC"] = std::to_string(2 * kMiB);  // so that the three overlap
  env["CAIRN_RESTORE_GROUP_FILES"] = "32";
  const std::size_t mark = server_->log().size();
  std::vector<std::unique_ptr<BackgroundProcess>> procs;
  for (int i = 0; i < 3; ++i) {
    procs.push_back(std::make_unique<BackgroundProcess>(
        std::vector<std::string>{testing::CairnBinary().string(), "restore", "g/*", "--run", "alice/p/cglob", "--root",
                                 root.string(), "--quiet"},
        env));
  }
  for (auto& p : procs) {
    CommandResult r = p->Wait();
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_EQ(FileBytesSent(mark, kFiles * kSize), kFiles * kSize) << "each file fetched by one process only";
  int files = 0;
  std::vector<std::string> beside;
  for (const auto& e : fs::directory_iterator(root / "g")) {
    const std::string name = "g/" + e.path().filename().string();
    if (sha.count(name) == 0) {
      beside.push_back(name);
      continue;
    }
    ++files;
    EXPECT_EQ(Sha(e.path()), sha[name]) << name;
  }
  EXPECT_EQ(files, kFiles);
  EXPECT_TRUE(beside.empty()) << beside.size() << " files beside them, e.g. " << beside.front();
}

TEST_F(Transfers, CacheIsLimitedInBytesAndEvictsTheLeastRecentlyUsed) {
  const std::uint64_t size = kMiB;
  std::map<std::string, std::string> sha;
  for (std::string n : {"a", "b", "c", "d"}) sha[n] = Save("lru1", n + ".bin", size, n[0]);
  const Env env = WithCache(size * 5 / 2);  // room for two files
  auto restore = [&](const std::string& n, const std::string& root) {
    CommandResult r = Cairn({"restore", n + ".bin", "--run", "alice/p/lru1", "--root", (tmp_ / root).string()}, env);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::this_thread::sleep_for(30ms);  // distinct last-use times
  };
  auto cached = [&] {
    CommandResult r = Cairn({"cache", "ls", "--json"}, env);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::set<std::string> out;
    for (const auto& e : nlohmann::json::parse(r.out)) out.insert(e["sha256"].get<std::string>());
    return out;
  };
  restore("a", "r1");
  restore("b", "r1");
  EXPECT_EQ(cached(), (std::set<std::string>{sha["a"], sha["b"]}));
  const std::size_t mark = server_->log().size();
  restore("a", "r2");  // a cache hit: a becomes the most recently used
  EXPECT_EQ(FileBytesSent(mark, 0), 0u);
  EXPECT_EQ(ReadFile(tmp_ / "r2/a.bin"), ReadFile(tmp_ / "r1/a.bin"));
  restore("c", "r1");  // evicts b, the least recently used
  EXPECT_EQ(cached(), (std::set<std::string>{sha["a"], sha["c"]}));

  // The placed copy is independent of the cache (never a hard link), also
  // where the filesystem has no reflinks.
  EXPECT_EQ(fs::hard_link_count(tmp_ / "r2/a.bin"), 1u);
  WriteFile(tmp_ / "r2/a.bin", "edited");
  EXPECT_EQ(Sha(tmp_ / "cache/blobs" / sha["a"]), sha["a"]) << "editing a restored copy changed the cache";
  EXPECT_EQ(Sha(tmp_ / "r1/a.bin"), sha["a"]) << "editing a restored copy changed another copy";
  restore("a", "r3");
  EXPECT_EQ(Sha(tmp_ / "r3/a.bin"), sha["a"]);
  std::uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(tmp_ / "cache/blobs")) total += fs::file_size(e.path());
  EXPECT_LE(total, size * 5 / 2) << "the cache went over its limit";

  CommandResult prune = Cairn({"cache", "prune", "--max-bytes", "0"}, env);
  EXPECT_EQ(prune.exit_code, 0) << prune.err;
  EXPECT_TRUE(cached().empty());
  // Disabled: nothing is written to it.
  Env off = WithCache(0);
  ASSERT_EQ(Cairn({"restore", "d.bin", "--run", "alice/p/lru1", "--root", (tmp_ / "r4").string()}, off).exit_code, 0);
  EXPECT_TRUE(cached().empty());
}

// The default fill writes no second copy of the bytes: on a filesystem with
// reflinks the cache gets a reflink, on one without (ext4, this machine's /tmp)
// it gets nothing and the next restore fetches again -- never a cold restore
// slowed by the cache.
TEST_F(Transfers, CacheFillsOnlyByReflinkByDefault) {
  const std::string sha = Save("fill1", "f.bin", 3 * kMiB, 21);
  Env env = WithCache(64 * kMiB);
  env["CAIRN_CACHE_FILL"] = std::nullopt;
  fs::create_directories(tmp_ / "r1");
  CommandResult r = Cairn({"restore", "f.bin", "--run", "alice/p/fill1", "--root", (tmp_ / "r1").string()}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Sha(tmp_ / "r1/f.bin"), sha);
  // Does this filesystem reflink? Ask it the way the cache does.
  fs::create_directories(tmp_ / "probe");
  WriteFile(tmp_ / "probe/src", "x");
  CommandResult probe =
      testing::Run({"/bin/cp", "--reflink=always", (tmp_ / "probe/src").string(), (tmp_ / "probe/dst").string()});
  const bool reflinks = probe.exit_code == 0;
  std::printf("[ %s reflinks: %s ]\n", tmp_.path().c_str(), reflinks ? "yes" : "no");
  EXPECT_EQ(fs::exists(tmp_ / "cache/blobs" / sha), reflinks);
  const std::size_t mark = server_->log().size();
  r = Cairn({"restore", "f.bin", "--run", "alice/p/fill1", "--root", (tmp_ / "r2").string()}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Sha(tmp_ / "r2/f.bin"), sha);
  EXPECT_EQ(FileBytesSent(mark, reflinks ? 0u : 3 * kMiB), reflinks ? 0u : 3 * kMiB);
}

// A glob restore fills the cache as a batch (it lists the cache only when
// its own running total passes the limit) and prunes once at its end.
TEST_F(Transfers, GlobRestoreLeavesTheCacheWithinItsLimit) {
  const std::uint64_t size = kMiB;
  for (int i = 0; i < 6; ++i) Save("lru2", "g/" + std::to_string(i) + ".bin", size, 40 + i);
  const Env env = WithCache(size * 5 / 2);  // room for two files
  CommandResult r = Cairn({"restore", "g/*", "--run", "alice/p/lru2", "--root", (tmp_ / "g1").string()}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::uint64_t total = 0;
  int entries = 0;
  for (const auto& e : fs::directory_iterator(tmp_ / "cache/blobs")) {
    if (e.path().filename().string().front() == '.') continue;
    total += fs::file_size(e.path());
    ++entries;
  }
  EXPECT_LE(total, size * 5 / 2);
  EXPECT_EQ(entries, 2);
}

TEST_F(Transfers, PinnedVersionInTheCacheRestoresWithTheServerStopped) {
  const std::string sha = Save("off1", "w.bin", 2 * kMiB, 9);
  const Env env = WithCache(64 * kMiB);
  ASSERT_EQ(
      Cairn({"restore", "w.bin", "--run", "alice/p/off1", "--version", "1", "--root", (tmp_ / "r1").string()}, env)
          .exit_code,
      0);
  server_->Stop();
  CommandResult r =
      Cairn({"restore", "w.bin", "--run", "alice/p/off1", "--version", "1", "--root", (tmp_ / "r2").string()}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Sha(tmp_ / "r2/w.bin"), sha);
  // The latest version is a question only the server can answer.
  CommandResult latest = Cairn({"restore", "w.bin", "--run", "alice/p/off1", "--root", (tmp_ / "r3").string()}, env);
  EXPECT_EQ(latest.exit_code, 1);
  EXPECT_NE(latest.err.find("server"), std::string::npos) << latest.err;
}

TEST_F(Transfers, GlobRestoresTheMatchingFilesAndAllOrNothingPlacesNoneOnFailure) {
  std::map<std::string, std::string> sha;
  for (std::string n : {"ckpt/a.pt", "ckpt/b.pt", "ckpt/sub/c.pt", "other.txt"})
    sha[n] = Save("glob1", n, 3 * kMiB, n[5]);
  const fs::path root = tmp_ / "root";
  CommandResult r = Cairn({"restore", "ckpt/*", "--run", "alice/p/glob1", "--root", root.string()}, Base());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, (root / "ckpt/a.pt").string() + "\n" + (root / "ckpt/b.pt").string() + "\n");
  EXPECT_EQ(Sha(root / "ckpt/b.pt"), sha["ckpt/b.pt"]);
  EXPECT_FALSE(fs::exists(root / "ckpt/sub/c.pt"));
  r = Cairn({"restore", "ckpt", "--run", "alice/p/glob1", "--root", root.string(), "--all-or-nothing"}, Base());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Sha(root / "ckpt/sub/c.pt"), sha["ckpt/sub/c.pt"]);
  EXPECT_EQ(Cairn({"restore", "nope/*", "--run", "alice/p/glob1", "--root", root.string()}, Base()).exit_code, 3);

  // One stored copy is damaged: with --all-or-nothing no target appears.
  testing::CorruptBlob(*server_, sha["ckpt/b.pt"], 100);
  const fs::path root2 = tmp_ / "root2";
  r = Cairn({"restore", "*/*", "--run", "alice/p/glob1", "--root", root2.string(), "--all-or-nothing"}, Base());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("ckpt/b.pt"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(root2 / "ckpt/a.pt"));
  EXPECT_FALSE(fs::exists(root2 / "ckpt/b.pt"));
}

TEST_F(Transfers, ProgressCallbackReportsEachFileUpToItsTotal) {
  Save("prog1", "p/x.bin", 5 * kMiB, 4);
  Save("prog1", "p/y.bin", 100, 5);
  std::mutex mu;
  std::map<std::string, std::vector<std::uint64_t>> seen;
  std::map<std::string, std::uint64_t> totals;
  TransferOptions transfer{.parallel_min_bytes = 2 * kMiB,
                           .part_bytes = kMiB,
                           .max_recv_bytes_per_sec = 2 * kMiB,
                           .progress = [&](const FileProgress& p) {
                             std::lock_guard<std::mutex> lock(mu);
                             seen[p.name].push_back(p.done);
                             totals[p.name] = p.total;
                           }};
  auto files = restore_many("p/*", {.run_path = "alice/p/prog1",
                                    .root = (tmp_ / "root").string(),
                                    .client = {.base_url = server_->base_url(), .api_key = key_},
                                    .transfer = transfer});
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_TRUE((*files)[0].downloaded);
  EXPECT_EQ(totals["p/x.bin"], 5 * kMiB);
  EXPECT_EQ(totals["p/y.bin"], 100u);
  for (const auto& [name, dones] : seen) {
    EXPECT_TRUE(std::is_sorted(dones.begin(), dones.end())) << name;
    EXPECT_EQ(dones.back(), totals[name]) << name;
  }
  EXPECT_GT(seen["p/x.bin"].size(), 2u) << "a transfer of over half a second reports along the way";
}

TEST_F(Transfers, VersionsAreListedAndAnyOneRestores) {
  const std::string v1 = Save("vers1", "f.bin", 1000, 1);
  const std::string v2 = Save("vers1", "f.bin", 2000, 2);
  CommandResult ls = Cairn({"versions", "alice/p/vers1", "f.bin", "--json"}, Base());
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  auto j = nlohmann::json::parse(ls.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["sha256"], v1);
  EXPECT_EQ(j[1]["version"], 2);
  EXPECT_EQ(Cairn({"versions", "alice/p/vers1", "nope.bin"}, Base()).exit_code, 3);
  CommandResult r =
      Cairn({"restore", "f.bin", "--run", "alice/p/vers1", "--version", "1", "--root", (tmp_ / "r").string()}, Base());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Sha(tmp_ / "r/f.bin"), v1);
}

// What a glob restore did, in the order `strace -f -y` saw it (line numbers):
// when each partial's last write ended, each syncfs's [start, end], when each
// target's rename started, the last rename, and a later fsync of `dir`.
struct TraceOrder {
  std::map<std::string, std::size_t> last_write;
  std::vector<std::pair<std::size_t, std::size_t>> syncfs;
  std::map<std::string, std::size_t> renamed;
  std::size_t last_rename = 0;
  std::size_t dir_fsync = 0;
};

TraceOrder ReadTrace(const fs::path& trace, const fs::path& dir) {
  TraceOrder t;
  auto& [last_write, syncfs, renamed, last_rename, dir_fsync] = t;
  std::ifstream in(trace);
  std::size_t n = 0;
  // A call split by another thread's is
  // "<unfinished ...>" (its start) and "<... NAME resumed>" (its end).
  std::map<std::string, std::string> open_call;  // pid -> the unfinished call's path
  static const std::regex kCall(R"(^(\d+) +(\w+)\((\d+<([^>]*)>)?(.*?)(<unfinished \.\.\.>)?$)");
  static const std::regex kResumed(R"(^(\d+) +<\.\.\. (\w+) resumed>)");
  std::map<std::string, std::size_t> syncfs_start;  // pid -> index
  for (std::string line; std::getline(in, line); ++n) {
    std::smatch m;
    std::string pid, call, path;
    bool ended = true;
    if (std::regex_search(line, m, kResumed)) {
      pid = m[1], call = m[2], path = open_call[pid];
    } else if (std::regex_search(line, m, kCall)) {
      pid = m[1], call = m[2], path = m[4];
      ended = !m[6].matched;
      if (call == "syncfs") syncfs_start[pid] = n;
      if (call.rfind("rename", 0) == 0) {
        std::smatch names;
        static const std::regex kNames(R"re("([^"]*)", (?:AT_FDCWD(?:<[^>]*>)?, )?"([^"]*)")re");
        if (std::regex_search(line, names, kNames) && names[1].str().find(".cairn-partial") != std::string::npos) {
          renamed[names[2]] = n;
          last_rename = n;
        }
      }
      if (!ended) open_call[pid] = path;
    } else {
      continue;
    }
    if (!ended) continue;
    if ((call == "write" || call.rfind("pwrite", 0) == 0) && path.find(".cairn-partial") != std::string::npos) {
      last_write[path] = n;
    }
    if (call == "syncfs") syncfs.emplace_back(syncfs_start[pid], n);
    if (call == "fsync" && path == dir.string() && n > last_rename) dir_fsync = n;
  }
  return t;
}

// Grouped durability (docs/adr/0025-grouped-restore-durability.md), watched
// through the syscalls of a real glob restore (strace -f -y): each file's
// partial is written, then a syncfs starts after its last write and ends
// before the partial is renamed onto the target; after the last rename each
// directory is fsynced. Groups of 64 so that 300 files make several groups.
TEST_F(Transfers, GlobRestoreSyncsEveryFileBeforeItsRenameAndEachDirectoryAfter) {
  if (!fs::exists("/usr/bin/strace")) GTEST_SKIP() << "needs /usr/bin/strace";
  constexpr int kFiles = 300;
  const fs::path src = tmp_ / "src";
  std::map<std::string, std::string> sha;
  for (int i = 0; i < kFiles; ++i) {
    const std::string name = "many/s-" + std::to_string(1000 + i) + ".bin";
    sha[name] = WriteRandomFile(src / name, 16 << 10, 500 + i);
  }
  CommandResult saved = Cairn({"save", (src / "many").string(), "--run", "alice/p/grp", "--base", src.string()}, Base());
  ASSERT_EQ(saved.exit_code, 0) << saved.err;
  Env env = WithoutLeakChecks(Base());
  env["CAIRN_RESTORE_GROUP_FILES"] = "64";
  env["CAIRN_CACHE_MAX_BYTES"] = "0";
  const fs::path root = tmp_ / "root";
  const fs::path trace = tmp_ / "trace";
  CommandResult r = testing::Run({"/usr/bin/strace", "-f", "-qq", "-y", "-s", "256", "-o", trace.string(), "-e",
                                  "trace=write,pwrite64,pwritev,syncfs,fsync,rename,renameat,renameat2",
                                  testing::CairnBinary().string(), "restore", "many/*", "--run", "alice/p/grp",
                                  "--root", root.string(), "--quiet"},
                                 env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const TraceOrder order = ReadTrace(trace, root / "many");
  const auto& [last_write, syncfs, renamed, last_rename, dir_fsync] = order;
  ASSERT_EQ(renamed.size(), static_cast<std::size_t>(kFiles)) << ReadFile(trace).substr(0, 4000);
  int ordered = 0;
  for (const auto& [target, at] : renamed) {
    const fs::path t(target);
    const std::string partial = (t.parent_path() / ("." + t.filename().string() + ".cairn-partial")).string();
    ASSERT_TRUE(last_write.count(partial)) << partial;
    const std::size_t written = last_write.at(partial);
    ordered += std::any_of(syncfs.begin(), syncfs.end(),
                           [&](const auto& s) { return s.first > written && s.second < at; });
    EXPECT_EQ(internal::Sha256Hex(ReadFile(t)), sha.at("many/" + t.filename().string()));
  }
  EXPECT_EQ(ordered, kFiles) << "files renamed without a syncfs between their last write and their rename";
  EXPECT_LE(syncfs.size(), static_cast<std::size_t>(kFiles / 64 + 16 + 1)) << "a sync per file, not per group";
  EXPECT_GT(dir_fsync, last_rename) << "no directory fsync after the last rename";
}

// A large download makes its prefix durable as it goes (fdatasync every 128
// MiB, docs/transfers.md). The kernel reports a writeback error to one sync
// only, so a failed one must fail the restore: strace makes every fdatasync
// fail with EIO; the restore exits non-zero, says so, and places nothing;
// without the fault a rerun completes with the right bytes.
TEST_F(Transfers, AFailedSyncDuringALargeDownloadFailsTheRestoreAndPlacesNothing) {
  if (!fs::exists("/usr/bin/strace")) GTEST_SKIP() << "needs /usr/bin/strace";
  const std::string sha = Save("big", "big.bin", 160 * kMiB, 77);
  Env env = WithoutLeakChecks(Base());
  env["CAIRN_PARALLEL_PARTS"] = "1";
  env["CAIRN_CACHE_MAX_BYTES"] = "0";
  // Slow enough that the writeback thread sees 128 MiB before the end.
  env["CAIRN_MAX_RECV_BYTES_PER_SEC"] = std::to_string(400 * kMiB);
  const fs::path root = tmp_ / "root";
  CommandResult r = testing::Run({"/usr/bin/strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=fdatasync", "-e",
                                  "inject=fdatasync:error=EIO", testing::CairnBinary().string(), "restore", "big.bin",
                                  "--run", "alice/p/big", "--root", root.string(), "--quiet"},
                                 env);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("fsync"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("Input/output error"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(root / "big.bin"));
  CommandResult again = Cairn({"restore", "big.bin", "--run", "alice/p/big", "--root", root.string(), "--quiet"}, env);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(Sha(root / "big.bin"), sha);
}

}  // namespace
}  // namespace cairn
