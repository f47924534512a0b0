// Uploads beyond a plain PUT, against the real server: commits by reference
// (dedup), uploads in parts that survive a killed client and a killed server,
// the whole-file digest check at completion, byte-exact ranges served with
// sendfile(2), and Expect: 100-continue.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <thread>

#include "cairn/cairn.h"
#include "common/sha256.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::BackgroundProcess;
using testing::Cairn;
using testing::CommandResult;
using testing::ReadFile;
using testing::ServerProcess;
using testing::TempDir;
using Env = std::map<std::string, std::optional<std::string>>;
using namespace std::chrono_literals;

constexpr std::uint64_t kMiB = 1 << 20;

// Request body bytes the server logged for requests whose line matches `re`
// ("PUT /api/v1/... 201 12B 3ms in=1048576B").
std::uint64_t BytesIn(const std::string& log, const std::string& re) {
  std::uint64_t total = 0;
  std::regex line("(" + re + ")[^\\n]* in=([0-9]+)B");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), line); it != std::sregex_iterator(); ++it) {
    total += std::stoull((*it)[2].str());
  }
  return total;
}

std::size_t Count(const std::string& text, const std::string& re) {
  std::regex r(re);
  return static_cast<std::size_t>(std::distance(std::sregex_iterator(text.begin(), text.end(), r), std::sregex_iterator()));
}

// Parts the server holds, over all its sessions.
std::size_t StagedParts(const fs::path& data_dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& session : fs::directory_iterator(data_dir / "uploads", ec)) {
    for ([[maybe_unused]] const auto& part : fs::directory_iterator(session.path() / "parts", ec)) ++n;
  }
  return n;
}

class Uploads : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(tmp_ / "data");
    alice_ = testing::CreateKey(*server_, "alice");
    fs::create_directories(tmp_ / "work");
  }
  // The CLI's environment: `key`, the working directory as CAIRN_DIR (where
  // sessions of uploads in parts are remembered), parts of 1 MiB.
  Env Client(const std::string& key) const {
    return {{"CAIRN_BASE_URL", server_->base_url()},
            {"CAIRN_API_KEY", key},
            {"CAIRN_DIR", (tmp_ / "work").string()},
            {"HOME", tmp_.path().string()},
            {"CAIRN_ENTITY", std::nullopt},
            {"XDG_CONFIG_HOME", std::nullopt},
            {"CAIRN_UPLOAD_PARTS_THRESHOLD", std::to_string(4 * kMiB)},
            {"CAIRN_UPLOAD_PART_SIZE", std::to_string(kMiB)},
            {"CAIRN_UPLOAD_PARALLEL", "2"}};
  }
  CommandResult Save(const fs::path& file, const std::string& run, const std::string& key, Env extra = {}) {
    Env env = Client(key);
    for (auto& [k, v] : extra) env[k] = v;
    return testing::Run({testing::CairnBinary().string(), "save", file.string(), "--run", run, "--base",
                         file.parent_path().string()},
                        env);
  }
  // `cairn save FILE --run RUN` in the background, throttled to 4 MiB/s, once
  // the server holds at least `parts` parts of it (the caller then kills
  // something).
  std::unique_ptr<BackgroundProcess> SaveUntilParts(const fs::path& file, std::size_t parts, Env env) {
    env["CAIRN_MAX_SEND_BYTES_PER_S"] = std::to_string(4 * kMiB);
    auto save = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{testing::CairnBinary().string(), "save", file.string(), "--run", "alice/p/r",
                                 "--base", file.parent_path().string()},
        env);
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (StagedParts(server_->data_dir()) < parts && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    return save;
  }
  // The server's log once a line matches `re` (the server logs a request
  // just after answering it, so the client may be done before the line is).
  std::string LogWith(const std::string& re) {
    for (int i = 0; i < 250 && Count(server_->log(), re) == 0; ++i) std::this_thread::sleep_for(20ms);
    return server_->log();
  }
  // Restores `name` of `run` into a fresh directory and returns its bytes' digest.
  std::string RestoredSha(const std::string& name, const std::string& run) {
    const fs::path root = tmp_ / ("restored-" + std::to_string(restores_++));
    CommandResult r = testing::Run({testing::CairnBinary().string(), "restore", name, "--run", run, "--root",
                                    root.string()},
                                   Client(alice_));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return internal::Sha256Hex(ReadFile(root / name));
  }
  // curl against the server; returns "STATUS BODY".
  std::pair<int, std::string> Curl(const std::string& method, const std::string& path, std::vector<std::string> args) {
    std::vector<std::string> argv{"/usr/bin/curl", "-s", "-X", method, "--max-time", "30", "-w", "\n%{http_code}",
                                  "-H", "Authorization: Bearer " + alice_};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(server_->base_url() + path);
    CommandResult r = testing::Run(argv);
    const auto nl = r.out.rfind('\n');
    return {std::stoi(r.out.substr(nl + 1)), r.out.substr(0, nl)};
  }

  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::string alice_;
  int restores_ = 0;
};

