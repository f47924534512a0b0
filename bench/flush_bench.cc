// Times what a training job pays at the end: save() of every file in DIR
// (policy now) and finish() until all are committed. Prints seconds.
//   flush_bench DIR PROJECT
#include <cairn/cairn.h>

#include <chrono>
#include <cstdio>
#include <iostream>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: flush_bench DIR PROJECT\n";
    return 2;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto run = cairn::init({.client = {.project = argv[2]}});
  if (!run) {
    std::cerr << run.status() << "\n";
    return 1;
  }
  auto saved = run->save(std::string(argv[1]) + "/*.bin", {.base_path = argv[1]});
  if (!saved) {
    std::cerr << saved.status() << "\n";
    return 1;
  }
  if (auto st = run->finish(); !st.ok()) {
    std::cerr << st << "\n";
    return 1;
  }
  std::printf("%.3f\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}
