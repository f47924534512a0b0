// The part workers of a download: each takes the next part and fetches it
// with one call on the connection (which resumes it by range after a lost
// connection), writing its bytes or handing them to the ring.
#include <unistd.h>

#include <mutex>

#include "sdk/internal/client_impl.h"
#include "sdk/internal/partial_download.h"

namespace cairn::internal {

using namespace download;  // NOLINT(google-build-using-namespace): the downloader's own constants

namespace {

// Whether the first bytes of an answer can continue a part at `at`: a 200
// to a ranged request sets *restart (If-Range did not match, or ranges are
// not served: these bytes cannot be combined with what we have); a wrong
// Content-Range or another status is an error.
Status CheckStart(const HttpClientResponse& response, bool whole, std::uint64_t at, const std::string& what,
                  bool* restart) {
  if (response.status == 200 && (!whole || at != 0)) {
    *restart = true;
    return OkStatus();
  }
  if (response.status == 206) {
    auto start = ContentRangeStart(response.Header("content-range"));
    if (!start || *start != at) {
      return InternalError(what + ": the server answered the wrong range (Content-Range '" +
                           response.Header("content-range") + "', expected start " + std::to_string(at) + ")");
    }
    return OkStatus();
  }
  if (response.status != 200) return InternalError(what + ": unexpected HTTP " + std::to_string(response.status));
  return OkStatus();
}

// What a part's final outcome means when its bytes did not all arrive.
Status FinalStatus(const Outcome& outcome, const HttpClientRequest& req, const Connection& connection,
                   const std::string& what, std::uint64_t size) {
  if (auto* resp = std::get_if<HttpClientResponse>(&outcome)) {
    if (resp->status == 200 || resp->status == 206) {
      return UnavailableError(what + ": the server's answers keep ending early");
    }
    if (resp->status == 416) {
      return DataLossError(what + ": the server holds fewer than the " + std::to_string(size) +
                           " bytes its metadata announces; the stored copy may be corrupt");
    }
    if (resp->status == 404 && ErrorCode(*resp) == "file_not_found") {
      return NotFoundError(what + " is no longer in the store (it was there a moment ago)");
    }
    return StatusFromResponse(*resp, req.method, connection.Url(req.target), what, connection.has_api_key());
  }
  return std::get<TransportError>(outcome).status;
}

}  // namespace

void PartialDownload::Worker(bool whole) {
  Throttle throttle(transfer_.max_recv_bytes_per_sec);
  while (!stop_.load()) {
    Part* part;
    {
      MutexLock lock(mu_);
      if (next_part_ >= parts_.size()) break;
      part = &parts_[next_part_++];
    }
    Status st = FetchPart(*part, whole, throttle);
    if (!st.ok() && transfer_.cancelled && transfer_.cancelled()) {
      st = CancelledError("the restore of " + what_ + " was cancelled");  // a retry wait cut short by it
    }
    if (!st.ok()) {
      MutexLock lock(mu_);
      if (error_.ok() && !stop_.load()) error_ = st;
      stop_ = true;
      space_cv_.notify_all();
      break;
    }
  }
  MutexLock lock(mu_);
  --active_workers_;
  cv_.notify_all();
}

Status PartialDownload::FetchPart(Part& part, bool whole, Throttle& throttle) {
  Status local_error;
  bool restart = false;  // a ranged request was answered with the whole file
  bool started = false;
  HttpClientRequest req;
  req.target = url_target_;
  req.follow_redirects = true;  // presigned object-store URLs; the digest is checked all the same
  // Polled by libcurl's progress callback (when the peer is silent) and for
  // every chunk: libcurl calls the progress callback only between batches of
  // up to 100 reads, seconds apart while the socket never drains.
  req.cancelled = transfer_.cancelled;
  if (receive_into_ring_) req.body_buffer = [&] { return RingSpace(part, part.begin + part.received); };
  req.on_body = [&](const HttpClientResponse& response, const char* data, std::size_t n) {
    if (stop_.load() || (transfer_.cancelled && transfer_.cancelled())) return false;
    const std::uint64_t at = part.begin + part.received;
    if (!started) {
      started = true;
      local_error = CheckStart(response, whole, at, what_, &restart);
      if (restart || !local_error.ok()) return false;
    }
    if (at + n > part.end) {
      local_error = DataLossError("integrity check failed for " + file_.name + ": the server sent more than the " +
                                  std::to_string(file_.size) +
                                  " bytes it announced; the stored copy may be corrupt; the local target was not "
                                  "changed");
      return false;
    }
    if (!ToRing(part, at, data, n)) {
      if (Status st = PwriteAll(fd_, data, n, at, partial_); !st.ok()) {
        local_error = st;
        return false;
      }
      part.written += n;
      // Run() has work only when the hashing front is in this part: waking
      // it for every chunk cost a futex wake and two context switches each.
      if (part.begin <= hashed_.load()) cv_.notify_one();
    }
    if (stop_.load()) return false;
    part.received += n;
    throttle.Received(n);
    return true;
  };

  // Each attempt asks for what is still missing; an attempt that brought
  // bytes restarts the retry budget; a connection that broke after the last
  // byte is done (the digest is checked at the end).
  const auto done = [&] { return part.begin + part.received == part.end; };
  CallOptions options{
      .cancelled = [&] { return stop_.load() || (transfer_.cancelled && transfer_.cancelled()); },
      .before_attempt =
          [&](HttpClientRequest& r) {
            const std::uint64_t at = part.begin + part.received;
            r.headers.clear();
            if (!(whole && at == 0)) {
              r.headers.push_back("Range: bytes=" + std::to_string(at) + "-" + std::to_string(part.end - 1));
              // Continuing bytes received earlier (by this call or one before
              // it): only if the stored bytes are still the ones we started
              // with, else the server answers 200 with all of them. The first
              // request of a fresh part needs no validator (the digest is
              // checked at the end), which keeps ranged parts working through
              // presigned object-store URLs, whose ETag is not our SHA-256.
              if (resumed_ || at > part.begin) r.headers.push_back("If-Range: \"" + file_.sha256 + "\"");
            }
            started = false;
            local_error = OkStatus();
          },
      .after_attempt = [&](const Outcome&) { FlushRing(part); },
      .done = done,
      .progress = [&] { return part.received; }};
  CallResult call = connection_.Call(req, options);
  if (transfer_.cancelled && transfer_.cancelled()) return CancelledError("the restore of " + what_ + " was cancelled");
  if (stop_.load()) return OkStatus();  // another part failed; it reports
  if (restart) {
    MutexLock lock(mu_);
    must_restart_ = true;
    return FailedPreconditionError(what_ + ": the server would not send a range of it (If-Range did not match)");
  }
  if (!local_error.ok()) return local_error;  // disk full, corrupt stream: not retried
  if (done()) return OkStatus();
  return FinalStatus(call.outcome, req, connection_, what_, file_.size);
}

}  // namespace cairn::internal
