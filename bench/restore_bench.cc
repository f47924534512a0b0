// Times restore() of a file that is already present (replace false) in
// process: the local-first path of docs/spec/restore.md step 4, which must
// not touch settings, credentials or the network. Prints the median and the
// 99th percentile over N calls, in microseconds.
//   restore_bench ROOT NAME RUN_PATH [N]
#include <cairn/cairn.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: restore_bench ROOT NAME RUN_PATH [N]\n";
    return 2;
  }
  const int n = argc > 4 ? std::stoi(argv[4]) : 1000;
  std::vector<double> us;
  us.reserve(n);
  for (int i = 0; i < n; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto f = cairn::restore(argv[2], {.run_path = argv[3], .root = argv[1]});
    const auto t1 = std::chrono::steady_clock::now();
    if (!f.ok() || !f->has_value() || (*f)->downloaded()) {
      std::cerr << "restore_bench: expected the local copy: " << (f.ok() ? "not present" : f.status().message())
                << "\n";
      return 1;
    }
    us.push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
  }
  std::sort(us.begin(), us.end());
  std::printf("%.1f %.1f\n", us[us.size() / 2], us[us.size() * 99 / 100]);
  return 0;
}
