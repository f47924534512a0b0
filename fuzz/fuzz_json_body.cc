// JSON request bodies (create/resume a run, create a key) through the router.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "fuzz_target_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto& router = cairn::fuzz::Router::Get();
  std::string body(reinterpret_cast<const char*>(data), size);
  for (const char* target : {"/api/v1/runs/alice/p/fuzzrun", "/api/v1/keys"}) {
    cairn::internal::HttpRequest req;
    req.method = target[8] == 'r' ? "PUT" : "POST";
    req.target = target;
    req.authorization = "Bearer " + router.admin_key;
    req.content_length = body.size();
    auto res = router.Handle(req, body);
    if (res.status >= 500) std::abort();  // a body can be wrong, never break the server
  }
  return 0;
}
