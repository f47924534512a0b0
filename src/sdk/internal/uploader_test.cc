#include "sdk/internal/uploader.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

namespace cairn::internal {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

UploaderOptions Fast(int workers = 2) {
  UploaderOptions o;
  o.workers = workers;
  o.initial_backoff = milliseconds(1);
  o.max_backoff = milliseconds(4);
  return o;
}

FileInfo Info(const std::string& name, const std::string& sha, std::int64_t version) {
  FileInfo f;
  f.name = name;
  f.size = 3;
  f.sha256 = sha;
  f.version = version;
  return f;
}

Clock::time_point In(milliseconds d) { return Clock::now() + d; }

TEST(RetryDelay, DoublesFromInitialUpToTheCapWithJitterInTheUpperHalf) {
  UploaderOptions o;
  o.initial_backoff = milliseconds(500);
  o.max_backoff = milliseconds(30000);
  EXPECT_EQ(RetryDelay(1, o, 0.0), milliseconds(250));
  EXPECT_EQ(RetryDelay(1, o, 0.999999), milliseconds(499));
  EXPECT_EQ(RetryDelay(2, o, 0.0), milliseconds(500));
  EXPECT_EQ(RetryDelay(3, o, 0.5), milliseconds(1500));
  EXPECT_EQ(RetryDelay(7, o, 0.0), milliseconds(15000));  // 500 * 2^6 = 32000 -> capped at 30000
  EXPECT_EQ(RetryDelay(100, o, 1.0), milliseconds(30000));
  for (int f = 1; f < 12; ++f) {
    for (double u : {0.0, 0.3, 0.7, 1.0}) {
      milliseconds d = RetryDelay(f, o, u);
      EXPECT_GE(d, RetryDelay(f, o, 0.0));
      EXPECT_LE(d, o.max_backoff);
    }
  }
}

TEST(RetryDelay, RetryAfterLengthensButNeverShortensTheWait) {
  UploaderOptions o;
  o.initial_backoff = milliseconds(500);
  EXPECT_EQ(RetryDelay(1, o, 0.0, milliseconds(3000)), milliseconds(3000));
  EXPECT_EQ(RetryDelay(4, o, 0.0, milliseconds(1)), milliseconds(2000));
  EXPECT_EQ(RetryDelay(1, o, 0.0, std::chrono::hours(5)), std::chrono::minutes(10));
}

// A fake network: every attempt is recorded; the first attempt of "block"
// waits until released (or cancelled).
struct FakeNet {
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;
  std::vector<std::pair<std::string, std::string>> calls;  // name, local
  std::map<std::string, int> in_flight;
  int max_in_flight_per_name = 0;
  std::function<UploadAttempt(const std::string&, int call, const std::string& unless)> answer;

