// The page writer (FilePageJson / AppendFileJson) against the Json tree it
// replaces: the same bytes, hostile names included.
#include "server/file_json.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace cairn::internal {
namespace {

using Json = nlohmann::json;

std::string Dumped(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::vector<FileVersionRecord> Hostile() {
  const std::string sha(64, 'a');
  std::vector<FileVersionRecord> out;
  const char* names[] = {"model.pt", "ckpt/step-100/shard-0001.bin", "a \"quoted\" name", "back\\slash",
                         "tab\there", "line\nbreak", "ctl\x01\x1f", "del\x7f", "utf8 \xc3\xbc/\xe6\x97\xa5\xe6\x9c\xac",
                         "bad utf8 \xff\xfe", "cut \xe6\x97", "", "</script>&<", "emoji \xf0\x9f\x98\x80"};
  std::int64_t v = 1;
  for (const char* n : names) {
    out.push_back({.name = n, .version = v, .size = static_cast<std::uint64_t>(v) * 4096, .sha256 = sha,
                   .created_ms = 1764397800123 + v, .created_by = v % 3 == 0 ? "" : "user:al\"ice\xff"});
    ++v;
  }
  out.push_back({.name = "huge", .version = std::numeric_limits<std::int64_t>::max(),
                 .size = std::numeric_limits<std::uint64_t>::max(), .sha256 = sha, .created_ms = 0,
                 .created_by = "sa:team/ci"});
  return out;
}

TEST(FileJsonTest, WriterEqualsTheTreeForEveryRecord) {
  for (const FileVersionRecord& f : Hostile()) {
    std::string written;
    AppendFileJson(written, f);
    EXPECT_EQ(written, Dumped(FileJson(f))) << f.name;
    const Json parsed = Json::parse(written);  // and it is JSON
    EXPECT_EQ(parsed["version"].get<std::int64_t>(), f.version);
    EXPECT_EQ(parsed["size"].get<std::uint64_t>(), f.size);
  }
}

TEST(FileJsonTest, PageEqualsTheTreeWithAndWithoutCursor) {
  const std::vector<FileVersionRecord> files = Hostile();
  for (const std::string& cursor : {std::string(), std::string("ckpt/\"x\"\n"), std::string("bad \xc3")}) {
    Json list = Json::array();
    for (const FileVersionRecord& f : files) list.push_back(FileJson(f));
    const Json tree{{"files", std::move(list)}, {"next_cursor", cursor.empty() ? Json(nullptr) : Json(cursor)}};
    EXPECT_EQ(FilePageJson(files, cursor), Dumped(tree));
  }
  EXPECT_EQ(FilePageJson({}, ""), "{\"files\":[],\"next_cursor\":null}");
}

}  // namespace
}  // namespace cairn::internal
