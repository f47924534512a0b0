#include "cairn/bytes.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace cairn {
namespace {

TEST(FormatBytes, BinaryUnitsWithOneDecimalPastBytes) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(1023), "1023 B");
  EXPECT_EQ(FormatBytes(1024), "1.0 KiB");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(64ULL << 20), "64.0 MiB");
  EXPECT_EQ(FormatBytes(3ULL << 30), "3.0 GiB");
  EXPECT_EQ(FormatBytes(500ULL << 40), "500.0 TiB");
  EXPECT_EQ(FormatBytes(UINT64_MAX), "16384.0 PiB");  // no unit past PiB
}

}  // namespace
}  // namespace cairn