  UploadFn Fn() {
    return [this](const std::string& name, const std::filesystem::path& local, const std::string& unless,
                  const std::atomic<bool>& cancel) {
      int n;
      {
        std::unique_lock<std::mutex> lock(mu);
        calls.emplace_back(name, local.string());
        n = static_cast<int>(calls.size());
        max_in_flight_per_name = std::max(max_in_flight_per_name, ++in_flight[name]);
        if (name == "block") {
          // Polls `cancel` as the real transport does (curl's progress callback).
          while (!released && !cancel.load()) cv.wait_for(lock, milliseconds(5));
        }
      }
      UploadAttempt a = answer ? answer(name, n, unless) : UploadAttempt{Info(name, "s" + std::to_string(n), n)};
      std::lock_guard<std::mutex> lock(mu);
      --in_flight[name];
      return a;
    };
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
    cv.notify_all();
  }
  std::size_t Calls() {
    std::lock_guard<std::mutex> lock(mu);
    return calls.size();
  }
};

TEST(Uploader, OneInFlightPerNameAndFurtherRequestsCoalesceIntoOneFollowUp) {
  FakeNet net;
  Uploader up(net.Fn(), Fast(4));
  up.Enqueue("block", "/v1");
  while (net.Calls() < 1) std::this_thread::sleep_for(milliseconds(1));
  for (int i = 2; i <= 20; ++i) up.Enqueue("block", "/v" + std::to_string(i));
  EXPECT_EQ(up.Stats().queued, 1u);
  std::this_thread::sleep_for(milliseconds(20));
  EXPECT_EQ(net.Calls(), 1u) << "no second upload of a name while one is in flight";
  net.Release();
  ASSERT_TRUE(up.Flush(In(milliseconds(5000))).ok());
  ASSERT_EQ(net.Calls(), 2u);
  EXPECT_EQ(net.calls[1].second, "/v20") << "the follow-up sends the newest path";
  EXPECT_EQ(net.max_in_flight_per_name, 1);
  UploadStats s = up.Stats();
  EXPECT_EQ(s.committed, 2u);
  EXPECT_EQ(s.queued, 0u);
  EXPECT_EQ(up.LastSaved("block")->version, 2);
}

TEST(Uploader, QueuedRequestsForAWaitingNameCoalesce) {
  FakeNet net;
  Uploader up(net.Fn(), Fast(1));
  up.Enqueue("block", "/b");  // occupies the only worker
  while (net.Calls() < 1) std::this_thread::sleep_for(milliseconds(1));
  for (int i = 0; i < 10; ++i) up.Enqueue("x", "/x" + std::to_string(i));
  up.Enqueue("y", "/y");
  EXPECT_EQ(up.Stats().queued, 3u);
  net.Release();
  ASSERT_TRUE(up.Flush(In(milliseconds(5000))).ok());
  ASSERT_EQ(net.Calls(), 3u);
  EXPECT_EQ(net.calls[1], (std::pair<std::string, std::string>{"x", "/x9"}));
  EXPECT_EQ(net.calls[2].first, "y");
}

TEST(Uploader, RetriesUnavailableWithBackoffThenCommits) {
  FakeNet net;
  net.answer = [](const std::string& name, int call, const std::string&) {
    if (call <= 3) return UploadAttempt{UnavailableError("server down")};
    return UploadAttempt{Info(name, "abc", 1)};
  };
  Uploader up(net.Fn(), Fast());
  up.Enqueue("m", "/m");
  ASSERT_TRUE(up.Flush(In(milliseconds(5000))).ok());
  UploadStats s = up.Stats();
  EXPECT_EQ(s.retries, 3u);
  EXPECT_EQ(s.committed, 1u);
  EXPECT_EQ(s.failed, 0u);
}

TEST(Uploader, OtherErrorsFailAtOnceAndFlushNamesTheFile) {
  FakeNet net;
  net.answer = [](const std::string& name, int, const std::string&) {
    if (name == "bad") return UploadAttempt{PermissionDeniedError("read-only key")};
    return UploadAttempt{Info(name, "abc", 1)};
  };
  Uploader up(net.Fn(), Fast());
  up.Enqueue("bad", "/bad");
  up.Enqueue("good", "/good");
  Status st = up.Flush(In(milliseconds(5000)));
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied) << st;
  EXPECT_NE(st.message().find("bad: read-only key"), std::string::npos) << st;
  EXPECT_EQ(st.message().find("good"), std::string::npos) << st;
  EXPECT_EQ(net.Calls(), 2u) << "no retry of a permission error";
  EXPECT_EQ(up.Stats().failed, 1u);
  EXPECT_EQ(up.Stats().retries, 0u);
}

TEST(Uploader, AFileThatChangedWhileSendingIsSentAgainNotFailed) {
  FakeNet net;
  net.answer = [](const std::string& name, int call, const std::string&) {
    if (call == 1) return UploadAttempt{FailedPreconditionError("changed while it was being uploaded")};
    return UploadAttempt{Info(name, "new", 1)};
  };
  Uploader up(net.Fn(), Fast());
  up.Enqueue("c", "/c");
  ASSERT_TRUE(up.Flush(In(milliseconds(5000))).ok());
  EXPECT_EQ(net.Calls(), 2u);
  EXPECT_EQ(up.Stats().failed, 0u);
  EXPECT_EQ(up.LastSaved("c")->sha256, "new");
}

