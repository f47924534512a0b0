// The HTTP API of docs/http-api.md, spoken directly (curl and raw sockets)
// against the real server: status codes, headers, ranges, limits, auth.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "common/sha256.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::CommandResult;
using testing::ServerProcess;
using testing::TempDir;

struct Reply {
  int status = 0;
  std::string headers;  // lowercased
  std::string body;
  std::string header(const std::string& name) const {
    auto pos = headers.find("\n" + name + ":");
    if (pos == std::string::npos) return "";
    auto start = headers.find_first_not_of(' ', pos + name.size() + 2);
    return headers.substr(start, headers.find('\r', start) - start);
  }
  std::string error_code() const {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_discarded() || !j.contains("error")) return "<no json error: " + body + ">";
    return j["error"]["code"].get<std::string>();
  }
};

// Sends raw bytes on a new connection and returns what came back before the
// server closed it (or `wait` passed).
std::string RawExchange(int port, const std::string& request, std::chrono::milliseconds wait = std::chrono::seconds(5)) {
  int fd = testing::ConnectLoopback(port);
  if (fd < 0) return "<connect failed>";
  if (!request.empty()) (void)!::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + wait;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

class HttpApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    server_ = new ServerProcess(tmp_->path() / "data");
    alice_ = testing::CreateKey(*server_, "alice");
    bob_ = testing::CreateKey(*server_, "bob");
    alice_ro_ = testing::CreateKey(*server_, "alice", /*read_only=*/true);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete tmp_;
  }

  // curl with `args`; -i so headers come back too.
  static Reply Curl(const std::string& method, const std::string& path, const std::string& key,
                    std::vector<std::string> args = {}) {
    std::vector<std::string> argv{"/usr/bin/curl", "-s", "-i", "-X", method, "--max-time", "30"};
    if (method == "HEAD") {
      argv = {"/usr/bin/curl", "-s", "-I", "--max-time", "30"};
    }
    if (!key.empty()) {
      argv.push_back("-H");
      argv.push_back("Authorization: Bearer " + key);
    }
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(server_->base_url() + path);
    CommandResult r = testing::Run(argv);
    Reply rep;
    std::string& raw = r.out;
    auto split = raw.find("\r\n\r\n");
    std::string head = raw.substr(0, split);
    rep.body = split == std::string::npos ? "" : raw.substr(split + 4);
    if (head.size() > 12) rep.status = std::stoi(head.substr(9, 3));
    for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    rep.headers = "\n" + head + "\r";
    return rep;
  }

  static Reply PutFile(const std::string& run, const std::string& name, const std::string& content,
                       const std::string& key, std::string sha = "") {
    TempDir t;
    testing::WriteFile(t / "body", content);
    if (sha.empty()) sha = internal::Sha256Hex(content);
    return Curl("PUT", "/api/v1/runs/" + run + "/files/" + name, key,
                {"-H", "X-Cairn-Sha256: " + sha, "--data-binary", "@" + (t / "body").string()});
  }

  static inline TempDir* tmp_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::string alice_, bob_, alice_ro_;
};

TEST_F(HttpApi, HealthNeedsNoKey) {
  Reply r = Curl("GET", "/api/v1/health", "");
  EXPECT_EQ(r.status, 200);
}

