// The content cache on its own (no server): placing copies that are
// independent of the cache, LRU eviction under the byte limit, refs, and the
// resolution of TransferOptions from the environment.
#include "sdk/internal/content_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/sha256.h"
#include "sdk/internal/downloader.h"

namespace cairn::internal {
namespace {

namespace fs = std::filesystem;

class ContentCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-cache-test-XXXXXX";
    root_ = ::mkdtemp(tmpl);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  // Writes `content` to root/name; returns its SHA-256.
  std::string Write(const std::string& name, const std::string& content) {
    std::ofstream(root_ / name, std::ios::binary) << content;
    return Sha256Hex(content);
  }
  std::string Read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  fs::path root_;
};

// CacheFill::kCopy fills on any filesystem (here also ext4, without reflinks).
TEST_F(ContentCacheTest, PlacesAnIndependentCopyAndMissesWhatItDoesNotHold) {
  ContentCache cache(root_ / "cache", 1 << 20, CacheFill::kCopy);
  const std::string sha = Write("a", "alpha");
  ASSERT_TRUE(cache.Insert(sha, root_ / "a").ok());
  EXPECT_EQ(fs::status(root_ / "cache/blobs" / sha).permissions() & fs::perms::all, fs::perms(0444));

  fs::create_directories(root_ / "out");
  StatusOr<bool> hit = cache.PlaceAt(sha, 5, root_ / "out/a");
  ASSERT_TRUE(hit.ok()) << hit.status();
  EXPECT_TRUE(*hit);
  EXPECT_EQ(Read(root_ / "out/a"), "alpha");
  EXPECT_EQ(fs::hard_link_count(root_ / "out/a"), 1u);
  std::ofstream(root_ / "out/a", std::ios::binary | std::ios::trunc) << "edited";
  EXPECT_EQ(Read(root_ / "cache/blobs" / sha), "alpha") << "editing a placed copy must not reach the cache";

  EXPECT_FALSE(*cache.PlaceAt(sha, 6, root_ / "out/b")) << "a size mismatch is a miss";
  EXPECT_FALSE(*cache.PlaceAt(Sha256Hex("other"), 5, root_ / "out/b"));
  EXPECT_FALSE(fs::exists(root_ / "out/b"));
  EXPECT_FALSE(fs::exists(ContentCache::PlacingPath(root_ / "out/a")));
}

// Whether a file here can be reflinked (FICLONE): XFS/Btrfs yes, ext4/tmpfs no.
bool CanReflink(const fs::path& dir) {
  std::ofstream(dir / "probe-src") << "probe";
  int src = ::open((dir / "probe-src").c_str(), O_RDONLY);
  int dst = ::open((dir / "probe-dst").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  const bool ok = ::ioctl(dst, FICLONE, src) == 0;
  ::close(src);
  ::close(dst);
  fs::remove(dir / "probe-src");
  fs::remove(dir / "probe-dst");
  return ok;
}

// The default fill never writes the bytes a second time: a reflink where the
// filesystem has them, else no entry, and nothing left behind.
TEST_F(ContentCacheTest, ReflinkFillAddsOnlyWhatCanBeReflinked) {
  ContentCache cache(root_ / "cache", 1 << 20);  // CacheFill::kReflink
  const std::string sha = Write("a", "alpha");
  ASSERT_TRUE(cache.Insert(sha, root_ / "a").ok());
  const bool reflinks = CanReflink(root_);
  std::printf("[ %s reflinks: %s ]\n", root_.c_str(), reflinks ? "yes" : "no");
  EXPECT_EQ(fs::exists(root_ / "cache/blobs" / sha), reflinks);
  if (!reflinks) {
    EXPECT_TRUE(cache.List()->empty());
    EXPECT_TRUE(fs::is_empty(root_ / "cache/blobs")) << "no temp left behind";
    EXPECT_FALSE(*cache.PlaceAt(sha, 5, root_ / "out"));
  }
}

TEST_F(ContentCacheTest, EvictsTheLeastRecentlyUsedBeyondTheLimitAndPruneEmptiesIt) {
  ContentCache cache(root_ / "cache", 25, CacheFill::kCopy);  // room for two 10-byte files
  const std::string a = Write("a", "aaaaaaaaaa"), b = Write("b", "bbbbbbbbbb"), c = Write("c", "cccccccccc");
  const auto pause = [] { std::this_thread::sleep_for(std::chrono::milliseconds(15)); };
  ASSERT_TRUE(cache.Insert(a, root_ / "a").ok());
  pause();
  ASSERT_TRUE(cache.Insert(b, root_ / "b").ok());
  pause();
  ASSERT_TRUE(*cache.PlaceAt(a, 10, root_ / "use-a"));  // a is now the most recently used
  pause();
  ASSERT_TRUE(cache.Insert(c, root_ / "c").ok());
  auto entries = cache.List();
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 2u);
  EXPECT_EQ((*entries)[0].sha256, a);
  EXPECT_EQ((*entries)[1].sha256, c);

  cache.RememberRef("k", {.name = "a", .size = 10, .sha256 = a, .version = 3, .updated_at = "t"});
  ASSERT_TRUE(cache.LookupRef("k").has_value());
  EXPECT_EQ(cache.LookupRef("k")->version, 3);
  StatusOr<std::uint64_t> freed = cache.Prune(0);
  ASSERT_TRUE(freed.ok());
  EXPECT_EQ(*freed, 20u);
  EXPECT_TRUE(cache.List()->empty());
  EXPECT_FALSE(cache.LookupRef("k").has_value()) << "a ref whose bytes are gone is dropped";
}

TEST_F(ContentCacheTest, DisabledCacheNeitherReadsNorWrites) {
  ContentCache cache(root_ / "cache", 0);
  const std::string sha = Write("a", "alpha");
  EXPECT_TRUE(cache.Insert(sha, root_ / "a").ok());
  EXPECT_FALSE(fs::exists(root_ / "cache"));
  EXPECT_FALSE(*cache.PlaceAt(sha, 5, root_ / "out"));
}

TEST(TransferOptionsTest, ExplicitBeatsEnvironmentBeatsDefaultsAndBadValuesAreNamed) {
  ::setenv("CAIRN_PART_BYTES", "8388608", 1);
  ::setenv("CAIRN_CACHE_DIR", "/tmp/cairn-x", 1);
  ::unsetenv("CAIRN_PARALLEL_PARTS");
  ::unsetenv("CAIRN_CACHE_MAX_BYTES");
  auto t = ResolveTransferOptions({.parallel_min_bytes = 1 << 20});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->parallel_min_bytes, 1u << 20);
  EXPECT_EQ(t->part_bytes, 8u << 20);
  EXPECT_EQ(t->parallel_parts, 1);
  EXPECT_EQ(t->cache_dir, "/tmp/cairn-x");
  EXPECT_EQ(*t->cache_max_bytes, 20ull << 30);
  EXPECT_EQ(ResolveTransferOptions({.part_bytes = 4 << 20})->part_bytes, 4u << 20);

