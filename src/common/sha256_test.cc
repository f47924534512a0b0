#include "common/sha256.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "common/fs.h"

namespace cairn::internal {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 h;
  h.Update("a");
  h.Update("bc");
  EXPECT_EQ(h.FinishHex(), Sha256Hex("abc"));
}

TEST(Sha256, FileAndErrors) {
  auto dir = std::filesystem::temp_directory_path() / ("cairn-sha-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(WriteFileAtomic(dir / "f", "abc").ok());
  EXPECT_EQ(Sha256File(dir / "f").value(), Sha256Hex("abc"));
  EXPECT_EQ(Sha256File(dir / "missing").status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(IsSha256Hex(Sha256Hex("x")));
  EXPECT_FALSE(IsSha256Hex("ABC"));
  std::filesystem::remove_all(dir);
}

TEST(Fs, WriteFileAtomicSetsModeAndLeavesNoTemp) {
  auto dir = std::filesystem::temp_directory_path() / ("cairn-fs-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  ASSERT_TRUE(WriteFileAtomic(dir / "key", "secret", 0600).ok());
  auto perms = std::filesystem::status(dir / "key").permissions();
  EXPECT_EQ(perms & std::filesystem::perms::all, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_EQ(ReadSmallFile(dir / "key").value(), "secret");
  int n = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir)) ++n;
  EXPECT_EQ(n, 1);
  std::filesystem::remove_all(dir);
}

TEST(Fs, ErrnoMapping) {
  EXPECT_EQ(ErrnoStatus(ENOSPC, "write", "/x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoStatus(ENOENT, "open", "/x").code(), StatusCode::kNotFound);
  EXPECT_EQ(FormatTimeMs(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatTimeMs(1764397800123), "2025-11-29T06:30:00.123Z");
}

}  // namespace
}  // namespace cairn::internal