TEST_F(Uploads, SecondSaveOfTheSameBytesSendsNoBodyAndRestoresIdenticalBytes) {
  const fs::path a = tmp_ / "work/a.bin";
  const std::string sha = testing::WriteRandomFile(a, 3 * kMiB, 11);
  ASSERT_EQ(Save(a, "alice/p/first", alice_).exit_code, 0);
  const std::string first = LogWith("files/a.bin 201");
  EXPECT_EQ(BytesIn(first, "PUT /api/v1/runs/alice/p/first/files/a.bin 201"), 3 * kMiB) << first;

  // The same bytes under another name, in another run: committed by reference.
  const fs::path b = tmp_ / "work/b.bin";
  fs::copy_file(a, b);
  CommandResult second = Save(b, "alice/p/second", alice_);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find(sha), std::string::npos) << second.out;
  const std::string log = LogWith("second/files/b.bin 201");
  EXPECT_EQ(Count(log, "PUT /api/v1/runs/alice/p/second/files/b.bin 201 "), 1u) << log;
  EXPECT_EQ(BytesIn(log, "PUT /api/v1/runs/alice/p/second/files/b.bin"), 0u) << log;
  EXPECT_EQ(RestoredSha("b.bin", "alice/p/second"), sha);

  // Another entity knowing the digest gains nothing: its key must send the bytes.
  const std::string bob = testing::CreateKey(*server_, "bob");
  ASSERT_EQ(Save(b, "bob/p/theirs", bob).exit_code, 0);
  const std::string after = LogWith("theirs/files/b.bin 201");
  EXPECT_EQ(Count(after, "PUT /api/v1/runs/bob/p/theirs/files/b.bin 412 "), 1u) << after;
  EXPECT_EQ(BytesIn(after, "PUT /api/v1/runs/bob/p/theirs/files/b.bin 201"), 3 * kMiB) << after;
}

TEST_F(Uploads, BackgroundUploaderCommitsKnownBytesByReferenceAndLargeFilesInParts) {
  const fs::path a = tmp_ / "work/a.bin";
  const std::string sha = testing::WriteRandomFile(a, 3 * kMiB, 17);
  ASSERT_EQ(Save(a, "alice/p/first", alice_).exit_code, 0);

  for (const auto& [k, v] : Client(alice_)) {
    if (k.rfind("CAIRN_UPLOAD_", 0) == 0) ::setenv(k.c_str(), v->c_str(), 1);
  }
  auto run = init({.client = {.base_url = server_->base_url(), .api_key = alice_, .project = "p",
                              .dir = (tmp_ / "sdk").string()}});
  ASSERT_TRUE(run.ok()) << run.status();
  fs::copy_file(a, run->dir() / "copy.bin");
  const std::string big = testing::WriteRandomFile(run->dir() / "big.bin", 6 * kMiB, 18);
  ASSERT_TRUE(run->save("copy.bin").ok());
  ASSERT_TRUE(run->save("big.bin").ok());
  ASSERT_TRUE(run->finish().ok());
  for (const char* k : {"CAIRN_UPLOAD_PARTS_THRESHOLD", "CAIRN_UPLOAD_PART_SIZE", "CAIRN_UPLOAD_PARALLEL"}) {
    ::unsetenv(k);
  }
  const UploadStats stats = run->upload_stats();
  EXPECT_EQ(stats.committed, 2u);
  EXPECT_EQ(stats.bytes_sent, 6 * kMiB) << "copy.bin was committed by reference";
  const std::string log = LogWith("complete 201");
  const std::string run_files = "/api/v1/runs/alice/p/" + run->id() + "/files/";
  EXPECT_EQ(Count(log, "PUT " + run_files + "copy.bin 201 [^\\n]* in=0B"), 1u) << log;
  EXPECT_EQ(Count(log, "PUT /api/v1/uploads/[0-9a-f]+/parts/[0-9]+ 200"), 6u) << log;
  EXPECT_EQ(RestoredSha("copy.bin", run->path()), sha);
  EXPECT_EQ(RestoredSha("big.bin", run->path()), big);
}

