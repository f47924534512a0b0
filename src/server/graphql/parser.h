// A parser for GraphQL executable documents (the October 2021 spec, section 2):
// operations with names, variable definitions and defaults, selection sets,
// fields with aliases and arguments, fragments, fragment spreads, inline
// fragments, directives, and every literal (lists, objects, enums, strings,
// block strings). Type-system definitions (schemas) are not accepted.
//
// Input comes from the network: the parser never recurses without a bound
// (ParseLimits::max_depth), never reads past the text, and rejects inputs over
// ParseLimits. Private to src/server; free of Boost.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/status.h"

namespace cairn::internal::graphql {

// 1-based position in the document text (columns count bytes).
struct Location {
  int line = 0;
  int column = 0;
};

struct Value;
struct NamedValue;  // an argument, or a field of an object literal
using Arguments = std::vector<NamedValue>;

// A literal or a variable reference, as written in the document.
struct Value {
  enum class Kind { kVariable, kInt, kFloat, kString, kBoolean, kNull, kEnum, kList, kObject };
  Kind kind = Kind::kNull;
  // kVariable: the name (without $); kInt/kFloat: the digits as written;
  // kString: the decoded UTF-8 text; kEnum: the name.
  std::string text;
  bool boolean = false;
  std::vector<Value> list;  // kList
  Arguments fields;         // kObject, in document order
  Location location;
};

struct NamedValue {
  std::string name;
  Value value;
};

struct Directive {
  std::string name;
  Arguments arguments;
  Location location;
};

struct Selection;
using SelectionSet = std::vector<Selection>;

struct Selection {
  enum class Kind { kField, kFragmentSpread, kInlineFragment };
  Kind kind = Kind::kField;
  std::string alias;  // kField: "" when none
  std::string name;   // kField: the field; kFragmentSpread: the fragment
  Arguments arguments;
  std::vector<Directive> directives;
  std::string type_condition;  // kInlineFragment: "" when none
  SelectionSet selections;     // kField (may be empty) and kInlineFragment
  Location location;

  const std::string& response_key() const { return alias.empty() ? name : alias; }
};

// A variable's type: a named type, or a list of `item`; `non_null` for `!`.
struct TypeRef {
  std::string name;               // "" for a list
  std::shared_ptr<TypeRef> item;  // set for a list
  bool non_null = false;
};

struct VariableDefinition {
  std::string name;
  TypeRef type;
  std::optional<Value> default_value;
  Location location;
};

struct Operation {
  std::string type = "query";  // "query", "mutation" or "subscription"
  std::string name;            // "" for an anonymous operation
  std::vector<VariableDefinition> variables;
  std::vector<Directive> directives;
  SelectionSet selections;
  Location location;
};

struct Fragment {
  std::string name;
  std::string type_condition;
  std::vector<Directive> directives;
  SelectionSet selections;
  Location location;
};

struct Document {
  std::vector<Operation> operations;
  std::vector<Fragment> fragments;
};

struct ParseLimits {
  // The whole document text. Default: 256 KiB, far above any client's query.
  std::size_t max_bytes = 256 * 1024;
  // Tokens in the document. Default: 20000.
  std::size_t max_tokens = 20000;
  // Nesting of selection sets, lists and objects together. Default: 64.
  int max_depth = 64;
};

// Parses `text`. kInvalidArgument with a message "Syntax Error: ... (line L,
// column C)" when the text is not an executable document or exceeds `limits`;
// `*error_location` (when given) receives the position.
StatusOr<Document> Parse(std::string_view text, const ParseLimits& limits = {}, Location* error_location = nullptr);

}  // namespace cairn::internal::graphql
