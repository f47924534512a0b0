// ResolveSettings precedence: explicit > CAIRN_* env > config file > ~/.netrc
// (api_key only) > default. Each test runs with a clean environment and a
// temporary HOME.
#include "cairn/settings.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "sdk/internal/settings_parse.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;

constexpr const char* kVars[] = {"CAIRN_BASE_URL", "CAIRN_API_KEY", "CAIRN_ENTITY",    "CAIRN_PROJECT", "CAIRN_DIR",
                                 "CAIRN_MODE",     "CAIRN_CONFIG",  "XDG_CONFIG_HOME", "NETRC", "CAIRN_CA_BUNDLE"};

class SettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* v : kVars) {
      if (const char* old = std::getenv(v)) saved_.emplace_back(v, old);
      ::unsetenv(v);
    }
    if (const char* old = std::getenv("HOME")) saved_.emplace_back("HOME", old);
    char tmpl[] = "/tmp/cairn-settings-test-XXXXXX";
    home_ = ::mkdtemp(tmpl);
    ::setenv("HOME", home_.c_str(), 1);
  }
  void TearDown() override {
    for (const char* v : kVars) ::unsetenv(v);
    ::unsetenv("HOME");
    for (const auto& [k, v] : saved_) ::setenv(k.c_str(), v.c_str(), 1);
    std::error_code ec;
    fs::remove_all(home_, ec);
  }
  void Write(const fs::path& p, const std::string& text) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  fs::path DefaultConfig() const { return home_ / ".config" / "cairn" / "config"; }

  fs::path home_;
  std::vector<std::pair<std::string, std::string>> saved_;
};

TEST_F(SettingsTest, DefaultsWhenNothingIsSet) {
  auto s = ResolveSettings();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->base_url, "http://127.0.0.1:8765");
  EXPECT_EQ(s->api_key, "");
  EXPECT_EQ(s->entity, "");
  EXPECT_EQ(s->project, "uncategorized");
  EXPECT_EQ(s->dir, fs::current_path().string());
  EXPECT_EQ(s->mode, Mode::kOnline);
}

TEST_F(SettingsTest, ExplicitBeatsEnvBeatsConfigBeatsNetrc) {
  Write(home_ / ".netrc", "machine 10.0.0.1 login api password netrc-key\n");
  Write(DefaultConfig(),
        "# comment\nbase_url = http://10.0.0.1\napi_key = file-key\nentity = file-e\nproject = file-p\n"
        "dir = /tmp/file-dir\nmode = offline\n");

  auto from_file = ResolveSettings();
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  EXPECT_EQ(from_file->base_url, "http://10.0.0.1");
  EXPECT_EQ(from_file->api_key, "file-key");  // config beats netrc
  EXPECT_EQ(from_file->entity, "file-e");
  EXPECT_EQ(from_file->project, "file-p");
  EXPECT_EQ(from_file->dir, "/tmp/file-dir");
  EXPECT_EQ(from_file->mode, Mode::kOffline);

  ::setenv("CAIRN_BASE_URL", "http://env-host:1/", 1);
  ::setenv("CAIRN_API_KEY", "env-key", 1);
  ::setenv("CAIRN_ENTITY", "env-e", 1);
  ::setenv("CAIRN_PROJECT", "env-p", 1);
  ::setenv("CAIRN_DIR", "/tmp/env-dir", 1);
  ::setenv("CAIRN_MODE", "disabled", 1);
  auto from_env = ResolveSettings();
  ASSERT_TRUE(from_env.ok()) << from_env.status();
  EXPECT_EQ(from_env->base_url, "http://env-host:1");  // trailing '/' trimmed
  EXPECT_EQ(from_env->api_key, "env-key");
  EXPECT_EQ(from_env->entity, "env-e");
  EXPECT_EQ(from_env->project, "env-p");
  EXPECT_EQ(from_env->dir, "/tmp/env-dir");
  EXPECT_EQ(from_env->mode, Mode::kDisabled);

  ClientOptions o;
  o.base_url = "https://explicit.example/";
  o.api_key = "x-key";
  o.entity = "x-e";
  o.project = "x-p";
  o.dir = "/tmp/x-dir";
  o.mode = "online";
  auto from_explicit = ResolveSettings(o);
  ASSERT_TRUE(from_explicit.ok()) << from_explicit.status();
  EXPECT_EQ(from_explicit->base_url, "https://explicit.example");
  EXPECT_EQ(from_explicit->api_key, "x-key");
  EXPECT_EQ(from_explicit->entity, "x-e");
  EXPECT_EQ(from_explicit->project, "x-p");
  EXPECT_EQ(from_explicit->dir, "/tmp/x-dir");
  EXPECT_EQ(from_explicit->mode, Mode::kOnline);
}

TEST_F(SettingsTest, EmptyEnvironmentVariableFallsThrough) {
  Write(DefaultConfig(), "project = file-p\n");
  ::setenv("CAIRN_PROJECT", "", 1);
  auto s = ResolveSettings();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->project, "file-p");
}

