// ResolveSettings: the one precedence of client settings (settings.h):
//
//   explicit argument > CAIRN_* environment > config file > ~/.netrc (api_key) > default
//
// Every call reads the environment and the files afresh, so a `cairn login`
// in another process is seen by the next call. Nothing here touches the
// network.
#include "cairn/settings.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "common/fs.h"
#include "sdk/internal/env.h"
#include "sdk/internal/settings_parse.h"

namespace cairn {
namespace {

constexpr char kDefaultBaseUrl[] = "http://127.0.0.1:8765";
constexpr char kDefaultProject[] = "uncategorized";

std::string_view TrimSpace(std::string_view s) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// The value of an environment variable, or "" when unset. An empty variable
// counts as unset, so `CAIRN_MODE= cmd` falls through to the next source.
std::string Env(const char* name) { return internal::EnvString(name); }

// The first non-empty of `candidates` (in precedence order).
std::string FirstOf(std::initializer_list<const std::string*> candidates) {
  for (const std::string* c : candidates) {
    if (!c->empty()) return *c;
  }
  return {};
}

// Settings read from the config file; empty fields were not set there.
struct FileSettings {
  std::string base_url, api_key, entity, project, dir, mode, ca_bundle;
};

// Where the config file lives, and whether the user named it (then it must
// exist) or it is the default location (then it may be missing).
struct ConfigLocation {
  std::filesystem::path path;
  bool named = false;
};

ConfigLocation LocateConfig(const ClientOptions& options) {
  if (!options.config_file.empty()) return {options.config_file, true};
  if (std::string env = Env("CAIRN_CONFIG"); !env.empty()) return {env, true};
  if (std::string xdg = Env("XDG_CONFIG_HOME"); !xdg.empty()) {
    return {std::filesystem::path(xdg) / "cairn" / "config", false};
  }
  if (std::string home = Env("HOME"); !home.empty()) {
    return {std::filesystem::path(home) / ".config" / "cairn" / "config", false};
  }
  return {};
}

// Parses `key = value` lines; `#` starts a comment line; blank lines are
// ignored; a value may be wrapped in matching double or single quotes.
// Unknown keys are errors (a typo such as `api-key` must not be ignored).
StatusOr<FileSettings> ReadConfigFile(const ConfigLocation& loc) {
  FileSettings out;
  if (loc.path.empty()) return out;
  std::error_code ec;
  if (!std::filesystem::exists(loc.path, ec)) {
    if (loc.named) {
      return InvalidArgumentError("config file " + loc.path.string() +
                                  " does not exist; fix CAIRN_CONFIG (or config_file) or create the file");
    }
    return out;
  }
  std::ifstream in(loc.path);
  if (!in) {
    return InvalidArgumentError("cannot read config file " + loc.path.string() + "; check its permissions");
  }
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    std::string_view s = TrimSpace(line);
    if (s.empty() || s.front() == '#') continue;
    auto where = [&] { return "config file " + loc.path.string() + " line " + std::to_string(line_no); };
    auto eq = s.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgumentError(where() + ": expected `key = value`");
    }
    std::string_view key = TrimSpace(s.substr(0, eq));
    std::string_view value = TrimSpace(s.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    std::string* field = nullptr;
    if (key == "base_url")
      field = &out.base_url;
    else if (key == "api_key")
      field = &out.api_key;
    else if (key == "entity")
      field = &out.entity;
    else if (key == "project")
      field = &out.project;
    else if (key == "dir")
      field = &out.dir;
    else if (key == "mode")
      field = &out.mode;
    else if (key == "ca_bundle")
      field = &out.ca_bundle;
    if (field == nullptr) {
      return InvalidArgumentError(where() + ": unknown key '" + std::string(key) +
                                  "' (known: base_url, api_key, entity, project, dir, mode, ca_bundle)");
    }
    *field = std::string(value);
  }
  return out;
}

// "host[:port]" of an http(s) URL, or "" when it has none.
std::string HostPort(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return {};
  std::string_view rest = url.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  if (auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);  // user:pass@
  return std::string(rest);
}

// The host without the port ("[::1]" stays bracketed).
std::string HostOnly(const std::string& host_port) {
  if (!host_port.empty() && host_port.front() == '[') {
    auto close = host_port.find(']');
    return close == std::string::npos ? host_port : host_port.substr(0, close + 1);
  }
  return host_port.substr(0, host_port.find(':'));
}

}  // namespace

