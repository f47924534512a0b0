// The GraphQL parser: every construct of an executable document, and the
// errors and limits for hostile input.
#include "server/graphql/parser.h"

#include <gtest/gtest.h>

namespace cairn::internal::graphql {
namespace {

Document MustParse(std::string_view text) {
  StatusOr<Document> doc = Parse(text);
  EXPECT_TRUE(doc.ok()) << doc.status();
  return doc.ok() ? std::move(doc).value() : Document{};
}

std::string ErrorOf(std::string_view text, const ParseLimits& limits = {}, Location* loc = nullptr) {
  StatusOr<Document> doc = Parse(text, limits, loc);
  EXPECT_FALSE(doc.ok()) << "parsed: " << text;
  return doc.ok() ? "" : std::string(doc.status().message());
}

TEST(GraphqlParser, ShorthandQuery) {
  Document doc = MustParse("{ viewer { id } }");
  ASSERT_EQ(doc.operations.size(), 1u);
  EXPECT_EQ(doc.operations[0].type, "query");
  EXPECT_EQ(doc.operations[0].name, "");
  ASSERT_EQ(doc.operations[0].selections.size(), 1u);
  const Selection& viewer = doc.operations[0].selections[0];
  EXPECT_EQ(viewer.name, "viewer");
  ASSERT_EQ(viewer.selections.size(), 1u);
  EXPECT_EQ(viewer.selections[0].name, "id");
}

TEST(GraphqlParser, OperationWithVariablesDefaultsAliasesAndFragments) {
  Document doc = MustParse(R"(
    # a comment
    query RunFiles($project: String!, $entity: String!, $names: [String] = [], $limit: Int = 50,
                   $upload: Boolean = false, $pattern: String) @cached {
      project(name: $project, entityName: $entity) {
        internalId
        theRun: run(name: "r1") { ...Files @include(if: true) ... on Run { fileCount } ... { id } }
      }
    }
    fragment Files on Run { files(names: $names, first: $limit) { edges { node { url(upload: $upload) } } } }
  )");
  ASSERT_EQ(doc.operations.size(), 1u);
  const Operation& op = doc.operations[0];
  EXPECT_EQ(op.name, "RunFiles");
  ASSERT_EQ(op.variables.size(), 6u);
  EXPECT_EQ(op.variables[0].name, "project");
  EXPECT_TRUE(op.variables[0].type.non_null);
  EXPECT_EQ(op.variables[0].type.name, "String");
  ASSERT_TRUE(op.variables[2].type.item);
  EXPECT_EQ(op.variables[2].type.item->name, "String");
  ASSERT_TRUE(op.variables[2].default_value);
  EXPECT_EQ(op.variables[2].default_value->kind, Value::Kind::kList);
  EXPECT_EQ(op.variables[3].default_value->text, "50");
  EXPECT_FALSE(op.variables[4].default_value->boolean);
  ASSERT_EQ(op.directives.size(), 1u);
  EXPECT_EQ(op.directives[0].name, "cached");
  const Selection& run = op.selections[0].selections[1];
  EXPECT_EQ(run.alias, "theRun");
  EXPECT_EQ(run.name, "run");
  EXPECT_EQ(run.response_key(), "theRun");
  ASSERT_EQ(run.arguments.size(), 1u);
  EXPECT_EQ(run.arguments[0].value.text, "r1");
  ASSERT_EQ(run.selections.size(), 3u);
  EXPECT_EQ(run.selections[0].kind, Selection::Kind::kFragmentSpread);
  EXPECT_EQ(run.selections[0].directives[0].name, "include");
  EXPECT_EQ(run.selections[1].kind, Selection::Kind::kInlineFragment);
  EXPECT_EQ(run.selections[1].type_condition, "Run");
  EXPECT_EQ(run.selections[2].type_condition, "");
  ASSERT_EQ(doc.fragments.size(), 1u);
  EXPECT_EQ(doc.fragments[0].name, "Files");
  EXPECT_EQ(doc.fragments[0].type_condition, "Run");
}

TEST(GraphqlParser, Literals) {
  Document doc = MustParse(R"({ f(a: -12, b: 3.5e-2, c: "x\"\\\/\n\u00e9\ud83d\ude00\u{1F600}", d: true, e: null,
      g: ENUM_VALUE, h: [1, [2, 3]], i: {k: "v", nested: {z: []}}, j: """
        first
          second
      """) })");
  const Arguments& a = doc.operations[0].selections[0].arguments;
  ASSERT_EQ(a.size(), 9u);
  EXPECT_EQ(a[0].value.kind, Value::Kind::kInt);
  EXPECT_EQ(a[0].value.text, "-12");
  EXPECT_EQ(a[1].value.kind, Value::Kind::kFloat);
  EXPECT_EQ(a[2].value.text, "x\"\\/\n\xC3\xA9\xF0\x9F\x98\x80\xF0\x9F\x98\x80");
  EXPECT_TRUE(a[3].value.boolean);
  EXPECT_EQ(a[4].value.kind, Value::Kind::kNull);
  EXPECT_EQ(a[5].value.kind, Value::Kind::kEnum);
  EXPECT_EQ(a[5].value.text, "ENUM_VALUE");
  ASSERT_EQ(a[6].value.list.size(), 2u);
  EXPECT_EQ(a[6].value.list[1].list[1].text, "3");
  EXPECT_EQ(a[7].value.fields[1].name, "nested");
  EXPECT_EQ(a[8].value.text, "first\n  second");
}

