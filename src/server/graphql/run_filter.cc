#include "server/graphql/run_filter.h"

#include <cstdio>
#include <ctime>
#include <optional>
#include <set>

namespace cairn::internal::graphql {
namespace {

const std::set<std::string, std::less<>> kOperators = {"$eq", "$ne", "$gt", "$gte", "$lt",
                                                       "$lte", "$in", "$nin", "$exists"};
constexpr const char* kOperatorList = "$and $or $nor $eq $ne $gt $gte $lt $lte $in $nin $exists";
constexpr const char* kFieldList =
    "name, displayName, state, createdAt, heartbeatAt, config.KEY, config.KEY.value";

enum class Field { kName, kDisplayName, kState, kCreatedAt, kHeartbeatAt, kConfig, kUnknown };

struct FieldRef {
  Field field = Field::kUnknown;
  std::vector<std::string> path;  // kConfig: the keys inside the config
};

std::vector<std::string> SplitDots(std::string_view s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t dot = s.find('.', start);
    out.emplace_back(s.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) return out;
    start = dot + 1;
  }
}

// "config.lr", "config.lr.value", "config.opt.value.beta" -> the keys inside
// the plain config ("value" right after the key is W&B's wrapper).
std::vector<std::string> ConfigPath(std::string_view rest) {
  std::vector<std::string> path = SplitDots(rest);
  if (path.size() >= 2 && path[1] == "value") path.erase(path.begin() + 1);
  return path;
}

FieldRef ResolveField(std::string_view key) {
  if (key == "name" || key == "id") return {Field::kName, {}};
  if (key == "displayName" || key == "display_name") return {Field::kDisplayName, {}};
  if (key == "state") return {Field::kState, {}};
  if (key == "createdAt" || key == "created_at") return {Field::kCreatedAt, {}};
  if (key == "heartbeatAt" || key == "heartbeat_at") return {Field::kHeartbeatAt, {}};
  if (key.rfind("config.", 0) == 0 && key.size() > 7) return {Field::kConfig, ConfigPath(key.substr(7))};
  return {};
}

bool IsTime(Field f) { return f == Field::kCreatedAt || f == Field::kHeartbeatAt; }

// The run's value of a field; nullopt when absent (a config key it lacks).
std::optional<Json> FieldValue(const FieldRef& f, const RunView& run) {
  switch (f.field) {
    case Field::kName:
    case Field::kDisplayName:
      return Json(run.name);
    case Field::kState:
      return Json(run.state);
    case Field::kCreatedAt:
      return Json(run.created_ms);
    case Field::kHeartbeatAt:
      return Json(run.heartbeat_ms);
    case Field::kConfig: {
      const Json* at = &run.config;
      for (const std::string& k : f.path) {
        if (!at->is_object()) return std::nullopt;
        auto it = at->find(k);
        if (it == at->end()) return std::nullopt;
        at = &*it;
      }
      return *at;
    }
    case Field::kUnknown:
      break;
  }
  return std::nullopt;
}

// A total order over JSON values: null < bool < number < string < array <
// object; numbers by value, strings bytewise, the rest by their text.
int Rank(const Json& v) {
  if (v.is_null()) return 0;
  if (v.is_boolean()) return 1;
  if (v.is_number()) return 2;
  if (v.is_string()) return 3;
  return v.is_array() ? 4 : 5;
}

int CompareJson(const Json& a, const Json& b) {
  const int ra = Rank(a), rb = Rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 0:
      return 0;
    case 1:
      return static_cast<int>(a.get<bool>()) - static_cast<int>(b.get<bool>());
    case 2: {
      const double x = a.get<double>(), y = b.get<double>();
      return x < y ? -1 : (y < x ? 1 : 0);
    }
    case 3:
      return a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>()) < 0
                 ? -1
                 : (a.get_ref<const std::string&>() == b.get_ref<const std::string&>() ? 0 : 1);
    default: {
      const std::string x = a.dump(), y = b.dump();
      return x < y ? -1 : (y < x ? 1 : 0);
    }
  }
}

// A filter operand for a time field, in ms; seconds-precision operands
// compare with the run's time truncated to seconds (what clients are shown).
struct TimeOperand {
  long long ms = 0;
  bool whole_seconds = true;
};

std::optional<TimeOperand> TimeOf(const Json& v) {
  if (!v.is_string()) return std::nullopt;
  const std::string& s = v.get_ref<const std::string&>();
  std::optional<long long> ms = ParseIsoTimeMs(s);
  if (!ms) return std::nullopt;
  return TimeOperand{*ms, s.find('.') == std::string::npos};
}

