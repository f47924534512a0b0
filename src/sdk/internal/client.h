// The SDK's connection to a cairn server: one object per settings, shared by
// runs, restore, the public Api and the CLI. It speaks docs/http-api.md over
// libcurl and maps every HTTP/libcurl outcome to a Status in exactly one place
// (http_client.cc). Thread-safe; reuses connections.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/api.h"
#include "cairn/settings.h"
#include "cairn/status.h"
#include "cairn/transfer.h"
#include "common/validate.h"
#include "sdk/internal/connection.h"
#include "sdk/internal/tunables.h"

namespace cairn::internal {

template <typename T>
struct ListPage {
  std::vector<T> items;
  std::string next_cursor;  // empty: last page
};

// Progress of one transfer: bytes done of total.
using ProgressFn = std::function<void(std::uint64_t done, std::uint64_t total)>;

// How a caller that owns its own retry loop (the background uploader) drives
// Client::Upload, and what it learns back. All fields optional.
struct UploadControl {
  // Replaces the connection's retry policy for this call (max_attempts = 1:
  // the caller reschedules by itself).
  std::optional<RetryPolicy> retry;
  // When the file's SHA-256 equals this, nothing is sent: Upload returns the
  // file's name, size and digest with version 0 and sets `unchanged`.
  std::string unless_sha256;
  // Polled while hashing and sending; when it turns true the upload stops
  // (kDeadlineExceeded, nothing committed).
  const std::atomic<bool>* cancel = nullptr;

  // Out: the content equalled unless_sha256 and was not sent.
  bool unchanged = false;
  // Out: the Retry-After of the last retryable answer (408, 429, 5xx).
  std::optional<std::chrono::milliseconds> retry_after;
};

// What a run PUT also sets (docs/http-api.md, Runs); empty: nothing.
struct RunFields {
  std::string config;  // a JSON object as text, merged into the run's config
  std::string state;   // "running" (a heartbeat) or "finished"
  bool once = false;   // one attempt, no retries (heartbeats: the next one retries)
};

// How Client::Download ends once the partial holds the verified bytes.
enum class DownloadFinish {
  kDurable,          // fsync the partial, rename it onto the target, fsync the directory
  kDirLater,         // the same without the directory fsync: the caller fsyncs it (DirSyncs)
  kVerifiedPartial,  // leave the verified partial unsynced: the caller's PublishGroup syncs and renames it
};

// A target's partial as its fetcher holds it (FetchToTarget's lock,
// fetch_target.cc): open read-write and flock'ed. Client::Download writes
// into this fd rather than opening the partial again, and keeps the flags
// true. Two invariants spare syscalls on files known not to exist: a sidecar
// is created only while its partial exists and is removed before it, and a
// partial just created holds no bytes and has no sidecar.
struct HeldPartial {
  int fd = -1;
  bool fresh = false;    // made empty by this holder: nothing to resume
  bool sidecar = true;   // a sidecar may be beside it (false: known absent)
  bool placed = false;   // renamed onto the target: the path is no longer the holder's
};

class Client {
 public:
  // Fails with kInvalidArgument on a malformed base_url or CAIRN_* knob
  // (tunables.h, resolved here once for this client). Makes no request.
  static StatusOr<std::shared_ptr<Client>> Create(const Settings& settings);
  static StatusOr<std::shared_ptr<Client>> Create(const Settings& settings, const Tunables& tunables);
  // A client over `connection` as given (tests: a fake that injects
  // failures, under a RetryingConnection). `settings.base_url` must be
  // normalized already.
  static std::shared_ptr<Client> Create(Settings settings, std::unique_ptr<Connection> connection,
                                        const Tunables& tunables = {});
  virtual ~Client() = default;

  const Settings& settings() const { return settings_; }
  // The knobs, resolved once when the client was made.
  const Tunables& tunables() const { return tunables_; }

  // Fills path.entity from settings().entity, else from GET /api/v1/whoami
  // (cached). kInvalidArgument when neither knows it (admin key, no entity).
  Status ResolveEntity(RunPath& path);

