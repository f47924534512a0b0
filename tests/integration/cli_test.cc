// The `cairn` command line: login and ~/.netrc, listings, output formats, exit
// codes for usage errors, and server shutdown while a transfer is in flight.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/sha256.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::Cairn;
using testing::CommandResult;
using testing::ReadFile;
using testing::ServerProcess;
using testing::TempDir;
using testing::WriteFile;
using Env = std::map<std::string, std::optional<std::string>>;

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServerProcess>(tmp_ / "data");
    key_ = testing::CreateKey(*server_, "alice");
    fs::create_directories(tmp_ / "home");
  }
  Env Base() const {
    return {{"CAIRN_BASE_URL", server_->base_url()}, {"HOME", (tmp_ / "home").string()},
            {"CAIRN_API_KEY", std::nullopt}, {"CAIRN_ENTITY", std::nullopt}, {"XDG_CONFIG_HOME", std::nullopt}};
  }
  Env WithKey() const {
    Env e = Base();
    e["CAIRN_API_KEY"] = key_;
    return e;
  }
  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::string key_;
};

TEST_F(Cli, LoginStoresTheKeyInNetrcWithMode0600AndLaterCommandsUseIt) {
  WriteFile(tmp_ / "home/.netrc", "machine other.example.com login me password keep-me\n");
  CommandResult bad = testing::Run({testing::CairnBinary().string(), "login"}, Base(), "cairn_notavalidkeynotavalidkeynotavalidkey\n");
  EXPECT_EQ(bad.exit_code, 5) << bad.err;
  EXPECT_EQ(ReadFile(tmp_ / "home/.netrc").find("cairn_notavalid"), std::string::npos);

  CommandResult login = testing::Run({testing::CairnBinary().string(), "login"}, Base(), key_ + "\n");
  ASSERT_EQ(login.exit_code, 0) << login.err;
  EXPECT_EQ(login.err.find(key_), std::string::npos) << "the key must not be echoed";
  std::string netrc = ReadFile(tmp_ / "home/.netrc");
  EXPECT_NE(netrc.find("machine 127.0.0.1 login api password " + key_), std::string::npos) << netrc;
  EXPECT_NE(netrc.find("machine other.example.com login me password keep-me"), std::string::npos) << netrc;
  EXPECT_EQ(fs::status(tmp_ / "home/.netrc").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);

  // Logging in again replaces the entry rather than adding a second one.
  ASSERT_EQ(Cairn({"login", key_}, Base()).exit_code, 0);
  netrc = ReadFile(tmp_ / "home/.netrc");
  EXPECT_EQ(netrc.find("machine 127.0.0.1"), netrc.rfind("machine 127.0.0.1")) << netrc;

  WriteFile(tmp_ / "w/a.txt", "A");
  CommandResult save = Cairn({"save", (tmp_ / "w/a.txt").string(), "--run", "alice/p/r1", "--base",
                              (tmp_ / "w").string()}, Base());
  EXPECT_EQ(save.exit_code, 0) << save.err;
}

