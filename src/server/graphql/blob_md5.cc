#include "server/graphql/blob_md5.h"

#include <openssl/evp.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "common/sha256.h"
#include "server/auth.h"

namespace cairn::internal::graphql {

StatusOr<std::string> BlobMd5Base64(MetadataStore& metadata, BlobStore& blobs, const std::string& sha256,
                                    std::uint64_t size, const std::atomic<bool>* cancel) {
  StatusOr<std::optional<std::string>> known = metadata.GetBlobMd5(sha256);
  if (!known.ok()) return known.status();
  if (known->has_value()) return **known;
  StatusOr<std::unique_ptr<BlobReader>> reader = blobs.Open(sha256, 0, size);
  if (!reader.ok()) return reader.status();
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> md5(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!md5 || EVP_DigestInit_ex(md5.get(), EVP_md5(), nullptr) != 1) {
    return InternalError("OpenSSL cannot compute MD5 (is the default provider loaded?)");
  }
  Sha256 sha;
  // At most 1 MiB, no larger than the blob, and not zero-filled: a small
  // blob's MD5 used to begin by clearing 1 MiB (3% of a server's CPU while
  // it indexed the blobs of a save of many small files).
  const auto cap = static_cast<std::size_t>(std::clamp<std::uint64_t>(size, 1, 1 << 20));
  std::unique_ptr<char[]> buf(new char[cap]);
  std::uint64_t total = 0;
  for (;;) {
    if (cancel != nullptr && cancel->load()) return UnavailableError("MD5 of blob " + sha256 + " abandoned: stopping");
    StatusOr<std::size_t> n = (*reader)->Read(buf.get(), cap);
    if (!n.ok()) return n.status();
    if (*n == 0) break;
    EVP_DigestUpdate(md5.get(), buf.get(), *n);
    sha.Update(buf.get(), *n);
    total += *n;
  }
  if (total != size || sha.FinishHex() != sha256) {
    return DataLossError("the stored bytes of blob " + sha256 +
                         " do not match their SHA-256: the blob store is damaged; restore it from a replica or backup");
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(md5.get(), digest, &len);
  std::string md5_b64 = EncodeBase64(std::string_view(reinterpret_cast<const char*>(digest), len));
  if (Status s = metadata.PutBlobMd5(sha256, md5_b64); !s.ok()) return s;
  return md5_b64;
}

Md5Indexer::Md5Indexer(MetadataStore* metadata, BlobStore* blobs)
    : metadata_(metadata), blobs_(blobs), thread_([this] { Loop(); }) {}

Md5Indexer::~Md5Indexer() {
  {
    MutexLock lock(mu_);
    stop_ = true;
    cancel_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Md5Indexer::OnCommitted(const CommittedUpload& upload) {
  if (!upload.by_reference) Enqueue(upload.sha256, upload.size);
}

void Md5Indexer::Enqueue(std::string sha256, std::uint64_t size) {
  {
    MutexLock lock(mu_);
    if (stop_ || queue_.size() >= kMaxQueued) return;
    queue_.emplace_back(std::move(sha256), size);
  }
  cv_.notify_all();
}

void Md5Indexer::WaitIdle() {
  MutexLock lock(mu_);
  cv_.wait(lock.unique(), [this]() CAIRN_REQUIRES(mu_) { return stop_ || (queue_.empty() && current_.empty()); });
}

std::size_t Md5Indexer::QueueLength() {
  MutexLock lock(mu_);
  return queue_.size() + (current_.empty() ? 0 : 1);
}

void Md5Indexer::AwaitInFlight(const std::string& sha256) {
  MutexLock lock(mu_);
  cv_.wait(lock.unique(), [&]() CAIRN_REQUIRES(mu_) { return stop_ || current_ != sha256; });
}

void Md5Indexer::Loop() {
  // The lowest CPU priority for this thread alone (Linux: a thread id is a
  // process id for setpriority), so hashing yields to uploads and downloads.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 19);
  MutexLock lock(mu_);
  for (;;) {
    cv_.wait(lock.unique(), [this]() CAIRN_REQUIRES(mu_) { return stop_ || !queue_.empty(); });
    if (stop_) return;
    auto [sha256, size] = std::move(queue_.front());
    queue_.pop_front();
    current_ = sha256;
    lock.Unlock();
    (void)BlobMd5Base64(*metadata_, *blobs_, sha256, size, &cancel_);  // failures: met again on demand
    lock.Lock();
    current_.clear();
    cv_.notify_all();
  }
}

}  // namespace cairn::internal::graphql
