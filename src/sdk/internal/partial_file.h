// The pieces of a download that are not its threads: the sidecar that
// records which ranges of a partial file arrived (ReadSidecar/WriteSidecar,
// docs/adr/0007-partial-files-and-content-cache.md), positioned writes, the
// Content-Range parser and the per-connection receive throttle.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cairn/status.h"

namespace cairn::internal {

// [begin, end) byte ranges of the file.
struct Range {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

// What `.<name>.cairn-partial.json` says about the partial beside it: which
// file it is (sha256 + size; version for people) and which ranges hold
// received bytes.
struct Sidecar {
  std::string sha256;
  std::uint64_t size = 0;
  std::int64_t version = 0;
  std::vector<Range> done;
};

// The sidecar at `path`; nullopt when missing, malformed, of another format,
// or with ranges that overlap or exceed the size (then it is not ours).
std::optional<Sidecar> ReadSidecar(const std::filesystem::path& path);

// Replaces the sidecar by rename, without fsync: a killed process leaves the
// page cache behind, so the partial's bytes and the sidecar agree; after a
// power loss they may not, and the whole-file digest check catches it.
// Best effort: on failure progress is not recorded.
void WriteSidecar(const std::filesystem::path& path, const Sidecar& s);

// Writes all of [data, data + n) at `offset`.
Status PwriteAll(int fd, const char* data, std::size_t n, std::uint64_t offset, const std::filesystem::path& path);

// "bytes START-END/TOTAL" -> START.
std::optional<std::uint64_t> ContentRangeStart(const std::string& value);

// Holds one connection to `rate` bytes per second on average (0: no limit)
// by sleeping in its write callback; TCP flow control then slows the sender.
// libcurl's own limit (CURLOPT_MAX_RECV_SPEED_LARGE) is per request and
// lets short ranged requests through at full speed. One per connection.
class Throttle {
 public:
  explicit Throttle(std::uint64_t rate) : rate_(rate) {}
  void Received(std::size_t n);

 private:
  const std::uint64_t rate_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::uint64_t bytes_ = 0;
};

}  // namespace cairn::internal
