// A training job's two halves, as two processes:
//   checkpoint_demo save    [--project P] [--id ID]   starts a run, writes a checkpoint, saves it
//   checkpoint_demo restore --run-path E/P/ID --root DIR  restores it and checks every byte
// Connection settings come from CAIRN_BASE_URL / CAIRN_API_KEY (or ~/.netrc).
// Only the public header is used: this is what a user's program looks like.
#include <cairn/cairn.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr std::size_t kParams = 1 << 20;  // 1 Mi float32 "weights": a 4 MiB checkpoint

// The model after `step` steps of a deterministic "training": what a restore
// must give back byte for byte.
std::vector<float> Weights(int step) {
  std::mt19937 rng(1234);
  std::normal_distribution<float> init(0.0f, 0.02f);
  std::vector<float> w(kParams);
  for (auto& x : w) x = init(rng);
  for (int s = 1; s <= step; ++s) {
    for (std::size_t i = 0; i < w.size(); ++i) w[i] -= 0.01f * w[i] * static_cast<float>(s % 7) / 7.0f;
  }
  return w;
}

std::string Arg(int argc, char** argv, const char* flag, const std::string& def = "") {
  for (int i = 2; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], flag) == 0) return argv[i + 1];
  }
  return def;
}

int Save(int argc, char** argv) {
  auto run = cairn::init({.client = {.project = Arg(argc, argv, "--project", "demo")}, .id = Arg(argc, argv, "--id")});
  if (!run) {
    std::cerr << "init failed: " << run.status() << "\n";
    return 1;
  }
  const int step = 5;
  std::vector<float> w = Weights(step);
  {
    std::ofstream out(run->dir() / "checkpoint.bin", std::ios::binary);
    out.write(reinterpret_cast<const char*>(w.data()), static_cast<std::streamsize>(w.size() * sizeof(float)));
  }
  // A relative glob is looked up in the run's files directory first.
  auto saved = run->save("checkpoint.bin");
  if (!saved) {
    std::cerr << "save failed: " << saved.status() << "\n";
    return 1;
  }
  // save() queues the upload; flush() waits until it is committed.
  if (auto st = run->flush(); !st.ok()) {
    std::cerr << "upload failed: " << st << "\n";
    return 1;
  }
  const cairn::SavedFile f = *run->last_saved("checkpoint.bin");
  std::cout << "saved " << f.name << " (" << f.size << " bytes, sha256 " << f.sha256.substr(0, 16) << "..., version "
            << f.version << ") to run " << run->path() << "\n";
  if (auto st = run->finish(); !st.ok()) {
    std::cerr << "finish failed: " << st << "\n";
    return 1;
  }
  std::cout << "RUN_PATH=" << run->path() << "\n";
  return 0;
}

int Restore(int argc, char** argv) {
  std::string run_path = Arg(argc, argv, "--run-path");
  auto file = cairn::restore("checkpoint.bin", {.run_path = run_path, .root = Arg(argc, argv, "--root")});
  if (!file) {
    std::cerr << "restore failed: " << file.status() << "\n";
    return 1;
  }
  if (!file->has_value()) {
    std::cerr << "run " << run_path << " has no checkpoint.bin\n";
    return 1;
  }
  cairn::RestoredFile& f = **file;
  std::vector<float> got(kParams);
  f.read(reinterpret_cast<char*>(got.data()), static_cast<std::streamsize>(got.size() * sizeof(float)));
  bool exact = f.gcount() == static_cast<std::streamsize>(got.size() * sizeof(float)) && f.peek() == EOF &&
               std::memcmp(got.data(), Weights(5).data(), got.size() * sizeof(float)) == 0;
  std::cout << "restored " << f.path().string() << " (sha256 " << f.sha256().substr(0, 16) << "..., "
            << (f.downloaded() ? "downloaded and verified" : "local copy") << ")\n";
  if (!exact) {
    std::cerr << "the restored checkpoint differs from the one saved\n";
    return 1;
  }
  std::cout << "checkpoint matches byte for byte\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "save") return Save(argc, argv);
  if (cmd == "restore") return Restore(argc, argv);
  std::cerr << "usage: checkpoint_demo save [--project P] [--id ID]\n"
               "       checkpoint_demo restore --run-path ENTITY/PROJECT/ID --root DIR\n";
  return 2;
}
