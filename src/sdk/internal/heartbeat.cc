#include "sdk/internal/heartbeat.h"

#include <cstdlib>
#include <string>
#include <utility>

namespace cairn::internal {

Heartbeat::Heartbeat(std::function<void()> beat, HeartbeatOptions options)
    : beat_(std::move(beat)), options_(options), thread_([this] { Loop(); }) {}

Heartbeat::~Heartbeat() { Stop(); }

void Heartbeat::Stop() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Heartbeat::Loop() {
  MutexLock lock(mu_);
  for (;;) {
    const auto next = std::chrono::steady_clock::now() + options_.interval;
    while (!stop_ && wake_.wait_until(lock.unique(), next) != std::cv_status::timeout) {
    }
    if (stop_) return;
    lock.Unlock();
    beat_();
    lock.Lock();
  }
}

}  // namespace cairn::internal
