// init(), Run::save(), Run::finish() and the process's current run.
//
// Modes (settings.h):
//  - online: the run is created/resumed on the server; save() hands files to
//    the run's background uploader (internal/uploader.h), kLive files are
//    watched (internal/live_watcher.h), finish() flushes.
//  - offline: no network. The run gets its local directory; save() keeps the
//    files there (copying them in when they live elsewhere) and appends each
//    to <run dir>/offline.jsonl; <run dir>/run.json names the run. kEnd and
//    kLive files are recorded with their content at finish(). `cairn sync
//    <run dir>` uploads them later. Offline, "auto" takes the id from the
//    resume file but the server's never/must checks cannot be made.
//  - disabled: a cheap no-op run with a generated id and an empty files
//    directory under the system temp directory; save() does nothing.
//
// Every online/offline run holds an exclusive flock on <dir>/cairn/resume.lock
// from init() to finish() (or process death), so two processes cannot share
// one directory's resume file (docs/adr/0005-resume-file-and-locking.md).
//
// Environment: CAIRN_FINISH_TIMEOUT_S replaces FinishOptions' default timeout
// (an explicit, non-default timeout wins); the uploader's and the watcher's
// knobs are listed in internal/uploader.h and internal/live_watcher.h.
#include "cairn/run.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include "common/fs.h"
#include "common/run_config.h"
#include "common/sha256.h"
#include "common/thread_annotations.h"
#include "common/validate.h"
#include "sdk/internal/env.h"
#include "sdk/internal/offline_run.h"
#include "sdk/internal/client.h"
#include "sdk/internal/run_state.h"
#include "sdk/internal/save_glob.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using internal::RecordOffline;
using internal::RecordOfflineAtEnd;
using internal::RunPath;

internal::Mutex g_current_mu;
std::shared_ptr<Run::Impl> g_current CAIRN_GUARDED_BY(g_current_mu);

void SetCurrent(std::shared_ptr<Run::Impl> impl) {
  internal::MutexLock lock(g_current_mu);
  g_current = std::move(impl);
}

void ClearCurrentIf(const Run::Impl* impl) {
  internal::MutexLock lock(g_current_mu);
  if (g_current.get() == impl) g_current.reset();
}

std::string Env(const char* name) { return internal::EnvString(name); }

// "run-20261129_063000-1a2b3c4d" (UTC).
std::string RunDirName(const std::string& id) {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d_%H%M%S", &tm);
  return "run-" + std::string(buf) + "-" + id;
}

// "entity/project/id", or "project/id" when the entity is unknown (offline).
std::string PathString(const RunPath& p) { return p.entity.empty() ? p.project + "/" + p.run_id : p.ToString(); }

// The run named by <dir>/cairn/resume.json, nullopt when there is none.
StatusOr<std::optional<RunPath>> ReadResumeFile(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::optional<RunPath>();
  StatusOr<std::string> text = internal::ReadSmallFile(file);
  if (!text.ok()) return text.status();
  auto bad = [&](const std::string& why) {
    return FailedPreconditionError("resume file " + file.string() + " is unusable (" + why +
                                   "); delete it to start a new run, or pass an explicit id");
  };
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("run_path") || !j["run_path"].is_string()) {
    return bad("expected {\"run_path\": \"entity/project/run_id\"}");
  }
  StatusOr<RunPath> path = internal::ParseRunPath(j["run_path"].get<std::string>());
  if (!path.ok()) return bad(path.status().message());
  return std::optional<RunPath>(*path);
}

// Adds (or updates the path of) `t` in a per-name list.
void Remember(std::vector<Run::Impl::Pending>& list, const internal::SaveTarget& t) {
  for (Run::Impl::Pending& p : list) {
    if (p.name == t.name) {
      p.local = t.local;
      return;
    }
  }
  list.push_back({t.local, t.name});
}

// The uploader's one attempt: Client::Upload without its own retries (the
// uploader owns them), cancellable, skipping unchanged content.
internal::UploadFn ClientUploadFn(std::shared_ptr<internal::Client> client, RunPath run) {
  return [client = std::move(client), run = std::move(run)](const std::string& name, const fs::path& local,
                                                            const std::string& unless_sha256,
                                                            const std::atomic<bool>& cancel) {
    internal::RetryPolicy once;
    once.max_attempts = 1;
    internal::UploadControl control{.retry = once, .unless_sha256 = unless_sha256, .cancel = &cancel};
    std::uint64_t sent = 0;
    internal::UploadAttempt attempt;
    attempt.result = client->Upload(
        run, name, local, [&](std::uint64_t done, std::uint64_t) { sent = done; }, &control);
    attempt.unchanged = control.unchanged;
    attempt.retry_after = control.retry_after;
    attempt.bytes_sent = sent;
    return attempt;
  };
}

