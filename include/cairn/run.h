// Runs: init() starts (or resumes) a run, save() uploads its files, restore()
// brings a file of this or an earlier run back, finish() closes it.
//
// The contract for restore and run paths is docs/spec/restore.md; comments
// here summarise it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/restored_file.h"
#include "cairn/settings.h"
#include "cairn/status.h"
#include "cairn/transfer.h"

namespace cairn {

struct InitOptions {
  ClientOptions client;  // base_url, api_key, entity, project, dir, mode; see settings.h
  // Run id: 1-128 chars of [A-Za-z0-9._-]. Default (and CAIRN_RUN_ID): a new
  // random 8-character [a-z0-9] id.
  std::string id;
  // "never" (default, CAIRN_RESUME): the id must be new. "allow": resume if the
  // run exists. "must": the run must exist. "auto": resume the run named in
  // <dir>/cairn/resume.json when present.
  std::string resume;
  // The run's config (hyperparameters and the like): a JSON object as text,
  // e.g. R"({"batch_size": 32, "lr": 0.1})", at most 64 KiB as compact JSON.
  // Empty (default): none. On resume its top-level keys replace the stored
  // ones and the others stay. Shown by `cairn runs --json`, the HTTP API and
  // W&B clients (run.config), which can filter runs on it. Not valid JSON,
  // not an object, or too large: init() fails with kInvalidArgument. Offline,
  // it is kept in the run directory's run.json only.
  std::string config;
};

enum class SavePolicy {
  kNow,   // queue an upload now, on the background uploader (default)
  kEnd,   // remember the file; upload its content as it is at finish()
  kLive,  // upload now, again whenever the file changes (debounced; a file
          // replaced by rename counts), and at finish()
};

struct SaveOptions {
  // Names are the matched paths relative to base_path, component by component;
  // nothing outside base_path is saved. Default: the run's files directory when
  // the glob names files under it (a relative glob is tried there first, then
  // against the working directory), else the working directory. A relative
  // base_path is taken against the working directory.
  std::string base_path;
  SavePolicy policy = SavePolicy::kNow;
  // Treat the glob as a literal path (for names containing []*?). Default false.
  bool literal = false;
};

// What one save committed on the server.
struct SavedFile {
  std::string name;    // path inside the run
  std::uint64_t size = 0;
  std::string sha256;  // lowercase hex
  std::int64_t version = 0;  // 1, 2, 3... per name, in commit order
};

struct RestoreOptions {
  // Which run: "entity/project/run_id", "entity/project/runs/run_id",
  // "project/run_id" or "http(s)://host/entity/project/runs/run_id".
  // Default: the current run (the one init() started in this process).
  std::string run_path;
  // Fetch the store's copy over an existing local file. Default false: an
  // existing local file is returned as it is, with no network.
  bool replace = false;
  // Directory to restore into. Default: the current run's files directory, else
  // the working directory. Intermediate directories are created.
  std::string root;
  // An earlier version (1-based). Default: the latest.
  std::optional<std::int64_t> version;
  // Connection settings (ignored when a current run supplies them and these are empty).
  ClientOptions client;
  // Parallel parts, the content cache, progress (transfer.h).
  TransferOptions transfer;
};

struct RestoreManyOptions {
  // As for RestoreOptions (the latest version of each file is restored).
  std::string run_path;
  bool replace = false;
  std::string root;
  // Files transferred at once. Default 4, or 16 when the matching files
  // average under 4 MiB (CAIRN_PARALLEL_FILES).
  int parallel_files = 0;
  // When true, no target is created or replaced unless every matching file
  // was fetched and verified: files are staged under <root>/.cairn-staging
  // first (kept there, resumable, when something fails) and renamed into
  // place only at the end. Default false: each file is published as soon as
  // it is verified, and a failure leaves the others in place.
  bool all_or_nothing = false;
  ClientOptions client;
  TransferOptions transfer;  // progress is reported per file
};

// One file that restore_many() placed (or found) on local disk.
struct RestoredPath {
  std::string name;             // the file's name inside the run
  std::filesystem::path path;   // root/name
  std::string sha256;           // empty when an existing local copy was kept
  bool downloaded = false;      // bytes came over the network in this call
};

struct FinishOptions {
  // How long finish() waits for queued uploads before giving up on them.
  // Default 10 minutes (CAIRN_FINISH_TIMEOUT_S).
  std::chrono::milliseconds timeout = std::chrono::minutes(10);
  // The run's program failed (an exception, a nonzero exit). Everything is
  // uploaded and the run closed as usual, but <dir>/cairn/resume.json is
  // kept, so init(resume="auto") in the same directory continues the run.
  // Default false: a successful finish deletes the resume file.
  bool failed = false;
};

// What the background uploader has done so far (Run::upload_stats()).
struct UploadStats {
  std::uint64_t queued = 0;     // uploads waiting or in flight
  std::uint64_t committed = 0;  // new versions committed
  std::uint64_t unchanged = 0;  // skipped: same digest as the last committed version
  std::uint64_t failed = 0;     // given up (non-retryable error, or finish timed out)
  std::uint64_t retries = 0;    // attempts repeated after a transient failure
  std::uint64_t bytes_sent = 0;
};

// A run started by init(). A cheap, copyable handle; copies share state.
// Thread-safe.
class Run {
 public:
  const std::string& entity() const;
  const std::string& project() const;
  const std::string& id() const;
  // "entity/project/id"
  std::string path() const;
  // The run's local files directory: <dir>/cairn/run-<YYYYMMDD_HHMMSS>-<id>/files
  // (a "-2", "-3"... suffix after the id when that directory exists already,
  // e.g. a resume within the same second): always fresh.
  const std::filesystem::path& dir() const;
  // True when init() resumed an existing run rather than creating one.
  bool resumed() const;