TEST_F(SettingsTest, NetrcSuppliesTheKeyForTheBaseUrlHost) {
  Write(home_ / ".netrc",
        "machine other.example login api password wrong\n"
        "machine 127.0.0.1 login api password by-host\n");
  auto s = ResolveSettings();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->api_key, "by-host");

  Write(home_ / ".netrc", "machine 127.0.0.1:8765\n  login api\n  password by-host-port\n");
  s = ResolveSettings();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->api_key, "by-host-port");

  ::setenv("CAIRN_API_KEY", "env-key", 1);  // env beats netrc
  s = ResolveSettings();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->api_key, "env-key");
}

TEST_F(SettingsTest, ConfigFileFromCairnConfigAndXdg) {
  Write(home_ / "xdg" / "cairn" / "config", "project = from-xdg\n");
  ::setenv("XDG_CONFIG_HOME", (home_ / "xdg").c_str(), 1);
  auto s = ResolveSettings();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->project, "from-xdg");

  Write(home_ / "named.conf", "project = 'from-named'\n");
  ::setenv("CAIRN_CONFIG", (home_ / "named.conf").c_str(), 1);
  s = ResolveSettings();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->project, "from-named");

  ClientOptions o;
  o.config_file = (home_ / "missing.conf").string();  // named but missing: an error
  s = ResolveSettings(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("missing.conf"), std::string::npos);
}

TEST_F(SettingsTest, MalformedConfigNamesFileAndLine) {
  Write(DefaultConfig(), "project = p\nthis line has no equals sign\n");
  auto s = ResolveSettings();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("line 2"), std::string::npos) << s.status();
  EXPECT_NE(s.status().message().find(DefaultConfig().string()), std::string::npos) << s.status();

  Write(DefaultConfig(), "api-key = typo\n");
  s = ResolveSettings();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("unknown key 'api-key'"), std::string::npos) << s.status();
}

TEST_F(SettingsTest, RejectsBadModeAndBaseUrl) {
  ClientOptions o;
  o.mode = "sometimes";
  auto s = ResolveSettings(o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("sometimes"), std::string::npos);

  for (const char* url : {"ftp://host", "127.0.0.1:8765", "http://", "http://ho st", "http://h?x=1"}) {
    ClientOptions bad;
    bad.base_url = url;
    auto r = ResolveSettings(bad);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << url;
  }
}

TEST_F(SettingsTest, CaBundleFollowsThePrecedenceAndMustBeAFile) {
  EXPECT_EQ(ResolveSettings()->ca_bundle, "");  // the system CAs
  Write(home_ / "file-ca.pem", "x");
  Write(home_ / "env-ca.pem", "x");
  Write(home_ / "explicit-ca.pem", "x");
  Write(DefaultConfig(), "ca_bundle = " + (home_ / "file-ca.pem").string() + "\n");
  EXPECT_EQ(ResolveSettings()->ca_bundle, (home_ / "file-ca.pem").string());
  ::setenv("CAIRN_CA_BUNDLE", (home_ / "env-ca.pem").c_str(), 1);
  EXPECT_EQ(ResolveSettings()->ca_bundle, (home_ / "env-ca.pem").string());
  ClientOptions o;
  o.ca_bundle = (home_ / "explicit-ca.pem").string();
  EXPECT_EQ(ResolveSettings(o)->ca_bundle, (home_ / "explicit-ca.pem").string());

  ::setenv("CAIRN_CA_BUNDLE", (home_ / "missing.pem").c_str(), 1);
  auto missing = ResolveSettings();
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing.status().message().find("missing.pem is not a file; set CAIRN_CA_BUNDLE"), std::string::npos)
      << missing.status();
}

TEST(NetrcTest, MatchingRules) {
  using internal::NetrcPasswordFor;
  const char* netrc =
      "default login api password dflt\n"
      "machine h.example login api password host-only\n"
      "macdef init\n"
      "machine h.example password from-macro-body\n"
      "\n"
      "machine h.example:9000 login api password with-port\n";
  EXPECT_EQ(NetrcPasswordFor(netrc, "http://h.example:9000/base"), "with-port");
  EXPECT_EQ(NetrcPasswordFor(netrc, "https://h.example"), "host-only");
  EXPECT_EQ(NetrcPasswordFor(netrc, "http://h.example:1234"), "host-only");
  EXPECT_EQ(NetrcPasswordFor(netrc, "http://other.example"), "dflt");
  EXPECT_EQ(NetrcPasswordFor("machine a password p", "http://b"), "");
  EXPECT_EQ(NetrcPasswordFor("", "http://b"), "");
}

TEST(NormalizeBaseUrlTest, TrimsTrailingSlashes) {
  auto u = internal::NormalizeBaseUrl("http://h:1/prefix//");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(*u, "http://h:1/prefix");
}

}  // namespace
}  // namespace cairn
