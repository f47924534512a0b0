// The command line's progress bar.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "cairn/transfer.h"
#include "cairn/thread_annotations.h"

namespace cairn::cli {

// A one-line progress bar on stderr for a batch of files (bytes, rate, ETA,
// files done), redrawn at most 10 times a second; only when enabled (a
// terminal). Thread-safe: restore_many and batch saves report from several
// threads. Files announced with Expect count in the total from the start.
class ProgressBar {
 public:
  explicit ProgressBar(bool enabled);
  ~ProgressBar() { Done(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Counts `total` bytes of `name` in the batch before any progress of it.
  void Expect(const std::string& name, std::uint64_t total);
  // Records and (rate-limited) draws one file's progress.
  void Update(const FileProgress& p);
  // Ends the bar's line, so that what follows starts on a line of its own.
  void Done();
  // Update as a TransferOptions callback; null when disabled.
  ProgressCallback Callback();
  bool enabled() const { return enabled_; }

 private:
  struct File {
    std::uint64_t done = 0, total = 0;
  };
  void Draw(std::chrono::steady_clock::time_point now) CAIRN_REQUIRES(mu_);

  const bool enabled_;
  const std::chrono::steady_clock::time_point start_;
  Mutex mu_;
  std::map<std::string, File> files_ CAIRN_GUARDED_BY(mu_);
  std::uint64_t done_ CAIRN_GUARDED_BY(mu_) = 0;    // sum of files_' done
  std::uint64_t total_ CAIRN_GUARDED_BY(mu_) = 0;   // sum of files_' total
  std::size_t complete_ CAIRN_GUARDED_BY(mu_) = 0;  // files with done == total
  std::chrono::steady_clock::time_point last_draw_ CAIRN_GUARDED_BY(mu_) = {};
  bool drawn_ CAIRN_GUARDED_BY(mu_) = false;
};

}  // namespace cairn::cli
