#include "sdk/internal/upload_parts.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "common/fs.h"
#include "common/sha256.h"
#include "common/thread_annotations.h"
#include "sdk/internal/client_impl.h"

namespace cairn::internal {
namespace {

using json = nlohmann::json;

std::string Describe(const FileUpload& f) { return "saving " + f.name + " to run " + f.run.ToString(); }

// What the server says about a session (docs/http-api.md, Uploads in parts).
struct Session {
  std::string id;
  std::uint64_t part_size = 0;
  std::vector<std::uint64_t> received;  // ascending
};

StatusOr<Session> SessionFromJson(const HttpClientResponse& resp, const FileUpload& f) {
  json j = json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  Session s;
  try {
    s.id = j.at("upload_id").get<std::string>();
    s.part_size = j.at("part_size").get<std::uint64_t>();
    s.received = j.at("parts_received").get<std::vector<std::uint64_t>>();
    if (j.at("sha256").get<std::string>() != f.sha256 || j.at("size").get<std::uint64_t>() != f.size) {
      return FailedPreconditionError("upload " + s.id + " is for other content");
    }
  } catch (const json::exception& e) {
    return InternalError("unexpected answer from the server for " + Describe(f) + ": " + e.what());
  }
  if (s.part_size == 0) return InternalError("the server announced parts of 0 bytes for " + Describe(f));
  std::sort(s.received.begin(), s.received.end());
  return s;
}

Status ErrorFrom(Connection& connection, const HttpClientResponse& resp, const HttpClientRequest& req,
                 const FileUpload& f) {
  return StatusFromResponse(resp, req.method, connection.Url(req.target), Describe(f), connection.has_api_key());
}

// The session recorded for this content, if the server still has it.
StatusOr<std::optional<Session>> ResumeSession(Connection& connection, const FileUpload& f, const std::string& id) {
  HttpClientRequest req;
  req.target = "/api/v1/uploads/" + UrlEncode(id);
  StatusOr<HttpClientResponse> resp = CallForAnswer(connection, req, {.policy = f.retry});
  if (!resp.ok()) return resp.status();
  // Gone, or another key's: start a new one.
  if (resp->status == 404 || resp->status == 403) return std::optional<Session>();
  if (resp->status != 200) return ErrorFrom(connection, *resp, req, f);
  StatusOr<Session> s = SessionFromJson(*resp, f);
  if (s.status().code() == StatusCode::kFailedPrecondition) return std::optional<Session>();
  if (!s.ok()) return s.status();
  return std::optional<Session>(std::move(s).value());
}

StatusOr<Session> CreateSession(Connection& connection, const FileUpload& f, std::uint64_t part_size) {
  HttpClientRequest req;
  req.method = "POST";
  req.target = RunTarget(f.run) + "/uploads/" + UrlEncode(f.name, /*keep_slash=*/true);
  req.json_body = json{{"sha256", f.sha256}, {"size", f.size}, {"part_size", part_size}}.dump();
  // Creating twice only leaves an unused session to expire: safe to retry.
  StatusOr<HttpClientResponse> resp = CallForAnswer(connection, req, {.policy = f.retry});
  if (!resp.ok()) return resp.status();
  if (resp->status != 201) return ErrorFrom(connection, *resp, req, f);
  return SessionFromJson(*resp, f);
}

// Calls the progress callback from one thread at a time.
class Progress {
 public:
  Progress(const ProgressFn& fn, std::uint64_t total) : fn_(fn), total_(total) {}
  void Add(std::int64_t delta) {
    MutexLock lock(mu_);
    done_ = static_cast<std::uint64_t>(static_cast<std::int64_t>(done_) + delta);
    if (fn_) fn_(done_, total_);
  }

