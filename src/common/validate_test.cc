#include "common/validate.h"

#include <gtest/gtest.h>

#include <set>

namespace cairn::internal {
namespace {

TEST(ValidateFileName, AcceptsOrdinaryNames) {
  for (const char* n : {"model.pt", "ckpt/step-100.pt", "a b/c", "ünïcode/файл.bin", "x..y", ".hidden"}) {
    EXPECT_TRUE(ValidateFileName(n).ok()) << n;
  }
  EXPECT_TRUE(ValidateFileName(std::string(1024, 'a')).ok());
}

TEST(ValidateFileName, RejectsBadNamesQuotingThem) {
  for (const std::string& n : std::initializer_list<std::string>{"", "../x", "/etc/passwd", "a//b", "a/./b", "a/..", ".", "..", "a/", "a\\b",
                        std::string("a\0b", 3), "tab\there", "new\nline", "del\x7f", "\xff\xfe",
                        "\xc0\xaf", std::string(1025, 'a')}) {
    Status st = ValidateFileName(n);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << n;
    EXPECT_NE(st.message().find("invalid file name"), std::string::npos);
  }
  // Control bytes are escaped in the message, never echoed raw.
  EXPECT_NE(ValidateFileName("new\nline").message().find("\\x0a"), std::string::npos);
}

TEST(ValidateId, Rules) {
  EXPECT_TRUE(ValidateId("alice", "entity").ok());
  EXPECT_TRUE(ValidateId("a.b_c-D9", "entity").ok());
  EXPECT_TRUE(ValidateId(std::string(128, 'x'), "run id").ok());
  EXPECT_FALSE(ValidateId(std::string(129, 'x'), "run id").ok());
  EXPECT_FALSE(ValidateId("", "project").ok());
  EXPECT_FALSE(ValidateId(".x", "project").ok());
  EXPECT_FALSE(ValidateId("a/b", "project").ok());
  EXPECT_FALSE(ValidateId("a b", "project").ok());
  EXPECT_NE(ValidateId("a b", "project").message().find("invalid project 'a b'"), std::string::npos);
}

struct RunPathCase {
  const char* input;
  const char* entity;
  const char* project;
  const char* run_id;
};

TEST(ParseRunPath, AcceptedForms) {
  for (auto c : std::initializer_list<RunPathCase>{
           {"alice/mnist/1a2b3c4d", "alice", "mnist", "1a2b3c4d"},
           {"alice/mnist/runs/1a2b3c4d", "alice", "mnist", "1a2b3c4d"},
           {"mnist/1a2b3c4d", "", "mnist", "1a2b3c4d"},
           {"  /alice/mnist/x/ \n", "alice", "mnist", "x"},
           {"https://cairn.example.com/alice/mnist/runs/x1", "alice", "mnist", "x1"},
           {"http://127.0.0.1:8765/alice/mnist/runs/x1/", "alice", "mnist", "x1"},
           {"https://host/alice/mnist/runs/x1?workspace=user", "alice", "mnist", "x1"},
           {"alice/runs/runs/x", "alice", "runs", "x"},
       }) {
    auto p = ParseRunPath(c.input);
    ASSERT_TRUE(p.ok()) << c.input << ": " << p.status();
    EXPECT_EQ(p->entity, c.entity);
    EXPECT_EQ(p->project, c.project);
    EXPECT_EQ(p->run_id, c.run_id);
  }
}

TEST(ParseRunPath, RejectedFormsQuoteTheInput) {
  for (const char* in : {"", "/", "x", "a/b/c/d", "a/b/notruns/d", "a/b/runs/c/d", "a//c", "a/b/.c",
                         "a/b/c d", "https://host", "https://host/a/b/c", "ftp://h/a/b/runs/c",
                         "a/b/../c"}) {
    auto p = ParseRunPath(in);
    EXPECT_FALSE(p.ok()) << in;
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument) << in;
    EXPECT_NE(p.status().message().find("invalid run path"), std::string::npos) << in;
  }
}

TEST(ParseProjectPath, Forms) {
  EXPECT_EQ(ParseProjectPath("alice/mnist")->entity, "alice");
  EXPECT_EQ(ParseProjectPath("mnist")->entity, "");
  EXPECT_FALSE(ParseProjectPath("a/b/c").ok());
  EXPECT_FALSE(ParseProjectPath("").ok());
}

TEST(NewRunId, EightLowercaseAlnumAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    std::string id = NewRunId();
    ASSERT_EQ(id.size(), 8u);
    for (char c : id) EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(UrlEncoding, RoundTrip) {
  std::string name = "ckpt/step 1%?#.pt";
  std::string enc = UrlEncode(name, /*keep_slash=*/true);
  EXPECT_EQ(enc, "ckpt/step%201%25%3F%23.pt");
  EXPECT_EQ(UrlDecode(enc).value(), name);
  EXPECT_EQ(UrlEncode("a/b"), "a%2Fb");
  EXPECT_FALSE(UrlDecode("%zz").has_value());
  EXPECT_FALSE(UrlDecode("abc%2").has_value());
}

}  // namespace
}  // namespace cairn::internal
