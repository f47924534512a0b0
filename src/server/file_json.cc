#include "server/file_json.h"

#include <charconv>
#include <cstdint>

#include "common/fs.h"

namespace cairn::internal {
namespace {

using Json = nlohmann::json;

template <typename Int>
void AppendInt(std::string& out, Int v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace

Json FileJson(const FileVersionRecord& f) {
  return Json{{"name", f.name},
              {"size", f.size},
              {"sha256", f.sha256},
              {"version", f.version},
              {"updated_at", FormatTimeMs(f.created_ms)},
              // Who saved it (Principal::Actor()); null when unknown.
              {"created_by", f.created_by.empty() ? Json(nullptr) : Json(f.created_by)}};
}

void AppendJsonString(std::string& out, std::string_view s) {
  // Printable ASCII but '"' and '\\' stands for itself; anything else takes
  // nlohmann's escaping and UTF-8 checks, so both paths write the same bytes.
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      out += Json(std::string(s)).dump(-1, ' ', false, Json::error_handler_t::replace);
      return;
    }
  }
  out += '"';
  out.append(s);
  out += '"';
}

void AppendFileJson(std::string& out, const FileVersionRecord& f) {
  // Keys in nlohmann::json's (std::map) order, as FileJson(f).dump() has them.
  out += "{\"created_by\":";
  if (f.created_by.empty()) {
    out += "null";
  } else {
    AppendJsonString(out, f.created_by);
  }
  out += ",\"name\":";
  AppendJsonString(out, f.name);
  out += ",\"sha256\":";
  AppendJsonString(out, f.sha256);
  out += ",\"size\":";
  AppendInt(out, f.size);
  out += ",\"updated_at\":";
  AppendJsonString(out, FormatTimeMs(f.created_ms));
  out += ",\"version\":";
  AppendInt(out, f.version);
  out += '}';
}

std::string FilePageJson(const std::vector<FileVersionRecord>& files, const std::string& next_cursor) {
  std::string out;
  out.reserve(64 + files.size() * 192);
  out += "{\"files\":[";
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (i > 0) out += ',';
    AppendFileJson(out, files[i]);
  }
  out += "],\"next_cursor\":";
  if (next_cursor.empty()) {
    out += "null";
  } else {
    AppendJsonString(out, next_cursor);
  }
  out += '}';
  return out;
}

}  // namespace cairn::internal
