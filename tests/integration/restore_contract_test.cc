// The restore contract (docs/spec/restore.md) against the real `cairn server`
// binary on loopback: every step, every run-path form, and the failures.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "cairn/cairn.h"
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

bool DirIsEmpty(const fs::path& p) { return !fs::exists(p) || fs::is_empty(p); }

// Names every entry below `dir` (to show that no temp or partial file is left).
std::vector<std::string> Entries(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (auto& e : fs::recursive_directory_iterator(dir)) out.push_back(fs::relative(e.path(), dir).string());
  std::sort(out.begin(), out.end());
  return out;
}

class RestoreContract : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    // The test process must not read the developer's ~/.netrc or config.
    ::setenv("HOME", (tmp_->path() / "home").c_str(), 1);
    fs::create_directories(tmp_->path() / "home");
    for (const char* v : {"CAIRN_BASE_URL", "CAIRN_API_KEY", "CAIRN_ENTITY", "CAIRN_PROJECT", "CAIRN_DIR",
                          "CAIRN_MODE", "CAIRN_RESUME", "CAIRN_RUN_ID", "CAIRN_CONFIG"}) {
      ::unsetenv(v);
    }
    server_ = new ServerProcess(tmp_->path() / "data");
    alice_ = testing::CreateKey(*server_, "alice");
    bob_ = testing::CreateKey(*server_, "bob");
  }
  static void TearDownTestSuite() {
    delete server_;
    delete tmp_;
  }

  // The environment of a CLI call acting as alice.
  static Env AliceEnv() {
    return {{"CAIRN_BASE_URL", server_->base_url()}, {"CAIRN_API_KEY", alice_}, {"HOME", tmp_->path() / "home"}};
  }
  static ClientOptions AliceClient() { return {.base_url = server_->base_url(), .api_key = alice_}; }

  // Saves `content` as `name` in alice/proj/<run> through the CLI; returns its sha256.
  static std::string SaveAs(const std::string& run, const std::string& name, const std::string& content) {
    TempDir src;
    WriteFile(src / name, content);
    CommandResult r = Cairn({"save", (src / name).string(), "--run", "alice/proj/" + run, "--base",
                             src.path().string()}, AliceEnv());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    // "name\tsize\tsha256\tvN"
    auto first_tab = r.out.find('\t');
    auto second_tab = r.out.find('\t', first_tab + 1);
    EXPECT_EQ(r.out.substr(0, first_tab), name);
    return r.out.substr(second_tab + 1, 64);
  }

  static CommandResult RestoreCli(const std::vector<std::string>& extra, Env env = AliceEnv()) {
    std::vector<std::string> args{"restore"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Cairn(args, env);
  }

  static inline TempDir* tmp_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::string alice_, bob_;
};

TEST_F(RestoreContract, EveryRunPathFormRestoresTheSameBytes) {
  SaveAs("forms1", "ckpt/model.bin", "weights-v1");
  struct Form {
    std::string run_path;
    Env extra;
  };
  std::vector<Form> forms = {
      {"alice/proj/forms1", {}},
      {"alice/proj/runs/forms1", {}},
      {"  /alice/proj/forms1/ ", {}},
      {"proj/forms1", {{"CAIRN_ENTITY", "alice"}}},
      {"proj/forms1", {}},  // the key's own entity
      {server_->base_url() + "/alice/proj/runs/forms1", {}},
  };
  for (const auto& f : forms) {
    TempDir root;
    Env env = AliceEnv();
    for (const auto& [k, v] : f.extra) env[k] = v;
    CommandResult r = RestoreCli({"ckpt/model.bin", "--run", f.run_path, "--root", root.path().string()}, env);
    ASSERT_EQ(r.exit_code, 0) << f.run_path << ": " << r.err;
    EXPECT_EQ(r.out, (root / "ckpt/model.bin").string() + "\n");
    EXPECT_EQ(ReadFile(root / "ckpt/model.bin"), "weights-v1") << f.run_path;
  }
}

