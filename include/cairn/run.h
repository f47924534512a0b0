// Runs: init() starts (or resumes) a run, save() uploads its files, restore()
// brings a file of this or an earlier run back, finish() closes it.
//
// The contract for restore and run paths is docs/spec/restore.md; comments
// here summarise it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/restored_file.h"
#include "cairn/settings.h"
#include "cairn/status.h"

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
};

enum class SavePolicy {
  kNow,  // upload during save() (default)
  kEnd,  // remember the file; upload its content as it is at finish()
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
  // The run's local files directory: <dir>/cairn/run-<YYYYMMDD_HHMMSS>-<id>/files.
  const std::filesystem::path& dir() const;
  // True when init() resumed an existing run rather than creating one.
  bool resumed() const;

  // Uploads the files matching `glob` (policy kNow) or records them for
  // finish() (kEnd). Returns what was committed now (empty for kEnd). A glob
  // that matches nothing is kInvalidArgument naming it. Fails on the first
  // file that cannot be uploaded; files committed before it stay committed.
  StatusOr<std::vector<SavedFile>> save(const std::string& glob, const SaveOptions& options = {});

  // restore() with this run as the default run_path and its files dir as root.
  StatusOr<std::optional<RestoredFile>> restore(const std::string& name,
                                               const RestoreOptions& options = {}) const;

  // Uploads every kEnd file, then closes the run. Idempotent; afterwards save()
  // fails with kFailedPrecondition. Clears the process's current run.
  Status finish();

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

}  // namespace cairn
