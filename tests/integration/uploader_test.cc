// The background uploader, resuming and offline runs against the real
// `cairn server` binary: every row of the resume table, auto after a crash,
// the directory lock, a server outage while saves are queued, a file
// rewritten rapidly under kLive, unchanged content, `cairn sync`, and a
// non-retryable 4xx.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "cairn/cairn.h"
#include "common/sha256.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using testing::Cairn;
using testing::CommandResult;
using testing::ReadFile;
using testing::ServerProcess;
using testing::TempDir;
using testing::WriteFile;
using Env = std::map<std::string, std::optional<std::string>>;
using Clock = std::chrono::steady_clock;

class Uploads : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    ::setenv("HOME", (tmp_->path() / "home").c_str(), 1);
    fs::create_directories(tmp_->path() / "home");
    for (const char* v : {"CAIRN_BASE_URL", "CAIRN_API_KEY", "CAIRN_ENTITY", "CAIRN_PROJECT", "CAIRN_DIR", "CAIRN_MODE",
                          "CAIRN_RESUME", "CAIRN_RUN_ID", "CAIRN_CONFIG"}) {
      ::unsetenv(v);
    }
    // Quick retries so that an outage of a few seconds is bridged promptly.
    ::setenv("CAIRN_UPLOAD_BACKOFF_INITIAL_MS", "100", 1);
    ::setenv("CAIRN_UPLOAD_BACKOFF_MAX_MS", "1000", 1);
    server_ = new ServerProcess(tmp_->path() / "data");
    key_ = testing::CreateKey(*server_, "alice");
  }
  static void TearDownTestSuite() {
    delete server_;
    delete tmp_;
  }
  static ClientOptions Client(const fs::path& dir, const std::string& project = "up") {
    return {.base_url = server_->base_url(), .api_key = key_, .project = project, .dir = dir.string()};
  }
  static Env CliEnv() {
    return {{"CAIRN_BASE_URL", server_->base_url()}, {"CAIRN_API_KEY", key_}, {"HOME", tmp_->path() / "home"}};
  }
  // name -> sha256 of the latest versions on the server.
  static std::map<std::string, std::string> ServerFiles(const std::string& run_path) {
    Api api({.base_url = server_->base_url(), .api_key = key_});
    auto run = api.run(run_path);
    EXPECT_TRUE(run.ok()) << run.status();
    std::map<std::string, std::string> out;
    if (!run.ok()) return out;
    auto files = run->files();
    EXPECT_TRUE(files.ok()) << files.status();
    if (!files.ok()) return out;
    for (const FileInfo& f : *files) out[f.name] = f.sha256;
    return out;
  }
  static std::string NewId(const std::string& prefix) {
    static int n = 0;
    return prefix + std::to_string(::getpid()) + "-" + std::to_string(++n);
  }

  static inline TempDir* tmp_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::string key_;
};

// ------------------------------------------------------------------ resuming

TEST_F(Uploads, EveryRowOfTheResumeTable) {
  struct Row {
    std::string resume;
    bool exists;
    std::optional<StatusCode> error;  // nullopt: ok
  };
  const std::vector<Row> table = {
      {"never", false, std::nullopt},
      {"allow", false, std::nullopt},
      {"must", false, StatusCode::kNotFound},
      {"auto", false, std::nullopt},
      {"never", true, StatusCode::kAlreadyExists},
      {"allow", true, std::nullopt},
      {"must", true, std::nullopt},
      {"auto", true, std::nullopt},
  };
  for (const Row& row : table) {
    SCOPED_TRACE(row.resume + (row.exists ? " / exists" : " / new"));
    const std::string id = NewId("tbl-");
    if (row.exists) {
      TempDir first;
      auto created = init({.client = Client(first.path()), .id = id});
      ASSERT_TRUE(created.ok()) << created.status();
      EXPECT_FALSE(created->resumed());
      ASSERT_TRUE(created->finish().ok());
    }
    TempDir dir;
    auto run = init({.client = Client(dir.path()), .id = id, .resume = row.resume});
    if (row.error) {
      ASSERT_FALSE(run.ok());
      EXPECT_EQ(run.status().code(), *row.error) << run.status();
      EXPECT_NE(run.status().message().find(id), std::string::npos) << run.status();
      EXPECT_FALSE(fs::exists(dir / "cairn/resume.json"));
      continue;
    }
    ASSERT_TRUE(run.ok()) << run.status();
    EXPECT_EQ(run->id(), id);
    EXPECT_EQ(run->resumed(), row.exists);
    EXPECT_TRUE(fs::exists(dir / "cairn/resume.json"));
    ASSERT_TRUE(run->finish().ok());
    EXPECT_FALSE(fs::exists(dir / "cairn/resume.json")) << "a clean finish deletes the resume file";
  }
}

