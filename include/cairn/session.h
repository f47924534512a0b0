// An authenticated connection to a server for tools that go beyond runs and
// restores (the `cairn` command: save many files, sync, accounts, quotas).
//
//   auto session = cairn::Session::Open({.base_url = "https://cairn.example"});
//   auto run = (*session)->ResolveRun("mnist/1a2b3c4d");
//   auto results = (*session)->SaveFiles(*run, {{.name = "a.pt", .local = "/w/a.pt"}},
//                                        {.progress = show});
//
// Settings resolve once, in Open (settings.h), with the same retries, TLS and
// CAIRN_* knobs as init(), restore() and Api. Thread-safe; cheap to share.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/api.h"
#include "cairn/names.h"
#include "cairn/settings.h"
#include "cairn/status.h"
#include "cairn/transfer.h"

namespace cairn {

// One local file to save as the next version of `name`.
struct SaveItem {
  std::string name;             // the name inside the run (ValidateFileName)
  std::filesystem::path local;  // a regular file
  // Its size when known (0: unknown): files up to 1 MiB go in batches, and
  // the progress callback counts it from the start.
  std::uint64_t size = 0;
};

struct SaveFilesOptions {
  // Requests in flight at once; 0: CAIRN_PARALLEL_FILES, else 8. At most 64.
  int parallel_files = 0;
  // Called from the saving threads as bytes go up; none by default.
  ProgressCallback progress;
};

struct SaveFileOptions {
  // When the local file's SHA-256 equals this, nothing is sent and the
  // result says `unchanged` (its version is 0). Empty: always send.
  std::string unless_sha256;
  ProgressCallback progress;
};

struct SaveFileResult {
  FileInfo info;
  bool unchanged = false;  // see SaveFileOptions::unless_sha256
};

class Session {
 public:
  // kInvalidArgument on a malformed setting or CAIRN_* knob, naming it.
  // Makes no request.
  static StatusOr<std::shared_ptr<Session>> Open(const ClientOptions& options = {});
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const Settings& settings() const;

  // Fills path.entity from the settings, else from the key (GET
  // /api/v1/whoami, asked once). kInvalidArgument when neither knows it.
  Status ResolveEntity(RunPath& path) const;
  // ParseRunPath then ResolveEntity.
  StatusOr<RunPath> ResolveRun(const std::string& run_path) const;
  // Creates the run unless it exists (resume "allow").
  StatusOr<RunInfo> EnsureRun(const RunPath& run) const;
  // The latest version of `name`; nullopt when the run lacks it, kNotFound
  // when there is no such run.
  StatusOr<std::optional<FileInfo>> LatestFile(const RunPath& run, const std::string& name) const;

  // Streams one file as a new version (SHA-256 verified by the server; a
  // file that changes while it is sent is kFailedPrecondition, nothing
  // committed). Large files go by reference or in parts.
  StatusOr<SaveFileResult> SaveFile(const RunPath& run, const std::string& name, const std::filesystem::path& local,
                               const SaveFileOptions& options = {}) const;

  // Saves many files on several connections: consecutive small files in
  // batches (one request and one commit each, docs/adr/0020-batch-saves.md),
  // large ones alone. Each file commits whole or not at all. After the first
  // failure no new request starts (those in flight finish). Returns one entry
  // per item, in order: its version, its error, or nullopt (not attempted).
  std::vector<std::optional<StatusOr<FileInfo>>> SaveFiles(const RunPath& run, const std::vector<SaveItem>& items,
                                                           const SaveFilesOptions& options = {}) const;

  // One JSON request of docs/http-api.md (accounts, keys, quotas, audit,
  // deletion): `method` on `target` (percent-encoded, with its query) with
  // `json_body` when not empty; `what` names the object in errors. Returns
  // the body of a 2xx answer, else the mapped Status; with `file_not_found`,
  // a 404 file_not_found sets it and returns "". GETs are retried; other
  // methods only when nothing reached the server.
  StatusOr<std::string> CallJson(const std::string& method, const std::string& target, const std::string& json_body,
                                 const std::string& what, bool* file_not_found = nullptr) const;

  struct Impl;  // private

 private:
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Stores `api_key` for the host of `base_url` in ~/.netrc (mode 0600,
// written atomically; every other entry kept), where ResolveSettings finds
// it. Returns the host.
StatusOr<std::string> StoreApiKeyInNetrc(const std::string& base_url, const std::string& api_key);

// The local content cache of restored files (transfer.h: cache_dir,
// cache_max_bytes; their CAIRN_* defaults apply to fields not given).
struct CachedFile {
  std::string sha256;
  std::uint64_t size = 0;
  std::string last_used;  // RFC 3339 UTC
};
struct CacheListing {
  std::string dir;
  std::uint64_t max_bytes = 0;  // 0: the cache is disabled
  std::vector<CachedFile> files;  // least recently used first
};
StatusOr<CacheListing> ListCache(const TransferOptions& options = {});

// Evicts least recently used files until at most `max_bytes` (default: the
// cache's limit) remain; works on a disabled cache too. Returns bytes freed.
struct CachePruneResult {
  std::string dir;
  std::uint64_t limit = 0;
  std::uint64_t freed = 0;
};
StatusOr<CachePruneResult> PruneCache(std::optional<std::uint64_t> max_bytes, const TransferOptions& options = {});

}  // namespace cairn
