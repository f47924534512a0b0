#include "cli/progress.h"

#include <cmath>
#include <cstdio>
#include <iostream>

#include "cairn/bytes.h"

namespace cairn::cli {

ProgressBar::ProgressBar(bool enabled) : enabled_(enabled), start_(std::chrono::steady_clock::now()) {}

void ProgressBar::Expect(const std::string& name, std::uint64_t total) {
  if (!enabled_) return;
  MutexLock lock(mu_);
  File& f = files_[name];
  total_ += total - f.total;
  f.total = total;
}

void ProgressBar::Update(const FileProgress& p) {
  if (!enabled_) return;
  MutexLock lock(mu_);
  File& f = files_[p.name];
  const bool was_complete = f.total > 0 && f.done == f.total;
  done_ += p.done - f.done;
  total_ += p.total - f.total;
  f = {p.done, p.total};
  complete_ += (p.done == p.total) && !was_complete;
  const auto now = std::chrono::steady_clock::now();
  // Every 100 ms, and once when the whole batch is there.
  if (done_ != total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  Draw(now);
}

void ProgressBar::Draw(std::chrono::steady_clock::time_point now) {
  last_draw_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double rate = secs > 0 ? static_cast<double>(done_) / secs : 0;
  std::string eta = "--";
  if (rate > 0 && total_ >= done_) eta = std::to_string(std::llround(static_cast<double>(total_ - done_) / rate)) + "s";
  char line[192];
  std::snprintf(line, sizeof line, "\r%3d%%  %s / %s  %s/s  ETA %s  (%zu/%zu file%s)   ",
                total_ ? static_cast<int>(100 * done_ / total_) : 100, FormatBytes(done_).c_str(),
                FormatBytes(total_).c_str(), FormatBytes(static_cast<std::uint64_t>(rate)).c_str(), eta.c_str(), complete_,
                files_.size(), files_.size() == 1 ? "" : "s");
  std::cerr << line << std::flush;
  drawn_ = true;
}

void ProgressBar::Done() {
  MutexLock lock(mu_);
  if (drawn_) std::cerr << "\n";
  drawn_ = false;
}

ProgressCallback ProgressBar::Callback() {
  if (!enabled_) return nullptr;
  return [this](const FileProgress& p) { Update(p); };
}

}  // namespace cairn::cli