// The latest version of every file of `run` (all pages); empty on error (the
// only cost is sending unchanged content again).
std::vector<FileInfo> LatestFiles(internal::Client& client, const RunPath& run) {
  std::vector<FileInfo> out;
  std::string cursor;
  do {
    StatusOr<internal::ListPage<FileInfo>> page = client.ListFiles(run, cursor);
    if (!page.ok()) return {};
    out.insert(out.end(), page->items.begin(), page->items.end());
    cursor = page->next_cursor;
  } while (!cursor.empty());
  return out;
}

// Takes the exclusive lock of a cairn directory: <dir>/cairn/resume.lock,
// flock(2), O_CLOEXEC (not inherited by exec'd children). Returns the fd.
StatusOr<int> LockDir(const fs::path& cairn_dir) {
  const fs::path lock_path = cairn_dir / "resume.lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return internal::ErrnoStatus(errno, "create lock file", lock_path);
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return FailedPreconditionError(
          "another run is active in " + cairn_dir.parent_path().string() + " (it holds " + lock_path.string() +
          "); runs in one directory share its resume file, so give each concurrent run its own directory "
          "(CAIRN_DIR or InitOptions.client.dir), or finish() the other run first");
    }
    return internal::ErrnoStatus(err, "lock", lock_path);
  }
  return fd;
}

// Closes a lock fd on scope exit unless released.
struct LockGuard {
  int fd = -1;
  ~LockGuard() {
    if (fd >= 0) ::close(fd);
  }
  int Release() { return std::exchange(fd, -1); }
};

// Given, else CAIRN_FINISH_TIMEOUT_S (0 to a year; read when finish() is
// called, so a program may set it late), else the default.
StatusOr<std::chrono::milliseconds> FinishTimeout(const FinishOptions& options) {
  if (options.timeout != FinishOptions{}.timeout) return options.timeout;
  StatusOr<std::optional<std::chrono::milliseconds>> env =
      internal::EnvDuration("CAIRN_FINISH_TIMEOUT_S", internal::EnvUnit::kSeconds, std::chrono::milliseconds(0),
                            std::chrono::hours(24 * 365));
  if (!env.ok()) return env.status();
  return env->value_or(options.timeout);
}

}  // namespace

namespace internal {

std::shared_ptr<Run::Impl> CurrentRunImpl() {
  internal::MutexLock lock(g_current_mu);
  return g_current;
}

}  // namespace internal

Run::Impl::~Impl() {
  heartbeat.reset();  // no beat after this handle is gone: a run never finished reads "crashed"
  watcher.reset();   // it feeds the uploader: stop it first
  uploader.reset();  // cancels what is in flight and joins its threads
  if (lock_fd >= 0) ::close(lock_fd);
}

const std::string& Run::entity() const { return impl_->run_path.entity; }
const std::string& Run::project() const { return impl_->run_path.project; }
const std::string& Run::id() const { return impl_->run_path.run_id; }
std::string Run::path() const { return PathString(impl_->run_path); }
const std::filesystem::path& Run::dir() const { return impl_->files_dir; }
bool Run::resumed() const { return impl_->resumed; }

