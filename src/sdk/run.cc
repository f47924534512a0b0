// init(), Run::save(), Run::finish() and the process's current run.
//
// Modes (settings.h):
//  - online: the run is created/resumed on the server; save() uploads.
//  - offline: no network. The run gets its local directory; save() keeps the
//    files there (copying them in when they live elsewhere) and returns them
//    with version 0 and no digest: nothing is committed to a server (syncing
//    an offline run later is a separate feature, not done here).
//  - disabled: a cheap no-op run with a generated id and an empty files
//    directory under the system temp directory; save() does nothing.
#include "cairn/run.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <system_error>

#include "common/fs.h"
#include "common/validate.h"
#include "sdk/internal/client.h"
#include "sdk/internal/run_state.h"
#include "sdk/internal/save_glob.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using internal::RunPath;

std::mutex g_current_mu;
std::shared_ptr<Run::Impl> g_current;  // guarded by g_current_mu

void SetCurrent(std::shared_ptr<Run::Impl> impl) {
  std::lock_guard<std::mutex> lock(g_current_mu);
  g_current = std::move(impl);
}

void ClearCurrentIf(const Run::Impl* impl) {
  std::lock_guard<std::mutex> lock(g_current_mu);
  if (g_current.get() == impl) g_current.reset();
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

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

// Keeps a file of an offline run in its files directory (atomically, when it
// must be copied there) and describes it; nothing is committed anywhere.
StatusOr<SavedFile> KeepOffline(const Run::Impl& impl, const internal::SaveTarget& t) {
  const fs::path dest = (impl.files_dir / t.name).lexically_normal();
  std::error_code ec;
  if (dest != t.local) {
    fs::create_directories(dest.parent_path(), ec);
    if (ec) return internal::ErrnoStatus(ec.value(), "create directory", dest.parent_path());
    fs::path tmp = dest;
    tmp += ".cairn-copy-" + internal::NewRunId();
    fs::copy_file(t.local, tmp, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      fs::remove(tmp, ec);
      return internal::ErrnoStatus(ec.value() ? ec.value() : EIO, "copy to", tmp);
    }
    fs::rename(tmp, dest, ec);
    if (ec) {
      std::error_code ignored;
      fs::remove(tmp, ignored);
      return internal::ErrnoStatus(ec.value(), "rename onto", dest);
    }
  }
  std::uintmax_t size = fs::file_size(dest, ec);
  if (ec) return internal::ErrnoStatus(ec.value(), "stat", dest);
  return SavedFile{t.name, static_cast<std::uint64_t>(size), "", 0};
}

// Commits one file per the run's mode.
StatusOr<SavedFile> SaveOne(Run::Impl& impl, const internal::SaveTarget& t) {
  if (impl.settings.mode == Mode::kOffline) return KeepOffline(impl, t);
  StatusOr<FileInfo> info = impl.client->Upload(impl.run_path, t.name, t.local);
  if (!info.ok()) return info.status();
  return SavedFile{info->name, info->size, info->sha256, info->version};
}

}  // namespace

namespace internal {

std::shared_ptr<Run::Impl> CurrentRunImpl() {
  std::lock_guard<std::mutex> lock(g_current_mu);
  return g_current;
}

}  // namespace internal

const std::string& Run::entity() const { return impl_->run_path.entity; }
const std::string& Run::project() const { return impl_->run_path.project; }
const std::string& Run::id() const { return impl_->run_path.run_id; }
std::string Run::path() const { return PathString(impl_->run_path); }
const std::filesystem::path& Run::dir() const { return impl_->files_dir; }
bool Run::resumed() const { return impl_->resumed; }