TEST_F(HttpApi, RunLifecycleAndResumeModes) {
  Reply created = Curl("PUT", "/api/v1/runs/alice/p/life1", alice_, {"--data", R"({"resume":"never"})"});
  EXPECT_EQ(created.status, 201) << created.body;
  auto j = nlohmann::json::parse(created.body);
  EXPECT_EQ(j["id"], "life1");
  EXPECT_EQ(j["entity"], "alice");
  EXPECT_EQ(Curl("PUT", "/api/v1/runs/alice/p/life1", alice_, {"--data", R"({"resume":"never"})"}).status, 409);
  EXPECT_EQ(Curl("PUT", "/api/v1/runs/alice/p/life1", alice_, {"--data", R"({"resume":"allow"})"}).status, 200);
  EXPECT_EQ(Curl("PUT", "/api/v1/runs/alice/p/life1", alice_, {"--data", R"({"resume":"must"})"}).status, 200);
  Reply must_missing = Curl("PUT", "/api/v1/runs/alice/p/life2", alice_, {"--data", R"({"resume":"must"})"});
  EXPECT_EQ(must_missing.status, 404);
  EXPECT_EQ(Curl("PUT", "/api/v1/runs/alice/p/life3", alice_, {"--data", R"({"resume":"sometimes"})"}).status, 400);
  EXPECT_EQ(Curl("PUT", "/api/v1/runs/alice/p/life3", alice_, {"--data", "{not json"}).status, 400);
  EXPECT_EQ(Curl("GET", "/api/v1/runs/alice/p/life1", alice_).status, 200);
  EXPECT_EQ(Curl("GET", "/api/v1/runs/alice/p/nope", alice_).error_code(), "run_not_found");
  EXPECT_EQ(Curl("GET", "/api/v1/runs/alice/nope/x", alice_).error_code(), "project_not_found");
  EXPECT_EQ(Curl("GET", "/api/v1/runs/nobody/p/x", server_->admin_key()).error_code(), "entity_not_found");
}

