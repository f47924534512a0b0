// cairn::restore and Run::restore: docs/spec/restore.md, steps 1-8, in that
// order. Each step is marked below; the order matters (e.g. a local copy is
// returned before settings, credentials or the network are looked at).
#include <system_error>

#include "cairn/run.h"
#include "common/fs.h"
#include "common/validate.h"
#include "sdk/internal/client.h"
#include "sdk/internal/run_state.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using Result = StatusOr<std::optional<RestoredFile>>;

bool IsEmpty(const ClientOptions& o) {
  return o.base_url.empty() && o.api_key.empty() && o.entity.empty() && o.project.empty() && o.dir.empty() &&
         o.mode.empty() && o.config_file.empty();
}

// Opens `path` as the RestoredFile to hand back (step 8): binary, offset 0.
Result Open(const fs::path& path, const std::string& name, const std::string& sha256, bool downloaded) {
  errno = 0;
  RestoredFile file(path, name, sha256, downloaded);
  if (!file.is_open()) return internal::ErrnoStatus(errno ? errno : EIO, "open restored file", path);
  return std::optional<RestoredFile>(std::move(file));
}

// `run` supplies the defaults of run_path, root and connection settings: the
// current run for cairn::restore, the run itself for Run::restore (may be null).
Result RestoreImpl(const std::string& name, const RestoreOptions& options, const std::shared_ptr<Run::Impl>& run) {
  // 1. Validate the name; nothing is touched on error.
  if (Status st = internal::ValidateFileName(name); !st.ok()) return st;

  // 2. Resolve the run path: explicit, else the current run's, else usage error.
  internal::RunPath run_path;
  if (!options.run_path.empty()) {
    StatusOr<internal::RunPath> parsed = internal::ParseRunPath(options.run_path);
    if (!parsed.ok()) return parsed.status();
    run_path = *parsed;
  } else if (run) {
    run_path = run->run_path;
  } else {
    return InvalidArgumentError(
        "run_path is required when restore is called before init; pass run_path=\"entity/project/run_id\" or call "
        "init() first");
  }

  // 3. Resolve the root: explicit, else the current run's files dir, else cwd.
  fs::path root;
  std::error_code ec;
  if (!options.root.empty()) {
    root = options.root;
  } else if (run) {
    root = run->files_dir;
  } else {
    root = fs::current_path(ec);
    if (ec) return internal::ErrnoStatus(ec.value(), "get working directory", ".");
  }
  const fs::path target = root / name;

  // 4. Local first, no network, no credentials: an existing file is returned
  // as it is unless replace. A directory there is an error.
  fs::file_status st = fs::status(target, ec);
  if (fs::is_directory(st)) {
    return FailedPreconditionError("cannot restore " + name + " to " + target.string() +
                                   ": a directory is in the way; remove it or choose another root");
  }
  if (!options.replace && fs::exists(st)) return Open(target, name, "", false);

  // Settings are needed from here on only. A run supplies them (and its
  // connection) unless the caller gave connection settings explicitly.
  Settings settings;
  std::shared_ptr<internal::Client> client;
  if (run && IsEmpty(options.client)) {
    settings = run->settings;
    client = run->client;
  } else {
    StatusOr<Settings> resolved = ResolveSettings(options.client);
    if (!resolved.ok()) return resolved.status();
    settings = *resolved;
  }

  // 5. Disabled: nothing. Offline: the file is not local, say so.
  if (settings.mode == Mode::kDisabled) return std::optional<RestoredFile>();
  if (settings.mode == Mode::kOffline) {
    return FailedPreconditionError("cannot restore " + name + ": it is not at " + target.string() +
                                   " and mode is offline, so the store cannot be asked; run online (CAIRN_MODE) "
                                   "to fetch it");
  }
  if (!client) {
    StatusOr<std::shared_ptr<internal::Client>> created = internal::Client::Create(settings);
    if (!created.ok()) return created.status();
    client = *created;
  }

  // 6. The file's metadata. No such file/version: nothing. No such run (or
  // project/entity), bad key, no permission: the error, never "nothing".
  if (Status s = client->ResolveEntity(run_path); !s.ok()) return s;
  StatusOr<std::optional<FileInfo>> info = client->GetFileInfo(run_path, name, options.version);
  if (!info.ok()) return info.status();
  if (!info->has_value()) return std::optional<RestoredFile>();
  const FileInfo& file = **info;

  // 7. Download: temp beside the target, streamed, verified, fsync, atomic
  // rename; resumed and retried on transient failures; one fetch for
  // concurrent restores of the same target.
  StatusOr<internal::FetchResult> fetched = internal::FetchToTarget(*client, run_path, file, target, options.replace);
  if (!fetched.ok()) return fetched.status();

  // 8. Hand back the file open for reading in binary, at offset 0.
  if (*fetched == internal::FetchResult::kAlreadyPresent) {
    // Another thread or process published it while we waited for the lock.
    return Open(target, name, "", false);
  }
  return Open(target, name, file.sha256, true);
}

}  // namespace

Result restore(const std::string& name, const RestoreOptions& options) {
  return RestoreImpl(name, options, internal::CurrentRunImpl());
}

Result Run::restore(const std::string& name, const RestoreOptions& options) const {
  return RestoreImpl(name, options, impl_);
}

}  // namespace cairn
