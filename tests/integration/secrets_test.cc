// Secrets hygiene and input checks at the edge: keys never in process
// listings, key files and netrc 0600; bad names and run ids (traversal, NUL,
// control characters, overlong, non-UTF-8) refused with 400 before anything
// is touched; JSON bodies schema-checked and bounded; error answers never
// name server-side paths.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "common/sha256.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::ServerProcess;
using testing::TempDir;

class Secrets : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    server_ = new ServerProcess(tmp_->path() / "data");
    key_ = testing::CreateKey(*server_, "alice");
    ASSERT_EQ(Curl("PUT", "/api/v1/runs/alice/p/r").first, 201);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete tmp_;
  }

  // Status and body; `path` is sent as it is (curl --path-as-is).
  static std::pair<int, std::string> Curl(const std::string& method, const std::string& path,
                                          const std::string& body = "") {
    std::vector<std::string> argv{"/usr/bin/curl", "-s", "--path-as-is", "-o", "-", "-w", "\n%{http_code}", "-X", method,
                                  "-H", "Authorization: Bearer " + key_};
    if (!body.empty()) argv.insert(argv.end(), {"--data-binary", body});
    argv.push_back(server_->base_url() + path);
    testing::CommandResult r = testing::Run(argv);
    const std::size_t nl = r.out.rfind('\n');
    std::string text = r.out.substr(0, nl);
    EXPECT_EQ(text.find(server_->data_dir().string()), std::string::npos) << "a server path in an answer: " << text;
    EXPECT_EQ(text.find(key_), std::string::npos) << "the key in an answer";
    return {std::atoi(r.out.substr(nl + 1).c_str()), text};
  }

  static inline TempDir* tmp_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::string key_;
};

