// Filters and orders of W&B's runs() query (docs/wandb.md), evaluated by the
// server over one project's runs.
//
// Filters are W&B's MongoDB-like documents: an object is the AND of its
// entries; an entry is {"$and"|"$or"|"$nor": [documents]} or
// {FIELD: VALUE} (equality) or {FIELD: {OPERATOR: VALUE, ...}} with the
// operators $eq $ne $gt $gte $lt $lte $in $nin $exists. FIELD is one of
//   name (the run id), displayName, state, createdAt, heartbeatAt,
//   config.KEY (also config.KEY.value, the form the W&B client writes;
//   config.KEY.SUB looks inside an object)
// (snake_case spellings too). Time fields compare with ISO 8601 strings
// ("2026-12-06T14:00:00", optional fraction and Z / +HH:MM). An unknown
// operator or field is kInvalidArgument naming it, never an empty answer.
//
// Orders are "[+|-]KEY" with KEY created_at, heartbeat_at, name,
// display_name, state or config.KEY[.value]; "+" (or none) ascending.
// Ties are broken by (created_at, name) in the same direction.
// Private to src/server/graphql; free of the stores.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "server/graphql/executor.h"

namespace cairn::internal::graphql {

// What a filter or an order looks at in one run.
struct RunView {
  std::string name;  // the run id
  std::string state;  // as readers see it: running, finished, crashed
  long long created_ms = 0;
  long long heartbeat_ms = 0;
  Json config = Json::object();  // the plain config (not W&B's {"value": ...} form)
};

class RunFilter {
 public:
  // `filters`: a JSON object, or a string holding one (the client sends
  // json.dumps(filters)); null, "" and {} match every run.
  static StatusOr<RunFilter> Parse(const Json& filters);
  bool Matches(const RunView& run) const;

 private:
  Json doc_ = Json::object();
};

class RunOrder {
 public:
  // "" means "+created_at".
  static StatusOr<RunOrder> Parse(std::string_view order);
  // The run's position key: [value, created_ms, name].
  Json Key(const RunView& run) const;
  // Whether key `a` comes before key `b` in this order.
  bool Before(const Json& a, const Json& b) const;

 private:
  std::string field_;                   // created_at, heartbeat_at, name, state or "config"
  std::vector<std::string> config_path_;
  bool descending_ = false;
};

// Milliseconds since the epoch of an ISO 8601 UTC time; nullopt when malformed.
std::optional<long long> ParseIsoTimeMs(std::string_view text);

}  // namespace cairn::internal::graphql
