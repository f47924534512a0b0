// cairn::restore, Run::restore and cairn::restore_many:
// docs/spec/restore.md, steps 1-8, in that order. Each step is marked below;
// the order matters (e.g. a local copy is returned before settings,
// credentials or the network are looked at).
#include <fnmatch.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <optional>
#include <system_error>
#include <thread>

#include "cairn/run.h"
#include "common/fs.h"
#include "common/sha256.h"
#include "common/validate.h"
#include "sdk/internal/client.h"
#include "sdk/internal/content_cache.h"
#include "sdk/internal/downloader.h"
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

// 2. The run path: explicit, else the current run's, else a usage error.
StatusOr<internal::RunPath> ResolveRunPath(const std::string& given, const std::shared_ptr<Run::Impl>& run) {
  if (!given.empty()) return internal::ParseRunPath(given);
  if (run) return run->run_path;
  return InvalidArgumentError(
      "run_path is required when restore is called before init; pass run_path=\"entity/project/run_id\" or call "
      "init() first");
}

// 3. The root: explicit, else the current run's files dir, else cwd.
StatusOr<fs::path> ResolveRoot(const std::string& given, const std::shared_ptr<Run::Impl>& run) {
  if (!given.empty()) return fs::path(given);
  if (run) return run->files_dir;
  std::error_code ec;
  fs::path cwd = fs::current_path(ec);
  if (ec) return internal::ErrnoStatus(ec.value(), "get working directory", ".");
  return cwd;
}

// Settings and, when online, the connection. A run supplies them (and its
// connection) unless the caller gave connection settings explicitly.
struct Connection {
  Settings settings;
  std::shared_ptr<internal::Client> client;  // null unless online
};

StatusOr<Connection> Connect(const ClientOptions& given, const std::shared_ptr<Run::Impl>& run) {
  Connection c;
  if (run && IsEmpty(given)) {
    c.settings = run->settings;
    c.client = run->client;
  } else {
    StatusOr<Settings> resolved = ResolveSettings(given);
    if (!resolved.ok()) return resolved.status();
    c.settings = *resolved;
  }
  if (c.settings.mode == Mode::kOnline && !c.client) {
    StatusOr<std::shared_ptr<internal::Client>> created = internal::Client::Create(c.settings);
    if (!created.ok()) return created.status();
    c.client = *created;
  }
  return c;
}

// 5. Offline: true when `run_path` is `run` and init() created that run in
// this process offline from scratch, so the store cannot hold its files yet.
bool IsFreshOfflineRun(const std::shared_ptr<Run::Impl>& run, const internal::RunPath& run_path) {
  if (!run || !run->fresh_offline) return false;
  const internal::RunPath& own = run->run_path;
  const bool same_entity = run_path.entity.empty() || own.entity.empty() || run_path.entity == own.entity;
  return same_entity && run_path.project == own.project && run_path.run_id == own.run_id;
}

// 6. The file's metadata: from the content cache's refs for a pinned version
// it has seen (a version never changes), else asked of the server (and
// remembered). nullopt: the run has no such file / version.
StatusOr<std::optional<FileInfo>> LookupFile(internal::Client& client, const internal::RunPath& run_path,
                                             const std::string& name, std::optional<std::int64_t> version,
                                             internal::ContentCache& cache) {
  const auto key = [&](std::int64_t v) {
    return internal::ContentCache::RefKey(client.settings().base_url, run_path.ToString(), name, v);
  };
  if (version) {
    if (std::optional<FileInfo> known = cache.LookupRef(key(*version))) return std::optional<FileInfo>(*known);
  }
  StatusOr<std::optional<FileInfo>> info = client.GetFileInfo(run_path, name, version);
  if (info.ok() && info->has_value() && cache.enabled()) {
    cache.RememberRef(key((*info)->version), **info);
  }
  return info;
}