TEST_F(Cli, SavePrintsNameSizeDigestAndVersionAndListingsHaveJson) {
  WriteFile(tmp_ / "w/ckpt/a.bin", "aaaa");
  WriteFile(tmp_ / "w/b.bin", "bb");
  CommandResult save = Cairn({"save", (tmp_ / "w/ckpt/a.bin").string(), (tmp_ / "w/b.bin").string(), "--run",
                              "alice/p/r2", "--base", (tmp_ / "w").string()}, WithKey());
  ASSERT_EQ(save.exit_code, 0) << save.err;
  EXPECT_EQ(save.out, "ckpt/a.bin\t4\t" + internal::Sha256Hex("aaaa") + "\tv1\nb.bin\t2\t" + internal::Sha256Hex("bb") +
                          "\tv1\n");

  CommandResult ls = Cairn({"ls", "alice/p/r2", "--json"}, WithKey());
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  auto files = nlohmann::json::parse(ls.out);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0]["name"], "b.bin");
  EXPECT_EQ(files[1]["name"], "ckpt/a.bin");
  EXPECT_EQ(files[1]["size"], 4);
  EXPECT_EQ(files[1]["version"], 1);

  CommandResult plain = Cairn({"ls", "alice/p/r2"}, WithKey());
  EXPECT_NE(plain.out.find("ckpt/a.bin"), std::string::npos);

  CommandResult runs = Cairn({"runs", "alice/p", "--json"}, WithKey());
  ASSERT_EQ(runs.exit_code, 0) << runs.err;
  EXPECT_EQ(nlohmann::json::parse(runs.out)[0]["id"], "r2");
  EXPECT_EQ(Cairn({"runs", "alice/nothing"}, WithKey()).exit_code, 4);
  EXPECT_EQ(Cairn({"ls", "alice/p/none"}, WithKey()).exit_code, 4);
}

// `cairn save DIR` takes every file under it, `cairn save 'GLOB'` every match
// (a matching directory recursively), names relative to --base, each file once.
TEST_F(Cli, SaveTakesDirectoriesRecursivelyAndQuotedGlobsNamedRelativeToBase) {
  const fs::path w = tmp_ / "w";
  for (const char* n : {"ckpt/step-100/a.bin", "ckpt/step-100/b.bin", "ckpt/step-100/sub/c.bin",
                        "ckpt/step-200/d.bin", "top.txt"}) {
    WriteFile(w / n, n);
  }
  const auto line = [](const std::string& name) {
    return name + "\t" + std::to_string(name.size()) + "\t" + internal::Sha256Hex(name) + "\tv1\n";
  };
  CommandResult glob = Cairn({"save", (w / "ckpt/step-100/*").string(), "--run", "alice/p/batch1", "--base",
                              w.string(), "--quiet"}, WithKey());
  ASSERT_EQ(glob.exit_code, 0) << glob.err;
  EXPECT_EQ(glob.out, line("ckpt/step-100/a.bin") + line("ckpt/step-100/b.bin") + line("ckpt/step-100/sub/c.bin"));

  CommandResult dir = Cairn({"save", (w / "ckpt").string() + "/", (w / "top.txt").string(),
                             (w / "ckpt/step-200/d.bin").string(), "--run", "alice/p/batch2", "--base", w.string()},
                            WithKey());
  ASSERT_EQ(dir.exit_code, 0) << dir.err;
  EXPECT_EQ(dir.out, line("ckpt/step-100/a.bin") + line("ckpt/step-100/b.bin") + line("ckpt/step-100/sub/c.bin") +
                         line("ckpt/step-200/d.bin") + line("top.txt"))
      << "each file once, in the order of the arguments";
  CommandResult ls = Cairn({"ls", "alice/p/batch2", "--json"}, WithKey());
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(nlohmann::json::parse(ls.out).size(), 5u);

  CommandResult none = Cairn({"save", (w / "nothing/*").string(), "--run", "alice/p/batch3", "--base", w.string()},
                             WithKey());
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_NE(none.err.find("matches no file"), std::string::npos) << none.err;
  CommandResult outside = Cairn({"save", w.string(), "--run", "alice/p/batch3", "--base", (w / "ckpt").string()},
                                WithKey());
  EXPECT_EQ(outside.exit_code, 2);
  EXPECT_NE(outside.err.find("outside the base directory"), std::string::npos) << outside.err;
  EXPECT_EQ(Cairn({"ls", "alice/p/batch3"}, WithKey()).exit_code, 4) << "nothing is sent before every name passes";
}

