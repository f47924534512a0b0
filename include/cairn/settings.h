// Client settings and their one precedence (docs/adr/0004-settings-precedence.md):
//
//   explicit argument  >  CAIRN_* environment  >  config file / ~/.netrc  >  default
//
// The config file is $CAIRN_CONFIG, else $XDG_CONFIG_HOME/cairn/config, else
// ~/.config/cairn/config: lines of `key = value` (base_url, api_key, entity,
// project, dir, mode), `#` comments. The API key may also come from ~/.netrc
// (`machine HOST login api password KEY`), as `cairn login` writes it; the
// config file wins over netrc.
//
// An https:// server is verified against the system's CA certificates, or
// against ca_bundle (CAIRN_CA_BUNDLE, config `ca_bundle`): a PEM file of CA
// certificates that then replaces the system ones, e.g. for a private CA.
#pragma once

#include <string>

#include "cairn/status.h"

namespace cairn {

enum class Mode {
  kOnline,    // talk to the server (default)
  kOffline,   // no network; restore only finds local files
  kDisabled,  // every call is a cheap no-op; restore returns local files or nothing
};

// What a caller gives explicitly. An empty field means "not given here": the
// next source in the precedence decides.
struct ClientOptions {
  std::string base_url;  // default "http://127.0.0.1:8765" (CAIRN_BASE_URL)
  std::string api_key;   // default none (CAIRN_API_KEY, config, ~/.netrc)
  std::string entity;    // default: the key's own entity, asked of the server (CAIRN_ENTITY)
  std::string project;   // default "uncategorized" (CAIRN_PROJECT)
  std::string dir;       // default the working directory (CAIRN_DIR)
  std::string mode;      // "online" (default) | "offline" | "disabled" (CAIRN_MODE)
  std::string ca_bundle;  // default: the system CAs (CAIRN_CA_BUNDLE); a PEM file of trusted CAs
  std::string config_file;  // default as described above (CAIRN_CONFIG)
};

// Fully resolved settings. entity may still be empty: it is then asked of the
// server when first needed.
struct Settings {
  std::string base_url;
  std::string api_key;
  std::string entity;
  std::string project;
  std::string dir;
  Mode mode = Mode::kOnline;
  std::string ca_bundle;  // empty: the system CAs; else an existing file (absolute path)
};

// Resolves `explicit_options` against the environment, the config file and
// ~/.netrc. Fails with kInvalidArgument on an unknown mode, a malformed base URL,
// a CA bundle that is not a file, or an unreadable/malformed config file
// (naming the file and line).
// Thread-safe; reads the environment and files on every call.
StatusOr<Settings> ResolveSettings(const ClientOptions& explicit_options = {});

}  // namespace cairn
