// GraphQL documents through the parser and the W&B executor over a real store
// (a run with files). The input is the query text, sent once as the whole
// request body's "query" with the variables the client sends, and once as a
// raw request body. Nothing may crash, hang or answer outside 200/400.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "common/sha256.h"
#include "fuzz_target_common.h"
#include "server/graphql/parser.h"
#include "server/graphql/wandb_schema.h"

namespace {

void PutFile(cairn::fuzz::Router& router, const std::string& name, const std::string& bytes) {
  auto writer = router.store.blobs->NewWriter();
  if (!writer.ok() || !(*writer)->Append(bytes.data(), bytes.size()).ok()) std::abort();
  const std::string sha = cairn::internal::Sha256Hex(bytes);
  if (!(*writer)->Commit(sha, bytes.size()).ok()) std::abort();
  if (!router.store.metadata->CommitVersion({"alice", "p", "r"}, name, sha, bytes.size()).ok()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static cairn::fuzz::Router& router = []() -> cairn::fuzz::Router& {
    auto& r = cairn::fuzz::Router::Get();
    PutFile(r, "model.bin", "weights");
    PutFile(r, "ckpt/step_1.json", "{}");
    return r;
  }();
  namespace gql = cairn::internal::graphql;
  const std::string text(reinterpret_cast<const char*>(data), size);
  (void)gql::Parse(text);
  gql::WandbContext context{.metadata = router.store.metadata.get(),
                            .blobs = router.store.blobs.get(),
                            .principal = {.entity = "alice"},
                            .base_url = "http://fuzz"};
  const nlohmann::json vars = {
      {"project", "p"},  {"entity", "alice"},  {"name", "r"}, {"fileLimit", 1}, {"fileNames", {"model.bin", "nope"}},
      {"upload", false}, {"pattern", "%.json"}};
  for (const std::string& body : {nlohmann::json{{"query", text}, {"variables", vars}}.dump(
                                      -1, ' ', false, nlohmann::json::error_handler_t::replace),
                                  text}) {
    gql::Response r = gql::Execute(body, *gql::NewWandbQuery(context));
    if (r.http_status != 200 && r.http_status != 400) std::abort();
    (void)r.body.dump(-1, ' ', false, gql::Json::error_handler_t::replace);
  }
  return 0;
}