TEST_F(Uploads, EnvironmentSuppliesResumeAndId) {
  TempDir dir;
  const std::string id = NewId("env-");
  ::setenv("CAIRN_RUN_ID", id.c_str(), 1);
  ::setenv("CAIRN_RESUME", "must", 1);
  auto missing = init({.client = Client(dir.path())});
  ::setenv("CAIRN_RESUME", "allow", 1);
  auto created = init({.client = Client(dir.path())});
  ::unsetenv("CAIRN_RUN_ID");
  ::unsetenv("CAIRN_RESUME");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound) << missing.status();
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->id(), id);
  ASSERT_TRUE(created->finish().ok());
}

// A child process inits with resume=auto, commits a checkpoint and dies with
// _exit() (no finish); the next init auto in the same directory takes the same
// run and restore() brings the checkpoint back into a fresh files directory.
TEST_F(Uploads, AutoAfterACrashResumesTheSameRun) {
  TempDir dir;
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(pipefd[0]);
    auto run = init({.client = Client(dir.path()), .resume = "auto"});
    if (!run.ok()) ::_exit(10);
    WriteFile(run->dir() / "ckpt.bin", "step 7");
    if (!run->save("ckpt.bin").ok() || !run->flush(std::chrono::seconds(30)).ok()) ::_exit(11);
    std::string id = run->id();
    if (::write(pipefd[1], id.data(), id.size()) != static_cast<ssize_t>(id.size())) ::_exit(12);
    ::_exit(0);  // a crash: no finish(), no destructors
  }
  ::close(pipefd[1]);
  char buf[256];
  ssize_t n = ::read(pipefd[0], buf, sizeof buf);
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  ASSERT_GT(n, 0);
  const std::string crashed_id(buf, static_cast<std::size_t>(n));
  ASSERT_TRUE(fs::exists(dir / "cairn/resume.json")) << "a crash leaves the resume file";

  auto run = init({.client = Client(dir.path()), .resume = "auto"});
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ(run->id(), crashed_id);
  EXPECT_TRUE(run->resumed());
  EXPECT_FALSE(fs::exists(run->dir() / "ckpt.bin")) << "a resumed run gets a fresh files directory";
  auto back = restore("ckpt.bin");
  ASSERT_TRUE(back.ok() && back->has_value()) << back.status();
  EXPECT_TRUE((*back)->downloaded());
  EXPECT_EQ(ReadFile((*back)->path()), "step 7");
  EXPECT_EQ((*back)->path(), run->dir() / "ckpt.bin");
  // The resumed run knows the committed digest: the same content is not sent again.
  ASSERT_TRUE(run->save("ckpt.bin").ok());
  ASSERT_TRUE(run->flush().ok());
  EXPECT_EQ(run->upload_stats().unchanged, 1u);
  EXPECT_EQ(run->upload_stats().committed, 0u);
  EXPECT_EQ(run->last_saved("ckpt.bin")->version, 1);
  ASSERT_TRUE(run->finish().ok());
  EXPECT_FALSE(fs::exists(dir / "cairn/resume.json"));
}