TEST_F(HttpApi, RunListingPaginates) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_EQ(Curl("PUT", "/api/v1/runs/alice/pages/r" + std::to_string(i), alice_).status, 201);
  }
  std::vector<std::string> ids;
  std::string cursor;
  int pages = 0;
  do {
    Reply r = Curl("GET", "/api/v1/runs/alice/pages?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor), alice_);
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = nlohmann::json::parse(r.body);
    for (auto& run : j["runs"]) ids.push_back(run["id"]);
    cursor = j["next_cursor"].is_null() ? "" : j["next_cursor"].get<std::string>();
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(ids, (std::vector<std::string>{"r0", "r1", "r2", "r3", "r4"}));
  EXPECT_EQ(pages, 3);
}

TEST_F(HttpApi, UploadVerifiesDigestBeforeCommitting) {
  ASSERT_EQ(Curl("PUT", "/api/v1/runs/alice/p/up1", alice_).status, 201);
  Reply ok = PutFile("alice/p/up1", "dir/a.bin", "hello", alice_);
  EXPECT_EQ(ok.status, 201) << ok.body;
  auto j = nlohmann::json::parse(ok.body);
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["size"], 5);
  EXPECT_EQ(j["sha256"], internal::Sha256Hex("hello"));

  Reply bad = PutFile("alice/p/up1", "dir/a.bin", "hellO", alice_, internal::Sha256Hex("hello"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.error_code(), "digest_mismatch");
  EXPECT_FALSE(fs::exists(testing::BlobPath(server_->data_dir(), internal::Sha256Hex("hellO"))));
  Reply versions = Curl("GET", "/api/v1/runs/alice/p/up1/versions/dir/a.bin", alice_);
  EXPECT_EQ(nlohmann::json::parse(versions.body)["versions"].size(), 1u) << versions.body;

  EXPECT_EQ(PutFile("alice/p/up1", "dir/a.bin", "x", alice_, "nothex").status, 400);
  EXPECT_EQ(PutFile("alice/p/nosuchrun", "a.bin", "x", alice_).error_code(), "run_not_found");
  EXPECT_EQ(PutFile("alice/p/up1", "..%2Fescape", "x", alice_).status, 400);
  EXPECT_EQ(PutFile("alice/p/up1", "a%00b", "x", alice_).status, 400);

  Reply second = PutFile("alice/p/up1", "dir/a.bin", "hello again", alice_);
  EXPECT_EQ(nlohmann::json::parse(second.body)["version"], 2);
}

// PUT .../batch: every file verified, all committed in one transaction or
// none (a digest mismatch, a body cut short, a malformed record).
TEST_F(HttpApi, BatchSaveCommitsAllFilesOrNone) {
  ASSERT_EQ(Curl("PUT", "/api/v1/runs/alice/p/batch1", alice_).status, 201);
  const auto record = [](const std::string& name, const std::string& content, std::string sha = "") {
    if (sha.empty()) sha = internal::Sha256Hex(content);
    return sha + " " + std::to_string(content.size()) + " " + name + "\n" + content;
  };
  const auto put_batch = [&](const std::string& body) {
    TempDir t;
    testing::WriteFile(t / "body", body);
    return Curl("PUT", "/api/v1/runs/alice/p/batch1/batch", alice_, {"--data-binary", "@" + (t / "body").string()});
  };
  Reply ok = put_batch(record("dir/a%20b.txt", "hello") + record("c.bin", "") + record("dir/a%20b.txt", "again"));
  ASSERT_EQ(ok.status, 201) << ok.body;
  auto files = nlohmann::json::parse(ok.body)["files"];
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0]["name"], "dir/a b.txt");
  EXPECT_EQ(files[0]["version"], 1);
  EXPECT_EQ(files[1]["size"], 0);
  EXPECT_EQ(files[2]["version"], 2);
  EXPECT_EQ(files[2]["sha256"], internal::Sha256Hex("again"));
  EXPECT_EQ(Curl("GET", "/api/v1/runs/alice/p/batch1/files/dir/a%20b.txt?version=1", alice_).body, "hello");

  const auto versions_of_a = [&] {
    Reply v = Curl("GET", "/api/v1/runs/alice/p/batch1/versions/dir/a%20b.txt", alice_);
    return nlohmann::json::parse(v.body)["versions"].size();
  };
  // The second file does not match its digest: the first is not committed either.
  Reply bad = put_batch(record("dir/a%20b.txt", "one") + record("d.bin", "twO", internal::Sha256Hex("two")));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.error_code(), "digest_mismatch");
  EXPECT_NE(bad.body.find("d.bin"), std::string::npos) << bad.body;
  EXPECT_EQ(versions_of_a(), 2u);
  // A body that ends inside a file, a bad header, a bad name: nothing.
  const std::string whole = record("dir/a%20b.txt", "three");
  EXPECT_EQ(put_batch(whole + record("e.bin", "four").substr(0, 70)).error_code(), "invalid_argument");
  EXPECT_EQ(put_batch(whole + "nothex 3 f.bin\nabc").error_code(), "invalid_argument");
  EXPECT_EQ(put_batch(whole + record("..%2Fescape", "x")).error_code(), "invalid_argument");
  EXPECT_EQ(versions_of_a(), 2u);
  // A client that dies midway (its connection closes after one whole file).
  const std::string body = whole + record("g.bin", std::string(100000, 'g'));
  const std::string head = "PUT /api/v1/runs/alice/p/batch1/batch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                           alice_ + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  RawExchange(server_->port(), head + body.substr(0, whole.size() + 500), std::chrono::milliseconds(300));
  EXPECT_EQ(versions_of_a(), 2u);
  EXPECT_EQ(Curl("GET", "/api/v1/runs/alice/p/batch1/meta/g.bin", alice_).status, 404);
  // Read-only keys and other entities may not.
  EXPECT_EQ(Curl("PUT", "/api/v1/runs/alice/p/batch1/batch", alice_ro_, {"--data-binary", whole}).status, 403);
  EXPECT_EQ(Curl("PUT", "/api/v1/runs/alice/p/batch1/batch", bob_, {"--data-binary", whole}).status, 403);
}