  // Expands `glob` now (see SaveOptions) and hands the files to the run's
  // background uploader (kNow, kLive) or records them for finish() (kEnd);
  // returns the names, sorted, without waiting for the network. A glob that
  // matches nothing, or a file outside base_path, is kInvalidArgument naming
  // it, and nothing is queued. Uploads retry transient failures (connection
  // errors, 408, 429 with Retry-After, 5xx) with backoff; content equal to
  // the last committed version is not sent again. Offline, the files are
  // recorded in the run's local directory for `cairn sync`; disabled, nothing
  // happens. kFailedPrecondition after finish().
  StatusOr<std::vector<std::string>> save(const std::string& glob, const SaveOptions& options = {});

  // Waits until every upload queued so far has committed or failed, at most
  // `timeout`. OK when all committed; otherwise the error names the files that
  // did not (kDeadlineExceeded when time ran out). Uploads continue afterwards.
  Status flush(std::chrono::milliseconds timeout = std::chrono::minutes(10));

  // The version this run last committed for `name`, if any (since init).
  // When the last upload found the content unchanged, the version that
  // already holds it. Offline: what save() recorded locally, with version 0.
  std::optional<SavedFile> last_saved(const std::string& name) const;
  UploadStats upload_stats() const;

  // restore() with this run as the default run_path and its files dir as root.
  StatusOr<std::optional<RestoredFile>> restore(const std::string& name,
                                               const RestoreOptions& options = {}) const;

  // Uploads the current content of every kEnd and kLive file, waits for all
  // queued uploads (at most options.timeout), then closes the run: save()
  // fails with kFailedPrecondition afterwards, the process's current run is
  // cleared and, when everything was uploaded, <dir>/cairn/resume.json is
  // deleted. The error names every file that could not be uploaded (those
  // stay on local disk; the run keeps its resume file so it can be resumed).
  // Idempotent. A process that exits without finish() loses at most the
  // uploads still in flight, never versions already committed.
  Status finish(const FinishOptions& options = {});

  struct Impl;  // private; not part of the API
  explicit Run(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

 private:
  std::shared_ptr<Impl> impl_;
};

// Starts or resumes a run and makes it the process's current run.
// Errors: kInvalidArgument (bad id/entity/project/mode), kAlreadyExists
// (resume "never" and the id exists), kNotFound (resume "must" and it does
// not), kUnauthenticated / kPermissionDenied, kUnavailable (server down).
StatusOr<Run> init(const InitOptions& options = {});

// The run init() started in this process and that has not finished, if any.
std::optional<Run> current_run();

// Brings `name` of a run back into a local directory, per docs/spec/restore.md:
//  - an open RestoredFile (existing local copy, or downloaded, verified and
//    atomically published);
//  - std::nullopt ("nothing") when the run exists but has no such file or
//    version, or in disabled mode when the file is not local;
//  - an error: kInvalidArgument (name, run path), kNotFound (run, project or
//    entity), kUnauthenticated / kPermissionDenied, kDataLoss (digest or size
//    mismatch; the target is untouched), kUnavailable (network),
//    kFailedPrecondition (offline and not local; a directory at the target).
StatusOr<std::optional<RestoredFile>> restore(const std::string& name,
                                             const RestoreOptions& options = {});

// Restores every file of a run whose name matches `pattern`, at most
// options.parallel_files at a time, each as restore() would (local copy kept
// unless replace; cache; resumable, verified, atomic). `pattern` is a glob
// over names ("ckpt/*", "*.pt", "ckpt/step-?.pt"; `*` and `?` do not cross
// `/`), or a literal name, which also matches every file under it as a
// directory ("ckpt" and "ckpt/" take all of ckpt/). Returns the matched
// files sorted by name; an empty list when nothing matches (or disabled
// mode). Errors as for restore(); when some files fail, the error names them
// and says how many succeeded.
StatusOr<std::vector<RestoredPath>> restore_many(const std::string& pattern,
                                                 const RestoreManyOptions& options = {});

}  // namespace cairn
