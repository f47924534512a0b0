#include "sdk/internal/heartbeat.h"

#include <cstdlib>
#include <string>
#include <utility>

namespace cairn::internal {

HeartbeatOptions HeartbeatOptions::FromEnvironment() {
  HeartbeatOptions o;
  if (const char* v = std::getenv("CAIRN_HEARTBEAT_S"); v != nullptr && *v != '\0') {
    char* end = nullptr;
    const double s = std::strtod(v, &end);
    if (*end == '\0' && s >= 0.1 && s <= 3600) o.interval = std::chrono::milliseconds(static_cast<long long>(s * 1000));
  }
  return o;
}

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