TEST(GraphqlParser, BlockStringEscapedQuotesAndCommasAreIgnored) {
  Document doc = MustParse("{f(a:\"\"\"say \\\"\"\"hi\\\"\"\" \"\"\",,,b:1)}");
  const Arguments& a = doc.operations[0].selections[0].arguments;
  EXPECT_EQ(a[0].value.text, "say \"\"\"hi\"\"\" ");
  EXPECT_EQ(a[1].name, "b");
}

TEST(GraphqlParser, SyntaxErrorsSayWhereAndWhat) {
  Location loc;
  std::string err = ErrorOf("{\n  viewer {\n    id\n", {}, &loc);
  EXPECT_NE(err.find("Syntax Error: expected a field name, found the end of the document"), std::string::npos) << err;
  EXPECT_EQ(loc.line, 4);
  err = ErrorOf("{ a(x: $v) }\nquery Q($v: Int = $w) { a }", {}, &loc);
  EXPECT_NE(err.find("variable cannot be used in a default value"), std::string::npos) << err;
  EXPECT_EQ(loc.line, 2);
  EXPECT_NE(ErrorOf("").find("empty"), std::string::npos);
  EXPECT_NE(ErrorOf("   # nothing but a comment").find("empty"), std::string::npos);
  EXPECT_NE(ErrorOf("{ a(b: \"unterminated) }").find("unterminated string"), std::string::npos);
  EXPECT_NE(ErrorOf("{ a(b: \"\"\"open) }").find("unterminated block string"), std::string::npos);
  EXPECT_NE(ErrorOf("{ a(b: \"\\q\") }").find("invalid escape"), std::string::npos);
  EXPECT_NE(ErrorOf("{ a(b: \"\\ud800\") }").find("surrogate"), std::string::npos);
  EXPECT_NE(ErrorOf("{ a(b: \"\\u{110000}\") }").find("Unicode scalar"), std::string::npos);
  EXPECT_NE(ErrorOf("{ a(b: 012) }").find("must not start with 0"), std::string::npos);
  EXPECT_NE(ErrorOf("{ a(b: 1.) }").find("digits after"), std::string::npos);
  EXPECT_NE(ErrorOf("{ a(b: 1e) }").find("exponent"), std::string::npos);
  EXPECT_NE(ErrorOf("{ a(b: 12abc) }").find("runs into a name"), std::string::npos);
  EXPECT_NE(ErrorOf("{ a .. b }").find("\"...\""), std::string::npos);
  EXPECT_NE(ErrorOf("{ a ? }").find("unexpected character \"?\""), std::string::npos);
  EXPECT_NE(ErrorOf("{ a \x01 }").find("0x01"), std::string::npos);
  EXPECT_NE(ErrorOf("type Query { a: Int }").find("expected an operation or a fragment"), std::string::npos);
  EXPECT_NE(ErrorOf("fragment on on User { a }").find("needs a name"), std::string::npos);
  EXPECT_NE(ErrorOf("{ }").find("expected a field name"), std::string::npos);
  EXPECT_NE(ErrorOf("query Q($a: ) { a }").find("expected a type"), std::string::npos);
  EXPECT_NE(ErrorOf("{ a(b: ) }").find("expected a value"), std::string::npos);
}

TEST(GraphqlParser, LimitsBoundHostileInput) {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "{ a ";
  for (int i = 0; i < 100; ++i) deep += "} ";
  EXPECT_NE(ErrorOf(deep).find("nests deeper than 64"), std::string::npos);
  std::string deep_list = "{ a(b: " + std::string(10000, '[') + std::string(10000, ']') + ") }";
  EXPECT_NE(ErrorOf(deep_list).find("nests deeper"), std::string::npos);
  std::string many = "{";
  for (int i = 0; i < 30000; ++i) many += " a";
  many += " }";
  EXPECT_NE(ErrorOf(many).find("more than 20000 tokens"), std::string::npos);
  EXPECT_NE(ErrorOf(std::string(300 * 1024, ' ')).find("over the limit"), std::string::npos);
  EXPECT_TRUE(Parse("{ a { b } }", {.max_depth = 2}).ok());
  EXPECT_FALSE(Parse("{ a { b { c } } }", {.max_depth = 2}).ok());
}

TEST(GraphqlParser, ByteOrderMarkAndCarriageReturns) {
  Location loc;
  EXPECT_TRUE(Parse("\xEF\xBB\xBF{ a }").ok());
  ErrorOf("{\r\n a\r\n ?", {}, &loc);
  EXPECT_EQ(loc.line, 3);
  EXPECT_EQ(loc.column, 2);
}

}  // namespace
}  // namespace cairn::internal::graphql
