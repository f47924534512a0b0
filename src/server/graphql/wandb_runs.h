// The W&B schema's run discovery (docs/wandb.md): Project.runs(filters,
// after, first, order) and Project.runCount(filters), Query.models (the
// client's Api().projects(entity)) and the __type probes the client sends
// before a runs() query. Filters and orders: run_filter.h.
//
// A runs() or runCount() call reads every run of the project once per
// request (all pages of MetadataStore::ListRuns), then filters, sorts and
// pages in memory: O(runs in the project) per request.
// Private to src/server/graphql.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/graphql/executor.h"
#include "server/graphql/run_filter.h"
#include "server/graphql/wandb_schema.h"

namespace cairn::internal::graphql {

// Builds the Run object of one run (wandb_schema.cc owns its fields).
using RunObjectFn = std::function<std::shared_ptr<Object>(const RunRecord&)>;

// One project's runs for one request: runs() and runCount() of the same
// Project object share one read of the store.
class ProjectRuns {
 public:
  ProjectRuns(const WandbContext& context, std::string entity, std::string project, RunObjectFn make_run);

  // runCount(filters): how many runs match.
  StatusOr<Result> Count(const Json& args);
  // runs(filters, after, first, order): a RunConnection page.
  StatusOr<Result> Page(const Json& args);

 private:
  struct Entry {
    RunRecord record;
    RunView view;
  };
  StatusOr<const std::vector<Entry>*> All();
  StatusOr<std::vector<const Entry*>> Matching(const Json& args);

  WandbContext context_;
  std::string entity_;
  std::string project_;
  RunObjectFn make_run_;
  std::optional<std::vector<Entry>> all_;
};

// The run's state as W&B readers see it (running, finished, crashed).
std::string RunStateNow(const RunRecord& run, std::chrono::seconds stale_after);

// The run's config as W&B stores it: {"KEY": {"value": V, "desc": null}},
// as JSON text.
std::string WandbConfigText(const std::string& config);

// Query.models(entityName, after, first): the entity's projects by name.
StatusOr<Result> ResolveModels(const WandbContext& context, const Json& args);

// Query.__type(name): {name, fields {name}} for Project and Run (the fields
// Cairn answers), null for other types.
StatusOr<Result> ResolveTypeProbe(const Json& args);

}  // namespace cairn::internal::graphql