TEST(Uploader, UnchangedContentIsNotSentAgain) {
  FakeNet net;
  std::vector<std::string> unless_seen;
  net.answer = [&](const std::string& name, int, const std::string& unless) {
    unless_seen.push_back(unless);
    if (unless == "same") {
      UploadAttempt a{Info(name, "same", 0)};
      a.unchanged = true;
      return a;
    }
    return UploadAttempt{Info(name, "same", 4)};
  };
  Uploader up(net.Fn(), Fast(1));
  up.Seed({Info("resumed", "same", 3)});
  up.Enqueue("resumed", "/r");
  ASSERT_TRUE(up.Flush(In(milliseconds(5000))).ok());
  up.Enqueue("fresh", "/f");
  ASSERT_TRUE(up.Flush(In(milliseconds(5000))).ok());
  up.Enqueue("fresh", "/f");
  ASSERT_TRUE(up.Flush(In(milliseconds(5000))).ok());
  EXPECT_EQ(unless_seen, (std::vector<std::string>{"same", "", "same"}));
  UploadStats s = up.Stats();
  EXPECT_EQ(s.unchanged, 2u);
  EXPECT_EQ(s.committed, 1u);
  EXPECT_EQ(up.LastSaved("resumed")->version, 3) << "the version that already holds that content";
  EXPECT_EQ(up.LastSaved("fresh")->version, 4);
}

TEST(Uploader, FlushTimesOutNamingWhatIsStillPendingThenShutdownFailsIt) {
  FakeNet net;
  net.answer = [](const std::string&, int, const std::string&) { return UploadAttempt{UnavailableError("down")}; };
  Uploader up(net.Fn(), Fast());
  up.Enqueue("stuck", "/s");
  Status st = up.Flush(In(milliseconds(100)));
  EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded) << st;
  EXPECT_NE(st.message().find("stuck"), std::string::npos) << st;
  EXPECT_NE(st.message().find("down"), std::string::npos) << "the last error is shown: " << st;
  up.Shutdown("gave up");
  Status after = up.Flush(In(milliseconds(100)));
  EXPECT_FALSE(after.ok());
  EXPECT_NE(after.message().find("gave up"), std::string::npos) << after;
  EXPECT_EQ(up.Stats().failed, 1u);
  EXPECT_EQ(up.Stats().queued, 0u);
}

TEST(Uploader, DestroyingItCancelsAnUploadInFlightPromptly) {
  FakeNet net;
  auto up = std::make_unique<Uploader>(net.Fn(), Fast());
  up->Enqueue("block", "/b");  // never released: only cancel ends it
  while (net.Calls() < 1) std::this_thread::sleep_for(milliseconds(1));
  auto t0 = Clock::now();
  up.reset();
  EXPECT_LT(Clock::now() - t0, milliseconds(1000));
}

TEST(Uploader, EnqueueAfterShutdownFailsAtOnce) {
  FakeNet net;
  Uploader up(net.Fn(), Fast());
  up.Shutdown("finished");
  up.Enqueue("late", "/l");
  Status st = up.Flush(In(milliseconds(100)));
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("late"), std::string::npos);
  EXPECT_EQ(net.Calls(), 0u);
}

TEST(Uploader, BoundedQueueMakesEnqueueWaitForRoom) {
  FakeNet net;
  UploaderOptions o = Fast(1);
  o.max_pending = 2;
  Uploader up(net.Fn(), o);
  up.Enqueue("block", "/b");
  while (net.Calls() < 1) std::this_thread::sleep_for(milliseconds(1));
  up.Enqueue("a", "/a");  // pending: block, a
  std::atomic<bool> third_returned{false};
  std::thread t([&] {
    up.Enqueue("c", "/c");
    third_returned = true;
  });
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_FALSE(third_returned.load()) << "a third name waits for room";
  up.Enqueue("a", "/a2");  // coalescing needs no room
  net.Release();
  t.join();
  EXPECT_TRUE(third_returned.load());
  ASSERT_TRUE(up.Flush(In(milliseconds(5000))).ok());
}

}  // namespace
}  // namespace cairn::internal