StatusOr<Run> init(const InitOptions& options) {
  StatusOr<Settings> settings = ResolveSettings(options.client);
  if (!settings.ok()) return settings.status();

  std::string resume = !options.resume.empty() ? options.resume : Env("CAIRN_RESUME");
  if (resume.empty()) resume = "never";
  if (resume != "never" && resume != "allow" && resume != "must" && resume != "auto") {
    return InvalidArgumentError("invalid resume '" + resume + "': use never, allow, must or auto (CAIRN_RESUME)");
  }
  const std::string id = !options.id.empty() ? options.id : Env("CAIRN_RUN_ID");

  const fs::path cairn_dir = fs::path(settings->dir) / "cairn";
  const fs::path resume_file = cairn_dir / "resume.json";

  RunPath path;
  path.entity = settings->entity;
  path.project = settings->project;
  path.run_id = id;
  // "auto" resumes the run a previous, unfinished process in this dir left in
  // resume.json; an explicit id wins over the file. Either way the server is
  // asked to "allow": create it when new, resume it when it exists.
  std::string server_resume = resume;
  if (resume == "auto") {
    server_resume = "allow";
    if (id.empty() && settings->mode != Mode::kDisabled) {
      StatusOr<std::optional<RunPath>> from_file = ReadResumeFile(resume_file);
      if (!from_file.ok()) return from_file.status();
      if (*from_file) path = **from_file;
    }
  }
  if (path.run_id.empty()) path.run_id = internal::NewRunId();
  if (Status st = internal::ValidateId(path.run_id, "run id"); !st.ok()) return st;
  if (Status st = internal::ValidateId(path.project, "project"); !st.ok()) return st;
  if (!path.entity.empty()) {
    if (Status st = internal::ValidateId(path.entity, "entity"); !st.ok()) return st;
  }

  auto impl = std::make_shared<Run::Impl>();
  impl->settings = *settings;
  std::error_code ec;

  if (settings->mode == Mode::kDisabled) {
    impl->run_path = path;
    fs::path tmp = fs::temp_directory_path(ec);
    if (ec) tmp = "/tmp";
    impl->files_dir = tmp / "cairn-disabled" / RunDirName(path.run_id) / "files";
    fs::create_directories(impl->files_dir, ec);  // best effort: disabled never fails
    SetCurrent(impl);
    return Run(impl);
  }

  if (settings->mode == Mode::kOnline) {
    StatusOr<std::shared_ptr<internal::Client>> client = internal::Client::Create(*settings);
    if (!client.ok()) return client.status();
    impl->client = *client;
    if (Status st = impl->client->ResolveEntity(path); !st.ok()) return st;
    bool created = false;
    StatusOr<RunInfo> info = impl->client->PutRun(path, server_resume, &created);
    if (!info.ok()) return info.status();
    impl->resumed = !created;
  }
  impl->run_path = path;

  impl->files_dir = cairn_dir / RunDirName(path.run_id) / "files";
  fs::create_directories(impl->files_dir, ec);
  if (ec) return internal::ErrnoStatus(ec.value(), "create run directory", impl->files_dir);

  nlohmann::json resume_json = {{"run_path", PathString(path)}};
  if (Status st = internal::WriteFileAtomic(resume_file, resume_json.dump() + "\n"); !st.ok()) return st;
  impl->resume_file = resume_file;

  SetCurrent(impl);
  return Run(impl);
}

std::optional<Run> current_run() {
  std::shared_ptr<Run::Impl> impl = internal::CurrentRunImpl();
  if (!impl) return std::nullopt;
  return Run(std::move(impl));
}

StatusOr<std::vector<SavedFile>> Run::save(const std::string& glob, const SaveOptions& options) {
  std::shared_lock<std::shared_mutex> lifecycle(impl_->lifecycle_mu);
  if (impl_->finished) {
    return FailedPreconditionError("run " + path() + " has finished; start a new run with init() to save more files");
  }
  std::vector<SavedFile> saved;
  if (impl_->settings.mode == Mode::kDisabled) return saved;

  std::error_code ec;
  fs::path cwd = fs::current_path(ec);
  if (ec) return internal::ErrnoStatus(ec.value(), "get working directory", ".");
  StatusOr<std::vector<internal::SaveTarget>> targets =
      internal::ExpandSaveGlob(glob, options.base_path, options.literal, impl_->files_dir, cwd);
  if (!targets.ok()) return targets.status();

  if (options.policy == SavePolicy::kEnd) {
    std::lock_guard<std::mutex> lock(impl_->pending_mu);
    for (const internal::SaveTarget& t : *targets) {
      bool replaced = false;
      for (Impl::Pending& p : impl_->pending) {
        if (p.name == t.name) {
          p.local = t.local;
          replaced = true;
        }
      }
      if (!replaced) impl_->pending.push_back({t.local, t.name});
    }
    return saved;
  }

  for (const internal::SaveTarget& t : *targets) {
    StatusOr<SavedFile> one = SaveOne(*impl_, t);
    if (!one.ok()) return one.status();
    saved.push_back(std::move(*one));
  }
  return saved;
}

Status Run::finish() {
  std::unique_lock<std::shared_mutex> lifecycle(impl_->lifecycle_mu);
  if (impl_->finished) return OkStatus();

  if (impl_->settings.mode != Mode::kDisabled) {
    std::vector<Impl::Pending> pending;
    {
      std::lock_guard<std::mutex> lock(impl_->pending_mu);
      pending = impl_->pending;
    }
    for (const Impl::Pending& p : pending) {
      StatusOr<SavedFile> one = SaveOne(*impl_, {p.local, p.name});
      if (!one.ok()) {
        // The run stays open (and resume.json in place) so finish() can be
        // called again; files committed so far are not uploaded twice.
        return Status(one.status().code(), "finishing run " + path() + ": " + one.status().message());
      }
      std::lock_guard<std::mutex> lock(impl_->pending_mu);
      std::erase_if(impl_->pending, [&](const Impl::Pending& q) { return q.name == p.name && q.local == p.local; });
    }
  }

  impl_->finished = true;
  if (!impl_->resume_file.empty()) {
    // Only remove the file if it still names this run (another run may have
    // started in the same directory since).
    StatusOr<std::optional<RunPath>> named = ReadResumeFile(impl_->resume_file);
    if (named.ok() && *named && PathString(**named) == PathString(impl_->run_path)) {
      std::error_code ec;
      fs::remove(impl_->resume_file, ec);
    }
  }
  ClearCurrentIf(impl_.get());
  return OkStatus();
}

}  // namespace cairn
