// Committed uploads as events: the upload routes announce each new file
// version to the observers subscribed when the server starts (the W&B MD5
// indexer today; metrics or an audit log tomorrow), so that the upload path
// depends on none of them. Private to src/server; free of Boost.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/metadata_store.h"

namespace cairn::internal {

// A file version that was just committed: its blob is stored whole and
// verified, and its metadata row is written.
struct CommittedUpload {
  RunKey run;
  std::string name;
  std::string sha256;
  std::uint64_t size = 0;
  std::int64_t version = 0;
  // True for a commit by reference: no bytes were sent, the blob was
  // committed (and announced) before.
  bool by_reference = false;
};

class UploadObserver {
 public:
  virtual ~UploadObserver() = default;
  // Called on the request's thread once the commit is durable, before the
  // client is answered: must not block (queue the work) and cannot fail the
  // upload. Called concurrently for different uploads.
  virtual void OnCommitted(const CommittedUpload& upload) = 0;
};

// The observers of committed uploads, fixed when the server starts (the
// observers outlive it). Thread-safe.
class UploadEvents {
 public:
  void Subscribe(UploadObserver* observer) { observers_.push_back(observer); }
  void Committed(const CommittedUpload& upload) const {
    for (UploadObserver* o : observers_) o->OnCommitted(upload);
  }

 private:
  std::vector<UploadObserver*> observers_;
};

}  // namespace cairn::internal