TEST_F(Uploads, TwoRunsInOneDirectoryAtOnceTheSecondFailsClearly) {
  TempDir dir;
  // Another process holds the directory (its run is active).
  int to_parent[2], to_child[2];
  ASSERT_EQ(::pipe(to_parent), 0);
  ASSERT_EQ(::pipe(to_child), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto run = init({.client = Client(dir.path()), .resume = "auto"});
    char c = run.ok() ? 'y' : 'n';
    if (::write(to_parent[1], &c, 1) != 1) ::_exit(1);
    if (::read(to_child[0], &c, 1) < 0) ::_exit(1);  // wait until told to die
    ::_exit(0);
  }
  char c = 0;
  ASSERT_EQ(::read(to_parent[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  const std::string before = ReadFile(dir / "cairn/resume.json");
  for (const std::string resume : {"auto", "never"}) {
    auto second = init({.client = Client(dir.path()), .resume = resume});
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition) << second.status();
    EXPECT_NE(second.status().message().find(dir.path().string()), std::string::npos) << second.status();
    EXPECT_NE(second.status().message().find("CAIRN_DIR"), std::string::npos) << second.status();
  }
  EXPECT_EQ(ReadFile(dir / "cairn/resume.json"), before) << "the holder's resume file is untouched";
  ASSERT_EQ(::write(to_child[1], "x", 1), 1);
  int status = 0;
  ::waitpid(pid, &status, 0);
  for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) ::close(fd);

  // The holder died: its lock went with it, and auto resumes its run.
  auto after = init({.client = Client(dir.path()), .resume = "auto"});
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(after->resumed());
  // In one process too: a second run in the same directory is refused until finish.
  auto again = init({.client = Client(dir.path())});
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition) << again.status();
  ASSERT_TRUE(after->finish().ok());
  auto next = init({.client = Client(dir.path())});
  ASSERT_TRUE(next.ok()) << next.status();
  ASSERT_TRUE(next->finish().ok());
}

// ------------------------------------------------------------ the uploader

TEST_F(Uploads, ServerDownForSecondsWhileSavesAreQueuedEverythingArrives) {
  TempDir dir;
  auto run = init({.client = Client(dir.path())});
  ASSERT_TRUE(run.ok()) << run.status();
  std::map<std::string, std::string> want;
  ASSERT_EQ(server_->Stop(), 0);
  const auto t0 = Clock::now();
  for (int i = 0; i < 8; ++i) {
    const std::string name = "ckpt/step-" + std::to_string(i) + ".bin";
    want[name] = testing::WriteRandomFile(run->dir() / name, 200 * 1024 + static_cast<std::uint64_t>(i), 40 + i);
    auto saved = run->save(name);
    ASSERT_TRUE(saved.ok()) << saved.status();
  }
  EXPECT_LT(Clock::now() - t0, milliseconds(500)) << "save() must not wait for the network";
  EXPECT_EQ(run->flush(milliseconds(300)).code(), StatusCode::kDeadlineExceeded);
  std::this_thread::sleep_for(std::chrono::seconds(4));
  EXPECT_GT(run->upload_stats().retries, 0u);
  server_->Start();
  const auto restarted = Clock::now();
  Status flushed = run->flush(std::chrono::seconds(60));
  ASSERT_TRUE(flushed.ok()) << flushed;
  std::cout << "[ measured ] queued uploads done "
            << std::chrono::duration_cast<milliseconds>(Clock::now() - restarted).count()
            << " ms after the server came back; retries " << run->upload_stats().retries << "\n";
  ASSERT_TRUE(run->finish().ok());
  EXPECT_EQ(ServerFiles(run->path()), want);
  EXPECT_EQ(run->upload_stats().failed, 0u);
  EXPECT_EQ(run->upload_stats().committed, 8u);
}