 private:
  const ProgressFn& fn_;
  const std::uint64_t total_;
  Mutex mu_;
  std::uint64_t done_ CAIRN_GUARDED_BY(mu_) = 0;
};

// PUT one part, retrying (a part may be sent again: it replaces itself).
// kNotFound when the session is gone.
Status SendPart(Connection& connection, const FileUpload& f, const Session& s, std::uint64_t n,
                const std::function<bool()>& stop, Progress& progress) {
  const std::uint64_t start = n * s.part_size;
  const std::uint64_t length = std::min(s.part_size, f.size - start);
  Status local_error;
  std::uint64_t counted = 0;  // bytes of this attempt reported as progress
  HttpClientRequest req;
  req.method = "PUT";
  req.target = "/api/v1/uploads/" + s.id + "/parts/" + std::to_string(n);
  req.body_size = length;
  req.cancelled = stop;
  req.read_body = [&](char* buf, std::size_t want, std::uint64_t offset) -> std::optional<std::size_t> {
    if (offset < counted) {  // a rewind: those bytes go again
      progress.Add(-static_cast<std::int64_t>(counted - offset));
      counted = offset;
    }
    ssize_t got;
    do {
      got = ::pread(f.fd, buf, want, static_cast<off_t>(start + offset));
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
      local_error = ErrnoStatus(errno, "read", f.local);
      return std::nullopt;
    }
    if (got == 0) {
      local_error = FailedPreconditionError(f.local.string() + " became shorter while it was being uploaded as " +
                                            f.name + "; nothing was committed; save it again once it is complete");
      return std::nullopt;
    }
    ThrottleSend(static_cast<std::size_t>(got), f.max_send_bytes_per_s);
    counted += static_cast<std::uint64_t>(got);
    progress.Add(got);
    return static_cast<std::size_t>(got);
  };
  const auto succeeded = [](const Outcome& o) {
    const auto* resp = std::get_if<HttpClientResponse>(&o);
    return resp != nullptr && resp->status / 100 == 2;
  };
  CallResult call = connection.Call(req, {.policy = f.retry,
                                          .before_attempt = [&](HttpClientRequest&) { local_error = OkStatus(); },
                                          .after_attempt =
                                              [&](const Outcome& o) {
                                                // A failed attempt's bytes go again, or not at all.
                                                if (succeeded(o)) return;
                                                progress.Add(-static_cast<std::int64_t>(counted));
                                                counted = 0;
                                              }});
  if (auto* resp = std::get_if<HttpClientResponse>(&call.outcome)) {
    if (resp->status / 100 == 2) return OkStatus();
    if (resp->status == 404 && ErrorCode(*resp) == "upload_not_found") return NotFoundError("upload expired");
    return ErrorFrom(connection, *resp, req, f);
  }
  if (!local_error.ok()) return local_error;
  return std::get<TransportError>(call.outcome).status;
}

// Sends the parts `s` lacks, `parallel` at a time. The first failure stops
// the others.
Status SendMissingParts(Connection& connection, const FileUpload& f, const Session& s, int parallel) {
  const std::uint64_t count = (f.size + s.part_size - 1) / s.part_size;
  std::vector<std::uint64_t> missing;
  std::uint64_t already = 0;
  for (std::uint64_t n = 0; n < count; ++n) {
    if (std::binary_search(s.received.begin(), s.received.end(), n)) {
      already += std::min(s.part_size, f.size - n * s.part_size);
    } else {
      missing.push_back(n);
    }
  }
  Progress progress(f.progress, f.size);
  progress.Add(static_cast<std::int64_t>(already));
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first_error;  // guarded by mu
  const std::function<bool()> stop = [&] { return failed.load() || (f.cancelled && f.cancelled()); };
  auto worker = [&] {
    for (std::size_t i = next++; i < missing.size() && !stop(); i = next++) {
      Status st = SendPart(connection, f, s, missing[i], stop, progress);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.ok() && !failed) first_error = st;
        failed = true;
      }
    }
  };
  const auto threads = static_cast<std::size_t>(std::clamp<std::size_t>(missing.size(), 1, parallel));
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  if (f.cancelled && f.cancelled()) return DeadlineExceededError("cancelled");
  return first_error;
}

// POST .../complete. nullopt when the session is gone without an answer of
// ours, or lacks parts (then the caller resumes or starts over).
StatusOr<std::optional<FileInfo>> Complete(Connection& connection, const FileUpload& f, const Session& s) {
  HttpClientRequest req;
  req.method = "POST";
  req.target = "/api/v1/uploads/" + s.id + "/complete";
  bool ambiguous = false;
  StatusOr<HttpClientResponse> resp = CallForAnswer(connection, req, {.policy = f.retry}, &ambiguous);
  if (!resp.ok()) return resp.status();
  if (resp->status == 201) {
    json j = json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
    StatusOr<FileInfo> info = FileFromJson(j, Describe(f));
    if (!info.ok()) return info.status();
    return std::optional<FileInfo>(*info);
  }
  const std::string code = ErrorCode(*resp);
  if (code == "parts_missing") return std::optional<FileInfo>();
  if (resp->status == 404 && code == "upload_not_found") {
    if (ambiguous) {
      // Our first attempt may have completed it: is that version there?
      HttpClientRequest meta;
      meta.target = RunTarget(f.run) + "/meta/" + UrlEncode(f.name, /*keep_slash=*/true);
      StatusOr<HttpClientResponse> m = CallForAnswer(connection, meta, {.policy = f.retry});
      if (m.ok() && m->status == 200) {
        StatusOr<FileInfo> info = FileFromJson(json::parse(m->body, nullptr, false), Describe(f));
        if (info.ok() && info->sha256 == f.sha256) return std::optional<FileInfo>(*info);
      }
    }
    return std::optional<FileInfo>();
  }
  if (code == "digest_mismatch") {
    return FailedPreconditionError("the server assembled the parts of " + f.local.string() + " into content whose " +
                                   "SHA-256 is not " + f.sha256 + ": the file changed while it was uploaded as " +
                                   f.name + "; nothing was committed; save it again once it is completely written");
  }
  return ErrorFrom(connection, *resp, req, f);
}

