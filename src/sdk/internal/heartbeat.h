// A run's heartbeat: while a process holds an online run, a background
// thread tells the server every `interval` that the run is alive (PUT of the
// run with state "running"), so that readers see it "running" and, once the
// beats stop without finish(), "crashed" (docs/http-api.md, Runs).
// Environment: CAIRN_HEARTBEAT_S (seconds, 1..3600; default 30).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "common/thread_annotations.h"

namespace cairn::internal {

struct HeartbeatOptions {
  std::chrono::milliseconds interval{30000};  // CAIRN_HEARTBEAT_S (tunables.h)
};

class Heartbeat {
 public:
  // Calls `beat` every options.interval (the first after one interval) on
  // its own thread until Stop(). `beat` must not throw; its failures are its
  // own business (the next beat tries again).
  Heartbeat(std::function<void()> beat, HeartbeatOptions options);
  ~Heartbeat();  // Stop()
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  // Ends the thread and waits for a beat in progress. Idempotent. After it
  // returns no beat runs any more.
  void Stop() CAIRN_EXCLUDES(mu_);

 private:
  void Loop() CAIRN_EXCLUDES(mu_);

  std::function<void()> beat_;
  const HeartbeatOptions options_;
  Mutex mu_;
  std::condition_variable wake_;
  bool stop_ CAIRN_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace cairn::internal
