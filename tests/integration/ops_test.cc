// Watching the server (docs/operations.md): /metrics parsed by promtool (the
// Prometheus project's own parser) and moving with traffic, with no names in
// its labels; JSON access lines with request ids and never a key; /healthz;
// /readyz following the metadata and blob stores (backends: PostgreSQL and
// radosgw cut off behind a proxy, then restored).
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "common/sha256.h"
#include "testing/backends.h"
#include "testing/server_fixture.h"
#include "testing/tcp_proxy.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using testing::CommandResult;
using testing::ServerProcess;
using testing::TempDir;
using Env = std::map<std::string, std::optional<std::string>>;

struct Reply {
  int status = 0;
  std::string head;  // status line and headers, lowercased
  std::string body;
};

Reply Curl(const std::string& url, const std::string& key = "", std::vector<std::string> headers = {}) {
  std::vector<std::string> argv{"/usr/bin/curl", "-s", "-i", "--max-time", "30"};
  if (!key.empty()) headers.push_back("Authorization: Bearer " + key);
  for (const auto& h : headers) {
    argv.push_back("-H");
    argv.push_back(h);
  }
  argv.push_back(url);
  CommandResult r = testing::Run(argv);
  Reply rep;
  const auto split = r.out.find("\r\n\r\n");
  rep.head = r.out.substr(0, split);
  rep.body = split == std::string::npos ? "" : r.out.substr(split + 4);
  if (rep.head.size() > 12) rep.status = std::stoi(rep.head.substr(9, 3));
  for (auto& c : rep.head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return rep;
}

std::string Header(const Reply& r, const std::string& name) {
  const auto pos = r.head.find("\n" + name + ": ");
  if (pos == std::string::npos) return "";
  const auto start = pos + name.size() + 3;
  return r.head.substr(start, r.head.find('\r', start) - start);
}

// The value of the sample whose line starts with `series` + " " (0 when absent).
double Sample(const std::string& metrics, const std::string& series) {
  std::istringstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return 0;
}

void ExpectPromtoolAccepts(const std::string& metrics) {
  ASSERT_TRUE(fs::exists("/usr/bin/promtool")) << "promtool is missing: scripts/install-deps.sh installs prometheus";
  CommandResult r = testing::Run({"/usr/bin/promtool", "check", "metrics"}, {}, metrics);
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err << "\n" << metrics;
}

constexpr const char* kFileRoute = "/api/v1/runs/{entity}/{project}/{run}/files/{path...}";

class Ops : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    server_ = new ServerProcess(tmp_->path() / "data", {}, std::nullopt, {"--log-format", "json"});
    key_ = testing::CreateKey(*server_, "opsentity");
  }
  static void TearDownTestSuite() {
    delete server_;
    delete tmp_;
  }
  static Env WithKey() {
    return {{"CAIRN_BASE_URL", server_->base_url()}, {"HOME", tmp_->path().string()}, {"CAIRN_API_KEY", key_},
            {"CAIRN_ENTITY", std::nullopt},          {"XDG_CONFIG_HOME", std::nullopt}};
  }
  static std::string Scrape() {
    Reply r = Curl(server_->base_url() + "/metrics");
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(Header(r, "content-type").find("text/plain; version=0.0.4"), std::string::npos);
    return r.body;
  }
  static inline TempDir* tmp_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::string key_;
};

