// Helpers shared by the fault-injection tests (tests/faults, CTest label
// `faults`): the seed, tmpfs mounts, the fault proxy, fd/thread counts.
#pragma once

#include <sys/mount.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "testing/server_fixture.h"

namespace cairn::faults {

// The run's seed: CAIRN_FAULT_SEED when set, else the clock. Printed once
// per test so that a failure can be replayed exactly.
inline unsigned FaultSeed(const char* test) {
  static const unsigned seed = [] {
    const char* env = std::getenv("CAIRN_FAULT_SEED");
    return env != nullptr && *env != '\0' ? static_cast<unsigned>(std::strtoul(env, nullptr, 10))
                                          : static_cast<unsigned>(std::random_device{}());
  }();
  std::printf("[faults] %s: seed %u (rerun with CAIRN_FAULT_SEED=%u)\n", test, seed, seed);
  std::fflush(stdout);
  return seed;
}

// Seconds since `start`, for the printed durations.
inline double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A tmpfs of `size` mounted at `dir` (created) for the life of the object.
// Needs root: check CanMount() first.
class TmpfsMount {
 public:
  TmpfsMount(std::filesystem::path dir, const std::string& size) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_);
    const std::string opts = "size=" + size + ",mode=0755";
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, opts.c_str()) == 0;
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  // Changes the size of the mounted filesystem (e.g. to give space back).
  bool Resize(const std::string& size) {
    const std::string opts = "size=" + size + ",mode=0755";
    return ::mount("tmpfs", dir_.c_str(), "tmpfs", MS_REMOUNT, opts.c_str()) == 0;
  }

 private:
  std::filesystem::path dir_;
  bool mounted_ = false;
};

// Fills the filesystem holding `dir` until a write fails; returns the file.
inline std::filesystem::path FillDisk(const std::filesystem::path& dir) {
  const std::filesystem::path filler = dir / "filler";
  std::FILE* f = std::fopen(filler.c_str(), "wb");
  std::string chunk(64 * 1024, 'f');
  while (f != nullptr && std::fwrite(chunk.data(), 1, chunk.size(), f) == chunk.size()) {
  }
  chunk.assign(512, 'f');  // the last few blocks
  while (f != nullptr && std::fwrite(chunk.data(), 1, chunk.size(), f) == chunk.size() && std::fflush(f) == 0) {
  }
  if (f != nullptr) std::fclose(f);
  return filler;
}

// Entries in /proc/<pid>/<what> ("fd" or "task"); "self" for this process.
inline int CountProc(const std::string& pid, const char* what) {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + pid + "/" + what, ec);
       it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

// Polls `cond` every 20 ms until it holds or `timeout` passes.
template <typename Cond>
bool WaitFor(Cond cond, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

// tests/faults/fault_proxy in front of 127.0.0.1:target_port.
class FaultProxy {
 public:
  FaultProxy(int target_port, const std::string& mode, int count, long arg)
      : process_({(testing::CairnBinary().parent_path() / "fault_proxy").string(), std::to_string(target_port), mode,
                  std::to_string(count), std::to_string(arg)}) {
    WaitFor([this] { return process_.out().find('\n') != std::string::npos; }, std::chrono::seconds(10));
    const std::string line = process_.out();
    port_ = std::atoi(line.substr(line.rfind(' ') + 1).c_str());
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // How many faults of `kind` ("refused", "reset") it has injected.
  int Count(const std::string& kind) const {
    const std::string out = process_.out();
    int n = 0;
    for (std::size_t p = out.find(kind + "\n"); p != std::string::npos; p = out.find(kind + "\n", p + 1)) ++n;
    return n;
  }

 private:
  testing::BackgroundProcess process_;
  int port_ = 0;
};

}  // namespace cairn::faults