TEST_F(Uploads, KilledSaveResumesAndSendsOnlyTheRest) {
  const fs::path g = tmp_ / "work/other.bin";
  const std::string sha_g = testing::WriteRandomFile(g, 24 * kMiB, 13);
  {
    auto save = SaveUntilParts(g, 8, Client(alice_));  // ~6 s in all
    ::kill(save->pid(), SIGKILL);
    EXPECT_EQ(save->Wait().exit_code, -1);
  }
  const std::size_t staged = StagedParts(server_->data_dir());
  ASSERT_GE(staged, 8u);
  ASSERT_LT(staged, 24u) << "the save finished before it was killed";
  const std::size_t log_before = server_->log().size();

  CommandResult rerun = Save(g, "alice/p/r", alice_);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  EXPECT_NE(rerun.out.find(sha_g), std::string::npos);
  const std::string log = LogWith("complete 201").substr(log_before);
  const std::uint64_t sent = BytesIn(log, "PUT /api/v1/uploads/[0-9a-f]+/parts/[0-9]+ 200");
  // The rest, plus at most the two parts that were in flight when killed.
  EXPECT_LE(sent, (24 - staged + 2) * kMiB) << log;
  EXPECT_GE(sent, (24 - staged) * kMiB) << log;
  EXPECT_EQ(RestoredSha("other.bin", "alice/p/r"), sha_g);
  EXPECT_TRUE(fs::is_empty(tmp_ / "work/cairn/uploads")) << "the session file is removed once complete";
}

TEST_F(Uploads, ASessionTheServerDroppedIsStartedAfresh) {
  const fs::path f = tmp_ / "work/big.bin";
  const std::string sha = testing::WriteRandomFile(f, 8 * kMiB, 19);
  {
    auto save = SaveUntilParts(f, 2, Client(alice_));
    ::kill(save->pid(), SIGKILL);
    save->Wait();
  }
  // What expiry does to an idle session.
  for (const auto& session : fs::directory_iterator(server_->data_dir() / "uploads")) fs::remove_all(session.path());
  ASSERT_FALSE(fs::is_empty(tmp_ / "work/cairn/uploads")) << "the client remembers the session";
  const std::size_t log_before = server_->log().size();
  CommandResult rerun = Save(f, "alice/p/r", alice_);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.err;
  const std::string log = LogWith("complete 201").substr(log_before);
  EXPECT_EQ(Count(log, "GET /api/v1/uploads/[0-9a-f]+ 404"), 1u) << log;
  // Count the new session's parts only: the killed client's last part may be
  // logged by the server after log_before (it was received before the kill).
  std::smatch completed;
  ASSERT_TRUE(std::regex_search(log, completed, std::regex("/api/v1/uploads/([0-9a-f]+)/complete 201"))) << log;
  EXPECT_EQ(BytesIn(log, "PUT /api/v1/uploads/" + completed[1].str() + "/parts/[0-9]+ 200"), 8 * kMiB) << log;
  EXPECT_EQ(RestoredSha("big.bin", "alice/p/r"), sha);
}

TEST_F(Uploads, ServerKilledMidSessionThenRestartedAndTheUploadCompletes) {
  const fs::path f = tmp_ / "work/big.bin";
  const std::string sha = testing::WriteRandomFile(f, 16 * kMiB, 14);
  Env env = Client(alice_);
  env["CAIRN_RETRY_MAX_SECONDS"] = "60";
  env["CAIRN_RETRY_MAX_ATTEMPTS"] = "50";
  auto save = SaveUntilParts(f, 4, env);
  server_->Kill();
  const std::size_t staged = StagedParts(server_->data_dir());
  ASSERT_GE(staged, 4u);
  server_->Start();  // same port and data directory
  CommandResult r = save->Wait();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(sha), std::string::npos) << r.out;
  // The restarted server got only what it lacked (plus parts cut short).
  const std::string log = LogWith("complete 201");
  const std::uint64_t sent = BytesIn(log, "PUT /api/v1/uploads/[0-9a-f]+/parts/[0-9]+ 200");
  EXPECT_LE(sent, (16 - staged + 2) * kMiB) << log;
  EXPECT_EQ(RestoredSha("big.bin", "alice/p/r"), sha);
}