  // PUT /api/v1/runs/...; resume is "never" | "allow" | "must". *created
  // (optional) says whether the run was created.
  StatusOr<RunInfo> PutRun(const RunPath& run, const std::string& resume, bool* created = nullptr,
                           const RunFields& fields = {});
  StatusOr<RunInfo> GetRun(const RunPath& run);
  StatusOr<ListPage<RunInfo>> ListRuns(const std::string& entity, const std::string& project,
                                       const std::string& cursor);
  StatusOr<ListPage<FileInfo>> ListFiles(const RunPath& run, const std::string& cursor);
  StatusOr<std::vector<FileInfo>> ListVersions(const RunPath& run, const std::string& name);
  // nullopt: the run exists but lacks the file/version. kNotFound: no such run.
  StatusOr<std::optional<FileInfo>> GetFileInfo(const RunPath& run, const std::string& name,
                                                std::optional<std::int64_t> version);

  // Streams a local file as a new version of `name` (SHA-256 computed first,
  // sent in X-Cairn-Sha256, verified by the server). Bounded memory. A file
  // that changes while it is read or sent is kFailedPrecondition and nothing
  // is committed. `control` (optional): see UploadControl.
  StatusOr<FileInfo> Upload(const RunPath& run, const std::string& name, const std::filesystem::path& local,
                            const ProgressFn& progress = nullptr, UploadControl* control = nullptr);

  // Saves many small files as new versions in one request (PUT .../batch,
  // batch_upload.cc): each file hashed first, its bytes hashed again as they
  // are sent and verified by the server; the server commits all of them in
  // one transaction, or none. Returns the versions in the order of `files`.
  // One file open at a time; the caller keeps batches small (tens of MiB).
  // Retried from the start while nothing can have been committed.
  struct BatchItem {
    std::string name;
    std::filesystem::path local;
  };
  StatusOr<std::vector<FileInfo>> UploadBatch(const RunPath& run, const std::vector<BatchItem>& files);

  // Downloads exactly version `file` of `name` to `target` (downloader.cc):
  // into `.<name>.cairn-partial` beside it (continuing one a previous call
  // left for the same SHA-256 and size, discarding any other), in parallel
  // ranged parts for large files, bounded memory, then size and SHA-256
  // verified over the whole file, fsync, atomic rename over target, fsync
  // dir. On failure the target is left as it was; after a network failure the
  // partial is kept so the next call resumes. kDataLoss on a digest/size
  // mismatch (the partial is removed). `transfer` must be resolved
  // (ResolveTransferOptions). The caller holds the target's lock. `finish`
  // (DownloadFinish, above) says how much of fsync, rename and
  // directory fsync is left to the caller (a batch groups them). `held`
  // (optional): the partial as the caller's lock holds it; then the target's
  // directory exists, a discarded partial is truncated rather than removed
  // (the lock stays on it), and *held says whether a sidecar may be left
  // and whether the partial was renamed onto the target.
  Status Download(const RunPath& run, const FileInfo& file, const std::filesystem::path& target,
                  const TransferOptions& transfer, DownloadFinish finish = DownloadFinish::kDurable,
                  HeldPartial* held = nullptr);

  // One JSON request of docs/http-api.md for the CLI's deletion, account,
  // key and audit commands: `method` on `target` (percent-encoded, with its
  // query) with `json_body` when not empty. Returns the body of a 2xx answer
  // as text, else the mapped Status; with `file_not_found`, a 404
  // file_not_found sets it and returns "" instead. GETs are retried; other
  // methods only when nothing reached the server (a retried DELETE or POST
  // could answer differently the second time).
  StatusOr<std::string> CallJson(const std::string& method, const std::string& target, const std::string& json_body,
                                 const std::string& what, bool* file_not_found = nullptr);

  // POST /api/v1/keys (admin key). Returns the new key.
  StatusOr<std::string> CreateKey(const std::string& entity, bool read_only);

  struct Impl;  // private: the connection stack, whoami cache (client_impl.h)

 protected:
  Client(Settings settings, std::unique_ptr<Connection> connection, const Tunables& tunables);
  Settings settings_;
  Tunables tunables_;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace cairn::internal
