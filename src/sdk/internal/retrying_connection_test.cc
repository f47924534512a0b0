// The retry policy, without a network: RetryingConnection over a scripted
// connection that injects failures.
#include "sdk/internal/retrying_connection.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "sdk/internal/testing/scripted_connection.h"

namespace cairn::internal {
namespace {

using std::chrono::milliseconds;
using testing::Answer;
using testing::Lost;
using testing::ScriptedConnection;

RetryPolicy Fast(int attempts = 4) {
  return RetryPolicy{.max_attempts = attempts,
                     .initial_backoff = milliseconds(1),
                     .max_backoff = milliseconds(2),
                     .max_total = milliseconds(10000)};
}

struct Harness {
  explicit Harness(RetryPolicy policy = Fast()) {
    auto s = std::make_unique<ScriptedConnection>();
    script = s.get();
    connection = std::make_unique<RetryingConnection>(std::move(s), policy);
  }
  CallResult Call(const CallOptions& options = {}) {
    HttpClientRequest req;
    req.target = "/x";
    return connection->Call(req, options);
  }
  ScriptedConnection* script;
  std::unique_ptr<RetryingConnection> connection;
};

long StatusOf(const CallResult& r) {
  const auto* resp = std::get_if<HttpClientResponse>(&r.outcome);
  return resp != nullptr ? resp->status : -1;
}

TEST(RetryingConnection, RetriesBusyAnswersUntilOneSucceeds) {
  Harness h;
  h.script->Then(Answer(503));
  h.script->Then(Answer(429));
  h.script->Then(Answer(200, "ok"));
  CallResult r = h.Call();
  EXPECT_EQ(StatusOf(r), 200);
  EXPECT_EQ(h.script->calls(), 3);
  EXPECT_EQ(r.attempts, 3);
}

TEST(RetryingConnection, GivesUpAfterMaxAttemptsWithTheLastAnswer) {
  Harness h(Fast(3));
  for (int i = 0; i < 10; ++i) h.script->Then(Answer(502));
  EXPECT_EQ(StatusOf(h.Call()), 502);
  EXPECT_EQ(h.script->calls(), 3);
}

TEST(RetryingConnection, FinalAnswersAreNotRetried) {
  for (long status : {400L, 401L, 403L, 404L, 409L, 413L, 501L, 507L}) {
    Harness h;
    h.script->Then(Answer(status));
    EXPECT_EQ(StatusOf(h.Call()), status);
    EXPECT_EQ(h.script->calls(), 1) << status;
  }
}

TEST(RetryingConnection, DamagedStoredBytesAreNotAskedAgain) {
  Harness h;
  h.script->Then(Answer(500, R"({"error":{"code":"data_loss","message":"damaged"}})"));
  EXPECT_EQ(StatusOf(h.Call()), 500);
  EXPECT_EQ(h.script->calls(), 1);
}

TEST(RetryingConnection, IdempotentCallsRetryLostConnectionsAndSayItWasAmbiguous) {
  Harness h;
  h.script->Then(Lost(/*nothing_sent=*/false));
  h.script->Then(Answer(409));
  CallResult r = h.Call();
  EXPECT_EQ(StatusOf(r), 409);
  EXPECT_TRUE(r.ambiguous);
  EXPECT_EQ(h.script->calls(), 2);
}

TEST(RetryingConnection, AFailedConnectIsNotAmbiguous) {
  Harness h;
  h.script->Then(Lost(/*nothing_sent=*/true));
  CallResult r = h.Call();
  EXPECT_EQ(StatusOf(r), 200);
  EXPECT_FALSE(r.ambiguous);
}

TEST(RetryingConnection, ACommitIsNotRepeatedAfterALostAnswer) {
  Harness h;
  h.script->Then(Lost(/*nothing_sent=*/false));
  CallResult r = h.Call({.idempotency = Idempotency::kUnlessCommitted});
  EXPECT_TRUE(std::holds_alternative<TransportError>(r.outcome));
  EXPECT_EQ(h.script->calls(), 1);
}

TEST(RetryingConnection, ACommitIsRetriedAfterAnErrorAnswerOrAFailedConnect) {
  Harness h;
  h.script->Then(Answer(503));
  h.script->Then(Lost(/*nothing_sent=*/true));
  h.script->Then(Answer(201));
  EXPECT_EQ(StatusOf(h.Call({.idempotency = Idempotency::kUnlessCommitted})), 201);
  EXPECT_EQ(h.script->calls(), 3);
}

TEST(RetryingConnection, ANonIdempotentCallIsRetriedOnlyWhenNothingWasSent) {
  Harness h;
  h.script->Then(Lost(/*nothing_sent=*/true));
  h.script->Then(Answer(503));
  EXPECT_EQ(StatusOf(h.Call({.idempotency = Idempotency::kNotIdempotent})), 503);
  EXPECT_EQ(h.script->calls(), 2);
}

TEST(RetryingConnection, ACallbackThatStoppedTheTransferIsFinal) {
  Harness h;
  h.script->Then(TransportError{.status = InternalError("stopped"), .aborted_by_callback = true});
  EXPECT_TRUE(std::holds_alternative<TransportError>(h.Call().outcome));
  EXPECT_EQ(h.script->calls(), 1);
}

TEST(RetryingConnection, ARetryAfterBeyondTheBudgetEndsTheRetries) {
  RetryPolicy p = Fast();
  p.max_total = milliseconds(500);
  Harness h(p);
  h.script->Then(Answer(429, "", {{"retry-after", "30"}}));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(StatusOf(h.Call()), 429);
  EXPECT_EQ(h.script->calls(), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(400));
}

TEST(RetryingConnection, ARetryAfterIsWaitedOut) {
  Harness h;
  h.script->Then(Answer(503, "", {{"retry-after", "1"}}));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(StatusOf(h.Call()), 200);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(900));
}

TEST(RetryingConnection, APolicyOfOneAttemptOverridesTheConnections) {
  Harness h;
  h.script->Then(Answer(503));
  EXPECT_EQ(StatusOf(h.Call({.policy = RetryPolicy{.max_attempts = 1}})), 503);
  EXPECT_EQ(h.script->calls(), 1);
}

TEST(RetryingConnection, ProgressRestartsTheBudgetAndAShortAnswerIsAskedAgain) {
  // Two attempts allowed, but every attempt brings bytes: ten attempts finish.
  Harness h(Fast(2));
  std::uint64_t received = 0;
  for (int i = 0; i < 9; ++i) {
    h.script->Then([&, i](HttpClientRequest&) -> Outcome {
      ++received;
      return i % 2 == 0 ? Outcome(Lost(false)) : Outcome(Answer(206));  // lost, or ended early
    });
  }
  h.script->Then([&](HttpClientRequest&) -> Outcome {
    ++received;
    return Answer(206);
  });
  int before = 0, after = 0;
  CallResult r = h.Call({.before_attempt = [&](HttpClientRequest&) { ++before; },
                         .after_attempt = [&](const Outcome&) { ++after; },
                         .done = [&] { return received == 10; },
                         .progress = [&] { return received; }});
  EXPECT_EQ(StatusOf(r), 206);
  EXPECT_EQ(h.script->calls(), 10);
  EXPECT_EQ(before, 10);
  EXPECT_EQ(after, 10);
}

TEST(RetryingConnection, WithoutProgressAShortAnswerCountsAgainstTheBudget) {
  Harness h(Fast(3));
  for (int i = 0; i < 10; ++i) h.script->Then(Answer(206));
  EXPECT_EQ(StatusOf(h.Call({.done = [] { return false; }})), 206);
  EXPECT_EQ(h.script->calls(), 3);
}

TEST(RetryingConnection, ADoneCallIsNotRetriedWhateverItsOutcome) {
  Harness h;
  h.script->Then(Lost(false));
  CallResult r = h.Call({.done = [] { return true; }});
  EXPECT_TRUE(std::holds_alternative<TransportError>(r.outcome));
  EXPECT_EQ(h.script->calls(), 1);
}

TEST(RetryingConnection, CancellingEndsAWaitEarly) {
  RetryPolicy p = Fast();
  p.initial_backoff = p.max_backoff = milliseconds(5000);
  p.max_total = milliseconds(60000);
  Harness h(p);
  h.script->Then(Answer(503));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(StatusOf(h.Call({.cancelled = [&] { return std::chrono::steady_clock::now() - t0 > milliseconds(100); }})),
            503);
  EXPECT_EQ(h.script->calls(), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(2000));
}

}  // namespace
}  // namespace cairn::internal