namespace {

// init()'s resume mode: InitOptions.resume, else CAIRN_RESUME, else "never";
// kInvalidArgument for anything but never, allow, must or auto.
StatusOr<std::string> ResumeModeOf(const InitOptions& options) {
  std::string resume = !options.resume.empty() ? options.resume : Env("CAIRN_RESUME");
  if (resume.empty()) resume = "never";
  if (resume != "never" && resume != "allow" && resume != "must" && resume != "auto") {
    return InvalidArgumentError("invalid resume '" + resume + "': use never, allow, must or auto (CAIRN_RESUME)");
  }
  return resume;
}

// The run id, the project and (when set; offline may have none) the entity
// are valid ids.
Status ValidateRunPath(const RunPath& path) {
  if (Status st = internal::ValidateId(path.run_id, "run id"); !st.ok()) return st;
  if (Status st = internal::ValidateId(path.project, "project"); !st.ok()) return st;
  if (!path.entity.empty()) return internal::ValidateId(path.entity, "entity");
  return OkStatus();
}

// init() with Mode::kDisabled: a run that records nothing, with a scratch
// files directory (best effort: a disabled run never fails but for a bad id).
Status InitDisabled(Run::Impl& impl, RunPath path) {
  if (path.run_id.empty()) path.run_id = internal::NewRunId();
  if (Status st = internal::ValidateId(path.run_id, "run id"); !st.ok()) return st;
  impl.run_path = path;
  std::error_code ec;
  fs::path tmp = fs::temp_directory_path(ec);
  if (ec) tmp = "/tmp";
  impl.files_dir = tmp / "cairn-disabled" / RunDirName(path.run_id) / "files";
  fs::create_directories(impl.files_dir, ec);
  return OkStatus();
}

// init() online: connects, resolves an empty entity in `path` (the key's),
// creates or resumes the run on the server (`server_resume`: allow, must or
// never) with `config`, and starts the heartbeat and the uploader (seeded
// with the run's files when resumed).
Status StartOnline(Run::Impl& impl, RunPath& path, const std::string& server_resume,
                   const std::string& config) {
  StatusOr<std::shared_ptr<internal::Client>> client = internal::Client::Create(impl.settings);
  if (!client.ok()) return client.status();
  impl.client = *client;
  if (Status st = impl.client->ResolveEntity(path); !st.ok()) return st;
  bool created = false;
  StatusOr<RunInfo> info = impl.client->PutRun(
      path, server_resume, &created, {.config = config == "{}" ? std::string() : config, .state = "running"});
  if (!info.ok()) return info.status();
  impl.heartbeat = std::make_unique<internal::Heartbeat>(
      [client = impl.client, path] { (void)client->PutRun(path, "must", nullptr, {.state = "running", .once = true}); },
      impl.client->tunables().heartbeat);
  impl.resumed = !created;
  impl.uploader =
      std::make_unique<internal::Uploader>(ClientUploadFn(impl.client, path), impl.client->tunables().uploader);
  if (impl.resumed) impl.uploader->Seed(LatestFiles(*impl.client, path));
  return OkStatus();
}

// A fresh directory for the run under `cairn_dir`, also for a resumed run
// (restore() fetches what it needs from the store); a resume within the same
// second gets a "-2", "-3"... suffix.
StatusOr<fs::path> MakeRunDir(const fs::path& cairn_dir, const std::string& run_id) {
  std::error_code ec;
  for (int n = 1;; ++n) {
    fs::path run_dir = cairn_dir / (RunDirName(run_id) + (n == 1 ? "" : "-" + std::to_string(n)));
    bool made = fs::create_directory(run_dir, ec);
    if (ec) return internal::ErrnoStatus(ec.value(), "create run directory", run_dir);
    if (made) return run_dir;
  }
}

// The run's run.json (what it is, for `cairn sync` and people) and the
// directory's resume.json (which run an "auto" resume continues), each
// written atomically.
Status WriteRunFiles(const fs::path& run_dir, const fs::path& resume_file, const RunPath& path, Mode mode,
                     const std::string& config) {
  nlohmann::json run_json = {{"entity", path.entity},
                             {"project", path.project},
                             {"id", path.run_id},
                             {"mode", mode == Mode::kOffline ? "offline" : "online"},
                             {"started_at", internal::FormatTimeMs(internal::NowMs())},
                             {"config", nlohmann::json::parse(config)}};
  if (Status st = internal::WriteFileAtomic(run_dir / "run.json", run_json.dump(2) + "\n"); !st.ok()) return st;
  nlohmann::json resume_json = {{"run_path", PathString(path)}, {"run_dir", run_dir.string()}, {"pid", ::getpid()}};
  return internal::WriteFileAtomic(resume_file, resume_json.dump() + "\n");
}

}  // namespace

