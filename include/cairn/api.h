// The public API over stored runs and files, without starting a run.
//
//   cairn::Api api;
//   auto run = api.run("alice/mnist/1a2b3c4d");
//   for (auto& f : *run->files()) ...
//   auto file = run->file("model.pt")->download({.root = "/tmp/w", .replace = true});
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cairn/restored_file.h"
#include "cairn/settings.h"
#include "cairn/status.h"
#include "cairn/transfer.h"

namespace cairn {

struct RunInfo {
  std::string entity;
  std::string project;
  std::string id;
  std::string created_at;  // RFC 3339 UTC
  std::string updated_at;  // RFC 3339 UTC
  // "running" (a process holds it and sends heartbeats), "finished", or
  // "crashed" (it stopped sending heartbeats without finishing).
  std::string state;
  std::string config = "{}";  // the run's config: a JSON object as text
  std::string path() const { return entity + "/" + project + "/" + id; }
};

struct FileInfo {
  std::string name;           // path inside the run
  std::uint64_t size = 0;
  std::string sha256;         // lowercase hex
  std::int64_t version = 0;   // 1-based
  std::string updated_at;     // RFC 3339 UTC, when this version committed
};

struct DownloadOptions {
  std::string root;       // default: the working directory
  bool replace = false;   // overwrite an existing local file with the store's copy
  bool exist_ok = false;  // an existing local file is returned as it is (else kAlreadyExists)
  TransferOptions transfer;  // parallel parts, the content cache, progress (transfer.h)
};

class StoredFile;

// A run in the store. Cheap to copy; thread-safe.
class StoredRun {
 public:
  const RunInfo& info() const { return info_; }
  std::string path() const { return info_.path(); }
  // Every file's latest version, sorted by name (all pages).
  StatusOr<std::vector<FileInfo>> files() const;
  // Every version of one file, oldest first. Empty when the run has no such file.
  StatusOr<std::vector<FileInfo>> versions(const std::string& name) const;
  // A file's latest version (or `version`); kNotFound when the run lacks it.
  StatusOr<StoredFile> file(const std::string& name,
                            std::optional<std::int64_t> version = std::nullopt) const;

  struct Conn;  // private
  StoredRun(std::shared_ptr<Conn> conn, RunInfo info) : conn_(std::move(conn)), info_(std::move(info)) {}

 private:
  std::shared_ptr<Conn> conn_;
  RunInfo info_;
};

// One version of a stored file.
class StoredFile {
 public:
  const FileInfo& info() const { return info_; }
  // Downloads to root/name with the same verified, atomic engine as restore().
  StatusOr<RestoredFile> download(const DownloadOptions& options = {}) const;

  StoredFile(std::shared_ptr<StoredRun::Conn> conn, RunInfo run, FileInfo info)
      : conn_(std::move(conn)), run_(std::move(run)), info_(std::move(info)) {}

 private:
  std::shared_ptr<StoredRun::Conn> conn_;
  RunInfo run_;
  FileInfo info_;
};

class Api {
 public:
  // Settings resolve once, here; see settings.h.
  explicit Api(const ClientOptions& options = {});
  // kInvalidArgument for a bad run path; kNotFound when the run does not exist.
  StatusOr<StoredRun> run(const std::string& run_path) const;
  // All runs of "entity/project" (or "project" with the default entity),
  // oldest first.
  StatusOr<std::vector<RunInfo>> runs(const std::string& entity_project) const;

 private:
  Status init_status_;
  std::shared_ptr<StoredRun::Conn> conn_;
};

}  // namespace cairn
