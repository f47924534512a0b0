// Cairn's main job: a training loop that survives being killed.
//
//   train_resume --steps 200 --checkpoint-every 10 [--policy now|live]
//                [--crash-at S] [--step-ms M] [--project P]
//
// A small MLP (32 -> 64 -> 1, tanh) learns a fixed function from synthetic
// batches with SGD + momentum. Everything is deterministic: the batch of step s
// comes from a generator seeded with s, so a run resumed from any checkpoint
// computes exactly what an uninterrupted run computes. Every K steps it writes
// checkpoint.bin (weights, momentum, step) the way checkpoint writers do (temp
// file + rename) and saves it; with --policy now it also keeps every
// checkpoint as ckpt/step-NNNNNN.bin. It starts with resume=auto: after a
// crash, the next start in the same CAIRN_DIR resumes the same run, restores
// checkpoint.bin and continues. --crash-at S kills the process with SIGKILL
// right after step S. At the end it prints
//   final weights sha256 <hex>
// which is the same for an uninterrupted run and any sequence of crashes.
//
// Connection settings: CAIRN_BASE_URL, CAIRN_API_KEY (or ~/.netrc), CAIRN_DIR, CAIRN_PROJECT
// (--project wins over it), CAIRN_MODE (offline: trains from scratch, `cairn sync` uploads later).
#include <cairn/cairn.h>
#include <openssl/evp.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kIn = 32, kHidden = 64, kBatch = 64;
constexpr char kMagic[8] = {'C', 'A', 'I', 'R', 'N', 'C', 'K', '1'};

struct Model {
  // Parameters, then the momentum buffer of the same size: W1[h][i], b1[h], W2[h], b2.
  std::vector<float> params, momentum;
  std::uint64_t step = 0;  // steps completed

  static std::size_t Size() { return kHidden * kIn + kHidden + kHidden + 1; }
  float* w1() { return params.data(); }
  float* b1() { return w1() + kHidden * kIn; }
  float* w2() { return b1() + kHidden; }
  float* b2() { return w2() + kHidden; }
};

Model Init() {
  Model m;
  m.params.resize(Model::Size());
  m.momentum.assign(Model::Size(), 0.0f);
  std::mt19937 rng(42);
  std::normal_distribution<float> n(0.0f, 0.2f);
  for (auto& p : m.params) p = n(rng);
  return m;
}

// The function to learn, and the deterministic batch of step `s`.
float Target(const float* x) {
  float y = 0;
  for (int i = 0; i < kIn; ++i) y += std::sin(x[i] * static_cast<float>(i % 5 + 1)) / kIn;
  return y;
}

// One SGD-with-momentum step on the batch of step m.step + 1. Returns the loss.
float TrainStep(Model& m) {
  std::mt19937 rng(static_cast<std::uint32_t>(1000003u * (m.step + 1)));
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> grad(Model::Size(), 0.0f);
  float* gw1 = grad.data();
  float* gb1 = gw1 + kHidden * kIn;
  float* gw2 = gb1 + kHidden;
  float* gb2 = gw2 + kHidden;
  float loss = 0;
  float x[kIn], h[kHidden];
  for (int b = 0; b < kBatch; ++b) {
    for (float& v : x) v = u(rng);
    float y = *m.b2();
    for (int j = 0; j < kHidden; ++j) {
      float a = m.b1()[j];
      for (int i = 0; i < kIn; ++i) a += m.w1()[j * kIn + i] * x[i];
      h[j] = std::tanh(a);
      y += m.w2()[j] * h[j];
    }
    float err = y - Target(x);
    loss += err * err / kBatch;
    float dy = 2 * err / kBatch;
    *gb2 += dy;
    for (int j = 0; j < kHidden; ++j) {
      gw2[j] += dy * h[j];
      float da = dy * m.w2()[j] * (1 - h[j] * h[j]);
      gb1[j] += da;
      for (int i = 0; i < kIn; ++i) gw1[j * kIn + i] += da * x[i];
    }
  }
  for (std::size_t k = 0; k < grad.size(); ++k) {
    m.momentum[k] = 0.9f * m.momentum[k] + grad[k];
    m.params[k] -= 0.05f * m.momentum[k];
  }
  ++m.step;
  return loss;
}

std::string Serialize(const Model& m) {
  std::string out(kMagic, sizeof kMagic);
  out.append(reinterpret_cast<const char*>(&m.step), sizeof m.step);
  out.append(reinterpret_cast<const char*>(m.params.data()), m.params.size() * sizeof(float));
  out.append(reinterpret_cast<const char*>(m.momentum.data()), m.momentum.size() * sizeof(float));
  return out;
}

bool Deserialize(std::istream& in, Model& m) {
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t want = sizeof kMagic + sizeof m.step + 2 * Model::Size() * sizeof(float);
  if (data.size() != want || std::memcmp(data.data(), kMagic, sizeof kMagic) != 0) return false;
  m = Init();
  const char* p = data.data() + sizeof kMagic;
  std::memcpy(&m.step, p, sizeof m.step);
  p += sizeof m.step;
  std::memcpy(m.params.data(), p, Model::Size() * sizeof(float));
  p += Model::Size() * sizeof(float);
  std::memcpy(m.momentum.data(), p, Model::Size() * sizeof(float));
  return true;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string hex;
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

// Writes `content` to dir/name the way checkpoint writers do: temp, then rename.
bool WriteCheckpoint(const std::filesystem::path& dir, const std::string& name, const std::string& content) {
  std::filesystem::path target = dir / name;
  std::filesystem::create_directories(target.parent_path());
  std::filesystem::path tmp = target;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    if (!out.flush()) return false;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, target, ec);
  return !ec;
}