TEST_F(Ops, MetricsParseWithPromtoolAndMoveWithTrafficWithoutNamesInLabels) {
  const std::string before = Scrape();
  ExpectPromtoolAccepts(before);
  EXPECT_EQ(Sample(before, "cairn_build_info{version=\"0.1.0\"}"), 1);

  const std::uint64_t size = 300'000;
  testing::WriteRandomFile(tmp_->path() / "w/secret-file-name.bin", size);
  CommandResult save = testing::Cairn({"save", (tmp_->path() / "w/secret-file-name.bin").string(), "--run",
                                       "opsentity/hiddenproject/run1", "--base", (tmp_->path() / "w").string(), "-q"},
                                      WithKey());
  ASSERT_EQ(save.exit_code, 0) << save.err;
  CommandResult restore = testing::Cairn({"restore", "secret-file-name.bin", "--run", "opsentity/hiddenproject/run1",
                                          "--root", (tmp_->path() / "r").string(), "-q"},
                                         WithKey());
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_EQ(Curl(server_->base_url() + "/api/v1/runs/opsentity/hiddenproject/run1/files/nope", key_).status, 404);

  const std::string after = Scrape();
  ExpectPromtoolAccepts(after);
  const std::string put = std::string("{route=\"") + kFileRoute + "\",method=\"PUT\",code=\"2xx\"}";
  EXPECT_GE(Sample(after, "cairn_http_requests_total" + put) - Sample(before, "cairn_http_requests_total" + put), 1);
  EXPECT_GE(Sample(after, "cairn_uploads_total{result=\"committed\"}") -
                Sample(before, "cairn_uploads_total{result=\"committed\"}"),
            1);
  EXPECT_GE(Sample(after, "cairn_restores_total{result=\"ok\"}") - Sample(before, "cairn_restores_total{result=\"ok\"}"),
            1);
  EXPECT_GE(Sample(after, "cairn_restores_total{result=\"not_found\"}"), 1);
  const std::string file_route = std::string("{route=\"") + kFileRoute + "\"}";
  EXPECT_GE(Sample(after, "cairn_http_received_bytes_total" + file_route), size);
  EXPECT_GE(Sample(after, "cairn_http_sent_bytes_total" + file_route), size);
  EXPECT_GE(Sample(after, "cairn_store_operation_duration_seconds_count{store=\"metadata\",operation=\"commit_version\"}"),
            1);
  EXPECT_GE(Sample(after, "cairn_store_operation_duration_seconds_count{store=\"blob\",operation=\"writer_commit\"}"), 1);
  EXPECT_NE(after.find("cairn_md5_indexer_queue_length "), std::string::npos);
  EXPECT_NE(after.find("cairn_storage_used_bytes "), std::string::npos);
  EXPECT_NE(after.find("cairn_http_request_duration_seconds_bucket{route=\"/metrics\",method=\"GET\",le=\"+Inf\"}"),
            std::string::npos);
  for (const char* name : {"opsentity", "hiddenproject", "run1", "secret-file-name", key_.c_str()}) {
    EXPECT_EQ(after.find(name), std::string::npos) << name << " appears in /metrics";
  }
}

TEST_F(Ops, AccessLinesAreJsonWithRequestIdsAndNeverAKey) {
  Reply given = Curl(server_->base_url() + "/api/v1/whoami", key_, {"X-Request-Id: proxy-id-42"});
  EXPECT_EQ(given.status, 200);
  EXPECT_EQ(Header(given, "x-request-id"), "proxy-id-42");
  Reply bad_id = Curl(server_->base_url() + "/api/v1/whoami", key_, {"X-Request-Id: has spaces and {braces}"});
  EXPECT_TRUE(std::regex_match(Header(bad_id, "x-request-id"), std::regex("[0-9a-f]{16}"))) << bad_id.head;
  const std::string wrong_key = "cairn-ThisKeyIsWrongButSecretAnyway0123456789";
  EXPECT_EQ(Curl(server_->base_url() + "/api/v1/whoami", wrong_key).status, 401);
  EXPECT_EQ(Curl(server_->base_url() + "/healthz").status, 200);

  const std::string log = server_->LogOnceItHas("/healthz");
  int access = 0;
  bool saw_given = false;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    // The CLI's own lines before the server's logger exists ("cairn: warning: ...",
    // "cairn server: admin key written to ...") are plain text.
    if (line.rfind("cairn", 0) == 0) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    if (j.value("type", "") != "access") {
      EXPECT_TRUE(j.contains("time") && j.contains("level") && j.contains("msg")) << line;
      continue;
    }
    ++access;
    for (const char* field : {"time", "request_id", "method", "route", "status", "bytes_in", "bytes_out", "duration_ms",
                              "key_id"}) {
      EXPECT_TRUE(j.contains(field)) << field << " missing: " << line;
    }
    if (j["request_id"] == "proxy-id-42") {
      saw_given = true;
      EXPECT_EQ(j["route"], "/api/v1/whoami");
      EXPECT_EQ(j["status"], 200);
      // The key's id as `cairn keys ls` shows it ("k" + 12 hex digits of its hash), never the key.
      EXPECT_EQ(j["key_id"], "k" + internal::Sha256Hex(key_).substr(0, 12));
    }
  }
  EXPECT_GE(access, 4);
  EXPECT_TRUE(saw_given);
  EXPECT_EQ(log.find(key_), std::string::npos) << "a key in the log";
  EXPECT_EQ(log.find(server_->admin_key()), std::string::npos) << "the admin key in the log";
  EXPECT_EQ(log.find(wrong_key), std::string::npos) << "a presented key in the log";
}

