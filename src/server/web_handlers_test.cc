// The web UI's routes without sockets (docs/adr/0023-web-ui.md): sessions by
// cookie, CSRF, sign-out, a revoked key ending its sessions' access, and the
// pages answering only paths the API does not own.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "server/handlers.h"
#include "server/sessions.h"
#include "store/store.h"

namespace cairn::internal {
namespace {

using Json = nlohmann::json;

std::string Header(const HttpResponse& r, std::string_view name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "";
}

class WebApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cairn-web-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    ::setenv("CAIRN_ADMIN_KEY", "cairn_testadminkey", 1);
    auto store = OpenStore({.data_dir = dir_});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
    auto auth = Authenticator::Create(store_.metadata.get(), dir_);
    ASSERT_TRUE(auth.ok()) << auth.status();
    auth_ = std::move(auth).value();
    api_ = std::make_unique<Api>(store_.metadata.get(), store_.blobs.get(), auth_.get());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  HttpResponse Do(const HttpRequest& req, const std::string& body = "") {
    Call call = api_->Begin(req);
    if (call.response) return std::move(*call.response);
    return api_->Finish(call, body);
  }
  // Signs in with `key`; returns the Cookie header value and the CSRF token.
  std::pair<std::string, std::string> SignIn(const std::string& key) {
    HttpResponse r = Do({.method = "POST", .target = "/api/v1/session", .csrf = "1"}, Json{{"key", key}}.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    const std::string set = Header(r, "Set-Cookie");
    EXPECT_NE(set.find("HttpOnly"), std::string::npos);
    EXPECT_NE(set.find("SameSite=Strict"), std::string::npos);
    EXPECT_EQ(set.find("Secure"), std::string::npos);  // plain HTTP
    return {set.substr(0, set.find(';')), Json::parse(r.body)["csrf"].get<std::string>()};
  }

  std::filesystem::path dir_;
  Store store_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<Api> api_;
};

TEST_F(WebApiTest, CookieSessionAuthenticatesAndSignOutEndsIt) {
  auto key = auth_->CreateKey("alice", false);
  ASSERT_TRUE(key.ok());
  const auto [cookie, csrf] = SignIn(*key);
  HttpResponse who = Do({.method = "GET", .target = "/api/v1/session", .cookie = "a=b; " + cookie});
  ASSERT_EQ(who.status, 200) << who.body;
  EXPECT_EQ(Json::parse(who.body)["entity"], "alice");
  EXPECT_EQ(Json::parse(who.body)["csrf"], csrf);
  EXPECT_EQ(Do({.method = "GET", .target = "/api/v1/projects/bob/p/runs", .cookie = cookie}).status, 403);
  // State changes need the CSRF token.
  EXPECT_EQ(Do({.method = "DELETE", .target = "/api/v1/session", .cookie = cookie}).status, 403);
  EXPECT_EQ(Do({.method = "DELETE", .target = "/api/v1/session", .cookie = cookie, .csrf = "x" + csrf}).status, 403);
  HttpResponse out = Do({.method = "DELETE", .target = "/api/v1/session", .cookie = cookie, .csrf = csrf});
  ASSERT_EQ(out.status, 200) << out.body;
  EXPECT_NE(Header(out, "Set-Cookie").find("Max-Age=0"), std::string::npos);
  EXPECT_EQ(Do({.method = "GET", .target = "/api/v1/session", .cookie = cookie}).status, 401);
}

TEST_F(WebApiTest, SignInRefusesUnknownKeysAndSecureCookieUnderTls) {
  // Without X-Cairn-Csrf (a form of another site): refused before the key is looked at.
  EXPECT_EQ(Do({.method = "POST", .target = "/api/v1/session"}, R"({"key":"cairn_testadminkey"})").status, 403);
  HttpResponse bad = Do({.method = "POST", .target = "/api/v1/session", .csrf = "1"}, R"({"key":"cairn-nope"})");
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(Header(bad, "Set-Cookie"), "");
  EXPECT_EQ(Do({.method = "POST", .target = "/api/v1/session", .csrf = "1"}, R"({"user":"a","password":"b"})").status,
            401);  // no such user: the same answer as a wrong password
  HttpResponse tls =
      Do({.method = "POST", .target = "/api/v1/session", .csrf = "1", .tls = true}, R"({"key":"cairn_testadminkey"})");
  ASSERT_EQ(tls.status, 200);
  EXPECT_NE(Header(tls, "Set-Cookie").find("; Secure"), std::string::npos);
}

TEST_F(WebApiTest, PagesAnswerOnlyPathsTheApiDoesNotOwn) {
  for (const char* page : {"/", "/alice", "/alice/mnist", "/alice/mnist/runs/r1", "/alice/mnist/runs/r1/files/a/b.pt",
                           "/~/keys"}) {
    HttpResponse r = Do({.method = "GET", .target = page});
    EXPECT_EQ(r.status, 200) << page;
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8") << page;
    EXPECT_NE(Header(r, "Content-Security-Policy").find("script-src 'self'"), std::string::npos) << page;
  }
  for (const char* api : {"/graphql/", "/api/v1/runs/a", "/api/v1", "/.x", "/a/b/runs/.r", "/assets/nope.js"}) {
    EXPECT_EQ(Do({.method = "GET", .target = api}).status, 404) << api;
  }
  EXPECT_EQ(Do({.method = "GET", .target = "/graphql"}).status, 405);  // still the W&B endpoint's
}

}  // namespace
}  // namespace cairn::internal
