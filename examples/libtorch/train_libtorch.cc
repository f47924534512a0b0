// examples/python/train_torch.py in C++: a LibTorch training loop that
// survives being killed, checkpointing through libcairn.
//
//   train_libtorch --steps 200 --checkpoint-every 10 [--crash-at S] [--step-ms M] [--project P]
//
// A small MLP (32 -> 64 -> 1, tanh) learns a fixed function from synthetic
// batches with SGD + momentum on the CPU. Deterministic: the weights start
// from torch::manual_seed(42), the batch of step s comes from a generator
// seeded with s, and one intra-op thread keeps float sums in one order. Every
// K steps it writes checkpoint.pt (an OutputArchive holding the module, the
// optimizer and the step; temp file + rename) into run.dir() and saves it.
// It starts with resume="auto": after a crash, the next start in the same
// CAIRN_DIR resumes the run, restores checkpoint.pt and continues. At the
// end it prints
//   final weights sha256 <hex>
// (names and raw bytes of the parameters and buffers, in order), the same
// for an uninterrupted run and any sequence of SIGKILLs (--crash-at S).
//
// The only translation unit that includes LibTorch (slow to compile).
// Connection settings: CAIRN_BASE_URL, CAIRN_API_KEY (or ~/.netrc), CAIRN_DIR.
#include <cairn/cairn.h>
#include <openssl/evp.h>
#include <signal.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

namespace {

constexpr int64_t kIn = 32, kHidden = 64, kBatch = 64;

struct Flags {
  long steps = 200, every = 10, crash_at = -1, step_ms = 0;
  std::string project = "train-libtorch";
};

bool ParseFlags(int argc, char** argv, Flags& f) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) return false;
    const std::string v = argv[++i];
    try {
      if (a == "--steps") f.steps = std::stol(v);
      else if (a == "--checkpoint-every") f.every = std::stol(v);
      else if (a == "--crash-at") f.crash_at = std::stol(v);
      else if (a == "--step-ms") f.step_ms = std::stol(v);
      else if (a == "--project") f.project = v;
      else return false;
    } catch (const std::exception&) {
      return false;
    }
  }
  return f.steps > 0 && f.every > 0;
}

torch::nn::Sequential MakeModel() {
  torch::manual_seed(42);
  return torch::nn::Sequential(torch::nn::Linear(kIn, kHidden), torch::nn::Tanh(), torch::nn::Linear(kHidden, 1));
}

// One SGD step on the batch of step `step` (1-based), the same in every process.
float TrainStep(torch::nn::Sequential& model, torch::optim::SGD& optimizer, long step) {
  auto gen = at::detail::createCPUGenerator(static_cast<uint64_t>(1000003 * step));
  torch::Tensor x = torch::rand({kBatch, kIn}, gen) * 2 - 1;
  torch::Tensor w = torch::arange(kIn, torch::kFloat32).remainder(5) + 1;
  torch::Tensor y = torch::sin(x * w).sum(1, /*keepdim=*/true) / kIn;
  optimizer.zero_grad();
  torch::Tensor loss = torch::mse_loss(model->forward(x), y);
  loss.backward();
  optimizer.step();
  return loss.item<float>();
}

std::string WeightsDigest(torch::nn::Sequential& model) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (const auto& item : model->named_parameters()) {
    torch::Tensor t = item.value().detach().contiguous();
    EVP_DigestUpdate(ctx, item.key().data(), item.key().size());
    EVP_DigestUpdate(ctx, t.data_ptr(), static_cast<size_t>(t.numel()) * t.element_size());
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  std::string hex;
  char buf[3];
  for (unsigned int i = 0; i < len; ++i) {
    std::snprintf(buf, sizeof buf, "%02x", md[i]);
    hex += buf;
  }
  return hex;
}

// The module, the optimizer and the step, into `path` by temp file + rename.
void WriteCheckpoint(const std::filesystem::path& path, torch::nn::Sequential& model, torch::optim::SGD& optimizer,
                     long step) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive, optimizer_archive;
  model->save(model_archive);
  optimizer.save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("step", torch::tensor(static_cast<int64_t>(step)));
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  archive.save_to(tmp.string());
  std::filesystem::rename(tmp, path);
}

long ReadCheckpoint(const std::filesystem::path& path, torch::nn::Sequential& model, torch::optim::SGD& optimizer) {
  torch::serialize::InputArchive archive, model_archive, optimizer_archive;
  archive.load_from(path.string());
  archive.read("model", model_archive);
  archive.read("optimizer", optimizer_archive);
  model->load(model_archive);
  optimizer.load(optimizer_archive);
  torch::Tensor step;
  archive.read("step", step);
  return static_cast<long>(step.item<int64_t>());
}

int Train(const Flags& flags) {
  torch::set_num_threads(1);  // one order of float sums: bit-for-bit the same every run
  auto run = cairn::init({.client = {.project = flags.project}, .resume = "auto"});
  if (!run) {
    std::cerr << "train_libtorch: init failed: " << run.status() << "\n";
    return 1;
  }
  std::cout << (run->resumed() ? "resumed" : "started") << " run " << run->path() << "\n";

  torch::nn::Sequential model = MakeModel();
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  long step = 0;
  // A fresh start finds nothing; a resumed run gets its last checkpoint back.
  auto ckpt = cairn::restore("checkpoint.pt");
  if (!ckpt) {
    std::cerr << "train_libtorch: restore failed: " << ckpt.status() << "\n";
    return 1;
  }
  if (ckpt->has_value()) {
    step = ReadCheckpoint((*ckpt)->path(), model, optimizer);
    std::cout << "restored checkpoint at step " << step << "\n";
  }

  const std::filesystem::path path = run->dir() / "checkpoint.pt";
  while (step < flags.steps) {
    ++step;
    const float loss = TrainStep(model, optimizer, step);
    if (step % flags.every == 0 || step == flags.steps) {
      WriteCheckpoint(path, model, optimizer, step);
      if (auto saved = run->save("checkpoint.pt"); !saved) {
        std::cerr << "train_libtorch: save failed: " << saved.status() << "\n";
        return 1;
      }
      std::cout << "step " << step << " loss " << loss << " (checkpoint)\n" << std::flush;
    }
    if (flags.step_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(flags.step_ms));
    if (step == flags.crash_at) {
      std::cout << "crashing at step " << step << " (SIGKILL)\n" << std::flush;
      ::raise(SIGKILL);
    }
  }
  if (auto st = run->finish(); !st.ok()) {
    std::cerr << "train_libtorch: finish: " << st << "\n";
    return 1;
  }
  std::cout << "final weights sha256 " << WeightsDigest(model) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) {
    std::cerr << "usage: train_libtorch [--steps N] [--checkpoint-every K] [--crash-at S] [--step-ms M] [--project P]\n";
    return 2;
  }
  try {
    return Train(flags);
  } catch (const std::exception& e) {  // LibTorch (c10::Error) and std::filesystem throw
    std::cerr << "train_libtorch: " << e.what() << "\n";
    return 1;
  }
}
