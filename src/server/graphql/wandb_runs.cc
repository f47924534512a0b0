#include "server/graphql/wandb_runs.h"

#include <algorithm>

#include "common/fs.h"
#include "common/run_config.h"
#include "common/validate.h"
#include "server/auth.h"
#include "server/graphql/wandb_objects.h"

namespace cairn::internal::graphql {
namespace {

constexpr long long kDefaultPage = 50;
constexpr long long kMaxPage = 1000;

StatusOr<long long> PageSize(const Json& args, const char* field) {
  const Json* f = Arg(args, "first");
  if (f == nullptr) return kDefaultPage;
  if (!f->is_number_integer() || f->get<long long>() < 0 || f->get<long long>() > kMaxPage) {
    return InvalidArgumentError(std::string(field) + ": first must be an integer from 0 to " +
                                std::to_string(kMaxPage));
  }
  return f->get<long long>();
}

// The decoded `after` cursor, nullopt when none.
StatusOr<std::optional<std::string>> AfterCursor(const Json& args, const char* field) {
  const Json* a = Arg(args, "after");
  if (a == nullptr) return std::optional<std::string>();
  std::optional<std::string> decoded = a->is_string() ? DecodeBase64(a->get<std::string>()) : std::nullopt;
  if (!decoded) return InvalidArgumentError(std::string(field) + ": after must be a cursor from a previous page");
  return decoded;
}

}  // namespace

std::string RunStateNow(const RunRecord& run, std::chrono::seconds stale_after) {
  return std::string(EffectiveRunState(run.state, run.heartbeat_ms, NowMs(),
                                       std::chrono::duration_cast<std::chrono::milliseconds>(stale_after).count()));
}

std::string WandbConfigText(const std::string& config) {
  Json plain = Json::parse(config, nullptr, /*allow_exceptions=*/false);
  Json out = Json::object();
  if (plain.is_object()) {
    for (auto& [key, value] : plain.items()) out[key] = Json{{"value", value}, {"desc", nullptr}};
  }
  return out.dump(-1, ' ', false, Json::error_handler_t::replace);
}

ProjectRuns::ProjectRuns(const WandbContext& context, std::string entity, std::string project, RunObjectFn make_run)
    : context_(context), entity_(std::move(entity)), project_(std::move(project)), make_run_(std::move(make_run)) {}

StatusOr<const std::vector<ProjectRuns::Entry>*> ProjectRuns::All() {
  if (all_) return &*all_;
  std::vector<Entry> out;
  std::string cursor;
  do {
    StatusOr<internal::Page<RunRecord>> page = context_.metadata->ListRuns(entity_, project_, cursor, 1000);
    if (!page.ok()) return page.status();
    for (RunRecord& r : page->items) {
      RunView view{.name = r.run_id,
                   .state = RunStateNow(r, context_.run_stale_after),
                   .created_ms = r.created_ms,
                   .heartbeat_ms = r.heartbeat_ms,
                   .config = Json::parse(r.config, nullptr, /*allow_exceptions=*/false)};
      if (!view.config.is_object()) view.config = Json::object();
      out.push_back(Entry{std::move(r), std::move(view)});
    }
    cursor = std::move(page->next_cursor);
  } while (!cursor.empty());
  all_ = std::move(out);
  return &*all_;
}

StatusOr<std::vector<const ProjectRuns::Entry*>> ProjectRuns::Matching(const Json& args) {
  const Json* filters = Arg(args, "filters");
  StatusOr<RunFilter> filter = RunFilter::Parse(filters != nullptr ? *filters : Json(nullptr));
  if (!filter.ok()) return filter.status();
  StatusOr<const std::vector<Entry>*> all = All();
  if (!all.ok()) return all.status();
  std::vector<const Entry*> out;
  for (const Entry& e : **all) {
    if (filter->Matches(e.view)) out.push_back(&e);
  }
  return out;
}

StatusOr<Result> ProjectRuns::Count(const Json& args) {
  StatusOr<std::vector<const Entry*>> runs = Matching(args);
  if (!runs.ok()) return runs.status();
  return Result::Scalar(static_cast<long long>(runs->size()));
}

StatusOr<Result> ProjectRuns::Page(const Json& args) {
  const Json* order_arg = Arg(args, "order");
  if (order_arg != nullptr && !order_arg->is_string()) return InvalidArgumentError("runs: order must be a String");
  StatusOr<RunOrder> order = RunOrder::Parse(order_arg != nullptr ? order_arg->get<std::string>() : "");
  if (!order.ok()) return order.status();
  StatusOr<long long> first = PageSize(args, "runs");
  if (!first.ok()) return first.status();
  StatusOr<std::optional<std::string>> after = AfterCursor(args, "runs");
  if (!after.ok()) return after.status();
  StatusOr<std::vector<const Entry*>> runs = Matching(args);
  if (!runs.ok()) return runs.status();

  std::vector<std::pair<Json, const Entry*>> keyed;
  keyed.reserve(runs->size());
  for (const Entry* e : *runs) keyed.emplace_back(order->Key(e->view), e);
  auto before = [&](const auto& a, const auto& b) { return order->Before(a.first, b.first); };
  std::sort(keyed.begin(), keyed.end(), before);
  std::size_t start = 0;
  if (*after) {
    // The cursor is the last key of the previous page: start after it, even
    // when runs were added or removed in between.
    Json key = Json::parse(**after, nullptr, /*allow_exceptions=*/false);
    if (!key.is_array() || key.size() != 3) {
      return InvalidArgumentError("runs: after must be a cursor from a previous page");
    }
    auto it = std::upper_bound(keyed.begin(), keyed.end(), key,
                               [&](const Json& k, const auto& item) { return order->Before(k, item.first); });
    start = static_cast<std::size_t>(it - keyed.begin());
  }
  std::vector<Edge> edges;
  std::size_t i = start;
  for (; i < keyed.size() && static_cast<long long>(edges.size()) < *first; ++i) {
    edges.push_back({make_run_(keyed[i].second->record), EncodeBase64(keyed[i].first.dump())});
  }
  return Connection("Run", std::move(edges), i < keyed.size());
}

StatusOr<Result> ResolveModels(const WandbContext& context, const Json& args) {
  std::string entity;
  if (const Json* e = Arg(args, "entityName"); e != nullptr) {
    if (!e->is_string()) return InvalidArgumentError("models: entityName must be a String");
    entity = e->get<std::string>();
  } else if (!context.principal.admin) {
    entity = context.principal.entity;
  } else {
    return InvalidArgumentError("models: the admin key has no entity of its own: pass entityName");
  }
  StatusOr<long long> first = PageSize(args, "models");
  if (!first.ok()) return first.status();
  StatusOr<std::optional<std::string>> after = AfterCursor(args, "models");
  if (!after.ok()) return after.status();
  if (!ValidateId(entity, "entity").ok()) return Connection("Project", {}, false);
  if (Status s = Authenticator::CheckAccess(context.principal, entity, false); !s.ok()) return s;
  StatusOr<std::vector<ProjectRecord>> projects = context.metadata->ListProjects(entity);
  if (!projects.ok()) {
    // An entity with no runs yet has no projects.
    if (MissingRunPathPart(projects.status())) return Connection("Project", {}, false);
    return projects.status();
  }
  std::vector<Edge> edges;
  std::size_t i = 0;
  for (; i < projects->size() && static_cast<long long>(edges.size()) < *first; ++i) {
    const ProjectRecord& p = (*projects)[i];
    if (*after && p.name <= **after) continue;
    auto node = std::make_shared<Record>("Project");
    node->Set("id", EncodeBase64("Project:v1:" + p.name + ":" + p.entity))
        .Set("name", p.name)
        .Set("entityName", p.entity)
        .Set("internalId", ProjectInternalId(p.entity, p.name))
        .Set("createdAt", WandbTime(p.created_ms))
        .Set("isBenchmark", false)
        .Set("readOnly", false);
    edges.push_back({node, EncodeBase64(p.name)});
  }
  return Connection("Project", std::move(edges), i < projects->size());
}

StatusOr<Result> ResolveTypeProbe(const Json& args) {
  StatusOr<std::string> name = StringArg(args, "name", "__type");
  if (!name.ok()) return name.status();
  std::vector<const char*> fields;
  if (*name == "Project") {
    fields = {"id", "name", "entityName", "internalId", "createdAt", "isBenchmark", "readOnly",
              "run", "bucket", "runs", "runCount"};
  } else if (*name == "Run") {
    fields = {"id",        "name",          "displayName",    "state",           "config",  "summaryMetrics",
              "systemMetrics", "sweepName", "tags",           "readOnly",        "createdAt", "updatedAt",
              "heartbeatAt", "historyLineCount", "projectId", "user",            "fileCount", "files"};
  } else {
    return Result::Null();
  }
  std::vector<Result> items;
  for (const char* f : fields) {
    auto field = std::make_shared<Record>("__Field");
    field->Set("name", f);
    items.push_back(Result::Of(field));
  }
  auto type = std::make_shared<Record>("__Type");
  type->Set("name", *name).Set("kind", "OBJECT").Set("fields", Result::List(std::move(items)));
  return Result::Of(type);
}

}  // namespace cairn::internal::graphql