// `run` supplies the defaults of run_path, root and connection settings: the
// current run for cairn::restore, the run itself for Run::restore (may be null).
Result RestoreImpl(const std::string& name, const RestoreOptions& options, const std::shared_ptr<Run::Impl>& run) {
  // 1. Validate the name; nothing is touched on error.
  if (Status st = internal::ValidateFileName(name); !st.ok()) return st;
  // 2. and 3.
  StatusOr<internal::RunPath> run_path = ResolveRunPath(options.run_path, run);
  if (!run_path.ok()) return run_path.status();
  StatusOr<fs::path> root = ResolveRoot(options.root, run);
  if (!root.ok()) return root.status();
  const fs::path target = *root / name;

  // 4. Local first, no network, no credentials: an existing file is returned
  // as it is unless replace. A directory there is an error.
  std::error_code ec;
  fs::file_status st = fs::status(target, ec);
  if (fs::is_directory(st)) {
    return FailedPreconditionError("cannot restore " + name + " to " + target.string() +
                                   ": a directory is in the way; remove it or choose another root");
  }
  if (!options.replace && fs::exists(st)) {
    internal::RemoveLeftovers(target);  // of a fetch killed after it placed the file
    return Open(target, name, "", false);
  }

  // Settings are needed from here on only.
  StatusOr<Connection> conn = Connect(options.client, run);
  if (!conn.ok()) return conn.status();

  // 5. Disabled: nothing. Offline: the file is not local, say so.
  if (conn->settings.mode == Mode::kDisabled) return std::optional<RestoredFile>();
  if (conn->settings.mode == Mode::kOffline) {
    if (IsFreshOfflineRun(run, *run_path)) return std::optional<RestoredFile>();  // nothing saved yet
    return FailedPreconditionError("cannot restore " + name + ": it is not at " + target.string() +
                                   " and mode is offline, so the store cannot be asked; run online (CAIRN_MODE) "
                                   "to fetch it");
  }
  StatusOr<TransferOptions> transfer = internal::ResolveTransferOptions(options.transfer);
  if (!transfer.ok()) return transfer.status();
  internal::ContentCache cache(transfer->cache_dir, transfer->cache_max_bytes.value_or(0));

  // 6. The file's metadata. No such file/version: nothing. No such run (or
  // project/entity), bad key, no permission: the error, never "nothing".
  if (Status s = conn->client->ResolveEntity(*run_path); !s.ok()) return s;
  StatusOr<std::optional<FileInfo>> info = LookupFile(*conn->client, *run_path, name, options.version, cache);
  if (!info.ok()) return info.status();
  if (!info->has_value()) return std::optional<RestoredFile>();
  const FileInfo& file = **info;

  // 7. Download (downloader.h): cache, else resumable parallel download into a
  // partial beside the target, verified, fsync, atomic rename; one fetch for
  // concurrent restores of the same target.
  StatusOr<internal::FetchResult> fetched =
      internal::FetchToTarget(*conn->client, *run_path, file, target, options.replace, *transfer);
  if (!fetched.ok()) return fetched.status();

  // 8. Hand back the file open for reading in binary, at offset 0.
  if (*fetched == internal::FetchResult::kAlreadyPresent) {
    // Another thread or process published it while we waited for the lock.
    return Open(target, name, "", false);
  }
  return Open(target, name, file.sha256, *fetched == internal::FetchResult::kDownloaded);
}

// restore_many's pattern: a glob within path components, or a literal name
// that also stands for the directory of that name.
bool Matches(const std::string& pattern, const std::string& name) {
  if (pattern.find_first_of("*?[") != std::string::npos) return ::fnmatch(pattern.c_str(), name.c_str(), FNM_PATHNAME) == 0;
  std::string dir = pattern;
  while (!dir.empty() && dir.back() == '/') dir.pop_back();
  return name == dir || name.rfind(dir + "/", 0) == 0;
}

// Files fetched at once: given, else CAIRN_PARALLEL_FILES (tunables), else 4 -- or 16
// when the files average under 4 MiB: a small file's time is mostly waits (its
// request, its fsyncs) that overlap, not bytes that compete.
int ParallelFiles(int given, int from_env, const std::vector<FileInfo>& files) {
  if (given > 0) return given;
  if (from_env > 0) return from_env;
  std::uint64_t total = 0;
  for (const FileInfo& f : files) total += f.size;
  return !files.empty() && total / files.size() < (4u << 20) ? 16 : 4;
}

