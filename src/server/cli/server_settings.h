// The settings of the server's commands, resolved once: flag > CAIRN_*
// environment > default (the server has no config file). Read through
// common/env.h, with its one rule for malformed values.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "cairn/status.h"

namespace cairn::server_cli {

// What the flags of `cairn server`, fsck and gc give; empty: not given.
struct StoreFlags {
  std::string data_dir;   // --data; else CAIRN_DATA_DIR, $XDG_DATA_HOME/cairn, ~/.local/share/cairn
  std::string db_url;     // --db; else CAIRN_DB_URL, else SQLite in the data directory
  std::string blobs_url;  // --blobs; else CAIRN_BLOBS_URL, else DATA/blobs
};

struct ServerSettings {
  std::filesystem::path data_dir;
  std::string db_url;
  std::string blobs_url;
  // CAIRN_REQUEST_TIMEOUT (1-3600 s, default 30): how long a request's
  // headers, and each chunk of an upload, may take to arrive.
  std::chrono::seconds request_timeout{30};
  // CAIRN_RUN_STALE_AFTER_S (1-86400 s, default 60): a running run silent
  // this long reads as "crashed".
  std::chrono::seconds run_stale_after{60};
  // CAIRN_ADMIN_KEY: the admin key; empty: DATA/admin.key (generated on the
  // first start). A secret: never printed.
  std::string admin_key;
};

// kInvalidArgument naming the variable when one is malformed, or when no
// data directory can be found.
StatusOr<ServerSettings> ResolveServerSettings(const StoreFlags& flags);

}  // namespace cairn::server_cli
