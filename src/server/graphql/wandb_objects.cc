#include "server/graphql/wandb_objects.h"

#include <ctime>

#include "common/sha256.h"
#include "server/auth.h"

namespace cairn::internal::graphql {

std::string WandbTime(long long unix_ms) {
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

std::string ProjectInternalId(const std::string& entity, const std::string& project) {
  return std::to_string(std::stoull(Sha256Hex(entity + "/" + project).substr(0, 12), nullptr, 16));
}

Result Connection(const std::string& type, std::vector<Edge> edges, bool has_next) {
  auto page = std::make_shared<Record>("PageInfo");
  page->Set("hasNextPage", has_next)
      .Set("hasPreviousPage", false)
      .Set("startCursor", edges.empty() ? Json(nullptr) : Json(edges.front().cursor))
      .Set("endCursor", edges.empty() ? Json(nullptr) : Json(edges.back().cursor));
  std::vector<Result> items;
  for (Edge& e : edges) {
    auto edge = std::make_shared<Record>(type + "Edge");
    edge->Set("node", Result::Of(std::move(e.node))).Set("cursor", e.cursor);
    items.push_back(Result::Of(edge));
  }
  auto conn = std::make_shared<Record>(type + "Connection");
  conn->Set("edges", Result::List(std::move(items))).Set("pageInfo", Result::Of(page));
  return Result::Of(conn);
}

std::shared_ptr<Object> NewUser(const std::string& name, const std::optional<std::string>& entity, bool admin) {
  auto user = std::make_shared<Record>("User");
  user->Set("id", EncodeBase64("User:" + name))
      .Set("name", name)
      .Set("username", name)
      .Set("email", nullptr)
      .Set("admin", admin)
      .Set("flags", nullptr)
      .Set("entity", entity ? Json(*entity) : Json(nullptr))
      .Set("deletedAt", nullptr)
      .Set("apiKeys", Connection("ApiKey", {}, false))
      .Set("teams", Connection("Entity", {}, false));
  return user;
}

const Json* Arg(const Json& args, const char* name) {
  auto it = args.find(name);
  return it == args.end() || it->is_null() ? nullptr : &*it;
}

StatusOr<std::string> StringArg(const Json& args, const char* name, const std::string& field) {
  const Json* v = Arg(args, name);
  if (v == nullptr || !v->is_string()) {
    return InvalidArgumentError(field + " needs the argument " + name + ": String");
  }
  return v->get<std::string>();
}

}  // namespace cairn::internal::graphql
