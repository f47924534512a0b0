#include "server/graphql/executor.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <map>
#include <set>
#include <utility>

namespace cairn::internal::graphql {
namespace {

Json LocationJson(const Location& l) { return Json{{"line", l.line}, {"column", l.column}}; }

Json ErrorJson(std::string_view message, const Location* location = nullptr, const Json* path = nullptr) {
  Json e = Json::object();
  e["message"] = message;
  if (location != nullptr && location->line > 0) e["locations"] = Json::array({LocationJson(*location)});
  if (path != nullptr) e["path"] = *path;
  return e;
}

Response RequestError(std::string_view message, const Location* location = nullptr) {
  return Response{400, Json{{"errors", Json::array({ErrorJson(message, location)})}}};
}

std::string TypeString(const TypeRef& t) {
  std::string s = t.item ? "[" + TypeString(*t.item) + "]" : t.name;
  return t.non_null ? s + "!" : s;
}

// Input coercion of a variable's value (spec 3.11 for lists; the built-in
// scalars are checked, other named types are passed through).
StatusOr<Json> CoerceVariable(const TypeRef& type, const Json& value, const std::string& where) {
  if (value.is_null()) {
    if (type.non_null) return InvalidArgumentError(where + " of type " + TypeString(type) + " must not be null");
    return Json(nullptr);
  }
  if (type.item) {
    Json out = Json::array();
    if (!value.is_array()) {
      StatusOr<Json> one = CoerceVariable(*type.item, value, where);
      if (!one.ok()) return one.status();
      out.push_back(std::move(*one));
      return out;
    }
    for (std::size_t i = 0; i < value.size(); ++i) {
      StatusOr<Json> item = CoerceVariable(*type.item, value[i], where + "[" + std::to_string(i) + "]");
      if (!item.ok()) return item.status();
      out.push_back(std::move(*item));
    }
    return out;
  }
  const std::string& n = type.name;
  bool ok = true;
  if (n == "Int") {
    ok = value.is_number_integer() ||
         (value.is_number_float() &&
          value.get<double>() == static_cast<double>(static_cast<long long>(value.get<double>())));
  } else if (n == "Float") {
    ok = value.is_number();
  } else if (n == "String") {
    ok = value.is_string();
  } else if (n == "Boolean") {
    ok = value.is_boolean();
  } else if (n == "ID") {
    if (value.is_number_integer()) return Json(value.dump());
    ok = value.is_string();
  }
  if (!ok) return InvalidArgumentError(where + " of type " + TypeString(type) + " cannot be " + value.dump());
  if (n == "Int" && value.is_number_float()) return Json(static_cast<long long>(value.get<double>()));
  return value;
}

Json NumberJson(const Value& v) {
  if (v.kind == Value::Kind::kInt) {
    long long i = 0;
    auto [p, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), i);
    if (ec == std::errc() && p == v.text.data() + v.text.size()) return Json(i);
  }
  return Json(std::strtod(v.text.c_str(), nullptr));
}

// A literal without variables (default values) as JSON.
Json ConstJson(const Value& v) {
  switch (v.kind) {
    case Value::Kind::kInt:
    case Value::Kind::kFloat:
      return NumberJson(v);
    case Value::Kind::kString:
    case Value::Kind::kEnum:
      return Json(v.text);
    case Value::Kind::kBoolean:
      return Json(v.boolean);
    case Value::Kind::kList: {
      Json out = Json::array();
      for (const Value& item : v.list) out.push_back(ConstJson(item));
      return out;
    }
    case Value::Kind::kObject: {
      Json out = Json::object();
      for (const auto& [k, item] : v.fields) out[k] = ConstJson(item);
      return out;
    }
    case Value::Kind::kVariable:
    case Value::Kind::kNull:
      break;
  }
  return Json(nullptr);
}

class Execution {
 public:
  Execution(const Document& doc, const ExecuteLimits& limits) : doc_(doc), limits_(limits) {
    for (const Fragment& f : doc_.fragments) fragments_.emplace(f.name, &f);
  }

