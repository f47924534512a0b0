// How Run::save() turns a glob into (local path, name in the run) pairs.
// Pure filesystem logic, no network; unit-tested in save_glob_test.cc.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "cairn/status.h"

namespace cairn::internal {

struct SaveTarget {
  std::filesystem::path local;  // absolute, lexically normal
  std::string name;             // the file's name inside the run ('/'-separated)
};

// The name of `path` relative to `base`, computed component by component
// (std::filesystem::lexically_relative on absolute, lexically normalised
// paths; relative ones are taken against `cwd`). Symlinks are not resolved.
// kInvalidArgument when `path` is not strictly inside `base`, or when the
// resulting name is not a valid file name (ValidateFileName).
StatusOr<std::string> NameUnderBase(const std::filesystem::path& path, const std::filesystem::path& base,
                                    const std::filesystem::path& cwd);

// Expands `pattern` (glob(3) syntax; `literal` takes it as a plain path) at
// call time into sorted targets, skipping directories.
//  - A relative pattern is first tried under `files_dir` (the run's files
//    directory), then under `cwd`; an absolute one is used as it is.
//  - base_path given: names are relative to it (relative base_path against cwd).
//  - base_path empty: names are relative to `files_dir` when every match lies
//    under it, else relative to `cwd`.
// kInvalidArgument naming the pattern when it matches no file, or when a match
// lies outside the base (naming that file and suggesting base_path).
StatusOr<std::vector<SaveTarget>> ExpandSaveGlob(const std::string& pattern, const std::string& base_path, bool literal,
                                                 const std::filesystem::path& files_dir,
                                                 const std::filesystem::path& cwd);

}  // namespace cairn::internal
