// cairn::Api, StoredRun and StoredFile (api.h): the stored runs and files,
// read through the same internal::Client and download engine as restore().
// The Api always talks to the server: it is an explicit request for stored
// data, so the online/offline/disabled mode does not apply to it.
#include "cairn/api.h"

#include <system_error>

#include "common/fs.h"
#include "common/validate.h"
#include "sdk/internal/client.h"
#include "sdk/internal/downloader.h"

namespace cairn {

struct StoredRun::Conn {
  std::shared_ptr<internal::Client> client;
};

namespace {

namespace fs = std::filesystem;

Status NotConnected() { return InternalError("the Api has no connection (settings failed to resolve)"); }

internal::RunPath ToRunPath(const RunInfo& info) { return {info.entity, info.project, info.id}; }

StatusOr<RestoredFile> OpenLocal(const fs::path& path, const std::string& name, const std::string& sha256,
                                 bool downloaded) {
  errno = 0;
  RestoredFile file(path, name, sha256, downloaded);
  if (!file.is_open()) return internal::ErrnoStatus(errno ? errno : EIO, "open", path);
  return file;
}

}  // namespace

Api::Api(const ClientOptions& options) {
  StatusOr<Settings> settings = ResolveSettings(options);
  if (!settings.ok()) {
    init_status_ = settings.status();
    return;
  }
  StatusOr<std::shared_ptr<internal::Client>> client = internal::Client::Create(*settings);
  if (!client.ok()) {
    init_status_ = client.status();
    return;
  }
  conn_ = std::make_shared<StoredRun::Conn>(StoredRun::Conn{*client});
}

StatusOr<StoredRun> Api::run(const std::string& run_path) const {
  if (!init_status_.ok()) return init_status_;
  if (!conn_) return NotConnected();
  StatusOr<internal::RunPath> path = internal::ParseRunPath(run_path);
  if (!path.ok()) return path.status();
  if (Status st = conn_->client->ResolveEntity(*path); !st.ok()) return st;
  StatusOr<RunInfo> info = conn_->client->GetRun(*path);
  if (!info.ok()) return info.status();
  return StoredRun(conn_, std::move(*info));
}

StatusOr<std::vector<RunInfo>> Api::runs(const std::string& entity_project) const {
  if (!init_status_.ok()) return init_status_;
  if (!conn_) return NotConnected();
  StatusOr<internal::RunPath> path = internal::ParseProjectPath(entity_project);
  if (!path.ok()) return path.status();
  if (Status st = conn_->client->ResolveEntity(*path); !st.ok()) return st;
  std::vector<RunInfo> out;
  std::string cursor;
  do {
    auto page = conn_->client->ListRuns(path->entity, path->project, cursor);
    if (!page.ok()) return page.status();
    for (RunInfo& r : page->items) out.push_back(std::move(r));
    cursor = page->next_cursor;
  } while (!cursor.empty());
  return out;
}

StatusOr<std::vector<FileInfo>> StoredRun::files() const {
  if (!conn_) return NotConnected();
  std::vector<FileInfo> out;
  std::string cursor;
  do {
    auto page = conn_->client->ListFiles(ToRunPath(info_), cursor);
    if (!page.ok()) return page.status();
    for (FileInfo& f : page->items) out.push_back(std::move(f));
    cursor = page->next_cursor;
  } while (!cursor.empty());
  return out;
}

StatusOr<std::vector<FileInfo>> StoredRun::versions(const std::string& name) const {
  if (!conn_) return NotConnected();
  return conn_->client->ListVersions(ToRunPath(info_), name);
}

StatusOr<StoredFile> StoredRun::file(const std::string& name, std::optional<std::int64_t> version) const {
  if (!conn_) return NotConnected();
  auto info = conn_->client->GetFileInfo(ToRunPath(info_), name, version);
  if (!info.ok()) return info.status();
  if (!info->has_value()) {
    return NotFoundError("run " + path() + " has no file " + name +
                         (version ? " at version " + std::to_string(*version) : std::string()) +
                         "; StoredRun::files() lists what it has");
  }
  return StoredFile(conn_, info_, std::move(**info));
}

StatusOr<RestoredFile> StoredFile::download(const DownloadOptions& options) const {
  if (!conn_) return NotConnected();
  std::error_code ec;
  fs::path root = options.root;
  if (root.empty()) {
    root = fs::current_path(ec);
    if (ec) return internal::ErrnoStatus(ec.value(), "get working directory", ".");
  }
  const fs::path target = root / info_.name;
  const auto exists_error = [&] {
    return AlreadyExistsError(target.string() +
                              " already exists; pass replace=true to overwrite or exist_ok=true to use it");
  };
  fs::file_status st = fs::status(target, ec);
  if (fs::is_directory(st)) {
    return FailedPreconditionError("cannot download " + info_.name + " to " + target.string() +
                                   ": a directory is in the way; remove it or choose another root");
  }
  if (!options.replace && fs::exists(st)) {
    if (options.exist_ok) return OpenLocal(target, info_.name, "", false);
    return exists_error();
  }
  StatusOr<TransferOptions> transfer = internal::ResolveTransferOptions(options.transfer);
  if (!transfer.ok()) return transfer.status();
  StatusOr<internal::FetchResult> fetched =
      internal::FetchToTarget(*conn_->client, ToRunPath(run_), info_, target, options.replace, *transfer);
  if (!fetched.ok()) return fetched.status();
  if (*fetched == internal::FetchResult::kAlreadyPresent) {
    // Another thread or process published it while we waited for the lock.
    if (options.exist_ok) return OpenLocal(target, info_.name, "", false);
    return exists_error();
  }
  return OpenLocal(target, info_.name, info_.sha256, *fetched == internal::FetchResult::kDownloaded);
}

}  // namespace cairn