// Removes session files left by uploads that never finished (their content
// changed, or nobody saved it again) once the server has surely expired them.
void ForgetStaleSessions(const std::filesystem::path& state_dir) {
  const auto stale = std::filesystem::file_time_type::clock::now() - std::chrono::hours(24 * 7);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(state_dir, ec)) {
    std::error_code e;
    if (entry.path().extension() == ".json" && entry.last_write_time(e) < stale && !e) {
      std::filesystem::remove(entry.path(), e);
    }
  }
}

// ThrottleSend's count of the bytes the process sent since its first call.
Mutex g_sent_mu;
std::uint64_t g_sent_total CAIRN_GUARDED_BY(g_sent_mu) = 0;

}  // namespace

void ThrottleSend(std::size_t n, std::uint64_t bytes_per_s) {
  if (bytes_per_s == 0) return;
  static const auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::time_point due;
  {
    MutexLock lock(g_sent_mu);
    g_sent_total += n;
    due = start + std::chrono::microseconds(g_sent_total * 1000000 / bytes_per_s);
  }
  std::this_thread::sleep_until(due);
}

StatusOr<std::optional<FileInfo>> CommitByReference(Connection& connection, const FileUpload& f) {
  HttpClientRequest req;
  req.method = "PUT";
  req.target = RunTarget(f.run) + "/files/" + UrlEncode(f.name, /*keep_slash=*/true);
  req.headers = {"X-Cairn-Sha256: " + f.sha256, "X-Cairn-Size: " + std::to_string(f.size),
                 "X-Cairn-By-Reference: 1", "Content-Length: 0"};
  // Like any commit, not idempotent: retried only when nothing was committed.
  // (not_held and digest_mismatch are 4xx answers: final.)
  StatusOr<HttpClientResponse> resp =
      CallForAnswer(connection, req, {.idempotency = Idempotency::kUnlessCommitted, .policy = f.retry});
  if (!resp.ok()) return resp.status();
  if (resp->status == 201) {
    StatusOr<FileInfo> info = FileFromJson(json::parse(resp->body, nullptr, false), Describe(f));
    if (!info.ok()) return info.status();
    return std::optional<FileInfo>(*info);
  }
  // not_held; digest_mismatch from a server without commits by reference.
  const std::string code = ErrorCode(*resp);
  if (code == "not_held" || code == "digest_mismatch") return std::optional<FileInfo>();
  return ErrorFrom(connection, *resp, req, f);
}

StatusOr<FileInfo> UploadInParts(Connection& connection, const FileUpload& f, const PartOptions& options,
                                 const std::filesystem::path& state_dir) {
  // One state file per (run, name, content). Not per server: a server that
  // does not know the session answers 404 and a new one is started.
  const std::string key =
      Sha256Hex(f.run.ToString() + "\n" + f.name + "\n" + f.sha256 + "\n" + std::to_string(f.size));
  const std::filesystem::path state_file = state_dir / (key.substr(0, 32) + ".json");
  // Another round only when the session vanished or lacks parts after all.
  for (int round = 0; round < 3; ++round) {
    std::optional<Session> session;
    if (StatusOr<std::string> text = ReadSmallFile(state_file); text.ok()) {
      json j = json::parse(*text, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.contains("upload_id") && j["upload_id"].is_string()) {
        StatusOr<std::optional<Session>> resumed = ResumeSession(connection, f, j["upload_id"].get<std::string>());
        if (!resumed.ok()) return resumed.status();
        session = std::move(resumed).value();
      }
    }
    if (!session) {
      StatusOr<Session> created = CreateSession(connection, f, options.part_size);
      if (!created.ok()) return created.status();
      session = std::move(created).value();
      // Best effort: without it, only this process can resume.
      std::error_code ec;
      std::filesystem::create_directories(state_dir, ec);
      ForgetStaleSessions(state_dir);
      (void)WriteFileAtomic(state_file, json{{"upload_id", session->id},
                                             {"run", f.run.ToString()},
                                             {"name", f.name},
                                             {"sha256", f.sha256},
                                             {"size", f.size}}
                                            .dump());
    }
    Status sent = SendMissingParts(connection, f, *session, options.parallel);
    if (sent.code() == StatusCode::kNotFound) continue;  // expired meanwhile: start over
    if (!sent.ok()) return sent;
    StatusOr<std::optional<FileInfo>> done = Complete(connection, f, *session);
    if (done.ok() && !done->has_value()) continue;
    std::error_code ec;
    if (done.ok() || done.status().code() == StatusCode::kFailedPrecondition) std::filesystem::remove(state_file, ec);
    if (!done.ok()) return done.status();
    return **done;
  }
  return UnavailableError("the server lost the upload of " + f.name + " repeatedly while it was being sent; retry");
}

}  // namespace cairn::internal
