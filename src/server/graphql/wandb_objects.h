// Building blocks of the W&B schema's objects (wandb_schema.cc,
// wandb_runs.cc): records with fixed or lazily computed fields, Relay
// connections, W&B's timestamps and ids, argument helpers.
// Private to src/server/graphql.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "server/graphql/executor.h"

namespace cairn::internal::graphql {

// An object whose fields are values or functions of the arguments.
class Record : public Object {
 public:
  using Fn = std::function<StatusOr<Result>(const Json& args)>;
  explicit Record(std::string type) : type_(std::move(type)) {}

  Record& Set(const std::string& field, Json value) {
    values_[field] = Result::Scalar(std::move(value));
    return *this;
  }
  Record& Set(const std::string& field, Result value) {
    values_[field] = std::move(value);
    return *this;
  }
  Record& Lazy(const std::string& field, Fn fn) {
    fns_[field] = std::move(fn);
    return *this;
  }

  std::string TypeName() const override { return type_; }
  StatusOr<Result> Resolve(std::string_view field, const Json& args) override {
    if (auto f = fns_.find(field); f != fns_.end()) return f->second(args);
    if (auto v = values_.find(field); v != values_.end()) return v->second;
    return Result::Null();
  }

 private:
  std::string type_;
  std::map<std::string, Result, std::less<>> values_;
  std::map<std::string, Fn, std::less<>> fns_;
};

struct Edge {
  std::shared_ptr<Object> node;
  std::string cursor;
};

// A Relay connection: edges { node cursor } pageInfo { ... }.
Result Connection(const std::string& type, std::vector<Edge> edges, bool has_next);

// W&B's timestamps: UTC, seconds, no zone suffix ("2026-11-29T06:30:00").
std::string WandbTime(long long unix_ms);

// A decimal id that is stable for a project (W&B's are database integers;
// clients only pass them back).
std::string ProjectInternalId(const std::string& entity, const std::string& project);

std::shared_ptr<Object> NewUser(const std::string& name, const std::optional<std::string>& entity, bool admin);

// Optional arguments: absent and null are the same.
const Json* Arg(const Json& args, const char* name);

// A required String argument; kInvalidArgument naming `field` otherwise.
StatusOr<std::string> StringArg(const Json& args, const char* name, const std::string& field);

}  // namespace cairn::internal::graphql