TEST_F(HttpApi, DownloadHeadersRangesAndVersions) {
  ASSERT_EQ(Curl("PUT", "/api/v1/runs/alice/p/dl1", alice_).status, 201);
  std::string content = "0123456789abcdefghij";
  std::string sha = internal::Sha256Hex(content);
  ASSERT_EQ(PutFile("alice/p/dl1", "f.bin", content, alice_).status, 201);
  ASSERT_EQ(PutFile("alice/p/dl1", "f.bin", "v2", alice_).status, 201);

  Reply full = Curl("GET", "/api/v1/runs/alice/p/dl1/files/f.bin?version=1", alice_);
  EXPECT_EQ(full.status, 200);
  EXPECT_EQ(full.body, content);
  EXPECT_EQ(full.header("etag"), "\"" + sha + "\"");
  EXPECT_EQ(full.header("content-length"), "20");
  EXPECT_EQ(full.header("x-cairn-version"), "1");
  EXPECT_EQ(full.header("accept-ranges"), "bytes");

  EXPECT_EQ(Curl("GET", "/api/v1/runs/alice/p/dl1/files/f.bin", alice_).body, "v2");

  Reply head = Curl("HEAD", "/api/v1/runs/alice/p/dl1/files/f.bin?version=1", alice_);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), "20");
  EXPECT_EQ(head.body, "");

  Reply part = Curl("GET", "/api/v1/runs/alice/p/dl1/files/f.bin?version=1", alice_, {"-H", "Range: bytes=5-9"});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, "56789");
  EXPECT_EQ(part.header("content-range"), "bytes 5-9/20");
  Reply tail = Curl("GET", "/api/v1/runs/alice/p/dl1/files/f.bin?version=1", alice_, {"-H", "Range: bytes=-3"});
  EXPECT_EQ(tail.body, "hij");
  Reply open = Curl("GET", "/api/v1/runs/alice/p/dl1/files/f.bin?version=1", alice_, {"-H", "Range: bytes=15-"});
  EXPECT_EQ(open.body, "fghij");

  Reply if_range_ok = Curl("GET", "/api/v1/runs/alice/p/dl1/files/f.bin?version=1", alice_,
                           {"-H", "Range: bytes=10-", "-H", "If-Range: \"" + sha + "\""});
  EXPECT_EQ(if_range_ok.status, 206);
  EXPECT_EQ(if_range_ok.body, "abcdefghij");
  Reply if_range_stale = Curl("GET", "/api/v1/runs/alice/p/dl1/files/f.bin?version=1", alice_,
                              {"-H", "Range: bytes=10-", "-H", "If-Range: \"0000\""});
  EXPECT_EQ(if_range_stale.status, 200);
  EXPECT_EQ(if_range_stale.body, content);

  Reply unsat = Curl("GET", "/api/v1/runs/alice/p/dl1/files/f.bin?version=1", alice_, {"-H", "Range: bytes=50-60"});
  EXPECT_EQ(unsat.status, 416);
  EXPECT_EQ(unsat.header("content-range"), "bytes */20");

  EXPECT_EQ(Curl("GET", "/api/v1/runs/alice/p/dl1/files/f.bin?version=3", alice_).error_code(), "file_not_found");
  EXPECT_EQ(Curl("GET", "/api/v1/runs/alice/p/dl1/files/none.bin", alice_).error_code(), "file_not_found");
  EXPECT_EQ(Curl("GET", "/api/v1/runs/alice/p/dl1/files/f.bin?version=abc", alice_).status, 400);

  Reply meta = Curl("GET", "/api/v1/runs/alice/p/dl1/meta/f.bin", alice_);
  ASSERT_EQ(meta.status, 200) << meta.body;
  EXPECT_EQ(nlohmann::json::parse(meta.body)["version"], 2);

  Reply files = Curl("GET", "/api/v1/runs/alice/p/dl1/files", alice_);
  ASSERT_EQ(files.status, 200);
  auto list = nlohmann::json::parse(files.body)["files"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["name"], "f.bin");
  EXPECT_EQ(list[0]["version"], 2);
  EXPECT_TRUE(list[0].contains("updated_at"));
}

