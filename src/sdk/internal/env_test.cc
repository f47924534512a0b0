// The one rule for CAIRN_* numbers (env.h) and the knobs read by it.
#include "sdk/internal/env.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "sdk/internal/tunables.h"

namespace cairn::internal {
namespace {

using std::chrono::milliseconds;

class EnvTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* v : {"CAIRN_TEST_N", "CAIRN_TEST_D", "CAIRN_UPLOAD_PARALLEL", "CAIRN_HEARTBEAT_S",
                          "CAIRN_RETRY_MAX_ATTEMPTS"}) {
      ::unsetenv(v);
    }
  }
};

TEST_F(EnvTest, UnsetOrEmptyIsNotGiven) {
  ::unsetenv("CAIRN_TEST_N");
  EXPECT_FALSE(EnvWhole("CAIRN_TEST_N", 1)->has_value());
  ::setenv("CAIRN_TEST_N", "", 1);
  EXPECT_FALSE(EnvWhole("CAIRN_TEST_N", 1)->has_value());
}

TEST_F(EnvTest, WholeNumbersInRangeAreTaken) {
  ::setenv("CAIRN_TEST_N", "16777216", 1);
  EXPECT_EQ(**EnvWhole("CAIRN_TEST_N", 1), 16777216u);
}

TEST_F(EnvTest, MalformedOrOutOfRangeNamesTheVariableAndTheRange) {
  for (const char* bad : {"abc", "-1", "1.5", "12MiB", " 3", "0", "99", "99999999999999999999999"}) {
    ::setenv("CAIRN_TEST_N", bad, 1);
    StatusOr<std::optional<std::uint64_t>> v = EnvWhole("CAIRN_TEST_N", 1, 16);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(v.status().message().find("CAIRN_TEST_N"), std::string::npos) << v.status().message();
    EXPECT_NE(v.status().message().find("from 1 to 16"), std::string::npos) << v.status().message();
  }
}

TEST_F(EnvTest, DurationsInSecondsMayHaveFractions) {
  ::setenv("CAIRN_TEST_D", "0.25", 1);
  EXPECT_EQ(**EnvDuration("CAIRN_TEST_D", EnvUnit::kSeconds, milliseconds(100), milliseconds(5000)),
            milliseconds(250));
  ::setenv("CAIRN_TEST_D", "0.05", 1);
  EXPECT_FALSE(EnvDuration("CAIRN_TEST_D", EnvUnit::kSeconds, milliseconds(100), milliseconds(5000)).ok());
  ::setenv("CAIRN_TEST_D", "1.5", 1);
  EXPECT_FALSE(EnvDuration("CAIRN_TEST_D", EnvUnit::kMilliseconds, milliseconds(1), milliseconds(5000)).ok());
}

TEST_F(EnvTest, AMalformedKnobFailsTheTunablesNamingIt) {
  ::setenv("CAIRN_UPLOAD_PARALLEL", "0", 1);
  StatusOr<Tunables> t = TunablesFromEnvironment();
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("CAIRN_UPLOAD_PARALLEL"), std::string::npos);
}

TEST_F(EnvTest, KnobsAreReadOnce) {
  ::setenv("CAIRN_HEARTBEAT_S", "2.5", 1);
  ::setenv("CAIRN_RETRY_MAX_ATTEMPTS", "7", 1);
  StatusOr<Tunables> t = TunablesFromEnvironment();
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->heartbeat.interval, milliseconds(2500));
  EXPECT_EQ(t->retry.max_attempts, 7);
  EXPECT_EQ(t->upload_parts.parallel, 4);  // unset: the default
}

}  // namespace
}  // namespace cairn::internal
