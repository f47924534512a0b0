// POST /graphql: the W&B-compatible endpoint (docs/wandb.md). Its errors,
// the router's included, are in GraphQL's form, which W&B clients read.
#include <nlohmann/json.hpp>

#include "server/graphql/blob_md5.h"
#include "server/graphql/executor.h"
#include "server/graphql/wandb_schema.h"
#include "server/handlers.h"

namespace cairn::internal {
namespace {

HttpResponse GraphqlHttpResponse(const graphql::Response& r) {
  HttpResponse out;
  out.status = r.http_status;
  out.body = r.body.dump(-1, ' ', false, graphql::Json::error_handler_t::replace);
  return out;
}

HttpResponse GraphqlMessage(int status, std::string_view /*code*/, std::string_view message) {
  return GraphqlHttpResponse(graphql::ErrorOnly(status, message));
}

// 401 is what W&B clients take for a bad key; a failing key store is 503.
HttpResponse GraphqlStatus(const Status& status) {
  const int http = status.code() == StatusCode::kUnauthenticated ? 401 : 503;
  return GraphqlHttpResponse(graphql::ErrorOnly(http, status.message()));
}

}  // namespace

const ErrorStyle kGraphqlErrors{&GraphqlStatus, &GraphqlMessage};

HttpResponse HandleGraphql(const Services& s, Call& call, const nlohmann::json& /*body*/, std::string_view raw) {
  const HttpRequest& req = call.request;
  const std::string proto = req.forwarded_proto == "https" ? "https" : "http";
  graphql::WandbContext context{.metadata = s.metadata,
                                .blobs = s.blobs,
                                .url_signer = s.url_signer,
                                .presign_ttl = s.presign_ttl,
                                .principal = call.principal,
                                .base_url = proto + "://" + (req.host.empty() ? std::string("localhost") : req.host),
                                .md5_indexer = s.md5_indexer,
                                .run_stale_after = s.run_stale_after};
  return GraphqlHttpResponse(graphql::Execute(raw, *graphql::NewWandbQuery(context)));
}

}  // namespace cairn::internal