// Writes distinct contents of one size rapidly (rename-replace, and some in
// place with one pwrite) while the file is kLive: the server ends with the
// last content, and every committed version is one of the written contents.
TEST_F(Uploads, LiveFileRewrittenRapidlyNeverCommitsMixedBytes) {
  ::setenv("CAIRN_LIVE_DEBOUNCE_MS", "20", 1);
  TempDir dir;
  auto run = init({.client = Client(dir.path())});
  ASSERT_TRUE(run.ok()) << run.status();
  const fs::path file = run->dir() / "live.bin";
  constexpr std::size_t kSize = 256 * 1024;
  std::set<std::string> written;
  auto content = [&](int i) {
    std::string s(kSize, '\0');
    for (std::size_t k = 0; k < kSize; ++k) s[k] = static_cast<char>((k * 31 + static_cast<std::size_t>(i) * 7) % 251);
    std::string tag = "version " + std::to_string(i) + ";";
    s.replace(0, tag.size(), tag);
    s.replace(kSize - tag.size(), tag.size(), tag);
    return s;
  };
  std::string last = content(0);
  WriteFile(file, last);
  written.insert(internal::Sha256Hex(last));
  ASSERT_TRUE(run->save("live.bin", {.policy = SavePolicy::kLive}).ok());  // read at the first kLive save
  ::unsetenv("CAIRN_LIVE_DEBOUNCE_MS");
  for (int i = 1; i <= 200; ++i) {
    last = content(i);
    written.insert(internal::Sha256Hex(last));
    if (i % 10 == 0) {
      int fd = ::open(file.c_str(), O_WRONLY | O_CLOEXEC);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(::pwrite(fd, last.data(), last.size(), 0), static_cast<ssize_t>(last.size()));
      ::close(fd);
    } else {
      const fs::path tmp = run->dir() / ".live.bin.tmp";
      WriteFile(tmp, last);
      fs::rename(tmp, file);
    }
    if (i % 25 == 0) std::this_thread::sleep_for(milliseconds(60));  // let some settle mid-stream
  }
  ASSERT_TRUE(run->finish().ok());
  UploadStats stats = run->upload_stats();
  std::cout << "[ measured ] 201 writes -> " << stats.committed << " versions committed, " << stats.unchanged
            << " unchanged\n";

  Api api({.base_url = server_->base_url(), .api_key = key_});
  auto stored = api.run(run->path());
  ASSERT_TRUE(stored.ok()) << stored.status();
  auto versions = stored->versions("live.bin");
  ASSERT_TRUE(versions.ok()) << versions.status();
  ASSERT_GE(versions->size(), 2u) << "changes while live are uploaded before finish";
  EXPECT_EQ(versions->back().sha256, internal::Sha256Hex(last)) << "the server ends with the final content";
  TempDir out;
  for (const FileInfo& v : *versions) {
    EXPECT_TRUE(written.count(v.sha256)) << "version " << v.version << " has bytes that were never on disk";
    auto f = stored->file("live.bin", v.version);
    ASSERT_TRUE(f.ok()) << f.status();
    auto got = f->download({.root = out.path().string(), .replace = true});
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(written.count(internal::Sha256Hex(ReadFile(got->path())))) << "version " << v.version;
  }
}

TEST_F(Uploads, UnchangedContentIsNotUploadedAgain) {
  TempDir dir;
  auto run = init({.client = Client(dir.path())});
  ASSERT_TRUE(run.ok()) << run.status();
  WriteFile(run->dir() / "m.bin", "same bytes");
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(run->save("m.bin").ok());
    ASSERT_TRUE(run->flush().ok());
  }
  WriteFile(run->dir() / "m.bin", "new bytes");
  ASSERT_TRUE(run->save("m.bin").ok());
  ASSERT_TRUE(run->finish().ok());
  UploadStats s = run->upload_stats();
  EXPECT_EQ(s.committed, 2u);
  EXPECT_EQ(s.unchanged, 2u) << "the second and third save of the same bytes";
  Api api({.base_url = server_->base_url(), .api_key = key_});
  auto versions = api.run(run->path())->versions("m.bin");
  ASSERT_TRUE(versions.ok());
  EXPECT_EQ(versions->size(), 2u);
}

