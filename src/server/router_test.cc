// The router alone: pattern matching, the checks of a table, 404 vs 405 with
// Allow. handlers_test.cc has the real table's routes (ApiTest.Router*).
#include "server/router.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/handlers.h"

namespace cairn::internal {
namespace {

using Json = nlohmann::json;

std::string Params(std::string_view pattern, std::string_view path) {
  std::optional<PathParams> p = MatchPath(pattern, path);
  if (!p) return "no match";
  std::string out;
  for (const auto& [name, value] : *p) out += std::string(name) + "=" + std::string(value) + ";";
  return out;
}

TEST(MatchPathTest, LiteralsAndNamedSegments) {
  EXPECT_EQ(Params("/api/v1/health", "/api/v1/health"), "");
  EXPECT_EQ(Params("/api/v1/health", "/api/v1/health/"), "no match");
  EXPECT_EQ(Params("/api/v1/health", "/api/v1/%68ealth"), "no match");  // literals are compared encoded
  EXPECT_EQ(Params("/api/v1/health", "//api/v1/health"), "no match");
  EXPECT_EQ(Params("/api/v1/health", "api/v1/health"), "no match");
  EXPECT_EQ(Params("/runs/{entity}/{project}", "/runs/a/p"), "entity=a;project=p;");
  EXPECT_EQ(Params("/runs/{entity}/{project}", "/runs/a"), "no match");
  EXPECT_EQ(Params("/runs/{entity}/{project}", "/runs/a/p/r"), "no match");
  // A segment may be empty (validation answers 400, not the matcher 404),
  // and an encoded slash stays inside its segment.
  EXPECT_EQ(Params("/runs/{entity}/{project}", "/runs//p"), "entity=;project=p;");
  EXPECT_EQ(Params("/runs/{entity}/{project}", "/runs/a%2Fb/p"), "entity=a%2Fb;project=p;");
}

TEST(MatchPathTest, TrailingSegments) {
  constexpr std::string_view kFiles = "/runs/{run}/files/{path...}";
  EXPECT_EQ(Params(kFiles, "/runs/r/files/a/b%20c.pt"), "run=r;path=a/b%20c.pt;");
  EXPECT_EQ(Params(kFiles, "/runs/r/files/"), "run=r;path=;");  // present but empty
  EXPECT_EQ(Params(kFiles, "/runs/r/files"), "no match");       // at least one segment
  EXPECT_EQ(Params(kFiles, "/runs/r/meta/a"), "no match");
}

TEST(RouterTest, TableIsCheckedAtStartup) {
  auto answer = [](const Services&, Call& c) { c.Answer(HttpResponse{}); };
  EXPECT_DEATH(Router({{"GET", "/a/{rest...}/b", answer}}), "must be the last segment");
  EXPECT_DEATH(Router(std::vector<Route>{{"GET", "/a"}}), "needs begin");
  EXPECT_DEATH(Router({{"PUT", "/a", nullptr, nullptr, {.body = BodyKind::kJson}}}), "needs finish");
  EXPECT_DEATH(Router({{"GET", "/a", answer, nullptr, {.access = EntityAccess::kRead}}}), "entity");
  EXPECT_DEATH(Router({{"GET", "/{p}", answer, nullptr, {.page = true}}, {"GET", "/a", answer}}), "must come after");
}

// A web UI page route answers only a path no other route matched: a path an
// API route owns keeps its 405 even when a page pattern matches it too.
TEST(RouterTest, PageRoutesMatchOnlyPathsNoOtherRouteMatched) {
  const Router router({
      {"POST", "/graphql", nullptr, [](const Services&, Call&, const Json&, std::string_view) { return HttpResponse{}; },
       {.auth = AuthPolicy::kNone, .body = BodyKind::kJson}},
      {"GET", "/{page}", [](const Services&, Call& c) { c.Answer(HttpResponse{.status = 299}); }, nullptr,
       {.auth = AuthPolicy::kNone, .page = true}},
  });
  const Services none;
  EXPECT_EQ(router.Begin(none, {.method = "GET", .target = "/graphql"}).response->status, 405);
  EXPECT_EQ(router.Begin(none, {.method = "GET", .target = "/alice"}).response->status, 299);
  EXPECT_EQ(router.Begin(none, {.method = "PUT", .target = "/alice"}).response->status, 405);
}

TEST(RouterTest, OneLinePerRouteAndTheFirstMatchWins) {
  const Router router({
      {"GET",
       "/x/{a}",
       [](const Services&, Call& c) {
         c.Answer(JsonResponse(200, Json{{"a", c.Param("a")}}));
       },
       nullptr,
       {.auth = AuthPolicy::kNone}},
      {"GET",
       "/x/{b}",
       [](const Services&, Call& c) {
         c.Answer(JsonResponse(200, Json{{"b", c.Param("b")}}));
       },
       nullptr,
       {.auth = AuthPolicy::kNone}},
      {"DELETE",
       "/x/{b}",
       [](const Services&, Call& c) { c.Answer(HttpResponse{.status = 204}); },
       nullptr,
       {.auth = AuthPolicy::kNone}},
  });
  const Services none;
  Call call = router.Begin(none, {.method = "GET", .target = "/x/%41?q=1"});
  ASSERT_TRUE(call.response);
  EXPECT_EQ(call.response->body, R"({"a":"%41"})");
  call = router.Begin(none, {.method = "PUT", .target = "/x/1"});
  ASSERT_TRUE(call.response);
  EXPECT_EQ(call.response->status, 405);
  ASSERT_EQ(call.response->headers.size(), 1u);
  EXPECT_EQ(call.response->headers[0], std::make_pair(std::string("Allow"), std::string("GET, DELETE")));
  call = router.Begin(none, {.method = "GET", .target = "/y"});
  EXPECT_EQ(call.response->status, 404);
}

}  // namespace
}  // namespace cairn::internal