TEST_F(Secrets, BadNamesAndIdsAreRefusedAtTheEdge) {
  const std::vector<std::pair<std::string, std::string>> names = {
      {"traversal", "..%2F..%2Fetc%2Fpasswd"},
      {"dot-dot component", "a/../b"},
      {"dot component", "a/./b"},
      {"encoded dot-dot", "%2E%2E/x"},
      {"absolute", "%2Fetc%2Fpasswd"},
      {"empty component", "a//b"},
      {"NUL", "a%00b"},
      {"newline", "a%0Ab"},
      {"tab", "a%09b"},
      {"DEL", "a%7Fb"},
      {"backslash", "a%5Cb"},
      {"non-UTF-8", "a%FF%FEb"},
      {"overlong UTF-8", "a%C0%AFb"},
      {"overlong name", std::string(1100, 'n')},
      {"bad percent", "a%zzb"},
  };
  for (const auto& [what, name] : names) {
    for (const std::string route : {"meta", "versions", "files"}) {
      auto [status, body] = Curl("GET", "/api/v1/runs/alice/p/r/" + route + "/" + name);
      EXPECT_EQ(status, 400) << what << " via " << route << ": " << body;
    }
  }
  const std::vector<std::pair<std::string, std::string>> ids = {
      {"dot-dot", ".."}, {"leading dot", ".hidden"}, {"NUL", "a%00"}, {"newline", "a%0A"},
      {"non-UTF-8", "%FF"}, {"slash", "a%2Fb"}, {"overlong", std::string(129, 'x')}, {"space", "a%20b"},
  };
  for (const auto& [what, id] : ids) {
    EXPECT_EQ(Curl("PUT", "/api/v1/runs/" + id + "/p/r").first, 400) << "entity " << what;
    EXPECT_EQ(Curl("PUT", "/api/v1/runs/alice/" + id + "/r").first, 400) << "project " << what;
    EXPECT_EQ(Curl("PUT", "/api/v1/runs/alice/p/" + id).first, 400) << "run id " << what;
  }
  // Nothing was created by any of them.
  for (const auto& e : fs::recursive_directory_iterator(server_->data_dir())) {
    EXPECT_EQ(e.path().filename().string().find("passwd"), std::string::npos) << e.path();
  }
  auto [status, body] = Curl("GET", "/api/v1/runs/alice/p");
  EXPECT_EQ(nlohmann::json::parse(body)["runs"].size(), 1u) << body;
  // The CLI refuses the same names before it connects.
  testing::CommandResult r = testing::Cairn({"--base-url", "http://127.0.0.1:1", "restore", "../x", "--run", "a/b/c"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

TEST_F(Secrets, JsonBodiesAreSchemaCheckedAndBounded) {
  const std::vector<std::pair<std::string, std::string>> run_bodies = {
      {"not JSON", "{resume"},          {"an array", "[]"},         {"a string", "\"allow\""},
      {"resume a number", R"({"resume":5})"}, {"resume unknown", R"({"resume":"maybe"})"},
      {"NUL in JSON", std::string("{\"resume\":\"al\\u0000low\"}")},
  };
  for (const auto& [what, body] : run_bodies) {
    auto [status, answer] = Curl("PUT", "/api/v1/runs/alice/p/json1", body);
    EXPECT_EQ(status, 400) << what << ": " << answer;
  }
  const std::string admin = server_->admin_key();
  auto as_admin = [&](const std::string& body) {
    testing::CommandResult r =
        testing::Run({"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H",
                      "Authorization: Bearer " + admin, "--data-binary", body, server_->base_url() + "/api/v1/keys"});
    return std::atoi(r.out.c_str());
  };
  EXPECT_EQ(as_admin(R"({"entity":5})"), 400);
  EXPECT_EQ(as_admin(R"({"entity":"../x"})"), 400);
  EXPECT_EQ(as_admin(R"({"entity":"carol","read_only":"yes"})"), 400);
  EXPECT_EQ(as_admin(R"({})"), 400);
  // Over 1 MiB of JSON: 413, whatever the route.
  const fs::path big = tmp_->path() / "big.json";
  testing::WriteFile(big, R"({"resume":"allow","pad":")" + std::string(1 << 20, 'p') + "\"}");
  EXPECT_EQ(Curl("PUT", "/api/v1/runs/alice/p/json2", "@" + big.string()).first, 413);
  // An overlong URL is refused before routing.
  EXPECT_EQ(Curl("GET", "/api/v1/runs/alice/p/r/meta/" + std::string(20000, 'u')).first / 100, 4);
}

// An error of the server's own storage (here blobs/tmp is a file, so creating
// an upload's temp file fails with ENOTDIR) is the server's fault: 500 with
// fixed text, the path only in its log -- never a 4xx carrying a server path.
TEST_F(Secrets, StorageErrorsAreServerErrorsWithoutPaths) {
  const fs::path tmp_dir = server_->data_dir() / "blobs" / "tmp";
  const fs::path aside = server_->data_dir() / "blobs" / "tmp.aside";
  fs::rename(tmp_dir, aside);
  testing::WriteFile(tmp_dir, "not a directory");
  const std::string body = "some bytes";
  const std::vector<std::string> upload{
      "/usr/bin/curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", "PUT", "-H", "Authorization: Bearer " + key_,
      "-H", "X-Cairn-Sha256: " + internal::Sha256Hex(body), "--data-binary", body,
      server_->base_url() + "/api/v1/runs/alice/p/r/files/storage-error.bin"};
  testing::CommandResult r = testing::Run(upload);
  fs::remove(tmp_dir);
  fs::rename(aside, tmp_dir);
  const std::size_t nl = r.out.rfind('\n');
  ASSERT_NE(nl, std::string::npos) << r.out;
  EXPECT_EQ(r.out.substr(nl + 1), "500") << r.out;
  EXPECT_EQ(r.out.find(server_->data_dir().string()), std::string::npos) << "a server path in an answer: " << r.out;
  EXPECT_NE(r.out.find("its log has the details"), std::string::npos) << r.out;
  EXPECT_NE(server_->LogOnceItHas("Not a directory").find("Not a directory"), std::string::npos)
      << "the cause belongs in the server's log";
  // And the store works again once the directory is back.
  testing::CommandResult again = testing::Run(upload);
  EXPECT_EQ(again.out.substr(again.out.rfind('\n') + 1), "201") << again.out;
}

// A listener that accepts connections and never answers: the CLI hangs on it
// long enough for its process listing to be read.
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~SilentServer() { ::close(fd_); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(Secrets, KeysStayOutOfProcessListingsAndKeyFilesAre0600) {
  SilentServer silent;
  TempDir home;
  const std::string key = "cairn_NeverShowMeInPsNeverShowMeInPs012345";
  std::map<std::string, std::optional<std::string>> env{{"HOME", home.path().string()}, {"CAIRN_API_KEY", key}};
  // A key given on the command line is blanked out of argv at once; one
  // from the environment never reaches argv.
  testing::BackgroundProcess login({testing::CairnBinary().string(), "--base-url", silent.url(), "login", key}, env);
  testing::BackgroundProcess restore({testing::CairnBinary().string(), "--base-url", silent.url(), "restore", "x.bin",
                                      "--run", "alice/p/r", "--root", home.path().string()},
                                     env);
  // A database password in --db is blanked the same way (the silent
  // listener stands in for a PostgreSQL server that never answers).
  const std::string password = "NeverShowMyDbPassword";
  testing::BackgroundProcess server({testing::CairnBinary().string(), "server", "--data",
                                     (home.path() / "data").string(), "--listen", "127.0.0.1:0", "--db",
                                     "postgresql://cairn:" + password + "@127.0.0.1:" + std::to_string(silent.port()) +
                                         "/cairn"},
                                    env);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (pid_t pid : {login.pid(), restore.pid(), server.pid()}) {
    std::string cmdline = testing::ReadFile("/proc/" + std::to_string(pid) + "/cmdline");
    EXPECT_FALSE(cmdline.empty());
    EXPECT_EQ(cmdline.find(key), std::string::npos) << "the key is visible in ps";
    EXPECT_EQ(cmdline.find(password), std::string::npos) << "the database password is visible in ps";
    const std::string ps = testing::Run({"/bin/ps", "-ww", "-o", "args=", "-p", std::to_string(pid)}).out;
    EXPECT_EQ(ps.find(key), std::string::npos);
    EXPECT_EQ(ps.find(password), std::string::npos);
  }
  EXPECT_NE(testing::ReadFile("/proc/" + std::to_string(server.pid()) + "/cmdline").find("postgresql://cairn:*"),
            std::string::npos);
  EXPECT_NE(testing::Cairn({"login", "--help"}).out.find("standard input"), std::string::npos);

  // netrc: 0600 even when an older, wider file was there; other entries kept.
  testing::WriteFile(home / ".netrc", "machine other.example login api password keepme\n");
  fs::permissions(home / ".netrc", fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                                       fs::perms::others_read);
  testing::CommandResult r = testing::Run({testing::CairnBinary().string(), "--base-url", server_->base_url(), "login"},
                   {{"HOME", home.path().string()}, {"CAIRN_API_KEY", std::nullopt}}, key_ + "\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find(key_), std::string::npos) << "login echoed the key";
  struct stat st {};
  ASSERT_EQ(::stat((home / ".netrc").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string netrc = testing::ReadFile(home / ".netrc");
  EXPECT_NE(netrc.find("keepme"), std::string::npos);
  EXPECT_NE(netrc.find(key_), std::string::npos);
  ASSERT_EQ(::stat((server_->data_dir() / "admin.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  // And none of it reached the server's log.
  EXPECT_EQ(server_->log().find(key_), std::string::npos);
  EXPECT_EQ(server_->log().find(server_->admin_key()), std::string::npos);
}

}  // namespace
}  // namespace cairn