TEST_F(RestoreContract, BadRunPathsAreUsageErrorsAndTouchNothing) {
  for (std::string bad : {"a/b/c/d", "justone", "alice//forms1", "alice/proj/notruns/x", "ftp://h/a/b/runs/c",
                          "alice/proj/.hidden", "alice/pr oj/x"}) {
    TempDir root;
    CommandResult r = RestoreCli({"model.bin", "--run", bad, "--root", root.path().string()});
    EXPECT_EQ(r.exit_code, 2) << bad << ": " << r.err;
    EXPECT_NE(r.err.find("invalid run path"), std::string::npos) << r.err;
    EXPECT_TRUE(DirIsEmpty(root.path())) << bad;
  }
  auto sdk = restore("model.bin", {.run_path = "a/b/c/d", .client = AliceClient()});
  EXPECT_EQ(sdk.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(RestoreContract, BadNamesAreRejectedWithNothingWritten) {
  SaveAs("names1", "ok.bin", "x");
  for (std::string bad : {"../x", "/etc/passwd", "a//b", "a/./b", "a\\b", "", "dir/"}) {
    TempDir root;
    CommandResult r = RestoreCli({bad, "--run", "alice/proj/names1", "--root", (root / "sub").string()});
    EXPECT_EQ(r.exit_code, 2) << "'" << bad << "': " << r.err;
    EXPECT_NE(r.err.find("invalid file name"), std::string::npos) << r.err;
    EXPECT_TRUE(DirIsEmpty(root.path())) << "'" << bad << "' wrote " << ::testing::PrintToString(Entries(root.path()));
    auto sdk = restore(bad, {.run_path = "alice/proj/names1", .root = (root / "sub").string(), .client = AliceClient()});
    EXPECT_EQ(sdk.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_TRUE(DirIsEmpty(root.path()));
  }
}

TEST_F(RestoreContract, MissingFileIsNothingButMissingRunIsAnError) {
  SaveAs("missing1", "present.bin", "here");
  TempDir root;
  CommandResult no_file = RestoreCli({"absent.bin", "--run", "alice/proj/missing1", "--root", root.path().string()});
  EXPECT_EQ(no_file.exit_code, 3) << no_file.err;
  EXPECT_TRUE(DirIsEmpty(root.path()));
  auto nothing = restore("absent.bin", {.run_path = "alice/proj/missing1", .root = root.path().string(),
                                        .client = AliceClient()});
  ASSERT_TRUE(nothing.ok()) << nothing.status();
  EXPECT_FALSE(nothing->has_value());

  for (std::string run : {"alice/proj/nosuchrun", "alice/noproject/x", "nobody/proj/x"}) {
    Env env = AliceEnv();
    if (run.rfind("nobody", 0) == 0) env["CAIRN_API_KEY"] = server_->admin_key();  // alice may not look at nobody
    CommandResult no_run = RestoreCli({"present.bin", "--run", run, "--root", root.path().string()}, env);
    EXPECT_EQ(no_run.exit_code, 4) << run << ": " << no_run.err;
    EXPECT_TRUE(DirIsEmpty(root.path()));
  }
  auto sdk = restore("present.bin", {.run_path = "alice/proj/nosuchrun", .root = root.path().string(),
                                     .client = AliceClient()});
  EXPECT_EQ(sdk.status().code(), StatusCode::kNotFound) << sdk.status();
}

TEST_F(RestoreContract, WrongOrMissingKeyIsExit5) {
  SaveAs("auth1", "secret.bin", "s3cr3t");
  TempDir root;
  Env bad = AliceEnv();
  bad["CAIRN_API_KEY"] = "cairn_thisisnotakeythisisnotakeythisisnotakey";
  Env other = AliceEnv();
  other["CAIRN_API_KEY"] = bob_;
  Env none = AliceEnv();
  none.erase("CAIRN_API_KEY");
  none["CAIRN_API_KEY"] = std::nullopt;
  for (const Env& env : {bad, other, none}) {
    CommandResult r = RestoreCli({"secret.bin", "--run", "alice/proj/auth1", "--root", root.path().string()}, env);
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_TRUE(DirIsEmpty(root.path()));
    EXPECT_EQ(r.err.find("s3cr3t"), std::string::npos);
  }
  auto sdk = restore("secret.bin", {.run_path = "alice/proj/auth1", .root = root.path().string(),
                                    .client = {.base_url = server_->base_url(), .api_key = bob_}});
  EXPECT_EQ(sdk.status().code(), StatusCode::kPermissionDenied) << sdk.status();
  auto sdk2 = restore("secret.bin", {.run_path = "alice/proj/auth1", .root = root.path().string(),
                                     .client = {.base_url = server_->base_url(), .api_key = "cairn_nope"}});
  EXPECT_EQ(sdk2.status().code(), StatusCode::kUnauthenticated) << sdk2.status();
}

TEST_F(RestoreContract, LocalCopyWinsUnlessReplace) {
  SaveAs("local1", "model.bin", "store-copy");
  TempDir root;
  WriteFile(root / "model.bin", "local-copy");
  CommandResult keep = RestoreCli({"model.bin", "--run", "alice/proj/local1", "--root", root.path().string()});
  EXPECT_EQ(keep.exit_code, 0) << keep.err;
  EXPECT_EQ(ReadFile(root / "model.bin"), "local-copy");
  CommandResult repl =
      RestoreCli({"model.bin", "--run", "alice/proj/local1", "--root", root.path().string(), "--replace"});
  EXPECT_EQ(repl.exit_code, 0) << repl.err;
  EXPECT_EQ(ReadFile(root / "model.bin"), "store-copy");
  EXPECT_EQ(Entries(root.path()), std::vector<std::string>{"model.bin"});

  // A directory where the file should be is an error, and stays a directory.
  fs::create_directories(root / "dir.bin");
  auto sdk = restore("dir.bin", {.run_path = "alice/proj/local1", .root = root.path().string(), .client = AliceClient()});
  EXPECT_FALSE(sdk.ok());
  EXPECT_TRUE(fs::is_directory(root / "dir.bin"));
}

TEST_F(RestoreContract, SdkReturnsAnOpenBinaryStreamAtOffsetZero) {
  std::string content("bin\0ary\r\n\x1a data", 16);
  std::string sha = SaveAs("stream1", "w/model.bin", content);
  TempDir root;
  auto f = restore("w/model.bin", {.run_path = "alice/proj/stream1", .root = root.path().string(),
                                   .client = AliceClient()});
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE(f->has_value());
  RestoredFile& file = **f;
  EXPECT_TRUE(file.is_open());
  EXPECT_EQ(file.tellg(), 0);
  EXPECT_EQ(file.path(), root / "w/model.bin");
  EXPECT_EQ(file.name(), "w/model.bin");
  EXPECT_EQ(file.sha256(), sha);
  EXPECT_TRUE(file.downloaded());
  std::string read((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  EXPECT_EQ(read, content);
}

TEST_F(RestoreContract, OlderVersionsRestoreWithVersion) {
  SaveAs("versions1", "ckpt.bin", "first");
  SaveAs("versions1", "ckpt.bin", "second");
  SaveAs("versions1", "ckpt.bin", "third");
  TempDir a, b, c;
  EXPECT_EQ(RestoreCli({"ckpt.bin", "--run", "alice/proj/versions1", "--root", a.path().string()}).exit_code, 0);
  EXPECT_EQ(ReadFile(a / "ckpt.bin"), "third");
  CommandResult v1 =
      RestoreCli({"ckpt.bin", "--run", "alice/proj/versions1", "--root", b.path().string(), "--version", "1"});
  EXPECT_EQ(v1.exit_code, 0) << v1.err;
  EXPECT_EQ(ReadFile(b / "ckpt.bin"), "first");
  CommandResult v2 = RestoreCli(
      {"ckpt.bin", "--run", "alice/proj/versions1", "--root", b.path().string(), "--version", "2", "--replace"});
  EXPECT_EQ(v2.exit_code, 0) << v2.err;
  EXPECT_EQ(ReadFile(b / "ckpt.bin"), "second");
  CommandResult v9 =
      RestoreCli({"ckpt.bin", "--run", "alice/proj/versions1", "--root", c.path().string(), "--version", "9"});
  EXPECT_EQ(v9.exit_code, 3) << v9.err;
  auto versions = Api(AliceClient()).run("alice/proj/versions1")->versions("ckpt.bin");
  ASSERT_TRUE(versions.ok()) << versions.status();
  ASSERT_EQ(versions->size(), 3u);
  EXPECT_EQ((*versions)[0].version, 1);
  EXPECT_EQ((*versions)[2].version, 3);
}

TEST_F(RestoreContract, FlippedByteInStoredBlobIsAnIntegrityError) {
  std::string content(100000, 'z');
  std::string sha = SaveAs("corrupt1", "weights.bin", content);
  testing::CorruptBlob(*server_, sha, 5000);
  TempDir root;
  CommandResult r = RestoreCli({"weights.bin", "--run", "alice/proj/corrupt1", "--root", root.path().string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("integrity"), std::string::npos) << r.err;
  EXPECT_TRUE(DirIsEmpty(root.path())) << ::testing::PrintToString(Entries(root.path()));

  WriteFile(root / "weights.bin", "old local copy");
  CommandResult repl =
      RestoreCli({"weights.bin", "--run", "alice/proj/corrupt1", "--root", root.path().string(), "--replace"});
  EXPECT_EQ(repl.exit_code, 1) << repl.err;
  EXPECT_EQ(ReadFile(root / "weights.bin"), "old local copy");
  EXPECT_EQ(Entries(root.path()), std::vector<std::string>{"weights.bin"});

  auto sdk = restore("weights.bin", {.run_path = "alice/proj/corrupt1", .replace = true,
                                     .root = root.path().string(), .client = AliceClient()});
  EXPECT_EQ(sdk.status().code(), StatusCode::kDataLoss) << sdk.status();
  EXPECT_EQ(ReadFile(root / "weights.bin"), "old local copy");
}

TEST_F(RestoreContract, RestoreBeforeInitNeedsARunPath) {
  auto r = restore("model.bin", {.client = AliceClient()});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("run_path is required"), std::string::npos) << r.status();
}

TEST_F(RestoreContract, InitSaveFinishThenRestoreThroughSdkAndApi) {
  TempDir dir;
  auto run = init({.client = {.base_url = server_->base_url(), .api_key = alice_, .project = "sdkproj",
                              .dir = dir.path().string()}});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->id().size(), 8u);
  EXPECT_EQ(run->entity(), "alice");
  EXPECT_TRUE(fs::is_directory(run->dir()));
  EXPECT_EQ(run->dir().filename(), "files");
  EXPECT_EQ(run->dir().parent_path().parent_path(), dir.path() / "cairn");
  WriteFile(run->dir() / "model.bin", "trained");
  WriteFile(run->dir() / "ckpt/a.bin", "A");
  WriteFile(run->dir() / "ckpt/b.bin", "B");
  auto saved = run->save("model.bin");
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(*saved, std::vector<std::string>{"model.bin"});
  ASSERT_TRUE(run->flush().ok());
  auto committed = run->last_saved("model.bin");
  ASSERT_TRUE(committed.has_value());
  EXPECT_EQ(committed->version, 1);
  auto later = run->save("ckpt/*.bin", {.policy = SavePolicy::kEnd});
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(*later, (std::vector<std::string>{"ckpt/a.bin", "ckpt/b.bin"}));
  EXPECT_TRUE(current_run().has_value());

  // Inside the run, restore defaults to this run and its files dir: local first.
  auto local = restore("model.bin");
  ASSERT_TRUE(local.ok() && local->has_value()) << local.status();
  EXPECT_FALSE((*local)->downloaded());

  ASSERT_TRUE(run->finish().ok());
  EXPECT_FALSE(current_run().has_value());
  EXPECT_EQ(run->save("model.bin").status().code(), StatusCode::kFailedPrecondition);

  Api api(AliceClient());
  auto stored = api.run(run->path());
  ASSERT_TRUE(stored.ok()) << stored.status();
  auto files = stored->files();
  ASSERT_TRUE(files.ok()) << files.status();
  std::vector<std::string> names;
  for (const auto& f : *files) names.push_back(f.name);
  EXPECT_EQ(names, (std::vector<std::string>{"ckpt/a.bin", "ckpt/b.bin", "model.bin"}));

  TempDir other;
  auto file = stored->file("model.bin");
  ASSERT_TRUE(file.ok()) << file.status();
  auto dl = file->download({.root = other.path().string()});
  ASSERT_TRUE(dl.ok()) << dl.status();
  EXPECT_EQ(ReadFile(other / "model.bin"), "trained");
  EXPECT_EQ(file->download({.root = other.path().string()}).status().code(), StatusCode::kAlreadyExists);
  EXPECT_TRUE(file->download({.root = other.path().string(), .exist_ok = true}).ok());
  EXPECT_EQ(stored->file("nope.bin").status().code(), StatusCode::kNotFound);

  auto runs = api.runs("alice/sdkproj");
  ASSERT_TRUE(runs.ok()) << runs.status();
  ASSERT_EQ(runs->size(), 1u);
  EXPECT_EQ((*runs)[0].id, run->id());
}

// A separate server that this test stops.
TEST(RestoreWithServerDown, LocalFileStillRestoresButReplaceFailsLeavingItUntouched) {
  TempDir tmp;
  ServerProcess server(tmp / "data");
  std::string key = testing::CreateKey(server, "alice");
  Env env{{"CAIRN_BASE_URL", server.base_url()}, {"CAIRN_API_KEY", key}, {"HOME", tmp.path().string()}};
  WriteFile(tmp / "src/m.bin", "from-store");
  ASSERT_EQ(Cairn({"save", (tmp / "src/m.bin").string(), "--run", "alice/p/down1", "--base", (tmp / "src").string()},
                  env).exit_code, 0);
  TempDir root;
  ASSERT_EQ(Cairn({"restore", "m.bin", "--run", "alice/p/down1", "--root", root.path().string()}, env).exit_code, 0);
  WriteFile(root / "m.bin", "edited locally");
  ASSERT_EQ(server.Stop(), 0) << server.log();

  // No network, no credentials needed: the local copy is returned as it is.
  Env offline{{"CAIRN_BASE_URL", server.base_url()}, {"HOME", tmp.path().string()}, {"CAIRN_API_KEY", std::nullopt}};
  CommandResult local = Cairn({"restore", "m.bin", "--run", "alice/p/down1", "--root", root.path().string()}, offline);
  EXPECT_EQ(local.exit_code, 0) << local.err;
  EXPECT_EQ(ReadFile(root / "m.bin"), "edited locally");

  CommandResult repl = Cairn(
      {"restore", "m.bin", "--run", "alice/p/down1", "--root", root.path().string(), "--replace"},
      {{"CAIRN_BASE_URL", server.base_url()}, {"CAIRN_API_KEY", key}, {"HOME", tmp.path().string()},
       {"CAIRN_RETRY_MAX_ATTEMPTS", "2"}});
  EXPECT_EQ(repl.exit_code, 1) << repl.err;
  EXPECT_NE(repl.err.find("server"), std::string::npos) << repl.err;
  EXPECT_EQ(ReadFile(root / "m.bin"), "edited locally");
  EXPECT_EQ(Entries(root.path()), std::vector<std::string>{"m.bin"});
}

TEST(RestoreLarge, OneGiBRestoresWithClientPeakMemoryUnder64MiB) {
  TempDir tmp;
  ServerProcess server(tmp / "data");
  std::string key = testing::CreateKey(server, "alice");
  Env env{{"CAIRN_BASE_URL", server.base_url()}, {"CAIRN_API_KEY", key}, {"HOME", tmp.path().string()}};
  std::uint64_t size = 1ull << 30;
  std::string sha = testing::WriteRandomFile(tmp / "src/big.bin", size, 7);
  CommandResult save =
      Cairn({"save", (tmp / "src/big.bin").string(), "--run", "alice/p/big1", "--base", (tmp / "src").string()}, env);
  ASSERT_EQ(save.exit_code, 0) << save.err;
  EXPECT_NE(save.out.find(sha), std::string::npos);
  fs::remove(tmp / "src/big.bin");  // keep the disk footprint at 2 GiB
  CommandResult r = Cairn({"restore", "big.bin", "--run", "alice/p/big1", "--root", (tmp / "out").string()}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(fs::file_size(tmp / "out/big.bin"), size);
  auto got = internal::Sha256File(tmp / "out/big.bin").value();
  EXPECT_EQ(got, sha);
  std::cout << "[ measured ] 1 GiB save peak RSS " << save.max_rss_kib / 1024 << " MiB, restore peak RSS "
            << r.max_rss_kib / 1024 << " MiB\n";
  EXPECT_LT(r.max_rss_kib, 64 * 1024) << "restore peak RSS " << r.max_rss_kib << " KiB";
  EXPECT_LT(save.max_rss_kib, 64 * 1024) << "save peak RSS " << save.max_rss_kib << " KiB";
}

}  // namespace
}  // namespace cairn
