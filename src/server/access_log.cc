#include "server/access_log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>

namespace cairn::internal {

namespace {

// %* in a pattern: the message as a JSON string (quoted and escaped).
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*tm*/, spdlog::memory_buf_t& dest) override {
    const std::string quoted =
        nlohmann::json(std::string(msg.payload.data(), msg.payload.size())).dump(-1, ' ', false,
                                                                                   nlohmann::json::error_handler_t::replace);
    dest.append(quoted.data(), quoted.data() + quoted.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

std::string NowRfc3339() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

bool IdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
         c == ':' || c == '-';
}

}  // namespace

std::optional<LogFormat> ParseLogFormat(std::string_view s) {
  if (s == "text") return LogFormat::kText;
  if (s == "json") return LogFormat::kJson;
  return std::nullopt;
}

std::shared_ptr<spdlog::logger> MakeServerLogger(LogFormat format) {
  auto log = std::make_shared<spdlog::logger>("cairn-server", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (format == LogFormat::kText) {
    log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    return log;
  }
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  formatter->add_flag<JsonMessageFlag>('*').set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":%*})");
  log->set_formatter(std::move(formatter));
  return log;
}

namespace {

// `v` as a JSON string: quoted, with ", \ and control characters escaped;
// invalid UTF-8 passes through nlohmann's replacement (rare: only notes).
void AppendJsonString(std::string& out, std::string_view v) {
  bool plain = true;
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\' || u < 0x20 || u >= 0x80) {
      plain = false;
      break;
    }
  }
  if (plain) {
    out += '"';
    out += v;
    out += '"';
    return;
  }
  out += nlohmann::json(std::string(v)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string FormatAccessJson(const AccessEntry& e) {
  // Written by hand, not through a JSON object: this runs once per request
  // (bench/ops_bench.sh measures what it costs).
  std::string out;
  out.reserve(256);
  out += R"({"time":")";
  out += NowRfc3339();
  out += R"(","type":"access","request_id":)";
  AppendJsonString(out, e.request_id);
  out += R"(,"method":)";
  AppendJsonString(out, e.method);
  out += R"(,"route":)";
  AppendJsonString(out, e.route);
  out += R"(,"status":)" + std::to_string(e.status);
  out += R"(,"bytes_in":)" + std::to_string(e.bytes_in);
  out += R"(,"bytes_out":)" + std::to_string(e.bytes_out);
  char ms[32];
  std::snprintf(ms, sizeof ms, "%.3f", e.seconds * 1000);
  out += R"(,"duration_ms":)";
  out += ms;
  out += R"(,"key_id":)";
  if (e.key_id.empty()) {
    out += "null";
  } else {
    AppendJsonString(out, e.key_id);
  }
  if (!e.note.empty()) {
    out += R"(,"note":)";
    AppendJsonString(out, e.note);
  }
  out += '}';
  return out;
}

std::string FormatAccessText(const AccessEntry& e) {
  std::string_view target = e.target.size() > 512 ? e.target.substr(0, 512) : e.target;
  // "rid=ID [key=K] METHOD TARGET STATUS NB Tms in=NB[: note]": the tail
  // from the method on is the line the server always wrote (tests and
  // operators' greps read it).
  std::string line = "rid=" + std::string(e.request_id) + " ";
  if (!e.key_id.empty()) line += "key=" + std::string(e.key_id) + " ";
  line += std::string(e.method) + " " + std::string(target) + " " + std::to_string(e.status) + " " +
          std::to_string(e.bytes_out) + "B " + std::to_string(static_cast<long long>(e.seconds * 1000)) +
          "ms in=" + std::to_string(e.bytes_in) + "B";
  if (!e.note.empty()) line += ": " + std::string(e.note);
  return line;
}

std::string RequestIdFor(std::string_view header) {
  bool ok = !header.empty() && header.size() <= 128;
  for (char c : header) ok = ok && IdChar(c);
  if (ok) return std::string(header);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(rng()));
  return buf;
}

}  // namespace cairn::internal
