// The executor over a small object tree: field collection and merging,
// fragments, directives, variables, errors and limits.
#include "server/graphql/executor.h"

#include <gtest/gtest.h>

namespace cairn::internal::graphql {
namespace {

// Pet { name, echo(value), friends: [Pet], fail }; Query { pet, pets(n) }.
class Pet : public Object {
 public:
  explicit Pet(std::string name) : name_(std::move(name)) {}
  std::string TypeName() const override { return "Pet"; }
  bool IsA(std::string_view type) const override { return type == "Pet" || type == "Animal"; }
  StatusOr<Result> Resolve(std::string_view field, const Json& args) override {
    if (field == "name") return Result::Scalar(name_);
    if (field == "echo") return Result::Scalar(args.contains("value") ? args["value"] : Json("<absent>"));
    if (field == "friend") return Result::Of(std::make_shared<Pet>(name_ + "'s friend"));
    if (field == "fail") return InvalidArgumentError("fail always fails");
    return Result::Null();
  }

 private:
  std::string name_;
};

class Root : public Object {
 public:
  std::string TypeName() const override { return "Query"; }
  StatusOr<Result> Resolve(std::string_view field, const Json& args) override {
    if (field == "pet") return Result::Of(std::make_shared<Pet>("rex"));
    if (field == "pets") {
      std::vector<Result> items;
      const long long n = args.value("n", 2LL);
      for (long long i = 0; i < n; ++i) items.push_back(Result::Of(std::make_shared<Pet>("p" + std::to_string(i))));
      return Result::List(std::move(items));
    }
    if (field == "echo") return Result::Scalar(args.contains("value") ? args["value"] : Json("<absent>"));
    return Result::Null();
  }
};

Response Query(const std::string& query, const Json& variables = Json::object(), const std::string& op = "",
               const ExecuteLimits& limits = {}) {
  Json body{{"query", query}, {"variables", variables}};
  if (!op.empty()) body["operationName"] = op;
  Root root;
  return Execute(body.dump(), root, limits);
}

std::string FirstError(const Response& r) {
  if (!r.body.contains("errors")) return "<no errors: " + r.body.dump() + ">";
  return r.body["errors"][0]["message"].get<std::string>();
}

TEST(GraphqlExecutor, SelectsFieldsInQueryOrderWithAliasesAndTypename) {
  Response r = Query("{ pet { zed: name __typename name } nothing }");
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.body.dump(), R"({"data":{"pet":{"zed":"rex","__typename":"Pet","name":"rex"},"nothing":null}})");
}

TEST(GraphqlExecutor, FragmentsSpreadsAndInlineFragmentsMerge) {
  Response r = Query(R"(
    query { pet { ...A ... on Animal { friend { name } } ... on Plant { leaves } ... { name } } }
    fragment A on Pet { friend { __typename } name }
  )");
  EXPECT_EQ(r.body.dump(), R"({"data":{"pet":{"friend":{"__typename":"Pet","name":"rex's friend"},"name":"rex"}}})");
}

TEST(GraphqlExecutor, ListsAndPaths) {
  Response r = Query("{ pets(n: 3) { name fail } }");
  EXPECT_EQ(r.http_status, 200);
  ASSERT_EQ(r.body["data"]["pets"].size(), 3u);
  EXPECT_EQ(r.body["data"]["pets"][2]["name"], "p2");
  EXPECT_TRUE(r.body["data"]["pets"][0]["fail"].is_null());
  ASSERT_EQ(r.body["errors"].size(), 3u);
  EXPECT_EQ(r.body["errors"][1]["message"], "fail always fails");
  EXPECT_EQ(r.body["errors"][1]["path"].dump(), R"(["pets",1,"fail"])");
  EXPECT_EQ(r.body["errors"][1]["locations"][0]["column"], 21);
}

TEST(GraphqlExecutor, VariablesDefaultsAndAbsentArguments) {
  const std::string q =
      "query Q($v: String = \"dflt\", $w: Int, $l: [String]) { a: echo(value: $v) b: echo(value: $w) "
      "c: echo(value: [$w, 1]) d: echo(value: {x: $w, y: $v}) e: echo(value: $l) }";
  Response r = Query(q);
  EXPECT_EQ(r.body["data"].dump(), R"({"a":"dflt","b":"<absent>","c":[null,1],"d":{"y":"dflt"},"e":"<absent>"})");
  r = Query(q, {{"v", "given"}, {"w", 7}, {"l", "one"}});
  EXPECT_EQ(r.body["data"].dump(), R"({"a":"given","b":7,"c":[7,1],"d":{"x":7,"y":"given"},"e":["one"]})");
  r = Query(q, {{"v", nullptr}});
  EXPECT_TRUE(r.body["data"]["a"].is_null());
}

TEST(GraphqlExecutor, VariableErrorsStopTheRequest) {
  Response r = Query("query Q($n: Int!) { pets(n: $n) { name } }");
  EXPECT_EQ(r.http_status, 400);
  EXPECT_FALSE(r.body.contains("data"));
  EXPECT_EQ(FirstError(r), "variable $n of type Int! was not provided");
  EXPECT_EQ(FirstError(Query("query Q($n: Int!) { pets(n: $n) { name } }", {{"n", nullptr}})),
            "variable $n of type Int! must not be null");
  EXPECT_EQ(FirstError(Query("query Q($n: Int) { pets(n: $n) { name } }", {{"n", "three"}})),
            "variable $n of type Int cannot be \"three\"");
  EXPECT_EQ(FirstError(Query("query Q($n: [Int!]) { pets(n: $n) { name } }", {{"n", {1, nullptr}}})),
            "variable $n[1] of type Int! must not be null");
  EXPECT_EQ(FirstError(Query("{ pets(n: $undefined) { name } }")),
            "variable $undefined is used but not defined by the operation");
  EXPECT_EQ(FirstError(Query("query Q { pet { ...F } } fragment F on Pet { echo(value: $x) }")),
            "variable $x is used but not defined by the operation");
}

TEST(GraphqlExecutor, DirectivesIncludeAndSkip) {
  Response r = Query(
      "query Q($yes: Boolean!) { pet { name @skip(if: $yes) n2: name @include(if: $yes) "
      "... @include(if: false) { friend { name } } } }",
      {{"yes", true}});
  EXPECT_EQ(r.body["data"].dump(), R"({"pet":{"n2":"rex"}})");
  EXPECT_EQ(FirstError(Query("{ pet { name @include } }")), "@include needs an argument if: Boolean!");
}

TEST(GraphqlExecutor, OperationChoice) {
  const std::string doc = "query A { echo(value: 1) } query B { echo(value: 2) }";
  EXPECT_EQ(Query(doc, Json::object(), "B").body["data"]["echo"], 2);
  EXPECT_EQ(FirstError(Query(doc)), "the document has several operations: say which in \"operationName\"");
  EXPECT_EQ(FirstError(Query(doc, Json::object(), "C")), "the document has no operation named \"C\"");
  EXPECT_EQ(FirstError(Query("query A { a } query A { b }")), "there are two operations named \"A\"");
  EXPECT_EQ(FirstError(Query("{ a } query B { b }")),
            "an anonymous operation must be the only operation in the document");
  EXPECT_EQ(FirstError(Query("fragment F on Pet { name }")), "the document has fragments but no operation");
  Response m = Query("mutation Upsert { upsertBucket { id } }");
  EXPECT_EQ(m.http_status, 400);
  EXPECT_NE(FirstError(m).find("mutation Upsert is not supported"), std::string::npos);
}

TEST(GraphqlExecutor, FragmentErrors) {
  EXPECT_EQ(FirstError(Query("{ pet { ...Missing } }")),
            "unknown fragment \"Missing\": define it with fragment Missing on ...");
  EXPECT_EQ(FirstError(Query("{ pet { ...A } } fragment A on Pet { friend { ...B } } fragment B on Pet { ...A }")),
            "fragments must not form a cycle: A -> B -> A");
  EXPECT_EQ(FirstError(Query("{ pet { ...A } } fragment A on Pet { ...A }")),
            "fragments must not form a cycle: A -> A");
  EXPECT_EQ(FirstError(Query("{ pet { ...A } } fragment A on Pet { name } fragment A on Pet { name }")),
            "there are two fragments named \"A\"");
}

TEST(GraphqlExecutor, SelectionShapeErrorsAreFieldErrors) {
  Response r = Query("{ pet echo(value: 1) { x } }");
  EXPECT_EQ(r.http_status, 200);
  EXPECT_TRUE(r.body["data"]["pet"].is_null());
  EXPECT_TRUE(r.body["data"]["echo"].is_null());
  EXPECT_EQ(r.body["errors"][0]["message"], "field \"pet\" is of type Pet: select its fields, e.g. pet { __typename }");
  EXPECT_EQ(r.body["errors"][1]["message"], "field \"echo\" is a scalar: it takes no selection of fields");
}

TEST(GraphqlExecutor, RequestBodyErrors) {
  Root root;
  EXPECT_EQ(Execute("not json", root).http_status, 400);
  EXPECT_NE(FirstError(Execute("[]", root)).find("must be a JSON object"), std::string::npos);
  EXPECT_NE(FirstError(Execute("{}", root)).find("needs \"query\""), std::string::npos);
  EXPECT_NE(FirstError(Execute(R"({"query":"{a}","variables":[1]})", root)).find("\"variables\" must be"),
            std::string::npos);
  EXPECT_NE(FirstError(Execute(R"({"query":"{a}","operationName":5})", root)).find("\"operationName\""),
            std::string::npos);
  EXPECT_EQ(Execute(R"({"query":"{ echo(value: 3) }","variables":null,"operationName":null})", root).body.dump(),
            R"({"data":{"echo":3}})");
  Response syntax = Execute(R"({"query":"{ a(b: ) }"})", root);
  EXPECT_EQ(syntax.http_status, 400);
  EXPECT_EQ(syntax.body["errors"][0]["locations"][0]["column"], 8);
}

TEST(GraphqlExecutor, LimitsStopExponentialQueries) {
  // Each level doubles the work: 2^20 fields without the limit.
  std::string q = "query { pet { ...F0 } }";
  for (int i = 0; i < 20; ++i) {
    q += " fragment F" + std::to_string(i) + " on Pet { a: friend { ...F" + std::to_string(i + 1) +
         " } b: friend { ...F" + std::to_string(i + 1) + " } }";
  }
  q += " fragment F20 on Pet { name }";
  Response r = Query(q, Json::object(), "", {.max_fields = 1000, .max_depth = 64});
  EXPECT_EQ(r.http_status, 400);
  EXPECT_TRUE(r.body["data"].is_null());
  EXPECT_EQ(FirstError(r), "the query resolves more than 1000 fields: ask for fewer");
  std::string deep = "{ pet { ";
  for (int i = 0; i < 40; ++i) deep += "friend { ";
  deep += "name" + std::string(41, '}') + " }";
  EXPECT_NE(FirstError(Query(deep)).find("deeper than 32"), std::string::npos);
}

}  // namespace
}  // namespace cairn::internal::graphql