TEST_F(Uploads, EndPolicyUploadsTheContentAsItIsAtFinish) {
  TempDir dir;
  auto run = init({.client = Client(dir.path())});
  ASSERT_TRUE(run.ok()) << run.status();
  WriteFile(run->dir() / "final.bin", "early");
  auto names = run->save("final.bin", {.policy = SavePolicy::kEnd});
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"final.bin"});
  ASSERT_TRUE(run->flush().ok());
  EXPECT_FALSE(run->last_saved("final.bin").has_value());
  WriteFile(run->dir() / "final.bin", "late");
  ASSERT_TRUE(run->finish().ok());
  EXPECT_EQ(ServerFiles(run->path())["final.bin"], internal::Sha256Hex("late"));
  EXPECT_EQ(run->finish().code(), StatusCode::kOk) << "idempotent";
}

// A server that no longer accepts the key (its data directory was replaced):
// 401 is not retried, and finish() names the file and keeps the resume file.
TEST_F(Uploads, ANonRetryable4xxFailsAtOnceAndFinishReportsIt) {
  TempDir own;
  ServerProcess server(own / "data");
  const std::string key = testing::CreateKey(server, "alice");
  TempDir dir;
  auto run =
      init({.client = {.base_url = server.base_url(), .api_key = key, .project = "up", .dir = dir.path().string()}});
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(server.Stop(), 0);
  fs::rename(own / "data", own / "data.saved");
  server.Start();  // same port, new data: the key is unknown now
  WriteFile(run->dir() / "a.bin", "A");
  ASSERT_TRUE(run->save("a.bin").ok());
  const auto t0 = Clock::now();
  Status st = run->finish({.timeout = std::chrono::seconds(60)});
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(5)) << "a 4xx is not retried until the deadline";
  EXPECT_EQ(st.code(), StatusCode::kUnauthenticated) << st;
  EXPECT_NE(st.message().find("a.bin"), std::string::npos) << st;
  // A few retries at most: each pooled keep-alive connection to the stopped
  // server process (the digest lookup's and the upload's) may be found dead on
  // first use; the 401 itself is not retried (the 5 s bound above would fail:
  // backoff retries run until the 60 s deadline).
  EXPECT_LE(run->upload_stats().retries, 2u);
  EXPECT_EQ(run->upload_stats().failed, 1u);
  EXPECT_TRUE(fs::exists(dir / "cairn/resume.json")) << "an unclean finish keeps the resume file";
  EXPECT_EQ(run->finish().code(), st.code()) << "finish is idempotent";
}

TEST_F(Uploads, FinishTimeoutFromTheEnvironmentGivesUpAndNamesTheFiles) {
  TempDir dir;
  auto run = init({.client = Client(dir.path())});
  ASSERT_TRUE(run.ok()) << run.status();
  ASSERT_EQ(server_->Stop(), 0);
  WriteFile(run->dir() / "x.bin", "X");
  ASSERT_TRUE(run->save("x.bin").ok());
  ::setenv("CAIRN_FINISH_TIMEOUT_S", "1", 1);
  const auto t0 = Clock::now();
  Status st = run->finish();
  ::unsetenv("CAIRN_FINISH_TIMEOUT_S");
  const auto took = Clock::now() - t0;
  server_->Start();
  EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded) << st;
  EXPECT_NE(st.message().find("x.bin"), std::string::npos) << st;
  EXPECT_LT(took, std::chrono::seconds(4));
  EXPECT_TRUE(fs::exists(dir / "cairn/resume.json"));
}

// ------------------------------------------------------------ offline, sync