struct Flags {
  long steps = 200, every = 10, crash_at = -1, step_ms = 0;
  std::string policy = "now";
  std::string project;  // --project, else CAIRN_PROJECT, else "train-resume"
  std::string inspect;  // run path: load that run's last checkpoint instead of training
  std::string root;     // with --inspect: where to restore it (default: working directory)
};

bool ParseFlags(int argc, char** argv, Flags& f) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    try {
      if (a == "--steps") f.steps = std::stol(value());
      else if (a == "--checkpoint-every") f.every = std::stol(value());
      else if (a == "--crash-at") f.crash_at = std::stol(value());
      else if (a == "--step-ms") f.step_ms = std::stol(value());
      else if (a == "--policy") f.policy = value();
      else if (a == "--project") f.project = value();
      else if (a == "--inspect") f.inspect = value();
      else if (a == "--root") f.root = value();
      else return false;
    } catch (const std::exception&) {
      return false;
    }
  }
  // Settings order: the flag, then CAIRN_PROJECT (read by init when project
  // is empty), then this program's own default.
  const char* env_project = std::getenv("CAIRN_PROJECT");
  if (f.project.empty() && (env_project == nullptr || *env_project == '\0')) f.project = "train-resume";
  return f.steps > 0 && f.every > 0 && (f.policy == "now" || f.policy == "live");
}

}  // namespace

// Loading the weights of a past run: restore its checkpoint by run path.
int Inspect(const Flags& flags) {
  auto ckpt = cairn::restore("checkpoint.bin", {.run_path = flags.inspect, .replace = true, .root = flags.root});
  if (!ckpt) {
    std::cerr << "train_resume: restore failed: " << ckpt.status() << "\n";
    return 1;
  }
  if (!ckpt->has_value()) {
    std::cerr << "train_resume: run " << flags.inspect << " has no checkpoint.bin\n";
    return 3;
  }
  Model model;
  if (!Deserialize(**ckpt, model)) {
    std::cerr << "train_resume: " << (*ckpt)->path() << " is not a checkpoint of this model\n";
    return 1;
  }
  std::cout << "restored " << (*ckpt)->path().string() << " (verified sha256 " << (*ckpt)->sha256().substr(0, 16)
            << "...): step " << model.step << ", weights sha256 " << Sha256Hex(Serialize(model)) << "\n";
  return 0;
}

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) {
    std::cerr << "usage: train_resume [--steps N] [--checkpoint-every K] [--policy now|live] [--crash-at S]\n"
                 "                    [--step-ms M] [--project P]\n"
                 "       train_resume --inspect ENTITY/PROJECT/RUN_ID [--root DIR]\n";
    return 2;
  }
  if (!flags.inspect.empty()) return Inspect(flags);
  auto run = cairn::init({.client = {.project = flags.project}, .resume = "auto"});
  if (!run) {
    std::cerr << "train_resume: init failed: " << run.status() << "\n";
    return 1;
  }
  std::cout << (run->resumed() ? "resumed" : "started") << " run " << run->path() << "\n";

  Model model = Init();
  // A fresh start finds nothing; a resumed run gets its last checkpoint back.
  auto ckpt = cairn::restore("checkpoint.bin");
  if (!ckpt) {
    std::cerr << "train_resume: restore failed: " << ckpt.status() << "\n";
    return 1;
  }
  if (ckpt->has_value()) {
    if (!Deserialize(**ckpt, model)) {
      std::cerr << "train_resume: " << (*ckpt)->path() << " is not a checkpoint of this model\n";
      return 1;
    }
    std::cout << "restored checkpoint at step " << model.step << "\n";
  }

  bool live_registered = false;
  auto checkpoint = [&]() -> bool {
    std::string bytes = Serialize(model);
    if (!WriteCheckpoint(run->dir(), "checkpoint.bin", bytes)) return false;
    if (flags.policy == "live") {
      if (live_registered) return true;  // the watcher sees the rename
      live_registered = run->save("checkpoint.bin", {.policy = cairn::SavePolicy::kLive}).ok();
      return live_registered;
    }
    char name[40];
    std::snprintf(name, sizeof name, "ckpt/step-%06llu.bin", static_cast<unsigned long long>(model.step));
    if (!WriteCheckpoint(run->dir(), name, bytes)) return false;
    auto a = run->save("checkpoint.bin");
    auto b = run->save(name);
    if (!a || !b) std::cerr << "train_resume: save failed: " << (a ? b.status() : a.status()) << "\n";
    return a && b;
  };

  while (static_cast<long>(model.step) < flags.steps) {
    float loss = TrainStep(model);
    if (model.step % static_cast<std::uint64_t>(flags.every) == 0 || static_cast<long>(model.step) == flags.steps) {
      if (!checkpoint()) return 1;
      std::cout << "step " << model.step << " loss " << loss << " (checkpoint)\n" << std::flush;
    }
    if (flags.step_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(flags.step_ms));
    if (static_cast<long>(model.step) == flags.crash_at) {
      std::cout << "crashing at step " << model.step << " (SIGKILL)\n" << std::flush;
      ::raise(SIGKILL);
    }
  }
  if (auto st = run->finish(); !st.ok()) {
    std::cerr << "train_resume: finish: " << st << "\n";
    return 1;
  }
  auto stats = run->upload_stats();
  std::cout << "finished: " << stats.committed << " versions committed, " << stats.unchanged << " unchanged, "
            << stats.retries << " retries\n";
  std::cout << "final weights sha256 " << Sha256Hex(Serialize(model)) << "\n";
  return 0;
}
