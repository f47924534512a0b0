// The routes without sockets: Api over real stores in a temp dir.
#include "server/handlers.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/sha256.h"
#include "server/api_test_fixture.h"

namespace cairn::internal {
namespace {

using Json = nlohmann::json;

TEST(ParseRangeTest, Forms) {
  using K = RangeSpec::Kind;
  auto r = ParseRange("bytes=10-19", 100);
  EXPECT_EQ(r.kind, K::kPartial);
  EXPECT_EQ(r.first, 10u);
  EXPECT_EQ(r.last, 19u);
  r = ParseRange("bytes=90-", 100);
  EXPECT_EQ(r.kind, K::kPartial);
  EXPECT_EQ(r.last, 99u);
  r = ParseRange("bytes=90-500", 100);
  EXPECT_EQ(r.last, 99u);
  r = ParseRange("bytes=-10", 100);
  EXPECT_EQ(r.first, 90u);
  EXPECT_EQ(r.last, 99u);
  r = ParseRange("bytes=-1000", 100);
  EXPECT_EQ(r.first, 0u);
  EXPECT_EQ(ParseRange("", 100).kind, K::kWhole);
  EXPECT_EQ(ParseRange("items=1-2", 100).kind, K::kWhole);
  EXPECT_EQ(ParseRange("bytes=1-2,5-6", 100).kind, K::kWhole);
  EXPECT_EQ(ParseRange("bytes=100-", 100).kind, K::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=-0", 100).kind, K::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=0-", 0).kind, K::kUnsatisfiable);
  EXPECT_EQ(ParseRange("bytes=5-1", 100).kind, K::kMalformed);
  EXPECT_EQ(ParseRange("bytes=a-b", 100).kind, K::kMalformed);
  EXPECT_EQ(ParseRange("bytes=99999999999999999999999-", 100).kind, K::kMalformed);
}

class ApiTest : public ApiFixture {
 protected:
  HttpResponse Do(const std::string& method, const std::string& target, const std::string& body = "",
                  const std::string& key = "cairn_testadminkey") {
    return Send({.method = method, .target = target, .authorization = key.empty() ? "" : "Bearer " + key}, body);
  }
  HttpResponse Upload(const std::string& target, const std::string& data, const std::string& sha,
                      const std::string& key = "cairn_testadminkey") {
    HttpRequest req{.method = "PUT",
                    .target = target,
                    .authorization = "Bearer " + key,
                    .sha256 = sha,
                    .content_length = data.size()};
    Call call = api_->Begin(req);
    if (call.response) return std::move(*call.response);
    EXPECT_TRUE(call.upload);
    EXPECT_TRUE(call.upload->Append(data.data(), data.size()).ok());
    return api_->FinishUpload(call);
  }
  static std::string Code(const HttpResponse& r) { return Json::parse(r.body)["error"]["code"]; }
  static std::string AllowHeader(const HttpResponse& r) {
    const std::string allow = Header(r, "Allow");
    return allow.empty() ? "(none)" : allow;
  }
};

TEST_F(ApiTest, ErrorsNameTheMissingPart) {
  EXPECT_EQ(Do("GET", "/api/v1/health", "", "").status, 200);
  EXPECT_EQ(Do("GET", "/api/v1/whoami", "", "").status, 401);
  EXPECT_EQ(Do("GET", "/api/v1/nope").status, 404);
  EXPECT_EQ(Do("PATCH", "/api/v1/runs/a/p/r").status, 405);
  EXPECT_EQ(Code(Do("DELETE", "/api/v1/runs/a/p/r")), "entity_not_found");
  ASSERT_EQ(Do("PUT", "/api/v1/runs/a/p/r", R"({"resume":"allow"})").status, 201);
  EXPECT_EQ(Do("PUT", "/api/v1/runs/a/p/r", R"({"resume":"allow"})").status, 200);
  EXPECT_EQ(Do("PUT", "/api/v1/runs/a/p/r").status, 409);
  EXPECT_EQ(Do("PUT", "/api/v1/runs/a/p/r", R"({"resume":"sometimes"})").status, 400);
  EXPECT_EQ(Code(Do("GET", "/api/v1/runs/b/p/r")), "entity_not_found");
  EXPECT_EQ(Code(Do("GET", "/api/v1/runs/a/q/r")), "project_not_found");
  EXPECT_EQ(Code(Do("GET", "/api/v1/runs/a/p/s")), "run_not_found");
  EXPECT_EQ(Code(Do("GET", "/api/v1/runs/a/p/r/meta/x.pt")), "file_not_found");
  EXPECT_EQ(Code(Do("GET", "/api/v1/runs/a/p/r/files/a/../b")), "invalid_argument");
  EXPECT_EQ(Code(Do("GET", "/api/v1/runs/a/p/r/files/a%0Ab")), "invalid_argument");
  EXPECT_EQ(Code(Do("GET", "/api/v1/runs/.a/p/r")), "invalid_argument");
  EXPECT_EQ(Code(Upload("/api/v1/runs/a/p/zz/files/f", "x", Sha256Hex("x"))), "run_not_found");
}

TEST_F(ApiTest, UploadDownloadAndKeys) {
  ASSERT_EQ(Do("PUT", "/api/v1/runs/a/p/r").status, 201);
  const std::string data = "0123456789";
  HttpResponse put = Upload("/api/v1/runs/a/p/r/files/dir/w%20x.pt", data, Sha256Hex(data));
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(Json::parse(put.body)["name"], "dir/w x.pt");
  EXPECT_EQ(Json::parse(put.body)["version"], 1);
  EXPECT_EQ(Code(Upload("/api/v1/runs/a/p/r/files/f", data, Sha256Hex("other"))), "digest_mismatch");
  EXPECT_EQ(Code(Do("GET", "/api/v1/runs/a/p/r/meta/f")), "file_not_found");

  HttpResponse get = Do("GET", "/api/v1/runs/a/p/r/files/dir/w%20x.pt");
  ASSERT_EQ(get.status, 200);
  ASSERT_TRUE(get.stream);
  EXPECT_EQ(get.stream_length, data.size());
  char buf[32];
  auto n = get.stream->Read(buf, sizeof buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(std::string(buf, *n), data);

  // Keys: admin only; an entity key is confined to its entity; read-only keys do not write.
  HttpResponse made = Do("POST", "/api/v1/keys", R"({"entity":"a","read_only":true})");
  ASSERT_EQ(made.status, 201);
  const std::string ro_key = Json::parse(made.body)["key"];
  EXPECT_EQ(ro_key.rfind("cairn-", 0), 0u);
  EXPECT_EQ(ro_key.size(), 46u);
  EXPECT_EQ(Do("GET", "/api/v1/runs/a/p/r", "", ro_key).status, 200);
  EXPECT_EQ(Do("PUT", "/api/v1/runs/a/p/r2", "", ro_key).status, 403);
  EXPECT_EQ(Do("GET", "/api/v1/runs/b/p/r", "", ro_key).status, 403);
  EXPECT_EQ(Do("POST", "/api/v1/keys", R"({"entity":"a"})", ro_key).status, 403);
  EXPECT_EQ(Do("GET", "/api/v1/whoami", "", "cairn_unknown").status, 401);
}

// Every version names who saved it (additive "created_by"; null when unknown).
TEST_F(ApiTest, VersionsNameWhoSavedThem) {
  auto alice = auth_->CreateKey("alice", false);
  ASSERT_TRUE(alice.ok());
  ASSERT_EQ(Do("PUT", "/api/v1/runs/alice/p/r", "", *alice).status, 201);
  const std::string data = "saved by alice";
  HttpResponse put = Upload("/api/v1/runs/alice/p/r/files/m.pt", data, Sha256Hex(data), *alice);
  ASSERT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(Json::parse(put.body)["created_by"], "sa:alice/default");
  ASSERT_EQ(Upload("/api/v1/runs/alice/p/r/files/m.pt", "v2", Sha256Hex("v2")).status, 201);  // the admin
  // A version from before servers recorded the saver.
  ASSERT_TRUE(store_.metadata->CommitVersion({"alice", "p", "r"}, "m.pt", Sha256Hex("old"), 3).ok());
  HttpResponse list = Do("GET", "/api/v1/runs/alice/p/r/versions/m.pt", "", *alice);
  ASSERT_EQ(list.status, 200) << list.body;
  const Json versions = Json::parse(list.body)["versions"];
  ASSERT_EQ(versions.size(), 3u);
  EXPECT_EQ(versions[0]["created_by"], "sa:alice/default");
  EXPECT_EQ(versions[1]["created_by"], "admin");
  EXPECT_TRUE(versions[2]["created_by"].is_null());
  HttpResponse meta = Do("GET", "/api/v1/runs/alice/p/r/meta/m.pt?version=1", "", *alice);
  ASSERT_EQ(meta.status, 200) << meta.body;
  EXPECT_EQ(Json::parse(meta.body)["created_by"], "sa:alice/default");
}

TEST(ContentDispositionTest, AsciiFallbackAndRfc5987) {
  EXPECT_EQ(ContentDispositionAttachment("model.pt"), "attachment; filename=\"model.pt\"; filename*=UTF-8''model.pt");
  EXPECT_EQ(ContentDispositionAttachment("a \"b\"\\%\r\n.txt"),
            "attachment; filename=\"a _b_____.txt\"; filename*=UTF-8''a%20%22b%22%5C%25%0D%0A.txt");
  EXPECT_EQ(ContentDispositionAttachment("données.csv"),
            "attachment; filename=\"donn__es.csv\"; filename*=UTF-8''donn%C3%A9es.csv");
}

// The route table through the router: 404 vs 405, the order of the steps, decoding.
TEST_F(ApiTest, RouterNotFoundVersusMethodNotAllowedWithAllow) {
  EXPECT_EQ(Do("GET", "/api/v1/nope").status, 404);
  EXPECT_EQ(Do("GET", "/api/v1/runs/a").status, 404);
  EXPECT_EQ(Do("GET", "/api/v1/runs/a/p/r/meta").status, 404);     // a name is needed
  EXPECT_EQ(Do("GET", "/api/v1/runs/a/p/r/other/x").status, 404);  // no such kind
  EXPECT_EQ(Do("GET", "/api/v1/uploads/x/y").status, 404);
  EXPECT_EQ(Do("GET", "/graphql/").status, 404);
  const std::pair<const char*, const char*> cases[] = {
      {"/api/v1/health", "GET"},
      {"/api/v1/whoami", "GET"},
      {"/api/v1/keys", "GET, POST"},
      {"/api/v1/keys/k123", "DELETE"},
      {"/api/v1/login", "POST"},
      {"/api/v1/users", "GET, POST"},
      {"/api/v1/teams", "GET, POST"},
      {"/api/v1/teams/t/members/u", "PUT, DELETE"},
      {"/api/v1/teams/t/service-accounts", "POST"},
      {"/api/v1/audit", "GET"},
      {"/api/v1/runs/a/p", "GET"},
      {"/api/v1/runs/a/p/r", "GET, PUT, DELETE"},
      {"/api/v1/runs/a/p/r/files", "GET"},
      {"/api/v1/runs/a/p/r/files/x.pt", "GET, HEAD, PUT, DELETE"},
      {"/api/v1/runs/a/p/r/meta/x.pt", "GET"},
      {"/api/v1/runs/a/p/r/versions/x.pt", "GET"},
      {"/api/v1/runs/a/p/r/uploads/x.pt", "POST"},
      {"/api/v1/uploads/abc", "GET, DELETE"},
      {"/api/v1/uploads/abc/complete", "POST"},
      {"/api/v1/uploads/abc/parts/0", "PUT"},
  };
  for (const auto& [target, allow] : cases) {
    HttpResponse r = Do("PATCH", target, "", "");  // no key: 405 comes before 401
    EXPECT_EQ(r.status, 405) << target;
    EXPECT_EQ(AllowHeader(r), allow) << target;
    EXPECT_EQ(Code(r), "method_not_allowed") << target;
  }
  // The W&B endpoint answers in GraphQL's error form.
  HttpResponse g = Do("GET", "/graphql");
  EXPECT_EQ(g.status, 405);
  EXPECT_EQ(AllowHeader(g), "POST");
  EXPECT_TRUE(Json::parse(g.body).contains("errors")) << g.body;
}

TEST_F(ApiTest, RouterAuthenticationComesBeforeValidationAndAccess) {
  EXPECT_EQ(Do("GET", "/api/v1/health", "", "").status, 200);
  EXPECT_EQ(Do("GET", "/api/v1/runs/.bad/p/r", "", "").status, 401);
  EXPECT_EQ(Do("GET", "/api/v1/runs/.bad/p/r", "", "cairn_unknown").status, 401);
  HttpResponse g = Do("POST", "/graphql", "", "");
  EXPECT_EQ(g.status, 401);
  EXPECT_TRUE(Json::parse(g.body).contains("errors")) << g.body;
  // Only the admin creates users: refused before the body is read.
  const std::string alice = auth_->CreateKey("alice", false).value();
  Call call = api_->Begin({.method = "POST", .target = "/api/v1/users", .authorization = "Bearer " + alice});
  ASSERT_TRUE(call.response);
  EXPECT_EQ(call.response->status, 403);
  // Access to the entity is checked after the run path is validated.
  EXPECT_EQ(Code(Do("GET", "/api/v1/runs/b/p/r", "", alice)), "permission_denied");
  EXPECT_EQ(Code(Do("GET", "/api/v1/runs/.b/p/r", "", alice)), "invalid_argument");
}

TEST_F(ApiTest, RouterPercentDecodingOfTheRunPathAndTheFileName) {
  ASSERT_EQ(Do("PUT", "/api/v1/runs/a/p/r").status, 201);
  // An encoded slash in an id decodes to "/", which no id may contain.
  EXPECT_EQ(Code(Do("GET", "/api/v1/runs/a%2Fb/p/r")), "invalid_argument");
  EXPECT_EQ(Do("GET", "/api/v1/runs/%61/p/r").status, 200);
  EXPECT_EQ(Code(Do("GET", "/api/v1/runs/a/p/r/files/")), "invalid_argument");  // empty name
  EXPECT_EQ(Code(Do("GET", "/api/v1/runs/a/p/r/files/x%zz")), "invalid_argument");
  EXPECT_EQ(Code(Do("GET", "/api/v1/runs/a/p/r?limit=%zz")), "invalid_argument");
  // In a file name an encoded slash is a slash: the same file as dir/w x.pt.
  HttpResponse meta = Do("GET", "/api/v1/runs/a/p/r/meta/dir%2Fw%20x.pt");
  EXPECT_EQ(Code(meta), "file_not_found");
  EXPECT_NE(Json::parse(meta.body)["error"]["message"].get<std::string>().find("has no file dir/w x.pt"),
            std::string::npos)
      << meta.body;
}

TEST_F(ApiTest, RouterBodyLimitIsPerRoute) {
  Call call =
      api_->Begin({.method = "PUT", .target = "/api/v1/runs/a/p/r", .authorization = "Bearer cairn_testadminkey"});
  ASSERT_FALSE(call.response);
  EXPECT_FALSE(call.upload);
  EXPECT_EQ(call.body_limit(), kMaxJsonBody);
  HttpResponse bad = api_->Finish(call, "[1]");
  EXPECT_EQ(bad.status, 400);
}

}  // namespace
}  // namespace cairn::internal