namespace internal {

// Finds the password for `base_url` in the netrc text `content`. Tokens are
// whitespace separated: `machine NAME`, `default`, `login L`, `password P`,
// `account A`, `macdef NAME` (its body, up to a blank line, is skipped). A
// `machine` equal to "host:port" beats one equal to "host", which beats
// `default`. Returns "" when nothing matches.
std::string NetrcPasswordFor(std::string_view content, std::string_view base_url) {
  const std::string host_port = HostPort(base_url);
  const std::string host = HostOnly(host_port);
  if (host.empty()) return {};

  // Skip macdef bodies first: they end at the first empty line.
  std::string text;
  {
    std::istringstream lines{std::string(content)};
    std::string line;
    bool in_macdef = false;
    while (std::getline(lines, line)) {
      if (in_macdef) {
        if (TrimSpace(line).empty()) in_macdef = false;
        continue;
      }
      std::istringstream toks(line);
      std::string tok;
      while (toks >> tok) {
        if (tok == "macdef") {
          in_macdef = true;
          break;
        }
        text += tok;
        text += ' ';
      }
      text += '\n';
    }
  }

  std::istringstream toks(text);
  std::string tok;
  enum { kNone, kHost, kHostPort, kDefault } current = kNone;
  std::string best_host_port, best_host, best_default;
  while (toks >> tok) {
    if (tok == "machine") {
      std::string name;
      if (!(toks >> name)) break;
      if (name == host_port && host_port != host) {
        current = kHostPort;
      } else if (name == host) {
        current = kHost;
      } else {
        current = kNone;
      }
    } else if (tok == "default") {
      current = kDefault;
    } else if (tok == "login" || tok == "account") {
      std::string ignored;
      toks >> ignored;
    } else if (tok == "password") {
      std::string pw;
      if (!(toks >> pw)) break;
      if (current == kHostPort && best_host_port.empty()) best_host_port = pw;
      if (current == kHost && best_host.empty()) best_host = pw;
      if (current == kDefault && best_default.empty()) best_default = pw;
    }
  }
  if (!best_host_port.empty()) return best_host_port;
  if (!best_host.empty()) return best_host;
  return best_default;
}

// Validates and normalises a base URL: http:// or https://, a host, no
// whitespace; trailing '/' removed.
StatusOr<std::string> NormalizeBaseUrl(std::string_view url) {
  std::string_view s = TrimSpace(url);
  auto bad = [&](std::string_view why) {
    return InvalidArgumentError("invalid base URL '" + std::string(url) + "': " + std::string(why) +
                                "; set CAIRN_BASE_URL to e.g. http://127.0.0.1:8765");
  };
  if (s.substr(0, 7) != "http://" && s.substr(0, 8) != "https://") {
    return bad("it must start with http:// or https://");
  }
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return bad("it contains whitespace or a control character");
  }
  while (!s.empty() && s.back() == '/') s.remove_suffix(1);
  if (HostOnly(HostPort(s)).empty()) return bad("it has no host");
  if (s.find_first_of("?#") != std::string_view::npos) return bad("it must not carry a query or fragment");
  return std::string(s);
}

}  // namespace internal

StatusOr<Settings> ResolveSettings(const ClientOptions& explicit_options) {
  const ClientOptions& o = explicit_options;
  ClientOptions env;
  env.base_url = Env("CAIRN_BASE_URL");
  env.api_key = Env("CAIRN_API_KEY");
  env.entity = Env("CAIRN_ENTITY");
  env.project = Env("CAIRN_PROJECT");
  env.dir = Env("CAIRN_DIR");
  env.mode = Env("CAIRN_MODE");
  env.ca_bundle = Env("CAIRN_CA_BUNDLE");

  StatusOr<FileSettings> file = ReadConfigFile(LocateConfig(o));
  if (!file.ok()) return file.status();
  const FileSettings& f = *file;

  Settings s;
  std::string mode = FirstOf({&o.mode, &env.mode, &f.mode});
  if (mode.empty() || mode == "online") {
    s.mode = Mode::kOnline;
  } else if (mode == "offline") {
    s.mode = Mode::kOffline;
  } else if (mode == "disabled") {
    s.mode = Mode::kDisabled;
  } else {
    return InvalidArgumentError("invalid mode '" + mode + "': use online, offline or disabled (CAIRN_MODE)");
  }

  std::string base_url = FirstOf({&o.base_url, &env.base_url, &f.base_url});
  if (base_url.empty()) base_url = kDefaultBaseUrl;
  StatusOr<std::string> normalized = internal::NormalizeBaseUrl(base_url);
  if (!normalized.ok()) return normalized.status();
  s.base_url = *normalized;

  s.api_key = FirstOf({&o.api_key, &env.api_key, &f.api_key});
  if (s.api_key.empty()) {
    std::string home = Env("HOME");
    std::filesystem::path netrc = Env("NETRC");
    if (netrc.empty() && !home.empty()) netrc = std::filesystem::path(home) / ".netrc";
    std::error_code ec;
    if (!netrc.empty() && std::filesystem::is_regular_file(netrc, ec)) {
      // An unreadable netrc only means "no key from netrc": the server's 401
      // then says how to provide one.
      if (StatusOr<std::string> text = internal::ReadSmallFile(netrc); text.ok()) {
        s.api_key = internal::NetrcPasswordFor(*text, s.base_url);
      }
    }
  }

  s.entity = FirstOf({&o.entity, &env.entity, &f.entity});
  s.project = FirstOf({&o.project, &env.project, &f.project});
  if (s.project.empty()) s.project = kDefaultProject;

  std::error_code ec;
  s.ca_bundle = FirstOf({&o.ca_bundle, &env.ca_bundle, &f.ca_bundle});
  if (!s.ca_bundle.empty()) {
    if (!std::filesystem::is_regular_file(s.ca_bundle, ec)) {
      return InvalidArgumentError("the CA bundle " + s.ca_bundle +
                                  " is not a file; set CAIRN_CA_BUNDLE (or ca_bundle) to a PEM file of CA certificates");
    }
    s.ca_bundle = std::filesystem::absolute(s.ca_bundle, ec).string();
  }

  s.dir = FirstOf({&o.dir, &env.dir, &f.dir});
  if (s.dir.empty()) {
    std::filesystem::path cwd = std::filesystem::current_path(ec);
    if (ec) {
      return FailedPreconditionError("cannot determine the working directory (" + ec.message() + "); set CAIRN_DIR");
    }
    s.dir = cwd.string();
  } else {
    std::filesystem::path abs = std::filesystem::absolute(s.dir, ec);
    if (!ec) s.dir = abs.lexically_normal().string();
  }
  return s;
}

}  // namespace cairn
