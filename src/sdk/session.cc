// cairn::Session (session.h): the public face of internal::Client for tools,
// plus the netrc writer of `cairn login` and the content cache's listing.
#include "cairn/session.h"

#include <sstream>

#include "common/fs.h"
#include "common/validate.h"
#include "sdk/internal/client.h"
#include "sdk/internal/content_cache.h"
#include "sdk/internal/downloader.h"
#include "sdk/internal/env.h"
#include "sdk/internal/session_impl.h"

namespace cairn {
namespace fs = std::filesystem;

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::~Session() = default;

StatusOr<std::shared_ptr<Session>> Session::Open(const ClientOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(Settings settings, ResolveSettings(options));
  CAIRN_ASSIGN_OR_RETURN(std::shared_ptr<internal::Client> client, internal::Client::Create(settings));
  return std::shared_ptr<Session>(new Session(std::make_unique<Impl>(Impl{std::move(client)})));
}

const Settings& Session::settings() const { return impl_->client->settings(); }

Status Session::ResolveEntity(RunPath& path) const { return impl_->client->ResolveEntity(path); }

StatusOr<RunPath> Session::ResolveRun(const std::string& run_path) const {
  CAIRN_ASSIGN_OR_RETURN(RunPath path, internal::ParseRunPath(run_path));
  CAIRN_RETURN_IF_ERROR(impl_->client->ResolveEntity(path));
  return path;
}

StatusOr<RunInfo> Session::EnsureRun(const RunPath& run) const { return impl_->client->PutRun(run, "allow"); }

StatusOr<std::optional<FileInfo>> Session::LatestFile(const RunPath& run, const std::string& name) const {
  return impl_->client->GetFileInfo(run, name, std::nullopt);
}

StatusOr<SaveFileResult> Session::SaveFile(const RunPath& run, const std::string& name, const fs::path& local,
                                      const SaveFileOptions& options) const {
  internal::UploadControl control{.unless_sha256 = options.unless_sha256};
  internal::ProgressFn progress;
  if (options.progress) {
    progress = [&options, &name](std::uint64_t done, std::uint64_t total) { options.progress({name, done, total}); };
  }
  CAIRN_ASSIGN_OR_RETURN(FileInfo info, impl_->client->Upload(run, name, local, progress, &control));
  return SaveFileResult{.info = std::move(info), .unchanged = control.unchanged};
}

StatusOr<std::string> Session::CallJson(const std::string& method, const std::string& target,
                                        const std::string& json_body, const std::string& what,
                                        bool* file_not_found) const {
  return impl_->client->CallJson(method, target, json_body, what, file_not_found);
}

namespace {

std::string HostOf(const std::string& base_url) {
  std::string rest = base_url.substr(base_url.find("://") + 3);
  rest = rest.substr(0, rest.find('/'));
  if (!rest.empty() && rest.front() == '[') return rest.substr(0, rest.find(']') + 1);
  return rest.substr(0, rest.find(':'));
}

}  // namespace

StatusOr<std::string> StoreApiKeyInNetrc(const std::string& base_url, const std::string& api_key) {
  const std::string home = internal::EnvString("HOME");
  if (home.empty()) return FailedPreconditionError("HOME is not set; cannot find ~/.netrc");
  std::string host = HostOf(base_url);
  const fs::path path = fs::path(home) / ".netrc";
  std::vector<std::vector<std::string>> entries;
  if (fs::exists(path)) {
    CAIRN_ASSIGN_OR_RETURN(std::string text, internal::ReadSmallFile(path));
    std::istringstream in(text);
    std::string tok;
    while (in >> tok) {
      if (tok == "machine" || tok == "default" || entries.empty()) entries.emplace_back();
      entries.back().push_back(tok);
    }
  }
  std::string out;
  for (const auto& e : entries) {
    if (e.size() >= 2 && e[0] == "machine" && e[1] == host) continue;
    for (std::size_t i = 0; i < e.size(); ++i) out += (i ? " " : "") + e[i];
    out += "\n";
  }
  out += "machine " + host + " login api password " + api_key + "\n";
  CAIRN_RETURN_IF_ERROR(internal::WriteFileAtomic(path, out, 0600));
  return host;
}

StatusOr<CacheListing> ListCache(const TransferOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(TransferOptions transfer, internal::ResolveTransferOptions(options));
  const std::uint64_t max_bytes = transfer.cache_max_bytes.value_or(0);
  internal::ContentCache cache(transfer.cache_dir, max_bytes);
  CAIRN_ASSIGN_OR_RETURN(auto entries, cache.List());
  CacheListing listing{.dir = transfer.cache_dir, .max_bytes = max_bytes};
  for (const auto& e : entries) {
    listing.files.push_back({.sha256 = e.sha256, .size = e.size, .last_used = internal::FormatTimeMs(e.last_used_ms)});
  }
  return listing;
}

StatusOr<CachePruneResult> PruneCache(std::optional<std::uint64_t> max_bytes, const TransferOptions& options) {
  CAIRN_ASSIGN_OR_RETURN(TransferOptions transfer, internal::ResolveTransferOptions(options));
  // The cache's own limit may be 0 (disabled); pruning still works on what is there.
  internal::ContentCache cache(transfer.cache_dir, 1);
  const std::uint64_t limit = max_bytes.value_or(transfer.cache_max_bytes.value_or(0));
  CAIRN_ASSIGN_OR_RETURN(std::uint64_t freed, cache.Prune(limit));
  return CachePruneResult{.dir = transfer.cache_dir, .limit = limit, .freed = freed};
}

}  // namespace cairn
