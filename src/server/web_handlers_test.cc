// The web UI's routes without sockets (docs/adr/0023-web-ui.md): sessions by
// cookie, CSRF, sign-out, a revoked key ending its sessions' access, and the
// pages answering only paths the API does not own.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/sha256.h"
#include "server/api_test_fixture.h"
#include "server/sessions.h"

namespace cairn::internal {
namespace {

using Json = nlohmann::json;

class WebApiTest : public ApiFixture {
 protected:
  HttpResponse Do(const HttpRequest& req, const std::string& body = "") { return Send(req, body); }
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

// Expired sessions are deleted when a request names one (and at sign-in), and
// a password sign-in's own "web session" key is revoked with its session; a
// key signed in with, and live sessions, stay.
TEST_F(WebApiTest, ExpiredSessionsAreSweptAndTheirWebSessionKeysRevoked) {
  MetadataStore& store = *store_.metadata;
  const std::string admin = std::string("Bearer ") + kTestAdminKey;
  ASSERT_EQ(Do({.method = "POST", .target = "/api/v1/users", .authorization = admin},
               R"({"name":"dana","password":"dana-pass-1234"})")
                .status,
            201);
  auto web_key = auth_->IssueKey({.user = "dana", .expires_ms = NowMs() + 60000, .name = "web session"});
  ASSERT_TRUE(web_key.ok()) << web_key.status();
  auto alice = auth_->CreateKey("alice", false);
  ASSERT_TRUE(alice.ok());
  const long long now = NowMs();
  const SessionRecord expired_user{Sha256Hex("t1"), "userkey:" + Sha256Hex(web_key->secret), now - 5000, now - 1};
  const SessionRecord expired_key{Sha256Hex("t2"), "key:" + Sha256Hex(*alice), now - 5000, now - 1};
  const SessionRecord live{Sha256Hex("t3"), "key:" + Sha256Hex(*alice), now, now + 60000};
  for (const SessionRecord& r : {expired_user, expired_key, live}) ASSERT_TRUE(store.PutSession(r).ok());

  // A request with the expired session's cookie: refused, and the sweep runs.
  EXPECT_EQ(Do({.method = "GET", .target = "/api/v1/session", .cookie = "cairn_session=t1"}).status, 401);
  auto present = [&](const SessionRecord& r) {
    auto found = store.FindSession(r.token_hash, 0);  // at time 0 nothing has expired
    EXPECT_TRUE(found.ok()) << found.status();
    return found.ok() && found->has_value();
  };
  EXPECT_FALSE(present(expired_user));
  EXPECT_FALSE(present(expired_key));
  EXPECT_TRUE(present(live));
  auto revoked = store.FindKeyById(web_key->record.id);
  ASSERT_TRUE(revoked.ok() && revoked->has_value());
  EXPECT_NE((*revoked)->revoked_ms, 0) << "the expired sign-in's own key is revoked";
  EXPECT_EQ(Do({.method = "GET", .target = "/api/v1/whoami", .authorization = "Bearer " + *alice}).status, 200)
      << "a key signed in with stays";
  EXPECT_EQ(Do({.method = "GET", .target = "/api/v1/session", .cookie = "cairn_session=t3"}).status, 200);

  // Sign-in sweeps too (here every time: interval 0).
  WebSessions sessions(&store, auth_.get(), std::chrono::hours(1), std::chrono::seconds(0));
  const SessionRecord later{Sha256Hex("t4"), "key:" + Sha256Hex(*alice), now - 5000, now - 1};
  ASSERT_TRUE(store.PutSession(later).ok());
  ASSERT_TRUE(sessions.StartWithKey(*alice).ok());
  EXPECT_FALSE(present(later));
  EXPECT_TRUE(present(live));
  auto none = sessions.SweepExpired();
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0u);
}

}  // namespace
}  // namespace cairn::internal
