#include "server/graphql/run_filter.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace cairn::internal::graphql {
namespace {

// 2026-12-06T14:00:00Z
constexpr long long kT0 = 1796565600000;

std::vector<RunView> Runs() {
  return {
      {.name = "a", .state = "finished", .created_ms = kT0, .config = Json::parse(R"({"batch_size":32,"lr":0.1})")},
      {.name = "b", .state = "running", .created_ms = kT0 + 1500, .config = Json::parse(R"({"batch_size":32})")},
      {.name = "c", .state = "finished", .created_ms = kT0 + 60000,
       .config = Json::parse(R"({"batch_size":64.0,"opt":{"name":"adam"}})")},
      {.name = "d", .state = "crashed", .created_ms = kT0 + 120000, .config = Json::object()},
  };
}

// The names of the runs `filter` (JSON text) matches.
std::string Matching(const std::string& filter) {
  StatusOr<RunFilter> f = RunFilter::Parse(Json(filter));
  if (!f.ok()) return "error: " + f.status().message();
  std::string out;
  for (const RunView& r : Runs()) {
    if (f->Matches(r)) out += r.name;
  }
  return out;
}

TEST(RunFilter, EqualityOnFieldsAndConfigInBothForms) {
  EXPECT_EQ(Matching(""), "abcd");
  EXPECT_EQ(Matching("{}"), "abcd");
  EXPECT_EQ(Matching(R"({"state":"finished","config.batch_size":32})"), "a");
  EXPECT_EQ(Matching(R"({"config.batch_size.value":32})"), "ab");
  EXPECT_EQ(Matching(R"({"config.batch_size":64})"), "c");  // 64 == 64.0
  EXPECT_EQ(Matching(R"({"config.opt.value.name":"adam"})"), "c");
  EXPECT_EQ(Matching(R"({"name":"b"})"), "b");
  EXPECT_EQ(Matching(R"({"displayName":"d"})"), "d");
  EXPECT_EQ(Matching(R"({"config.lr":null})"), "bcd");  // absent equals null
}

TEST(RunFilter, Operators) {
  EXPECT_EQ(Matching(R"({"state":{"$ne":"finished"}})"), "bd");
  EXPECT_EQ(Matching(R"({"state":{"$in":["running","crashed"]}})"), "bd");
  EXPECT_EQ(Matching(R"({"state":{"$nin":["running","crashed"]}})"), "ac");
  EXPECT_EQ(Matching(R"({"config.batch_size":{"$gt":32}})"), "c");
  EXPECT_EQ(Matching(R"({"config.batch_size":{"$gte":32,"$lt":64}})"), "ab");
  EXPECT_EQ(Matching(R"({"config.lr":{"$exists":true}})"), "a");
  EXPECT_EQ(Matching(R"({"$or":[{"name":"a"},{"state":"crashed"}]})"), "ad");
  EXPECT_EQ(Matching(R"({"$and":[{"config.batch_size":32},{"state":"running"}]})"), "b");
  EXPECT_EQ(Matching(R"({"$nor":[{"name":"a"},{"name":"b"}]})"), "cd");
  // Kinds that do not compare never match an ordering operator.
  EXPECT_EQ(Matching(R"({"config.batch_size":{"$gt":"1"}})"), "");
}

TEST(RunFilter, TimesCompareAsIsoStrings) {
  EXPECT_EQ(Matching(R"({"createdAt":{"$gt":"2026-12-06T14:00:30"}})"), "cd");
  EXPECT_EQ(Matching(R"({"createdAt":{"$lte":"2026-12-06T14:01:00Z"}})"), "abc");
  // Whole seconds compare with the second the client was shown.
  EXPECT_EQ(Matching(R"({"createdAt":"2026-12-06T14:00:01"})"), "b");
  EXPECT_EQ(Matching(R"({"created_at":{"$gte":"2026-12-06T15:00:30+01:00"}})"), "cd");
  EXPECT_EQ(Matching(R"({"createdAt":{"$gt":"2026-12-06T14:00:00.500"}})"), "bcd");
  EXPECT_NE(Matching(R"({"createdAt":{"$gt":"yesterday"}})").find("ISO 8601"), std::string::npos);
}

TEST(RunFilter, UnknownOperatorsAndFieldsAreErrorsNamingThem) {
  EXPECT_NE(Matching(R"({"state":{"$regex":"fin"}})").find("unknown operator \"$regex\""), std::string::npos);
  EXPECT_NE(Matching(R"({"$where":"x"})").find("\"$where\""), std::string::npos);
  EXPECT_NE(Matching(R"({"$or":[{"name":{"$like":"a"}}]})").find("\"$like\""), std::string::npos);
  EXPECT_NE(Matching(R"({"summary_metrics.acc":1})").find("\"summary_metrics.acc\""), std::string::npos);
  EXPECT_NE(Matching(R"({"state":{"$in":"finished"}})").find("$in takes a list"), std::string::npos);
  EXPECT_NE(Matching("[1]").find("expected an object"), std::string::npos);
  EXPECT_NE(Matching("{").find("not valid JSON"), std::string::npos);
}

std::string Ordered(const std::string& order) {
  StatusOr<RunOrder> o = RunOrder::Parse(order);
  if (!o.ok()) return "error: " + o.status().message();
  std::vector<RunView> runs = Runs();
  std::sort(runs.begin(), runs.end(), [&](const RunView& a, const RunView& b) { return o->Before(o->Key(a), o->Key(b)); });
  std::string out;
  for (const RunView& r : runs) out += r.name;
  return out;
}

TEST(RunOrder, KeysAndDirections) {
  EXPECT_EQ(Ordered(""), "abcd");
  EXPECT_EQ(Ordered("+created_at"), "abcd");
  EXPECT_EQ(Ordered("-created_at"), "dcba");
  EXPECT_EQ(Ordered("-name"), "dcba");
  // Absent values first ascending; ties by creation time.
  EXPECT_EQ(Ordered("config.batch_size"), "dabc");
  EXPECT_EQ(Ordered("-config.batch_size.value"), "cbad");
  EXPECT_EQ(Ordered("state"), "dacb");
  EXPECT_NE(Ordered("-summary_metrics.loss").find("not one Cairn knows"), std::string::npos);
}

TEST(ParseIsoTimeMs, Forms) {
  EXPECT_EQ(ParseIsoTimeMs("2026-12-06T14:00:00"), kT0);
  EXPECT_EQ(ParseIsoTimeMs("2026-12-06T14:00:00Z"), kT0);
  EXPECT_EQ(ParseIsoTimeMs("2026-12-06 14:00:00.25"), kT0 + 250);
  EXPECT_EQ(ParseIsoTimeMs("2026-12-06T16:00:00+02:00"), kT0);
  EXPECT_EQ(ParseIsoTimeMs("2026-12-06"), kT0 - 14 * 3600 * 1000LL);
  EXPECT_FALSE(ParseIsoTimeMs("2026-13-06"));
  EXPECT_FALSE(ParseIsoTimeMs("2026-12-06T14:00"));
  EXPECT_FALSE(ParseIsoTimeMs("2026-12-06T14:00:00junk"));
}

}  // namespace
}  // namespace cairn::internal::graphql