TEST(OpsServer, MetricsKeyRequiredRefusesScrapesWithoutAKey) {
  TempDir tmp;
  ServerProcess server(tmp / "data", {}, std::nullopt, {"--metrics-key-required"});
  const std::string key = testing::CreateKey(server, "scraper", /*read_only=*/true);
  EXPECT_EQ(Curl(server.base_url() + "/metrics").status, 401);
  Reply ok = Curl(server.base_url() + "/metrics", key);
  EXPECT_EQ(ok.status, 200);
  EXPECT_NE(ok.body.find("cairn_build_info"), std::string::npos);
  EXPECT_EQ(Curl(server.base_url() + "/healthz").status, 200);
  EXPECT_EQ(Curl(server.base_url() + "/readyz").status, 200);
}

// `url` with its first ":PORT" after "127.0.0.1" replaced by `port`.
std::string WithPort(const std::string& url, int port, int* old_port) {
  const std::regex re("127\\.0\\.0\\.1:([0-9]+)");
  std::smatch m;
  if (!std::regex_search(url, m, re)) throw std::runtime_error("no 127.0.0.1:PORT in " + url);
  *old_port = std::stoi(m[1]);
  return m.prefix().str() + "127.0.0.1:" + std::to_string(port) + m.suffix().str();
}

// Polls /readyz until it answers `status` (at most `within`); the last reply.
Reply AwaitReady(const ServerProcess& server, int status, std::chrono::seconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  Reply r;
  while (std::chrono::steady_clock::now() < deadline) {
    r = Curl(server.base_url() + "/readyz");
    if (r.status == status) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return r;
}

TEST(OpsBackends, ReadyzTurns503WhenPostgresOrRadosgwIsGoneAnd200WhenBack) {
  if (!testing::UsingBackends()) GTEST_SKIP() << "needs the backends fixture (ctest -L backends)";
  testing::ServerBackend backend = testing::NewServerBackend();
  int pg_port = 0, s3_port = 0;
  // The proxies are created first: ports of the real servers come from the URLs.
  (void)WithPort(backend.db_url, 0, &pg_port);
  (void)WithPort(backend.blobs_url, 0, &s3_port);
  testing::TcpProxy pg(pg_port), s3(s3_port);
  backend.db_url = WithPort(backend.db_url, pg.port(), &pg_port);
  backend.blobs_url = WithPort(backend.blobs_url, s3.port(), &s3_port);
  backend.s3_presign = false;
  TempDir tmp;
  ServerProcess server(tmp / "data", {}, backend);
  EXPECT_EQ(Curl(server.base_url() + "/readyz").status, 200);

  pg.SetDown(true);
  Reply down = AwaitReady(server, 503, std::chrono::seconds(20));
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_EQ(nlohmann::json::parse(down.body, nullptr, false).value("failing", ""), "metadata store") << down.body;
  EXPECT_EQ(Curl(server.base_url() + "/healthz").status, 200) << "the process still serves";
  pg.SetDown(false);
  Reply back = AwaitReady(server, 200, std::chrono::seconds(30));
  EXPECT_EQ(back.status, 200) << back.body;

  s3.SetDown(true);
  down = AwaitReady(server, 503, std::chrono::seconds(20));
  EXPECT_EQ(down.status, 503) << down.body;
  EXPECT_EQ(nlohmann::json::parse(down.body, nullptr, false).value("failing", ""), "blob store") << down.body;
  s3.SetDown(false);
  back = AwaitReady(server, 200, std::chrono::seconds(30));
  EXPECT_EQ(back.status, 200) << back.body;
}

}  // namespace
}  // namespace cairn