  // Checks what the spec's validation would reject and we rely on; empty
  // when the document may run. `loc` receives the position of the problem.
  std::string Validate(Location* loc) {
    std::set<std::string> seen;
    for (const Fragment& f : doc_.fragments) {
      *loc = f.location;
      if (!seen.insert(f.name).second) return "there are two fragments named \"" + f.name + "\"";
    }
    seen.clear();
    for (const Operation& op : doc_.operations) {
      *loc = op.location;
      if (op.name.empty() && doc_.operations.size() > 1) {
        return "an anonymous operation must be the only operation in the document";
      }
      if (!op.name.empty() && !seen.insert(op.name).second) {
        return "there are two operations named \"" + op.name + "\"";
      }
    }
    for (const Fragment& f : doc_.fragments) {
      if (!checked_.insert(f.name).second) continue;
      std::vector<std::string> stack{f.name};
      if (std::string err = CheckSpreads(f.selections, stack, loc); !err.empty()) return err;
    }
    for (const Operation& op : doc_.operations) {
      std::vector<std::string> stack;
      if (std::string err = CheckSpreads(op.selections, stack, loc); !err.empty()) return err;
    }
    return "";
  }

  // Picks the operation per `operation_name` and coerces the variables.
  std::string Prepare(const std::string& operation_name, const Json& variables, Location* loc) {
    if (operation_name.empty()) {
      if (doc_.operations.size() != 1) {
        return doc_.operations.empty() ? "the document has fragments but no operation"
                                       : "the document has several operations: say which in \"operationName\"";
      }
      op_ = &doc_.operations[0];
    } else {
      for (const Operation& op : doc_.operations) {
        if (op.name == operation_name) op_ = &op;
      }
      if (op_ == nullptr) return "the document has no operation named \"" + operation_name + "\"";
    }
    *loc = op_->location;
    if (op_->type != "query") {
      return "Cairn answers queries only; " + op_->type + (op_->name.empty() ? "" : " " + op_->name) +
             " is not supported (Cairn's W&B endpoint restores and lists files; write with cairn)";
    }
    for (const VariableDefinition& def : op_->variables) {
      *loc = def.location;
      if (vars_.contains(def.name)) return "variable $" + def.name + " is defined twice";
      auto given = variables.find(def.name);
      if (given == variables.end()) {
        if (def.default_value) {
          vars_[def.name] = ConstJson(*def.default_value);
        } else if (def.type.non_null) {
          return "variable $" + def.name + " of type " + TypeString(def.type) + " was not provided";
        } else {
          vars_[def.name] = std::nullopt;  // defined, no value: its arguments count as not given
        }
        continue;
      }
      StatusOr<Json> v = CoerceVariable(def.type, *given, "variable $" + def.name);
      if (!v.ok()) return std::string(v.status().message());
      vars_[def.name] = std::move(*v);
    }
    std::set<std::string> done;
    return CheckVariables(op_->selections, done, loc);
  }

  Response Run(Object& root) {
    Json data = ExecuteSelectionSet(root, {&op_->selections}, Json::array(), 0);
    Response r;
    if (aborted_) {
      r.http_status = 400;
      r.body["data"] = nullptr;
    } else {
      r.body["data"] = std::move(data);
    }
    if (!errors_.empty()) r.body["errors"] = std::move(errors_);
    return r;
  }

 private:
  using Fields = std::vector<std::pair<std::string, std::vector<const Selection*>>>;

  // Depth-first over the fragment graph, each fragment once: unknown
  // fragments and cycles (which would never end) are errors.
  std::string CheckSpreads(const SelectionSet& set, std::vector<std::string>& stack, Location* loc) {
    for (const Selection& s : set) {
      if (s.kind != Selection::Kind::kFragmentSpread) {
        if (std::string err = CheckSpreads(s.selections, stack, loc); !err.empty()) return err;
        continue;
      }
      *loc = s.location;
      auto it = fragments_.find(s.name);
      if (it == fragments_.end())
        return "unknown fragment \"" + s.name + "\": define it with fragment " + s.name + " on ...";
      if (std::find(stack.begin(), stack.end(), s.name) != stack.end()) {
        std::string cycle;
        for (const std::string& n : stack) cycle += n + " -> ";
        return "fragments must not form a cycle: " + cycle + s.name;
      }
      if (!checked_.insert(s.name).second) continue;
      stack.push_back(s.name);
      std::string err = CheckSpreads(it->second->selections, stack, loc);
      stack.pop_back();
      if (!err.empty()) return err;
    }
    return "";
  }

  std::string CheckValue(const Value& v, Location* loc) {
    if (v.kind == Value::Kind::kVariable && !vars_.contains(v.text)) {
      *loc = v.location;
      return "variable $" + v.text + " is used but not defined by the operation";
    }
    for (const Value& item : v.list) {
      if (std::string err = CheckValue(item, loc); !err.empty()) return err;
    }
    for (const auto& [k, item] : v.fields) {
      if (std::string err = CheckValue(item, loc); !err.empty()) return err;
    }
    return "";
  }