TEST_F(Uploads, OfflineRunThenSyncGivesTheSameFilesAsAnOnlineRunAndASecondSyncChangesNothing) {
  TempDir src;  // files that live outside the run directory
  auto script = [&](cairn::Run& run) {
    WriteFile(run.dir() / "model.bin", "weights v1");
    ASSERT_TRUE(run.save("model.bin").ok());
    WriteFile(run.dir() / "model.bin", "weights v2");
    ASSERT_TRUE(run.save("model.bin").ok());
    WriteFile(src / "data/config.json", "{\"lr\": 0.1}");
    ASSERT_TRUE(run.save((src / "data/*.json").string(), {.base_path = src.path().string()}).ok());
    WriteFile(run.dir() / "live.bin", "live 1");
    ASSERT_TRUE(run.save("live.bin", {.policy = SavePolicy::kLive}).ok());
    WriteFile(run.dir() / "end.bin", "end early");
    ASSERT_TRUE(run.save("end.bin", {.policy = SavePolicy::kEnd}).ok());
    WriteFile(run.dir() / "live.bin", "live 2");
    WriteFile(run.dir() / "end.bin", "end late");
    ASSERT_TRUE(run.finish().ok());
  };

  TempDir online_dir;
  auto online = init({.client = Client(online_dir.path(), "sync")});
  ASSERT_TRUE(online.ok()) << online.status();
  script(*online);

  TempDir offline_dir;
  ClientOptions offline_opts = Client(offline_dir.path(), "sync");
  offline_opts.mode = "offline";
  offline_opts.base_url = "http://127.0.0.1:1";  // never asked
  auto offline = init({.client = offline_opts});
  ASSERT_TRUE(offline.ok()) << offline.status();
  script(*offline);
  const fs::path run_dir = offline->dir().parent_path();
  ASSERT_TRUE(fs::exists(run_dir / "run.json"));
  ASSERT_TRUE(fs::exists(run_dir / "offline.jsonl"));
  EXPECT_FALSE(fs::exists(offline_dir / "cairn/resume.json"));

  CommandResult first = Cairn({"sync", run_dir.string()}, CliEnv());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("uploaded\tmodel.bin"), std::string::npos) << first.out;
  const std::string offline_path = "alice/sync/" + offline->id();
  const auto want = ServerFiles(online->path());
  ASSERT_EQ(want.size(), 4u);
  EXPECT_EQ(ServerFiles(offline_path), want);
  EXPECT_EQ(want.at("live.bin"), internal::Sha256Hex("live 2"));
  EXPECT_EQ(want.at("end.bin"), internal::Sha256Hex("end late"));
  EXPECT_EQ(want.at("data/config.json"), internal::Sha256Hex("{\"lr\": 0.1}"));

  Api api({.base_url = server_->base_url(), .api_key = key_});
  auto versions_before = api.run(offline_path)->files();
  CommandResult second = Cairn({"sync", run_dir.string()}, CliEnv());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.out.find("uploaded"), std::string::npos) << second.out;
  EXPECT_NE(second.out.find("skipped\tmodel.bin"), std::string::npos) << second.out;
  auto versions_after = api.run(offline_path)->files();
  ASSERT_TRUE(versions_before.ok() && versions_after.ok());
  ASSERT_EQ(versions_before->size(), versions_after->size());
  for (std::size_t i = 0; i < versions_after->size(); ++i) {
    EXPECT_EQ((*versions_before)[i].version, (*versions_after)[i].version) << (*versions_after)[i].name;
  }

  CommandResult bad = Cairn({"sync", offline_dir.path().string()}, CliEnv());
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  EXPECT_NE(bad.err.find("run.json"), std::string::npos) << bad.err;
}

TEST_F(Uploads, DisabledModeIsANoOpWithoutNetwork) {
  TempDir dir;
  auto run = init({.client = {.base_url = "http://127.0.0.1:1", .dir = dir.path().string(), .mode = "disabled"}});
  ASSERT_TRUE(run.ok()) << run.status();
  WriteFile(run->dir() / "x.bin", "x");
  auto saved = run->save("x.bin");
  ASSERT_TRUE(saved.ok());
  EXPECT_TRUE(saved->empty());
  EXPECT_TRUE(run->flush().ok());
  auto local = run->restore("x.bin");
  ASSERT_TRUE(local.ok() && local->has_value());
  auto missing = run->restore("nope.bin");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
  EXPECT_TRUE(run->finish().ok());
  EXPECT_FALSE(fs::exists(dir / "cairn"));
  // The run's scratch directory is under the system's temp directory: not left behind by the test.
  const fs::path scratch = run->dir().parent_path();
  EXPECT_EQ(scratch.parent_path(), fs::temp_directory_path() / "cairn-disabled");
  fs::remove_all(scratch);
}

}  // namespace
}  // namespace cairn
