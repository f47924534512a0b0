// The in-tree Prometheus registry and the access-log line formats.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/access_log.h"
#include "server/metrics.h"

namespace cairn::internal {
namespace {

TEST(Metrics, RendersCountersWithEscapedLabelsAndCumulativeHistograms) {
  metrics::Registry r;
  r.Add("t_total", "A counter.", metrics::Type::kCounter, {"l"}).CounterFor({"a\"b\\c\nd"}).Add(2);
  auto& h = r.Add("t_seconds", "A histogram.", metrics::Type::kHistogram, {}, {0.1, 1}).HistogramFor({});
  h.Observe(0.05);
  h.Observe(0.5);
  h.Observe(5);
  r.AddGaugeFunction("t_gauge", "A gauge.", [] { return 3.5; });
  const std::string text = r.Render();
  EXPECT_NE(text.find("# TYPE t_total counter\nt_total{l=\"a\\\"b\\\\c\\nd\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("t_seconds_bucket{le=\"0.1\"} 1\nt_seconds_bucket{le=\"1\"} 2\nt_seconds_bucket{le=\"+Inf\"} 3\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("t_seconds_sum 5.55\nt_seconds_count 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("# TYPE t_gauge gauge\nt_gauge 3.5\n"), std::string::npos) << text;
}

TEST(Metrics, StatusClasses) {
  EXPECT_EQ(metrics::StatusClass(200), "2xx");
  EXPECT_EQ(metrics::StatusClass(503), "5xx");
  EXPECT_EQ(metrics::StatusClass(42), "other");
}

TEST(AccessLog, JsonLineIsValidJsonEvenWithQuotesAndControlCharacters) {
  const std::string line = FormatAccessJson({.request_id = "r-1",
                                             .method = "PUT",
                                             .route = "/api/v1/runs/{entity}/{project}/{run}/files/{path...}",
                                             .status = 500,
                                             .bytes_in = 12,
                                             .bytes_out = 34,
                                             .seconds = 0.0015,
                                             .key_id = "",
                                             .note = "disk \"full\"\n\tat /x \xff"});
  auto j = nlohmann::json::parse(line, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << line;
  EXPECT_EQ(j["route"], "/api/v1/runs/{entity}/{project}/{run}/files/{path...}");
  EXPECT_EQ(j["status"], 500);
  EXPECT_EQ(j["bytes_in"], 12);
  EXPECT_TRUE(j["key_id"].is_null());
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 1.5);
  EXPECT_EQ(j["note"].get<std::string>().substr(0, 14), "disk \"full\"\n\ta");
}

TEST(AccessLog, RequestIdsFromAProxyAreKeptOnlyWhenSafe) {
  EXPECT_EQ(RequestIdFor("abc-123_X.y:z"), "abc-123_X.y:z");
  for (const char* bad : {"", "has space", "quote\"", "new\nline"}) {
    const std::string id = RequestIdFor(bad);
    EXPECT_EQ(id.size(), 16u) << bad;
    EXPECT_NE(id, bad);
  }
  EXPECT_EQ(RequestIdFor(std::string(129, 'a')).size(), 16u);
  EXPECT_NE(RequestIdFor(""), RequestIdFor(""));
}

}  // namespace
}  // namespace cairn::internal