// restore_many's files: the latest versions matching `pattern`, by name.
StatusOr<std::vector<FileInfo>> MatchingFiles(internal::Client& client, const internal::RunPath& run_path,
                                              const std::string& pattern) {
  std::vector<FileInfo> files;
  std::string cursor;
  do {
    auto page = client.ListFiles(run_path, cursor);
    if (!page.ok()) return page.status();
    for (FileInfo& f : page->items) {
      if (Matches(pattern, f.name)) files.push_back(std::move(f));
    }
    cursor = page->next_cursor;
  } while (!cursor.empty());
  std::sort(files.begin(), files.end(), [](const FileInfo& a, const FileInfo& b) { return a.name < b.name; });
  return files;
}

// restore_many's answer when some files failed: their names, what was kept
// and the first error; OK when none failed.
Status FailuresOf(const std::vector<FileInfo>& files, const std::vector<Status>& errors, bool all_or_nothing,
                  const fs::path& staging) {
  std::string failed;
  Status first;
  int failures = 0;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (errors[i].ok()) continue;
    if (first.ok()) first = errors[i];
    failed += (failures++ ? ", " : "") + files[i].name;
  }
  if (failures == 0) return OkStatus();
  const std::string kept = all_or_nothing
                               ? "no file was placed (all_or_nothing); what arrived is kept in " + staging.string() +
                                     " and the next call continues from it"
                               : std::to_string(files.size() - failures) + " of " + std::to_string(files.size()) +
                                     " files were restored";
  return Status(first.code(), "could not restore " + std::to_string(failures) + " file(s) (" + failed + "); " + kept +
                                  "; first error: " + first.message());
}

// all_or_nothing, once every file is verified and staged (durably): each
// staged file renamed onto its target, then each directory fsynced once.
template <typename StagedPath>
Status PlaceStaged(const std::vector<FileInfo>& files, const std::vector<RestoredPath>& out,
                   const StagedPath& staged_path, internal::DirSyncs& dir_syncs) {
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (out[i].sha256.empty()) continue;  // kept a local copy
    std::error_code ec;
    fs::create_directories(out[i].path.parent_path(), ec);
    if (::rename(staged_path(files[i]).c_str(), out[i].path.c_str()) != 0) {
      return internal::ErrnoStatus(errno, "rename into place", out[i].path);
    }
    dir_syncs.Add(out[i].path.parent_path());
  }
  return dir_syncs.SyncAll();
}

// Runs `worker` on `n` threads (this one among them) until all return.
void RunOnThreads(int n, const std::function<void()>& worker) {
  std::vector<std::thread> threads;
  for (int t = 1; t < n; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
}

// The end of restore_many's downloads: the group's last files published and
// every directory fsynced (the first error), then the cache pruned once.
Status MakeDurable(internal::PublishGroup* group, internal::DirSyncs& dir_syncs, const TransferOptions& transfer) {
  if (group != nullptr) {
    if (Status st = group->Finish(); !st.ok()) return st;
  }
  if (Status st = dir_syncs.SyncAll(); !st.ok()) return st;
  internal::ContentCache cache(transfer.cache_dir, transfer.cache_max_bytes.value_or(0));
  if (cache.enabled()) (void)cache.Prune(*transfer.cache_max_bytes);  // best effort, as the fills
  return OkStatus();
}

// A PublishGroup's bound in bytes: what one syncfs writes out at most.
constexpr std::uint64_t kGroupBytes = 64ull << 20;

// Files per PublishGroup: the tunable, bounded so that the locks a group
// holds open (one per waiting file, times a few in flight) stay well under
// the open-file limit. 0: no grouping.
std::size_t GroupFiles(int tunable) {
  if (tunable <= 0) return 0;
  struct rlimit rl {};
  std::uint64_t cap = 256;
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) cap = std::max<rlim_t>(rl.rlim_cur / 4, 16);
  else if (rl.rlim_cur == RLIM_INFINITY) cap = 4096;
  return static_cast<std::size_t>(std::min<std::uint64_t>(static_cast<std::uint64_t>(tunable), cap));
}

}  // namespace

Result restore(const std::string& name, const RestoreOptions& options) {
  return RestoreImpl(name, options, internal::CurrentRunImpl());
}

Result Run::restore(const std::string& name, const RestoreOptions& options) const {
  return RestoreImpl(name, options, impl_);
}