StatusOr<Run> init(const InitOptions& options) {
  StatusOr<Settings> settings = ResolveSettings(options.client);
  if (!settings.ok()) return settings.status();

  StatusOr<std::string> resume_mode = ResumeModeOf(options);
  if (!resume_mode.ok()) return resume_mode.status();
  const std::string& resume = *resume_mode;
  const std::string id = !options.id.empty() ? options.id : Env("CAIRN_RUN_ID");
  StatusOr<std::string> config = internal::NormalizeRunConfig(options.config);
  if (!config.ok()) return config.status();

  const fs::path cairn_dir = fs::path(settings->dir) / "cairn";
  const fs::path resume_file = cairn_dir / "resume.json";

  RunPath path;
  path.entity = settings->entity;
  path.project = settings->project;
  path.run_id = id;

  auto impl = std::make_shared<Run::Impl>();
  impl->settings = *settings;
  std::error_code ec;

  if (settings->mode == Mode::kDisabled) {
    if (Status st = InitDisabled(*impl, path); !st.ok()) return st;
    SetCurrent(impl);
    return Run(impl);
  }

  // The directory's lock first: the resume file is read and written only by
  // its holder, so two processes starting here at once cannot both take it.
  fs::create_directories(cairn_dir, ec);
  if (ec) return internal::ErrnoStatus(ec.value(), "create directory", cairn_dir);
  StatusOr<int> lock_fd = LockDir(cairn_dir);
  if (!lock_fd.ok()) return lock_fd.status();
  LockGuard lock{*lock_fd};

  // "auto" resumes the run a previous, unfinished process in this dir left in
  // resume.json; an explicit id wins over the file. Either way the server is
  // asked to "allow": create it when new, resume it when it exists.
  std::string server_resume = resume;
  bool from_resume_file = false;
  if (resume == "auto") {
    server_resume = "allow";
    if (id.empty()) {
      StatusOr<std::optional<RunPath>> from_file = ReadResumeFile(resume_file);
      if (!from_file.ok()) return from_file.status();
      if (*from_file) {
        path = **from_file;
        from_resume_file = true;
      }
    }
  }
  if (path.run_id.empty()) path.run_id = internal::NewRunId();
  if (Status st = ValidateRunPath(path); !st.ok()) return st;

  if (settings->mode == Mode::kOnline) {
    if (Status st = StartOnline(*impl, path, server_resume, *config); !st.ok()) return st;
  } else {
    impl->resumed = from_resume_file;  // offline: no server to ask
    // An explicit id with allow/must/auto may name a run already synced.
    impl->fresh_offline = !from_resume_file && (id.empty() || resume == "never");
  }
  impl->run_path = path;

  // A fresh local directory, also for a resumed run: restore() fetches what
  // it needs from the store.
  // A resume within the same second gets a "-2", "-3"... suffix.
  StatusOr<fs::path> run_dir = MakeRunDir(cairn_dir, path.run_id);
  if (!run_dir.ok()) return run_dir.status();
  impl->files_dir = *run_dir / "files";
  fs::create_directories(impl->files_dir, ec);
  if (ec) return internal::ErrnoStatus(ec.value(), "create run directory", impl->files_dir);
  if (Status st = WriteRunFiles(*run_dir, resume_file, path, settings->mode, *config); !st.ok()) return st;
  impl->resume_file = resume_file;
  impl->lock_fd = lock.Release();

  SetCurrent(impl);
  return Run(impl);
}

std::optional<Run> current_run() {
  std::shared_ptr<Run::Impl> impl = internal::CurrentRunImpl();
  if (!impl) return std::nullopt;
  return Run(std::move(impl));
}

StatusOr<std::vector<std::string>> Run::save(const std::string& glob, const SaveOptions& options) {
  internal::ReaderMutexLock lifecycle(impl_->lifecycle_mu);
  if (impl_->finished) {
    return FailedPreconditionError("run " + path() + " has finished; start a new run with init() to save more files");
  }
  std::vector<std::string> names;
  if (impl_->settings.mode == Mode::kDisabled) return names;

  std::error_code ec;
  fs::path cwd = fs::current_path(ec);
  if (ec) return internal::ErrnoStatus(ec.value(), "get working directory", ".");
  StatusOr<std::vector<internal::SaveTarget>> targets =
      internal::ExpandSaveGlob(glob, options.base_path, options.literal, impl_->files_dir, cwd);
  if (!targets.ok()) return targets.status();
  for (const internal::SaveTarget& t : *targets) names.push_back(t.name);

  if (options.policy == SavePolicy::kEnd) {
    internal::MutexLock lock(impl_->pending_mu);
    for (const internal::SaveTarget& t : *targets) Remember(impl_->pending, t);
    return names;
  }

  if (impl_->settings.mode == Mode::kOffline) {
    if (options.policy == SavePolicy::kLive) {
      internal::MutexLock lock(impl_->pending_mu);
      for (const internal::SaveTarget& t : *targets) Remember(impl_->live, t);
    }
    for (const internal::SaveTarget& t : *targets) {
      if (Status st = RecordOffline(*impl_, t, options.policy); !st.ok()) return st;
    }
    return names;
  }

  if (options.policy == SavePolicy::kLive) {
    internal::MutexLock lock(impl_->pending_mu);
    if (!impl_->watcher) {
      internal::Uploader* uploader = impl_->uploader.get();
      StatusOr<std::unique_ptr<internal::LiveWatcher>> watcher = internal::LiveWatcher::Create(
          [uploader](const std::string& name, const fs::path& local) { uploader->Enqueue(name, local); },
          impl_->client->tunables().live_quiet);
      if (!watcher.ok()) return watcher.status();
      impl_->watcher = std::move(*watcher);
    }
    for (const internal::SaveTarget& t : *targets) {
      if (Status st = impl_->watcher->Watch(t.name, t.local); !st.ok()) return st;
      Remember(impl_->live, t);
    }
  }
  for (const internal::SaveTarget& t : *targets) impl_->uploader->Enqueue(t.name, t.local);
  return names;
}