// Compares the run's value with an operand (time-aware). nullopt when they
// are not comparable (different kinds, absent value).
std::optional<int> Compare(const std::optional<Json>& actual, const Json& operand, bool time) {
  if (!actual) return std::nullopt;
  if (time) {
    std::optional<TimeOperand> t = TimeOf(operand);
    if (!t) return std::nullopt;
    long long mine = actual->get<long long>();
    if (t->whole_seconds) mine -= ((mine % 1000) + 1000) % 1000;
    return mine < t->ms ? -1 : (mine > t->ms ? 1 : 0);
  }
  const bool comparable = (actual->is_number() && operand.is_number()) ||
                          (actual->is_string() && operand.is_string()) ||
                          (actual->is_boolean() && operand.is_boolean());
  if (!comparable) return std::nullopt;
  return CompareJson(*actual, operand);
}

bool Equal(const std::optional<Json>& actual, const Json& operand, bool time) {
  if (!actual) return operand.is_null();
  if (time) return Compare(actual, operand, true) == 0;
  if (actual->is_number() && operand.is_number()) return CompareJson(*actual, operand) == 0;
  return *actual == operand;
}

// {"$gt": 1} is a condition; {"a": 1} an object to compare with.
bool IsOperatorObject(const Json& v) {
  if (!v.is_object()) return false;
  for (const auto& [key, unused] : v.items()) {
    if (key.rfind('$', 0) == 0) return true;
  }
  return false;
}

Status Unknown(std::string_view op) {
  return InvalidArgumentError("runs filter: unknown operator \"" + std::string(op) + "\" (Cairn supports " +
                              kOperatorList + ")");
}

Status ValidateDoc(const Json& doc, int depth);

Status ValidateCondition(const std::string& key, const FieldRef& f, const Json& cond) {
  auto check_time = [&](const Json& v) -> Status {
    if (IsTime(f.field) && !TimeOf(v)) {
      return InvalidArgumentError("runs filter: " + key + " compares with an ISO 8601 time such as " +
                                  "\"2026-12-06T14:00:00\", not " + v.dump());
    }
    return OkStatus();
  };
  if (!IsOperatorObject(cond)) return check_time(cond);
  for (const auto& [op, operand] : cond.items()) {
    if (kOperators.count(op) == 0) return Unknown(op);
    if (op == "$in" || op == "$nin") {
      if (!operand.is_array()) return InvalidArgumentError("runs filter: " + op + " takes a list, not " + operand.dump());
      for (const Json& v : operand) {
        if (Status s = check_time(v); !s.ok()) return s;
      }
    } else if (op == "$exists") {
      if (!operand.is_boolean()) return InvalidArgumentError("runs filter: $exists takes true or false");
    } else if (Status s = check_time(operand); !s.ok()) {
      return s;
    }
  }
  return OkStatus();
}

Status ValidateDoc(const Json& doc, int depth) {
  if (depth > 32) return InvalidArgumentError("runs filter: nested more than 32 levels deep");
  if (!doc.is_object()) return InvalidArgumentError("runs filter: expected an object, not " + doc.dump());
  for (const auto& [key, value] : doc.items()) {
    if (key == "$and" || key == "$or" || key == "$nor") {
      if (!value.is_array()) return InvalidArgumentError("runs filter: " + key + " takes a list of filters");
      for (const Json& sub : value) {
        if (Status s = ValidateDoc(sub, depth + 1); !s.ok()) return s;
      }
      continue;
    }
    if (key.rfind('$', 0) == 0) return Unknown(key);
    const FieldRef f = ResolveField(key);
    if (f.field == Field::kUnknown) {
      return InvalidArgumentError("runs filter: Cairn has no run field \"" + key + "\" (it filters on " +
                                  kFieldList + ")");
    }
    if (Status s = ValidateCondition(key, f, value); !s.ok()) return s;
  }
  return OkStatus();
}

bool MatchOperator(const std::string& op, const Json& operand, const std::optional<Json>& actual, bool time) {
  if (op == "$eq") return Equal(actual, operand, time);
  if (op == "$ne") return !Equal(actual, operand, time);
  if (op == "$exists") return actual.has_value() == operand.get<bool>();
  if (op == "$in" || op == "$nin") {
    bool any = false;
    for (const Json& v : operand) any = any || Equal(actual, v, time);
    return op == "$in" ? any : !any;
  }
  const std::optional<int> c = Compare(actual, operand, time);
  if (!c) return false;
  if (op == "$gt") return *c > 0;
  if (op == "$gte") return *c >= 0;
  if (op == "$lt") return *c < 0;
  return *c <= 0;  // $lte (validated)
}

