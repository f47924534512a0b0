#include <cairn/cairn.h>

#include <iostream>

// Links against the installed libcairn and exercises a call that needs no server.
int main() {
  auto r = cairn::restore("../escape", {.run_path = "alice/mnist/x"});
  if (r.ok() || r.status().code() != cairn::StatusCode::kInvalidArgument) {
    std::cerr << "expected an invalid-argument error, got " << r.status() << "\n";
    return 1;
  }
  std::cout << "consumer ok: " << r.status() << "\n";
  return 0;
}