StatusOr<std::vector<RestoredPath>> restore_many(const std::string& pattern, const RestoreManyOptions& options) {
  const std::shared_ptr<Run::Impl> run = internal::CurrentRunImpl();
  if (pattern.empty() || pattern.front() == '/') {
    return InvalidArgumentError("invalid pattern '" + pattern +
                                "': give a glob or name relative to the run, e.g. 'ckpt/*' or 'model.pt'");
  }
  StatusOr<internal::RunPath> run_path = ResolveRunPath(options.run_path, run);
  if (!run_path.ok()) return run_path.status();
  StatusOr<fs::path> root = ResolveRoot(options.root, run);
  if (!root.ok()) return root.status();
  StatusOr<Connection> conn = Connect(options.client, run);
  if (!conn.ok()) return conn.status();
  if (conn->settings.mode == Mode::kDisabled) return std::vector<RestoredPath>();
  if (conn->settings.mode == Mode::kOffline) {
    return FailedPreconditionError("cannot restore '" + pattern +
                                   "': mode is offline, so the store cannot be asked which files match; run online "
                                   "(CAIRN_MODE)");
  }
  StatusOr<TransferOptions> transfer = internal::ResolveTransferOptions(options.transfer);
  if (!transfer.ok()) return transfer.status();
  internal::Client& client = *conn->client;
  if (Status s = client.ResolveEntity(*run_path); !s.ok()) return s;

  StatusOr<std::vector<FileInfo>> matching = MatchingFiles(client, *run_path, pattern);
  if (!matching.ok()) return matching.status();
  const std::vector<FileInfo>& files = *matching;
  // All-or-nothing stages files under <root>/.cairn-staging, named by digest and name (reused only for the
  // same bytes), and renames them into place once every one is verified.
  const fs::path staging = *root / ".cairn-staging";
  const auto staged_path = [&](const FileInfo& f) {
    return staging / (f.sha256 + "-" + internal::Sha256Hex(f.name).substr(0, 16));
  };

  std::vector<RestoredPath> out(files.size());
  std::vector<Status> errors(files.size());
  internal::DirSyncs dir_syncs;  // each directory fsynced once, before returning
  // Downloads made durable in groups (downloader.h), unless turned off.
  const std::size_t group_files = GroupFiles(client.tunables().restore_group_files);
  std::optional<internal::PublishGroup> group;
  if (group_files > 0) group.emplace(*transfer, group_files, kGroupBytes);
  std::atomic<std::size_t> next{0};
  const auto worker = [&] {
    for (std::size_t i; (i = next++) < files.size();) {
      const FileInfo& f = files[i];
      out[i] = {.name = f.name, .path = *root / f.name};
      if (Status st = internal::ValidateFileName(f.name); !st.ok()) {  // never a path outside root
        errors[i] = st;
        continue;
      }
      std::error_code ec;
      if (!options.replace && fs::exists(out[i].path, ec)) {  // local first, as restore()
        internal::RemoveLeftovers(out[i].path);                 // of a fetch killed after it placed the file
        continue;
      }
      const fs::path dest = options.all_or_nothing ? staged_path(f) : out[i].path;
      // A staged file is named by its digest: one already there is whole and right.
      StatusOr<internal::FetchResult> r = internal::FetchToTarget(
          client, *run_path, f, dest, options.replace && !options.all_or_nothing, *transfer, &dir_syncs,
          group ? &*group : nullptr);
      if (!r.ok()) {
        errors[i] = r.status();
        continue;
      }
      if (*r != internal::FetchResult::kAlreadyPresent || options.all_or_nothing) out[i].sha256 = f.sha256;
      out[i].downloaded = *r == internal::FetchResult::kDownloaded;
    }
    if (group) group->Flush();  // see PublishGroup::Flush
  };
  const int parallel = ParallelFiles(options.parallel_files, client.tunables().parallel_files, files);
  RunOnThreads(std::min<int>(parallel, static_cast<int>(files.size())), worker);
  if (Status st = MakeDurable(group ? &*group : nullptr, dir_syncs, *transfer); !st.ok()) return st;

  if (Status st = FailuresOf(files, errors, options.all_or_nothing, staging); !st.ok()) return st;
  if (options.all_or_nothing) {
    if (Status st = PlaceStaged(files, out, staged_path, dir_syncs); !st.ok()) return st;
    std::error_code ec;
    fs::remove(staging, ec);  // only when empty
  }
  return out;
}

}  // namespace cairn