  std::string CheckArguments(const Arguments& args, Location* loc) {
    for (const auto& [k, v] : args) {
      if (std::string err = CheckValue(v, loc); !err.empty()) return err;
    }
    return "";
  }

  std::string CheckDirectives(const std::vector<Directive>& ds, Location* loc) {
    for (const Directive& d : ds) {
      if (std::string err = CheckArguments(d.arguments, loc); !err.empty()) return err;
    }
    return "";
  }

  // Every variable used where this operation reaches is defined by it.
  std::string CheckVariables(const SelectionSet& set, std::set<std::string>& done, Location* loc) {
    if (std::string err = CheckDirectives(op_->directives, loc); !err.empty()) return err;
    for (const Selection& s : set) {
      if (std::string err = CheckArguments(s.arguments, loc); !err.empty()) return err;
      if (std::string err = CheckDirectives(s.directives, loc); !err.empty()) return err;
      if (s.kind == Selection::Kind::kFragmentSpread) {
        if (!done.insert(s.name).second) continue;  // checked already (each fragment once)
        const Fragment& f = *fragments_.at(s.name);
        std::string err = CheckDirectives(f.directives, loc);
        if (err.empty()) err = CheckVariables(f.selections, done, loc);
        if (!err.empty()) return err;
      } else if (std::string err = CheckVariables(s.selections, done, loc); !err.empty()) {
        return err;
      }
    }
    return "";
  }

  // The value of an argument; nullopt when it refers to a variable without a value.
  std::optional<Json> ArgumentJson(const Value& v) {
    switch (v.kind) {
      case Value::Kind::kVariable: {
        auto it = vars_.find(v.text);
        if (it == vars_.end() || !it->second) return std::nullopt;
        return *it->second;
      }
      case Value::Kind::kList: {
        Json out = Json::array();
        for (const Value& item : v.list) out.push_back(ArgumentJson(item).value_or(Json(nullptr)));
        return out;
      }
      case Value::Kind::kObject: {
        Json out = Json::object();
        for (const auto& [k, item] : v.fields) {
          if (std::optional<Json> j = ArgumentJson(item)) out[k] = std::move(*j);
        }
        return out;
      }
      default:
        return ConstJson(v);
    }
  }

  Json ArgumentsJson(const Arguments& args) {
    Json out = Json::object();
    for (const auto& [k, v] : args) {
      if (std::optional<Json> j = ArgumentJson(v)) out[k] = std::move(*j);
    }
    return out;
  }

  // @skip(if:) and @include(if:); other directives are ignored.
  bool Included(const std::vector<Directive>& directives) {
    for (const Directive& d : directives) {
      if (d.name != "skip" && d.name != "include") continue;
      Json args = ArgumentsJson(d.arguments);
      auto cond = args.find("if");
      if (cond == args.end() || !cond->is_boolean()) {
        Abort("@" + d.name + " needs an argument if: Boolean!", d.location);
        return false;
      }
      if (cond->get<bool>() == (d.name == "skip")) return false;
    }
    return true;
  }

  void Collect(Object& object, const SelectionSet& set, Fields& out, std::map<std::string, std::size_t>& index,
               std::set<std::string>& visited) {
    for (const Selection& s : set) {
      if (++collected_ > limits_.max_fields * 20) {
        Abort("the query is too large to execute: ask for fewer fields", s.location);
      }
      if (aborted_ || !Included(s.directives)) continue;
      switch (s.kind) {
        case Selection::Kind::kField: {
          auto [it, added] = index.emplace(s.response_key(), out.size());
          if (added) out.emplace_back(s.response_key(), std::vector<const Selection*>{});
          out[it->second].second.push_back(&s);
          break;
        }
        case Selection::Kind::kFragmentSpread: {
          if (!visited.insert(s.name).second) break;
          const Fragment& f = *fragments_.at(s.name);
          if (object.IsA(f.type_condition) && Included(f.directives))
            Collect(object, f.selections, out, index, visited);
          break;
        }
        case Selection::Kind::kInlineFragment:
          if (s.type_condition.empty() || object.IsA(s.type_condition)) {
            Collect(object, s.selections, out, index, visited);
          }
          break;
      }
    }
  }

  Json ExecuteSelectionSet(Object& object, const std::vector<const SelectionSet*>& sets, const Json& path, int depth) {
    if (depth > limits_.max_depth) {
      Abort("the query nests objects deeper than " + std::to_string(limits_.max_depth) + " levels", {});
      return nullptr;
    }
    Fields fields;
    std::map<std::string, std::size_t> index;
    std::set<std::string> visited;
    for (const SelectionSet* set : sets) Collect(object, *set, fields, index, visited);
    Json out = Json::object();
    for (const auto& [key, selections] : fields) {
      if (aborted_) return nullptr;
      Json field_path = path;
      field_path.push_back(key);
      out[key] = ExecuteField(object, selections, field_path, depth);
    }
    return out;
  }

