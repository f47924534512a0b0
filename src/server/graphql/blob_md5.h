// MD5 of stored blobs, for W&B clients (which identify file contents by the
// base64 of the raw MD5 digest). Cairn addresses blobs by SHA-256; the MD5 is
// computed from the stored bytes, never from what a client claims, and kept
// in the MetadataStore (GetBlobMd5/PutBlobMd5, table blob_md5).
//
// Two paths fill it: Md5Indexer hashes each newly committed blob in the
// background, so uploads do not wait for it and a W&B client asking later
// finds it ready; BlobMd5Base64 computes it on demand for a blob the indexer
// has not reached (a queue overflow, a restart, blobs from before migration 2).
// Private to src/server; free of Boost.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <utility>

#include "cairn/status.h"
#include "common/thread_annotations.h"
#include "server/upload_events.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace cairn::internal::graphql {

// The base64 MD5 of the blob `sha256` of `size` bytes: the recorded one, or
// computed now by streaming the blob while checking its SHA-256 and size
// (kDataLoss when they do not match: the store is damaged) and recorded.
// With `cancel`, kUnavailable as soon as it becomes true. Thread-safe.
StatusOr<std::string> BlobMd5Base64(MetadataStore& metadata, BlobStore& blobs, const std::string& sha256,
                                    std::uint64_t size, const std::atomic<bool>* cancel = nullptr);

// One background thread that records the MD5 of the blobs given to Enqueue().
// Best effort: failures are left for BlobMd5Base64 to meet (and report) on
// demand. Thread-safe. As an UploadObserver it queues each committed blob
// that came with bytes.
class Md5Indexer final : public UploadObserver {
 public:
  // The stores must outlive the indexer.
  Md5Indexer(MetadataStore* metadata, BlobStore* blobs);
  // Stops the thread: the blob being hashed is abandoned, the queue dropped.
  ~Md5Indexer() override;
  Md5Indexer(const Md5Indexer&) = delete;
  Md5Indexer& operator=(const Md5Indexer&) = delete;

  // Queues a committed blob; never blocks. Over kMaxQueued blobs waiting, the
  // new one is dropped (it will be hashed on demand).
  void Enqueue(std::string sha256, std::uint64_t size);
  // Enqueue(upload.sha256, upload.size) unless it is a commit by reference.
  void OnCommitted(const CommittedUpload& upload) override;
  // Waits until nothing is queued or being hashed (for tests).
  void WaitIdle();
  // Waits while the thread is hashing `sha256`, so that a request needing
  // that MD5 does not read the blob a second time.
  void AwaitInFlight(const std::string& sha256);
  // Blobs waiting or being hashed (the cairn_md5_indexer_queue_length gauge).
  std::size_t QueueLength();

  static constexpr std::size_t kMaxQueued = 4096;

 private:
  void Loop();

  MetadataStore* metadata_;
  BlobStore* blobs_;
  Mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, std::uint64_t>> queue_ CAIRN_GUARDED_BY(mu_);
  std::string current_ CAIRN_GUARDED_BY(mu_);  // being hashed, "" when idle
  bool stop_ CAIRN_GUARDED_BY(mu_) = false;
  std::atomic<bool> cancel_{false};  // set with stop_, read by the hashing loop
  std::thread thread_;               // last: starts after the members it uses
};

}  // namespace cairn::internal::graphql
