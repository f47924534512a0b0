// Run::save()'s glob-to-name mapping: names are relative to the base path
// component by component, nothing escapes it, directories are skipped.
#include "sdk/internal/save_glob.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace cairn::internal {
namespace {

namespace fs = std::filesystem;

class SaveGlobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cairn-glob-test-XXXXXX";
    root_ = ::mkdtemp(tmpl);
    cwd_ = root_ / "work";
    files_ = cwd_ / "cairn" / "run-20260101_000000-abcd1234" / "files";
    fs::create_directories(files_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  void Touch(const fs::path& p) {
    fs::create_directories(p.parent_path());
    std::ofstream(p) << "x";
  }
  std::vector<std::string> Names(const StatusOr<std::vector<SaveTarget>>& r) {
    std::vector<std::string> out;
    if (r.ok()) {
      for (const auto& t : *r) out.push_back(t.name);
    }
    return out;
  }

  fs::path root_, cwd_, files_;
};

TEST_F(SaveGlobTest, RelativeGlobPrefersTheRunFilesDir) {
  Touch(files_ / "ckpt" / "step-2.pt");
  Touch(files_ / "ckpt" / "step-1.pt");
  Touch(cwd_ / "ckpt" / "step-9.pt");
  auto r = ExpandSaveGlob("ckpt/*.pt", "", false, files_, cwd_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(r), (std::vector<std::string>{"ckpt/step-1.pt", "ckpt/step-2.pt"}));  // sorted
}

TEST_F(SaveGlobTest, FallsBackToWorkingDirectory) {
  Touch(cwd_ / "model.pt");
  auto r = ExpandSaveGlob("model.pt", "", false, files_, cwd_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(r), std::vector<std::string>{"model.pt"});
  EXPECT_EQ((*r)[0].local, cwd_ / "model.pt");
}

TEST_F(SaveGlobTest, AbsolutePathInsideFilesDirIsNamedRelativeToIt) {
  Touch(files_ / "sub" / "a.bin");
  auto r = ExpandSaveGlob((files_ / "sub" / "a.bin").string(), "", false, files_, cwd_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(r), std::vector<std::string>{"sub/a.bin"});
}

TEST_F(SaveGlobTest, ExplicitBasePath) {
  Touch(cwd_ / "out" / "x" / "w.bin");
  auto r = ExpandSaveGlob("out/x/*.bin", "out", false, files_, cwd_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(r), std::vector<std::string>{"x/w.bin"});
}

TEST_F(SaveGlobTest, RejectsFilesOutsideBasePathComponentWise) {
  // "outside" shares the string prefix "out" with the base but is not in it.
  Touch(cwd_ / "outside" / "w.bin");
  fs::create_directories(cwd_ / "out");
  auto r = ExpandSaveGlob("outside/w.bin", "out", false, files_, cwd_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("outside the base path"), std::string::npos) << r.status();

  Touch(root_ / "elsewhere.bin");
  r = ExpandSaveGlob("../elsewhere.bin", "", false, files_, cwd_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SaveGlobTest, NoMatchNamesTheGlob) {
  auto r = ExpandSaveGlob("nothing-*.pt", "", false, files_, cwd_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("nothing-*.pt"), std::string::npos);
}

TEST_F(SaveGlobTest, DirectoriesAreSkipped) {
  fs::create_directories(files_ / "d1");
  Touch(files_ / "f1");
  auto r = ExpandSaveGlob("*", "", false, files_, cwd_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(r), std::vector<std::string>{"f1"});

  r = ExpandSaveGlob("d1", "", false, files_, cwd_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("only directories"), std::string::npos);
}

TEST_F(SaveGlobTest, LiteralTakesMetacharactersAsIs) {
  Touch(files_ / "w[1].bin");
  Touch(files_ / "w1.bin");
  auto lit = ExpandSaveGlob("w[1].bin", "", true, files_, cwd_);
  ASSERT_TRUE(lit.ok()) << lit.status();
  EXPECT_EQ(Names(lit), std::vector<std::string>{"w[1].bin"});
  auto pattern = ExpandSaveGlob("w[1].bin", "", false, files_, cwd_);
  ASSERT_TRUE(pattern.ok()) << pattern.status();
  EXPECT_EQ(Names(pattern), std::vector<std::string>{"w1.bin"});
}

TEST_F(SaveGlobTest, MetacharactersInTheDirectoryAreNotPatterns) {
  fs::path odd = root_ / "we[ir]d*dir";
  Touch(odd / "a.bin");
  auto r = ExpandSaveGlob("*.bin", "", false, {}, odd);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Names(r), std::vector<std::string>{"a.bin"});
}

TEST(NameUnderBaseTest, Lexical) {
  EXPECT_EQ(*NameUnderBase("/a/b/c/d.bin", "/a/b", "/"), "c/d.bin");
  EXPECT_EQ(*NameUnderBase("/a/b/../b/c.bin", "/a/b/", "/"), "c.bin");
  EXPECT_EQ(*NameUnderBase("c.bin", "/w", "/w"), "c.bin");
  EXPECT_FALSE(NameUnderBase("/a/bc/d", "/a/b", "/").ok());
  EXPECT_FALSE(NameUnderBase("/a/b", "/a/b", "/").ok());
  EXPECT_FALSE(NameUnderBase("/a/x", "/a/b", "/").ok());
}

}  // namespace
}  // namespace cairn::internal
