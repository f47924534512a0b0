// Backoff: the waits between retries, and their end when the caller cancels.
#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "sdk/internal/retrying_connection.h"

namespace cairn::internal {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

RetryPolicy Slow() {
  RetryPolicy p;
  p.max_attempts = 3;
  p.initial_backoff = milliseconds(4000);
  p.max_backoff = milliseconds(4000);
  p.max_total = milliseconds(60000);
  return p;
}

TEST(Backoff, ACancelledCallerLeavesTheWaitWithinAFewSlices) {
  std::atomic<bool> cancel{false};
  Backoff backoff(Slow(), [&] { return cancel.load(); });
  std::thread canceller([&] {
    std::this_thread::sleep_for(milliseconds(100));
    cancel = true;
  });
  const auto start = Clock::now();
  EXPECT_FALSE(backoff.WaitBeforeRetry());  // would sleep 2-4 s uncancelled
  const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  canceller.join();
  EXPECT_GE(waited.count(), 100);
  EXPECT_LT(waited.count(), 1000);
  EXPECT_EQ(backoff.attempts(), 1);
}

TEST(Backoff, AnUncancelledWaitSleepsItsDelayAndAllowsTheRetry) {
  RetryPolicy p = Slow();
  p.initial_backoff = p.max_backoff = milliseconds(200);
  Backoff backoff(p, [] { return false; });
  const auto start = Clock::now();
  EXPECT_TRUE(backoff.WaitBeforeRetry());
  EXPECT_GE(std::chrono::duration_cast<milliseconds>(Clock::now() - start).count(), 100);  // jitter: [100, 200]
  EXPECT_EQ(backoff.attempts(), 2);
  EXPECT_TRUE(backoff.WaitBeforeRetry(milliseconds(10)));  // Retry-After replaces the computed wait
  EXPECT_FALSE(backoff.WaitBeforeRetry());                 // max_attempts reached
}

}  // namespace
}  // namespace cairn::internal
