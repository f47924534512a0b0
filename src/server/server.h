// `cairn server`: the store behind the HTTP API of docs/http-api.md.
// This header is free of Boost; Beast/Asio stay inside src/server/*.cc.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "cairn/status.h"

namespace cairn::internal {

struct ServerOptions {
  std::filesystem::path data_dir;         // required; created when missing
  std::string listen = "127.0.0.1:8765";  // HOST:PORT; port 0 picks a free port
  int threads = 0;                        // 0: max(8, hardware threads)
  std::string db_url;                     // empty: SQLite under data_dir; else postgresql://...
  std::string blobs_url;                  // empty: data_dir/blobs; else s3://bucket/prefix?endpoint=...
  // Answer file downloads with a redirect (307) to a presigned object-store
  // URL valid for presign_ttl, so the bytes bypass the server. Needs s3://
  // blobs. Default off: the server streams the bytes itself.
  bool s3_presign = false;
  std::chrono::seconds presign_ttl{300};
  std::chrono::seconds idle_timeout{60};     // keep-alive connection with no request
  std::chrono::seconds request_timeout{30};  // time to receive a request's headers
  std::chrono::seconds shutdown_grace{10};   // transfers in flight get this long on SIGTERM
  // An upload in parts untouched for this long is discarded (its staged parts
  // under data_dir/uploads are removed).
  std::chrono::seconds upload_ttl{std::chrono::hours(24)};
  // HTTPS: PEM certificate chain and unencrypted PEM private key. Both empty
  // (the default): plain HTTP. Only one of them is an error.
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  // A run whose holder sent no heartbeat for this long (SDK: every 30 s) and
  // did not finish reads as "crashed" (CAIRN_RUN_STALE_AFTER_S).
  std::chrono::seconds run_stale_after{60};
  // Operations (docs/operations.md): the log's format, "text" (default) or
  // "json" (one JSON object per line, an access line per request); GET
  // /metrics behind a key (default off: open to the network the server
  // listens on); /readyz's deadline for each store.
  std::string log_format = "text";
  bool metrics_key_required = false;
  // false: no /metrics samples and no store timing (the bench's baseline;
  // /metrics still answers, with what is known at scrape time).
  bool metrics = true;
  std::chrono::milliseconds ready_deadline{2000};
  // Every this long, a background thread applies the retention policies of
  // every project that has one (server/retention.h). 0 (the default): never;
  // `cairn retention apply` still works.
  std::chrono::milliseconds retention_interval{0};
  // The admin key given by the operator (CAIRN_ADMIN_KEY, read once by
  // server_cli::ResolveServerSettings); empty: DATA/admin.key.
  std::string admin_key;
};

// Opens the store, binds, prints exactly one line
//   cairn server listening on http://HOST:PORT   (https:// with TLS)
// to stdout (the real port), serves until SIGTERM/SIGINT, then stops
// accepting, lets requests in flight finish within shutdown_grace (cancelling
// the rest; a cancelled upload commits nothing) and returns.
// The admin key is options.admin_key (CAIRN_ADMIN_KEY), else DATA/admin.key (generated on first
// start, mode 0600; its location is printed to stderr).
Status RunServer(const ServerOptions& options);

}  // namespace cairn::internal