bool MatchDoc(const Json& doc, const RunView& run) {
  for (const auto& [key, value] : doc.items()) {
    if (key == "$and" || key == "$or" || key == "$nor") {
      bool any = false, all = true;
      for (const Json& sub : value) {
        const bool m = MatchDoc(sub, run);
        any = any || m;
        all = all && m;
      }
      const bool ok = key == "$and" ? all : (key == "$or" ? any : !any);
      if (!ok) return false;
      continue;
    }
    const FieldRef f = ResolveField(key);
    const std::optional<Json> actual = FieldValue(f, run);
    const bool time = IsTime(f.field);
    if (IsOperatorObject(value)) {
      for (const auto& [op, operand] : value.items()) {
        if (!MatchOperator(op, operand, actual, time)) return false;
      }
    } else if (!Equal(actual, value, time)) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<long long> ParseIsoTimeMs(std::string_view text) {
  const std::string s(text);
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &consumed) != 3 ||
      consumed != 10) {
    return std::nullopt;
  }
  std::size_t i = 10;
  long long ms = 0;
  if (i < s.size() && (s[i] == 'T' || s[i] == ' ')) {
    int n = 0;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 3 || n != 8) {
      return std::nullopt;
    }
    i += 9;
    if (i < s.size() && s[i] == '.') {
      long long scale = 100;
      for (++i; i < s.size() && s[i] >= '0' && s[i] <= '9'; ++i, scale /= 10) ms += (s[i] - '0') * scale;
    }
  }
  long long offset_s = 0;
  if (i < s.size() && s[i] == 'Z') {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int hh = 0, mm = 0, n = 0;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 || n != 5) return std::nullopt;
    offset_s = (s[i] == '+' ? 1 : -1) * (hh * 3600LL + mm * 60LL);
    i += 6;
  }
  if (i != s.size() || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31) return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const long long secs = static_cast<long long>(timegm(&tm)) - offset_s;
  return secs * 1000 + ms;
}

StatusOr<RunFilter> RunFilter::Parse(const Json& filters) {
  RunFilter f;
  if (filters.is_null()) return f;
  Json doc = filters;
  if (filters.is_string()) {
    const std::string& text = filters.get_ref<const std::string&>();
    if (text.empty()) return f;
    doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return InvalidArgumentError("runs filter is not valid JSON: " + text.substr(0, 200));
  }
  if (Status s = ValidateDoc(doc, 0); !s.ok()) return s;
  f.doc_ = std::move(doc);
  return f;
}

bool RunFilter::Matches(const RunView& run) const { return MatchDoc(doc_, run); }

StatusOr<RunOrder> RunOrder::Parse(std::string_view order) {
  RunOrder o;
  if (!order.empty() && (order[0] == '+' || order[0] == '-')) {
    o.descending_ = order[0] == '-';
    order.remove_prefix(1);
  }
  if (order.empty() || order == "created_at" || order == "createdAt") {
    o.field_ = "created_at";
  } else if (order == "heartbeat_at" || order == "heartbeatAt") {
    o.field_ = "heartbeat_at";
  } else if (order == "name" || order == "display_name" || order == "displayName") {
    o.field_ = "name";
  } else if (order == "state") {
    o.field_ = "state";
  } else if (order.rfind("config.", 0) == 0 && order.size() > 7) {
    o.field_ = "config";
    o.config_path_ = ConfigPath(order.substr(7));
  } else {
    return InvalidArgumentError("runs order \"" + std::string(order) +
                                "\" is not one Cairn knows: use [+|-] and created_at, heartbeat_at, name, state or "
                                "config.KEY");
  }
  return o;
}

Json RunOrder::Key(const RunView& run) const {
  Json value;
  if (field_ == "created_at") {
    value = run.created_ms;
  } else if (field_ == "heartbeat_at") {
    value = run.heartbeat_ms;
  } else if (field_ == "name") {
    value = run.name;
  } else if (field_ == "state") {
    value = run.state;
  } else {
    std::optional<Json> v = FieldValue(FieldRef{Field::kConfig, config_path_}, run);
    value = v ? *v : Json(nullptr);
  }
  return Json::array({std::move(value), run.created_ms, run.name});
}

bool RunOrder::Before(const Json& a, const Json& b) const {
  for (std::size_t i = 0; i < 3 && i < a.size() && i < b.size(); ++i) {
    const int c = CompareJson(a[i], b[i]);
    if (c != 0) return descending_ ? c > 0 : c < 0;
  }
  return false;
}

}  // namespace cairn::internal::graphql
