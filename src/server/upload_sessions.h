// Resumable multipart uploads, server side (docs/adr/0008-uploads-by-reference-and-in-parts.md,
// docs/http-api.md "Uploads in parts"): sessions whose parts are staged on
// local disk under the data directory, whatever the blob store, and that
// survive a server restart.
//
// Layout under the root (DATA/uploads):
//   <id>/session.json  what the session is for (written once, atomically);
//                      its mtime is the session's last activity
//   <id>/data          the file being assembled, parts written at their offsets
//   <id>/parts/<n>     empty marker: part n is in `data`, fsynced and complete
// A part is only marked after its bytes are durable, so a crash at any point
// loses at most the parts in flight. Sessions idle for longer than the
// time-to-live are removed (at open and whenever a session is created).
//
// Thread-safe. Parts of one session may be written concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cairn/status.h"
#include "common/thread_annotations.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace cairn::internal {

struct UploadSession {
  std::string id;  // 32 lowercase hex digits, unguessable
  RunKey run;
  std::string name;
  std::string sha256;  // the whole file's expected digest
  std::uint64_t size = 0;
  std::uint64_t part_size = 0;
  long long created_ms = 0;
  long long touched_ms = 0;  // last activity; expires at touched_ms + ttl
  std::vector<std::uint64_t> parts_received;  // ascending

  std::uint64_t part_count() const { return size == 0 ? 1 : (size + part_size - 1) / part_size; }
  // Bytes of part n (the last one may be short).
  std::uint64_t PartLength(std::uint64_t n) const;
};

class UploadSessions {
 public:
  // Sessions accept parts of at least kMinPartSize bytes (except the last)
  // and at most kMaxParts parts.
  static constexpr std::uint64_t kMinPartSize = 1 << 20;
  static constexpr std::uint64_t kMaxParts = 10000;
  static constexpr std::chrono::hours kDefaultTtl{24};

  // Creates `root` when missing and removes expired sessions.
  static StatusOr<std::unique_ptr<UploadSessions>> Open(const std::filesystem::path& root, std::chrono::seconds ttl);

  // kInvalidArgument when part_size or size is out of bounds;
  // kResourceExhausted when the disk is full.
  StatusOr<UploadSession> Create(const RunKey& run, const std::string& name, const std::string& sha256,
                                 std::uint64_t size, std::uint64_t part_size);
  // kNotFound (message says to start a new upload) when absent or expired.
  StatusOr<UploadSession> Get(const std::string& id);
  // A writer for part `n`: Append() writes at the part's offset; Commit(sha,
  // size) checks the length (and the part's SHA-256 when `sha` is not empty),
  // makes the bytes durable and marks the part. Sending a part again
  // replaces it.
  StatusOr<std::unique_ptr<BlobWriter>> NewPartWriter(const UploadSession& session, std::uint64_t n);
  // Makes the assembled file a blob of `blobs`, its size and digest verified:
  // moved in place when the store can adopt local files (LocalFileAdopter),
  // else streamed through a BlobWriter. OK at once when the store already
  // holds the blob (a completion retried after the blob was stored).
  // kDataLoss on a mismatch (the session is then removed, its parts being
  // wrong); kFailedPrecondition naming the missing parts when some were not
  // received; kUnavailable while another completion of it is in progress.
  Status AssembleInto(const UploadSession& session, BlobStore& blobs);
  // Removes a session (no error when already gone).
  void Remove(const std::string& id);

  std::chrono::seconds ttl() const { return ttl_; }

 private:
  UploadSessions(std::filesystem::path root, std::chrono::seconds ttl) : root_(std::move(root)), ttl_(ttl) {}
  void RemoveExpired();
  std::filesystem::path Dir(const std::string& id) const { return root_ / id; }

  const std::filesystem::path root_;
  const std::chrono::seconds ttl_;
  Mutex mu_;
  std::set<std::string> completing_ CAIRN_GUARDED_BY(mu_);  // ids being assembled
};

}  // namespace cairn::internal