Status Run::flush(std::chrono::milliseconds timeout) {
  if (!impl_->uploader) return OkStatus();  // offline and disabled: nothing travels
  Status st = impl_->uploader->Flush(std::chrono::steady_clock::now() + timeout);
  if (st.ok()) return st;
  return Status(st.code(), "flushing run " + path() + ": " + st.message());
}

std::optional<SavedFile> Run::last_saved(const std::string& name) const {
  if (impl_->uploader) return impl_->uploader->LastSaved(name);
  internal::MutexLock lock(impl_->pending_mu);
  auto it = impl_->offline_saved.find(name);
  if (it == impl_->offline_saved.end()) return std::nullopt;
  return it->second;
}

UploadStats Run::upload_stats() const {
  if (impl_->uploader) return impl_->uploader->Stats();
  return {};
}

Status Run::finish(const FinishOptions& options) {
  // A malformed CAIRN_FINISH_TIMEOUT_S fails before anything stops: the run
  // stays as it was, and finish() can be called again once it is fixed.
  StatusOr<std::chrono::milliseconds> finish_timeout = FinishTimeout(options);
  if (!finish_timeout.ok()) return finish_timeout.status();
  internal::WriterMutexLock lifecycle(impl_->lifecycle_mu);
  if (impl_->finished) return impl_->finish_status;

  Status result;
  if (impl_->settings.mode != Mode::kDisabled) {
    std::vector<Impl::Pending> at_end;
    {
      internal::MutexLock lock(impl_->pending_mu);
      if (impl_->watcher) impl_->watcher->Stop();  // the final upload below covers its last changes
      at_end = impl_->pending;
      for (const Impl::Pending& p : impl_->live) at_end.push_back(p);
    }
    if (impl_->uploader) {
      const std::chrono::milliseconds timeout = *finish_timeout;
      const auto deadline = std::chrono::steady_clock::now() + timeout;
      for (const Impl::Pending& p : at_end) impl_->uploader->Enqueue(p.name, p.local);
      Status flushed = impl_->uploader->Flush(deadline);
      impl_->uploader->Shutdown("finish() gave up after waiting " + std::to_string(timeout.count() / 1000.0) +
                                " s (FinishOptions.timeout, CAIRN_FINISH_TIMEOUT_S)");
      if (!flushed.ok()) {
        // Now that everything has settled, the full list of what failed.
        Status report = impl_->uploader->Flush(std::chrono::steady_clock::now());
        if (report.ok()) report = flushed;
        result = Status(flushed.code() == StatusCode::kDeadlineExceeded ? flushed.code() : report.code(),
                        "finishing run " + path() + ": " + report.message() + "; the local files stay in " +
                            impl_->files_dir.string() + " and " + impl_->resume_file.string() +
                            " is kept, so init(resume=\"auto\") in the same directory continues the run");
      }
    } else {
      result = RecordOfflineAtEnd(*impl_, at_end, path());
    }
  }

  if (impl_->heartbeat) {
    // No beat may follow the "finished" below. When uploads failed the run is
    // left unfinished: without beats it reads "crashed" until resumed.
    impl_->heartbeat->Stop();
    if (result.ok()) {
      StatusOr<RunInfo> marked = impl_->client->PutRun(impl_->run_path, "must", nullptr, {.state = "finished"});
      if (!marked.ok()) {
        result = Status(marked.status().code(),
                        "finishing run " + path() + ": every file was uploaded, but marking the run finished failed (" +
                            marked.status().message() + "); " + impl_->resume_file.string() +
                            " is kept, so init(resume=\"auto\") in the same directory continues the run");
      }
    }
  }
  impl_->finished = true;
  impl_->finish_status = result;
  if (result.ok() && !options.failed && !impl_->resume_file.empty()) {
    // Only remove the file if it still names this run.
    StatusOr<std::optional<RunPath>> named = ReadResumeFile(impl_->resume_file);
    if (named.ok() && *named && PathString(**named) == PathString(impl_->run_path)) {
      std::error_code ec;
      fs::remove(impl_->resume_file, ec);
      (void)internal::SyncDir(impl_->resume_file.parent_path());
    }
  }
  if (impl_->lock_fd >= 0) {
    ::close(impl_->lock_fd);  // releases the directory for the next run
    impl_->lock_fd = -1;
  }
  ClearCurrentIf(impl_.get());
  return result;
}

}  // namespace cairn
