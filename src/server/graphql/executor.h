// Executes GraphQL requests (the GraphQL-over-HTTP JSON body) against a tree
// of Objects that resolve their own fields. There is no schema document: a
// type is an Object subclass, and a field the Object does not know resolves to
// null, so a client's query that asks for more than Cairn has (a newer client
// release, an optional field) still gets its data. What the spec's validation
// would reject and matters here is checked before execution: syntax, unknown
// or cyclic fragments, undefined or ill-typed variables, the operation choice.
//
// Responses are {"data": ..., "errors": [...]} as in the spec (section 7): a
// field whose resolver fails is null with an entry in "errors" (message,
// locations, path); a request that cannot be executed has no "data".
// Private to src/server; free of Boost.
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/status.h"
#include "server/graphql/parser.h"

namespace cairn::internal::graphql {

// Responses keep the fields in the order the query asked for them.
using Json = nlohmann::ordered_json;

class Object;

// What a field resolves to: a scalar (JSON, null by default), an object, or a
// list of results.
struct Result {
  Json scalar;
  std::shared_ptr<Object> object;
  std::optional<std::vector<Result>> list;

  static Result Null() { return {}; }
  static Result Scalar(Json v) { return Result{.scalar = std::move(v)}; }
  static Result Of(std::shared_ptr<Object> o) { return Result{.object = std::move(o)}; }
  static Result List(std::vector<Result> items) { return Result{.list = std::move(items)}; }
};

// An object of some GraphQL type. Used by one request on one thread.
class Object {
 public:
  virtual ~Object() = default;
  virtual std::string TypeName() const = 0;
  // Whether a fragment on `type` applies to this object (default: `type` is
  // its own type name).
  virtual bool IsA(std::string_view type) const { return type == TypeName(); }
  // Resolves `field`. `args` is a JSON object of the arguments given (with
  // variables substituted; an argument not given, or given a variable that has
  // no value, is absent). Unknown fields: Result::Null(). A non-OK Status is
  // reported as a field error with its message.
  virtual StatusOr<Result> Resolve(std::string_view field, const Json& args) = 0;
};

struct ExecuteLimits {
  ParseLimits parse;
  // Fields resolved per request, over all list items. Default: 50000.
  std::size_t max_fields = 50000;
  // Nesting of objects in the response. Default: 32.
  int max_depth = 32;
};

struct Response {
  int http_status = 200;  // 400 when the request could not be executed at all
  Json body;              // {"data": ...} and/or {"errors": [...]}
};

// A response with no data and one error (for failures outside execution,
// such as authentication).
Response ErrorOnly(int http_status, std::string_view message);

// Runs a GraphQL-over-HTTP request body {"query", "variables", "operationName"}
// with `root` as the Query object. Only query operations run; mutations and
// subscriptions are refused with an error naming them.
Response Execute(std::string_view http_body, Object& root, const ExecuteLimits& limits = {});

}  // namespace cairn::internal::graphql
