// The two ways Client::Upload avoids sending a file as one plain PUT
// (docs/uploads.md, docs/adr/0008-uploads-by-reference-and-in-parts.md):
//   - CommitByReference: the server already holds the digest for this entity,
//     so the version is committed without sending a byte;
//   - UploadInParts: a large file goes as a resumable upload in parts, sent in
//     parallel; the session id is kept in <dir>/cairn/uploads/ so that a
//     later attempt, in this process or another, sends only missing parts.
// Private to the SDK.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "cairn/api.h"
#include "cairn/status.h"
#include "common/validate.h"
#include "sdk/internal/client.h"
#include "sdk/internal/connection.h"

namespace cairn::internal {

// Files smaller than this are sent without asking first: the question would
// cost about as much as the bytes.
inline constexpr std::uint64_t kByReferenceMinBytes = 64 * 1024;

// PartOptions: tunables.h.

// Paces every upload of this process to `bytes_per_s`
// (CAIRN_MAX_SEND_BYTES_PER_S; 0: no limit); for tests and shared links.
// Call after sending `n` bytes.
void ThrottleSend(std::size_t n, std::uint64_t bytes_per_s);

// One file being uploaded: what Client::Upload knows once it has hashed it.
struct FileUpload {
  const RunPath& run;
  const std::string& name;
  const std::filesystem::path& local;
  int fd;  // open on `local`; the bytes are read through it
  const std::string& sha256;
  std::uint64_t size;
  const ProgressFn& progress;        // may be empty; called from several threads, never at once
  std::function<bool()> cancelled;   // may be empty
  std::optional<RetryPolicy> retry;  // replaces the connection's policy when set
  std::uint64_t max_send_bytes_per_s = 0;  // 0: no limit
};

// PUT .../files/{name} with X-Cairn-By-Reference: 1 and no body. The new
// version, or nullopt when the server does not hold these bytes for the
// run's entity (then send them).
StatusOr<std::optional<FileInfo>> CommitByReference(Connection& connection, const FileUpload& file);

// Sends `file` as an upload in parts (creating or resuming the session kept
// under `state_dir`) and completes it. kFailedPrecondition when the server
// found that the assembled bytes do not match the digest (the file changed
// while it was sent); kDeadlineExceeded when cancelled; kUnavailable when the
// server cannot be reached (a later call resumes).
StatusOr<FileInfo> UploadInParts(Connection& connection, const FileUpload& file, const PartOptions& options,
                                 const std::filesystem::path& state_dir);

}  // namespace cairn::internal