TEST_F(HttpApi, KeysAreCheckedAgainstTheEntity) {
  ASSERT_EQ(Curl("PUT", "/api/v1/runs/alice/p/auth1", alice_).status, 201);
  EXPECT_EQ(Curl("GET", "/api/v1/runs/alice/p/auth1", "").status, 401);
  EXPECT_EQ(Curl("GET", "/api/v1/runs/alice/p/auth1", "cairn_wrongwrongwrongwrongwrongwrongwrongwrong").status, 401);
  EXPECT_EQ(Curl("GET", "/api/v1/runs/alice/p/auth1", bob_).status, 403);
  EXPECT_EQ(Curl("PUT", "/api/v1/runs/alice/p/auth2", bob_).status, 403);
  EXPECT_EQ(Curl("GET", "/api/v1/runs/alice/p/auth1", alice_ro_).status, 200);
  EXPECT_EQ(Curl("PUT", "/api/v1/runs/alice/p/auth2", alice_ro_).status, 403);
  EXPECT_EQ(Curl("GET", "/api/v1/runs/alice/p/auth1", server_->admin_key()).status, 200);
  // Only the admin key makes keys.
  EXPECT_EQ(Curl("POST", "/api/v1/keys", alice_, {"--data", R"({"entity":"alice"})"}).status, 403);
  Reply who = Curl("GET", "/api/v1/whoami", alice_);
  EXPECT_EQ(nlohmann::json::parse(who.body)["entity"], "alice");
  // Keys are stored hashed: the plaintext is nowhere in the data directory.
  for (auto& e : fs::recursive_directory_iterator(server_->data_dir())) {
    if (!e.is_regular_file() || e.path().filename() == "admin.key") continue;
    EXPECT_EQ(testing::ReadFile(e.path()).find(alice_), std::string::npos) << e.path();
  }
  EXPECT_EQ(server_->log().find(alice_), std::string::npos);
}

TEST_F(HttpApi, MalformedAndOversizedRequestsGetCleanErrors) {
  std::string garbage = RawExchange(server_->port(), "BLAH\r\n\r\n");
  EXPECT_NE(garbage.find("HTTP/1.1 400"), std::string::npos) << garbage;

  std::string big_header = "GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  std::string too_big = RawExchange(server_->port(), big_header);
  EXPECT_NE(too_big.find("HTTP/1.1 431"), std::string::npos) << too_big.substr(0, 200);

  Reply no_route = Curl("GET", "/api/v1/nothing", alice_);
  EXPECT_EQ(no_route.status, 404);
  EXPECT_EQ(no_route.error_code(), "not_found");
  EXPECT_EQ(Curl("PATCH", "/api/v1/runs/alice/p/x", alice_).status, 405);

  TempDir t;
  testing::WriteFile(t / "big.json", "{\"resume\":\"" + std::string(2 << 20, 'a') + "\"}");
  Reply huge = Curl("PUT", "/api/v1/runs/alice/p/huge", alice_, {"--data-binary", "@" + (t / "big.json").string()});
  EXPECT_EQ(huge.status, 413) << huge.body.substr(0, 200);

  EXPECT_EQ(Curl("GET", "/api/v1/runs/alice/p/" + std::string(200, 'x'), alice_).status, 400);

  // Keep-alive: two requests on one connection.
  std::string two = RawExchange(server_->port(),
                                "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/health HTTP/1.1\r\nHost: x\r\n"
                                "Connection: close\r\n\r\n");
  EXPECT_EQ(std::count(two.begin(), two.end(), '{'), 2) << two;
}

TEST(HttpServer, SlowRequestIsTimedOutAndShutdownIsClean) {
  TempDir tmp;
  ServerProcess server(tmp / "data");
  // Half a request line, then silence: the server must not wait forever.
  auto start = std::chrono::steady_clock::now();
  std::string r = RawExchange(server.port(), "GET /api/v1/hea", std::chrono::seconds(90));
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_LT(waited, std::chrono::seconds(80)) << r;
  EXPECT_EQ(server.Stop(), 0) << server.log();
}

TEST(HttpServer, AdminKeyIsGeneratedOnceWithMode0600) {
  TempDir tmp;
  std::string first;
  {
    ServerProcess server(tmp / "data");
    first = server.admin_key();
    EXPECT_GE(first.size(), 40u);
    auto perms = fs::status(tmp / "data/admin.key").permissions() & fs::perms::all;
    EXPECT_EQ(perms, fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_NE(server.log().find("admin.key"), std::string::npos) << server.log();
  }
  ServerProcess again(tmp / "data");
  EXPECT_EQ(again.admin_key(), first);
  ServerProcess with_env(tmp / "data2", {{"CAIRN_ADMIN_KEY", "cairn_fromtheenvironmentfromtheenvironment12"}});
  EXPECT_FALSE(fs::exists(tmp / "data2/admin.key"));
  std::string key = testing::CreateKey(with_env, "carol");
  EXPECT_GE(key.size(), 40u);
}

}  // namespace
}  // namespace cairn