TEST_F(Uploads, WrongWholeFileDigestAtCompleteCommitsNothing) {
  ASSERT_EQ(Curl("PUT", "/api/v1/runs/alice/p/bad", {}).first, 201);
  const fs::path part = tmp_ / "part";
  testing::WriteRandomFile(part, kMiB, 15);
  const std::string claimed(64, 'a');
  auto [status, body] = Curl("POST", "/api/v1/runs/alice/p/bad/uploads/x.bin",
                             {"--data", R"({"sha256":")" + claimed + R"(","size":2097152,"part_size":1048576})"});
  ASSERT_EQ(status, 201) << body;
  const std::string id = nlohmann::json::parse(body)["upload_id"];
  const std::string session = "/api/v1/uploads/" + id;

  auto missing = Curl("POST", session + "/complete", {});
  EXPECT_EQ(missing.first, 409) << missing.second;
  EXPECT_NE(missing.second.find("parts_missing"), std::string::npos);
  EXPECT_EQ(Curl("PUT", session + "/parts/2", {"--data-binary", "@" + part.string()}).first, 400);
  auto short_part = Curl("PUT", session + "/parts/0", {"--data-binary", "short"});
  EXPECT_EQ(short_part.first, 400) << short_part.second;
  for (const char* n : {"0", "1"}) {
    auto put = Curl("PUT", session + "/parts/" + n, {"--data-binary", "@" + part.string()});
    ASSERT_EQ(put.first, 200) << put.second;
  }
  auto state = Curl("GET", session, {});
  ASSERT_EQ(state.first, 200);
  EXPECT_EQ(nlohmann::json::parse(state.second)["parts_received"], nlohmann::json::parse("[0,1]"));

  auto done = Curl("POST", session + "/complete", {});
  EXPECT_EQ(done.first, 400) << done.second;
  EXPECT_NE(done.second.find("digest_mismatch"), std::string::npos) << done.second;
  EXPECT_EQ(Curl("GET", "/api/v1/runs/alice/p/bad/versions/x.bin", {}).second, R"({"versions":[]})");
  EXPECT_EQ(Curl("GET", session, {}).first, 404) << "a session with wrong parts is discarded";
  EXPECT_FALSE(fs::exists(testing::BlobPath(server_->data_dir(), claimed)));

  // Another key of another entity cannot see or touch alice's sessions.
  auto [status2, body2] = Curl("POST", "/api/v1/runs/alice/p/bad/uploads/y.bin",
                               {"--data", R"({"sha256":")" + claimed + R"(","size":5})"});
  ASSERT_EQ(status2, 201) << body2;
  const std::string bob = testing::CreateKey(*server_, "bob");
  CommandResult peek = testing::Run({"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                                     "Authorization: Bearer " + bob,
                                     server_->base_url() + "/api/v1/uploads/" +
                                         nlohmann::json::parse(body2)["upload_id"].get<std::string>()});
  EXPECT_EQ(peek.out, "403");
}

TEST_F(Uploads, RangesServedWithSendfileAreByteExact) {
  const fs::path f = tmp_ / "work/r.bin";
  const std::uint64_t size = 5 * kMiB + 123;
  testing::WriteRandomFile(f, size, 16);
  ASSERT_EQ(Save(f, "alice/p/ranges", alice_).exit_code, 0);
  const std::string content = ReadFile(f);
  const std::string url = "/api/v1/runs/alice/p/ranges/files/r.bin";
  EXPECT_EQ(Curl("GET", url, {}).second, content);
  std::mt19937_64 rng(7);
  for (int i = 0; i < 40; ++i) {
    std::uint64_t a = rng() % size, b = rng() % size;
    if (a > b) std::swap(a, b);
    if (i % 8 == 0) b = a + rng() % 3;  // tiny ranges too
    b = std::min(b, size - 1);
    auto [status, body] = Curl("GET", url, {"-H", "Range: bytes=" + std::to_string(a) + "-" + std::to_string(b)});
    ASSERT_EQ(status, 206);
    ASSERT_EQ(body, content.substr(a, b - a + 1)) << "range " << a << "-" << b;
  }
  EXPECT_EQ(Curl("GET", url, {"-H", "Range: bytes=-1000"}).second, content.substr(size - 1000));
}

TEST_F(Uploads, Expect100ContinueIsAnsweredBeforeTheBodyIsSent) {
  ASSERT_EQ(Curl("PUT", "/api/v1/runs/alice/p/expect", {}).first, 201);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  auto read_some = [fd](std::chrono::milliseconds wait) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) return std::string();
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
  };
  const std::string head = "PUT /api/v1/runs/alice/p/expect/files/e.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                           alice_ + "\r\nX-Cairn-Sha256: " + internal::Sha256Hex("hello") +
                           "\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n";
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  EXPECT_EQ(read_some(900ms).rfind("HTTP/1.1 100 Continue\r\n", 0), 0u);
  ASSERT_EQ(::send(fd, "hello", 5, MSG_NOSIGNAL), 5);
  std::string answer;
  for (int i = 0; i < 50 && answer.find("\r\n\r\n") == std::string::npos; ++i) answer += read_some(100ms);
  EXPECT_EQ(answer.rfind("HTTP/1.1 201", 0), 0u) << answer;
  ::close(fd);
}

}  // namespace
}  // namespace cairn
