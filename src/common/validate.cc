#include "common/validate.h"

#include <openssl/rand.h>

#include <vector>

namespace cairn::internal {
namespace {

// Quotes user input for an error message, escaping control bytes so that a
// hostile name cannot forge terminal output.
std::string Quote(std::string_view s) {
  std::string out = "'";
  for (unsigned char c : s.substr(0, 200)) {
    if (c < 0x20 || c == 0x7f) {
      static const char* kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > 200) out += "...";
  return out + "'";
}

bool IsValidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    int len;
    std::uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
    else return false;
    if (i + len > s.size()) return false;
    for (int k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong encodings, surrogates and out-of-range code points.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += len;
  }
  return true;
}

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    auto pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

std::string_view Trim(std::string_view s) {
  auto is_trim = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '/'; };
  while (!s.empty() && is_trim(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_trim(s.back())) s.remove_suffix(1);
  return s;
}

Status BadRunPath(std::string_view input, std::string_view why) {
  return InvalidArgumentError("invalid run path " + Quote(input) + ": " + std::string(why) +
                              "; use entity/project/run_id, entity/project/runs/run_id, project/run_id "
                              "or http(s)://host/entity/project/runs/run_id");
}

}  // namespace

Status ValidateFileName(std::string_view name) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError("invalid file name " + Quote(name) + ": " + std::string(why));
  };
  if (name.empty()) return bad("it is empty");
  if (name.size() > kMaxNameBytes) return bad("it is longer than 1024 bytes");
  if (name.front() == '/') return bad("it must be relative to the run, not start with '/'");
  if (!IsValidUtf8(name)) return bad("it is not valid UTF-8");
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return bad("it contains a control character");
    if (c == '\\') return bad("it contains a backslash; separate directories with '/'");
  }
  for (std::string_view part : Split(name, '/')) {
    if (part.empty()) return bad("it has an empty path component ('//' or a trailing '/')");
    if (part == "." || part == "..") return bad("it has a '.' or '..' component");
  }
  return OkStatus();
}

Status ValidateId(std::string_view id, std::string_view what) {
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError("invalid " + std::string(what) + " " + Quote(id) + ": " + std::string(why) +
                                " (use 1-128 characters of A-Z a-z 0-9 . _ -, not starting with '.')");
  };
  if (id.empty()) return bad("it is empty");
  if (id.size() > kMaxIdChars) return bad("it is longer than 128 characters");
  if (id.front() == '.') return bad("it starts with '.'");
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-';
    if (!ok) return bad("it contains a character outside the allowed set");
  }
  return OkStatus();
}

StatusOr<RunPath> ParseRunPath(std::string_view input) {
  std::string_view s = Trim(input);
  bool url = false;
  for (std::string_view scheme : {"http://", "https://"}) {
    if (s.substr(0, scheme.size()) == scheme) {
      s.remove_prefix(scheme.size());
      auto slash = s.find('/');
      if (slash == std::string_view::npos || slash == 0) return BadRunPath(input, "the URL has no run in it");
      s = s.substr(slash);
      s = s.substr(0, s.find_first_of("?#"));  // a copied URL may carry ?workspace=... or #...
      s = Trim(s);
      url = true;
      break;
    }
  }
  if (s.empty()) return BadRunPath(input, "it is empty");
  auto parts = Split(s, '/');
  RunPath out;
  if (url) {
    if (parts.size() != 4 || parts[2] != "runs") return BadRunPath(input, "a URL must end in /entity/project/runs/run_id");
    out = {std::string(parts[0]), std::string(parts[1]), std::string(parts[3])};
  } else if (parts.size() == 4 && parts[2] == "runs") {
    out = {std::string(parts[0]), std::string(parts[1]), std::string(parts[3])};
  } else if (parts.size() == 3) {
    out = {std::string(parts[0]), std::string(parts[1]), std::string(parts[2])};
  } else if (parts.size() == 2) {
    out = {"", std::string(parts[0]), std::string(parts[1])};
  } else {
    return BadRunPath(input, "it has " + std::to_string(parts.size()) + " components");
  }
  if (!out.entity.empty() || parts.size() != 2) {
    if (auto st = ValidateId(out.entity, "entity"); !st.ok()) return BadRunPath(input, st.message());
  }
  if (auto st = ValidateId(out.project, "project"); !st.ok()) return BadRunPath(input, st.message());
  if (auto st = ValidateId(out.run_id, "run id"); !st.ok()) return BadRunPath(input, st.message());
  return out;
}

StatusOr<RunPath> ParseProjectPath(std::string_view input) {
  std::string_view s = Trim(input);
  auto parts = Split(s, '/');
  RunPath out;
  if (parts.size() == 2) {
    out.entity = std::string(parts[0]);
    out.project = std::string(parts[1]);
    if (auto st = ValidateId(out.entity, "entity"); !st.ok()) return st;
  } else if (parts.size() == 1 && !s.empty()) {
    out.project = std::string(parts[0]);
  } else {
    return InvalidArgumentError("invalid project path " + Quote(input) + ": use entity/project or project");
  }
  if (auto st = ValidateId(out.project, "project"); !st.ok()) return st;
  return out;
}

std::string NewRunId() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  unsigned char bytes[8];
  std::string id;
  // 252 = 7 * 36: reject bytes above it to keep the distribution uniform.
  while (id.size() < 8) {
    if (RAND_bytes(bytes, sizeof bytes) != 1) continue;
    for (unsigned char b : bytes) {
      if (b < 252 && id.size() < 8) id += kAlphabet[b % 36];
    }
  }
  return id;
}

std::string UrlEncode(std::string_view s, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                 c == '_' || c == '~' || c == '-' || (keep_slash && c == '/');
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::optional<std::string> UrlDecode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

}  // namespace cairn::internal
