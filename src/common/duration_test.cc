#include "common/duration.h"

#include <gtest/gtest.h>

namespace cairn::internal {
namespace {

using std::chrono::milliseconds;

TEST(Duration, ParsesEveryUnitAndRejectsTheRest) {
  EXPECT_EQ(ParseDuration("90"), milliseconds(90'000));
  EXPECT_EQ(ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(ParseDuration("30m"), milliseconds(1'800'000));
  EXPECT_EQ(ParseDuration("12h"), milliseconds(43'200'000));
  EXPECT_EQ(ParseDuration("30d"), milliseconds(2'592'000'000));
  EXPECT_EQ(ParseDuration("2w"), milliseconds(1'209'600'000));
  for (const char* bad : {"", "d", "-1d", "1.5h", "1y", "1 d", "1dd", "1234567890s"}) {
    EXPECT_EQ(ParseDuration(bad), std::nullopt) << bad;
  }
}

TEST(Duration, FormatsTheShortestExactFormThatParsesBack) {
  EXPECT_EQ(FormatDuration(milliseconds(2'592'000'000)), "30d");
  EXPECT_EQ(FormatDuration(milliseconds(1'209'600'000)), "2w");
  EXPECT_EQ(FormatDuration(milliseconds(5'400'000)), "90m");
  EXPECT_EQ(FormatDuration(milliseconds(1'500)), "1500ms");
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
  for (long long ms : {1LL, 1000LL, 61'000LL, 86'400'000LL * 9}) {
    EXPECT_EQ(ParseDuration(FormatDuration(milliseconds(ms))), milliseconds(ms)) << ms;
  }
}

}  // namespace
}  // namespace cairn::internal
