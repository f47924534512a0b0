// Recording the files of an offline run (see offline_run.h): each kept
// in the run's files directory and listed in <run dir>/offline.jsonl.
#include "sdk/internal/offline_run.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <system_error>

#include "common/fs.h"
#include "common/sha256.h"
#include "common/validate.h"

namespace cairn::internal {
namespace {

namespace fs = std::filesystem;

// Keeps a file of an offline run in its files directory (atomically, when it
// must be copied there) and describes it (version 0); nothing is committed
// anywhere.
StatusOr<SavedFile> KeepOffline(const cairn::Run::Impl& impl, const SaveTarget& t) {
  const fs::path dest = (impl.files_dir / t.name).lexically_normal();
  std::error_code ec;
  if (dest != t.local) {
    fs::create_directories(dest.parent_path(), ec);
    if (ec) return ErrnoStatus(ec.value(), "create directory", dest.parent_path());
    fs::path tmp = dest;
    tmp += ".cairn-copy-" + NewRunId();
    fs::copy_file(t.local, tmp, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      fs::remove(tmp, ec);
      return ErrnoStatus(ec.value() ? ec.value() : EIO, "copy to", tmp);
    }
    fs::rename(tmp, dest, ec);
    if (ec) {
      std::error_code ignored;
      fs::remove(tmp, ignored);
      return ErrnoStatus(ec.value(), "rename onto", dest);
    }
  }
  std::uintmax_t size = fs::file_size(dest, ec);
  if (ec) return ErrnoStatus(ec.value(), "stat", dest);
  StatusOr<std::string> sha = Sha256File(dest);
  if (!sha.ok()) return sha.status();
  return SavedFile{t.name, static_cast<std::uint64_t>(size), *sha, 0};
}

const char* PolicyName(SavePolicy p) {
  switch (p) {
    case SavePolicy::kNow:
      return "now";
    case SavePolicy::kEnd:
      return "end";
    case SavePolicy::kLive:
      return "live";
  }
  return "now";
}

// Appends one line to <run dir>/offline.jsonl (O_APPEND: one write per line,
// so concurrent saves never interleave within a line), then fdatasync.
Status AppendManifest(const cairn::Run::Impl& impl, const SavedFile& f, SavePolicy policy) {
  const fs::path manifest = impl.files_dir.parent_path() / "offline.jsonl";
  nlohmann::json line = {{"name", f.name}, {"path", "files/" + f.name},    {"sha256", f.sha256},
                         {"size", f.size}, {"policy", PolicyName(policy)}, {"time", FormatTimeMs(NowMs())}};
  const std::string text = line.dump() + "\n";
  int fd = ::open(manifest.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "open", manifest);
  ssize_t n;
  do {
    n = ::write(fd, text.data(), text.size());
  } while (n < 0 && errno == EINTR);
  int err = errno;
  if (n >= 0 && static_cast<std::size_t>(n) != text.size()) err = ENOSPC;
  if (n >= 0 && static_cast<std::size_t>(n) == text.size() && ::fdatasync(fd) != 0) {
    err = errno;
    n = -1;
  }
  ::close(fd);
  if (n < 0 || static_cast<std::size_t>(n) != text.size()) return ErrnoStatus(err, "append to", manifest);
  return OkStatus();
}

}  // namespace

// Offline: keeps the file and records it in the manifest.
Status RecordOffline(cairn::Run::Impl& impl, const SaveTarget& t, SavePolicy policy) {
  StatusOr<SavedFile> kept = KeepOffline(impl, t);
  if (!kept.ok()) return kept.status();
  if (Status st = AppendManifest(impl, *kept, policy); !st.ok()) return st;
  MutexLock lock(impl.pending_mu);
  impl.offline_saved[kept->name] = *kept;
  return OkStatus();
}

// finish() offline: records the current content of each file saved with
// kEnd or kLive (`at_end`) as version 0; the error names every file that
// could not be recorded.
Status RecordOfflineAtEnd(cairn::Run::Impl& impl, const std::vector<cairn::Run::Impl::Pending>& at_end,
                          const std::string& run_path) {
  std::string failed;
  StatusCode code = StatusCode::kOk;
  for (const cairn::Run::Impl::Pending& p : at_end) {
    SavePolicy policy = SavePolicy::kLive;
    {
      MutexLock lock(impl.pending_mu);
      for (const cairn::Run::Impl::Pending& q : impl.pending) {
        if (q.name == p.name) policy = SavePolicy::kEnd;
      }
    }
    if (Status st = RecordOffline(impl, {p.local, p.name}, policy); !st.ok()) {
      if (code == StatusCode::kOk) code = st.code();
      failed += (failed.empty() ? "" : "; ") + p.name + ": " + st.message();
    }
  }
  if (code == StatusCode::kOk) return OkStatus();
  return Status(code, "finishing offline run " + run_path + ": could not record " + failed);
}

}  // namespace cairn::internal
