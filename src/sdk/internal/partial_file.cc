// Sidecar files, positioned writes and the receive throttle (partial_file.h).
#include "sdk/internal/partial_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/fs.h"

namespace cairn::internal {
namespace {

namespace fs = std::filesystem;

constexpr int kSidecarFormat = 1;

}  // namespace

std::optional<Sidecar> ReadSidecar(const fs::path& path) {
  StatusOr<std::string> text = ReadSmallFile(path);
  if (!text.ok()) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  try {
    if (j.at("format").get<int>() != kSidecarFormat) return std::nullopt;
    Sidecar s{.sha256 = j.at("sha256").get<std::string>(),
              .size = j.at("size").get<std::uint64_t>(),
              .version = j.at("version").get<std::int64_t>()};
    for (const auto& r : j.at("done")) {
      Range range{r.at(0).get<std::uint64_t>(), r.at(1).get<std::uint64_t>()};
      if (range.begin >= range.end || range.end > s.size) return std::nullopt;
      s.done.push_back(range);
    }
    std::sort(s.done.begin(), s.done.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
    for (std::size_t i = 1; i < s.done.size(); ++i) {
      if (s.done[i].begin < s.done[i - 1].end) return std::nullopt;  // overlapping: not ours
    }
    return s;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

void WriteSidecar(const fs::path& path, const Sidecar& s) {
  nlohmann::json done = nlohmann::json::array();
  for (const Range& r : s.done) done.push_back({r.begin, r.end});
  const std::string text =
      nlohmann::json{{"format", kSidecarFormat}, {"sha256", s.sha256}, {"size", s.size}, {"version", s.version},
                     {"done", done}}
          .dump();
  const fs::path tmp = fs::path(path).concat(".tmp-" + RandomSuffix());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return;  // progress is not recorded; the download itself goes on
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) ::unlink(tmp.c_str());
}

Status PwriteAll(int fd, const char* data, std::size_t n, std::uint64_t offset, const fs::path& path) {
  for (std::size_t off = 0; off < n;) {
    const ssize_t w = ::pwrite(fd, data + off, n - off, static_cast<off_t>(offset + off));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return ErrnoStatus(errno, "write", path);
    off += static_cast<std::size_t>(w);
  }
  return OkStatus();
}

std::optional<std::uint64_t> ContentRangeStart(const std::string& value) {
  unsigned long long start = 0, end = 0;
  if (std::sscanf(value.c_str(), "bytes %llu-%llu", &start, &end) != 2) return std::nullopt;
  return start;
}

void Throttle::Received(std::size_t n) {
  if (rate_ == 0) return;
  bytes_ += n;
  const auto due = start_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                std::chrono::duration<double>(static_cast<double>(bytes_) / static_cast<double>(rate_)));
  std::this_thread::sleep_until(due);
}

}  // namespace cairn::internal