  EXPECT_EQ(t->cache_fill, "reflink");
  EXPECT_EQ(CacheFillOf(*t), CacheFill::kReflink);
  ::setenv("CAIRN_CACHE_FILL", "copy", 1);
  EXPECT_EQ(CacheFillOf(*ResolveTransferOptions({})), CacheFill::kCopy);
  EXPECT_EQ(ResolveTransferOptions({.cache_fill = "reflink"})->cache_fill, "reflink");
  ::setenv("CAIRN_CACHE_FILL", "hardlink", 1);
  auto bad_fill = ResolveTransferOptions({});
  ASSERT_FALSE(bad_fill.ok());
  EXPECT_NE(bad_fill.status().message().find("CAIRN_CACHE_FILL"), std::string::npos) << bad_fill.status();
  ::unsetenv("CAIRN_CACHE_FILL");
  ::setenv("CAIRN_CACHE_MAX_BYTES", "0", 1);
  EXPECT_EQ(*ResolveTransferOptions({})->cache_max_bytes, 0u);
  ::setenv("CAIRN_PARALLEL_PARTS", "four", 1);
  auto bad = ResolveTransferOptions({});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("CAIRN_PARALLEL_PARTS='four'"), std::string::npos) << bad.status();
  for (const char* v : {"CAIRN_PART_BYTES", "CAIRN_CACHE_DIR", "CAIRN_CACHE_MAX_BYTES", "CAIRN_PARALLEL_PARTS"}) {
    ::unsetenv(v);
  }
}

}  // namespace
}  // namespace cairn::internal