TEST_F(Cli, UsageErrorsExit2WithHelpfulMessages) {
  EXPECT_EQ(Cairn({"--help"}, Base()).exit_code, 0);
  EXPECT_EQ(Cairn({"restore", "--help"}, Base()).exit_code, 0);
  EXPECT_EQ(Cairn({}, Base()).exit_code, 2);
  EXPECT_EQ(Cairn({"frobnicate"}, Base()).exit_code, 2);
  EXPECT_EQ(Cairn({"restore", "x.bin"}, Base()).exit_code, 2);  // --run is required
  EXPECT_EQ(Cairn({"restore", "x.bin", "--run", "a/b/c", "--version", "zero"}, Base()).exit_code, 2);
  EXPECT_EQ(Cairn({"restore", "x.bin", "--run", "a/b/c", "--version", "0"}, Base()).exit_code, 2);

  WriteFile(tmp_ / "outside.bin", "x");
  fs::create_directories(tmp_ / "base");
  CommandResult outside = Cairn({"save", (tmp_ / "outside.bin").string(), "--run", "alice/p/r3", "--base",
                                 (tmp_ / "base").string()}, WithKey());
  EXPECT_EQ(outside.exit_code, 2);
  EXPECT_NE(outside.err.find("outside the base directory"), std::string::npos) << outside.err;
  CommandResult missing = Cairn({"save", (tmp_ / "nope.bin").string(), "--run", "alice/p/r3"}, WithKey());
  EXPECT_EQ(missing.exit_code, 2) << missing.err;

  // Only the admin key makes keys.
  CommandResult keys = Cairn({"keys", "create", "--entity", "mallory"}, WithKey());
  EXPECT_EQ(keys.exit_code, 5) << keys.err;
  CommandResult down = Cairn({"ls", "alice/p/r3"}, {{"CAIRN_BASE_URL", "http://127.0.0.1:1"},
                                                    {"CAIRN_API_KEY", key_}, {"HOME", (tmp_ / "home").string()},
                                                    {"CAIRN_RETRY_MAX_ATTEMPTS", "1"}});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_NE(down.err.find("server"), std::string::npos) << down.err;
}

TEST_F(Cli, SigtermDuringAnUploadCancelsItAndCommitsNothing) {
  std::string sha = testing::WriteRandomFile(tmp_ / "w/big.bin", 64ull << 20, 3);
  ASSERT_EQ(Cairn({"save", (tmp_ / "w/big.bin").string(), "--run", "alice/p/term1", "--base", (tmp_ / "w").string()},
                  WithKey()).exit_code, 0);
  std::string sha2 = testing::WriteRandomFile(tmp_ / "w/big.bin", 64ull << 20, 4);
  // A slow client: 1 MiB/s for 64 MiB cannot finish inside the 10 s shutdown grace.
  pid_t curl = ::fork();
  if (curl == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::string auth = "Authorization: Bearer " + key_;
    std::string digest = "X-Cairn-Sha256: " + sha2;
    std::string data = "@" + (tmp_ / "w/big.bin").string();
    std::string url = server_->base_url() + "/api/v1/runs/alice/p/term1/files/big.bin";
    ::execl("/usr/bin/curl", "curl", "-s", "-X", "PUT", "--limit-rate", "1M", "-H", auth.c_str(), "-H",
            digest.c_str(), "--data-binary", data.c_str(), url.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(server_->Stop(), 0) << server_->log();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  int status = 0;
  ::waitpid(curl, &status, 0);

  server_->Start();
  CommandResult ls = Cairn({"ls", "alice/p/term1", "--json"}, WithKey());
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  auto files = nlohmann::json::parse(ls.out);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0]["version"], 1) << "the cancelled upload must not be committed";
  EXPECT_EQ(files[0]["sha256"], sha);
  EXPECT_FALSE(fs::exists(testing::BlobPath(server_->data_dir(), sha2)));
  // The stored version still restores byte for byte.
  CommandResult r = Cairn({"restore", "big.bin", "--run", "alice/p/term1", "--root", (tmp_ / "out").string()},
                          WithKey());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(internal::Sha256File(tmp_ / "out/big.bin").value(), sha);
}

}  // namespace
}  // namespace cairn