  Json ExecuteField(Object& object, const std::vector<const Selection*>& selections, const Json& path, int depth) {
    const Selection& field = *selections.front();
    if (++fields_resolved_ > limits_.max_fields) {
      Abort("the query resolves more than " + std::to_string(limits_.max_fields) + " fields: ask for fewer",
            field.location);
      return nullptr;
    }
    if (field.name == "__typename") return object.TypeName();
    StatusOr<Result> result = object.Resolve(field.name, ArgumentsJson(field.arguments));
    if (!result.ok()) {
      errors_.push_back(ErrorJson(result.status().message(), &field.location, &path));
      return nullptr;
    }
    return Complete(*result, selections, path, depth);
  }

  Json Complete(const Result& result, const std::vector<const Selection*>& selections, const Json& path, int depth) {
    const Selection& field = *selections.front();
    if (result.list) {
      Json out = Json::array();
      for (std::size_t i = 0; i < result.list->size() && !aborted_; ++i) {
        Json item_path = path;
        item_path.push_back(i);
        out.push_back(Complete((*result.list)[i], selections, item_path, depth));
      }
      return out;
    }
    std::vector<const SelectionSet*> sets;
    for (const Selection* s : selections) {
      if (!s->selections.empty()) sets.push_back(&s->selections);
    }
    if (result.object) {
      if (sets.empty()) {
        errors_.push_back(ErrorJson("field \"" + field.name + "\" is of type " + result.object->TypeName() +
                                        ": select its fields, e.g. " + field.name + " { __typename }",
                                    &field.location, &path));
        return nullptr;
      }
      return ExecuteSelectionSet(*result.object, sets, path, depth + 1);
    }
    if (!sets.empty() && !result.scalar.is_null()) {
      errors_.push_back(ErrorJson("field \"" + field.name + "\" is a scalar: it takes no selection of fields",
                                  &field.location, &path));
      return nullptr;
    }
    return result.scalar;
  }

  void Abort(const std::string& message, const Location& loc) {
    if (aborted_) return;
    aborted_ = true;
    errors_.push_back(ErrorJson(message, &loc));
  }

  const Document& doc_;
  const ExecuteLimits& limits_;
  std::map<std::string, const Fragment*> fragments_;
  const Operation* op_ = nullptr;
  std::map<std::string, std::optional<Json>> vars_;
  Json errors_ = Json::array();
  std::set<std::string> checked_;  // fragments whose spreads Validate() has checked
  std::size_t fields_resolved_ = 0;
  std::size_t collected_ = 0;  // selections looked at while collecting fields
  bool aborted_ = false;
};

}  // namespace

Response ErrorOnly(int http_status, std::string_view message) {
  return Response{http_status, Json{{"errors", Json::array({ErrorJson(message)})}}};
}

Response Execute(std::string_view http_body, Object& root, const ExecuteLimits& limits) {
  Json request = Json::parse(http_body, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded() || !request.is_object()) {
    return RequestError("the request body must be a JSON object {\"query\": \"...\", \"variables\": {...}}");
  }
  auto query = request.find("query");
  if (query == request.end() || !query->is_string()) {
    return RequestError("the request body needs \"query\": the GraphQL document as a string");
  }
  Json variables = Json::object();
  if (auto v = request.find("variables"); v != request.end() && !v->is_null()) {
    if (!v->is_object()) return RequestError("\"variables\" must be a JSON object");
    variables = *v;
  }
  std::string operation_name;
  if (auto n = request.find("operationName"); n != request.end() && !n->is_null()) {
    if (!n->is_string()) return RequestError("\"operationName\" must be a string");
    operation_name = n->get<std::string>();
  }
  Location loc;
  StatusOr<Document> doc = Parse(query->get_ref<const std::string&>(), limits.parse, &loc);
  if (!doc.ok()) return RequestError(doc.status().message(), &loc);
  Execution execution(*doc, limits);
  if (std::string err = execution.Validate(&loc); !err.empty()) return RequestError(err, &loc);
  if (std::string err = execution.Prepare(operation_name, variables, &loc); !err.empty()) {
    return RequestError(err, &loc);
  }
  return execution.Run(root);
}

}  // namespace cairn::internal::graphql
