// `cairn server`, `cairn fsck`, `cairn gc` (server_commands.h): they open the
// store themselves, so they live in the server layer.
#include "server/cli/server_commands.h"

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cairn/bytes.h"
#include "cli/exit_codes.h"
#include "common/duration.h"
#include "server/cli/server_settings.h"
#include "server/server.h"
#include "store/maintenance.h"
#include "store/store.h"

namespace cairn::server_cli {
namespace fs = std::filesystem;
using cli::Fail;
using cli::kExitFailure;
using cli::kExitOk;

struct ServerCommands::Flags {
  CLI::App* server = nullptr;
  CLI::App* fsck = nullptr;
  CLI::App* gc = nullptr;
  StoreFlags server_store;  // `cairn server`'s --data/--db/--blobs
  StoreFlags store;         // fsck's and gc's
  std::string listen = "127.0.0.1:8765";
  int threads = 0;
  bool s3_presign = false;
  std::string tls_cert, tls_key;
  std::string log_format = "text";
  bool metrics_key_required = false, no_metrics = false;
  std::string retention_interval;  // --retention-interval 1h; empty or 0: no background pass
  bool fsck_quarantine = false, fsck_json = false;
  bool gc_dry_run = false;
  std::string gc_grace = "1h";
};

namespace {

using Flags = ServerCommands::Flags;

void AddServer(CLI::App& app, Flags& f) {
  auto* server = f.server = app.add_subcommand(
      "server", "Run the Cairn store (SQLite + local disk by default); W&B clients can restore from it (docs/wandb.md)");
  server->footer("Environment: CAIRN_ADMIN_KEY (else DATA/admin.key), CAIRN_REQUEST_TIMEOUT (seconds a request's "
                 "headers or an upload's next chunk may take; default 30).");
  server->add_option("--data", f.server_store.data_dir, "Data directory (default CAIRN_DATA_DIR, else ~/.local/share/cairn)");
  server->add_option("--listen", f.listen, "HOST:PORT to listen on; port 0 picks a free port")->capture_default_str();
  server->add_option("--threads", f.threads, "Worker threads (default: number of cores, at least 8: handlers block on the store)");
  server->add_option("--db", f.server_store.db_url,
                     "Metadata database: postgresql://user:pass@host:port/db (default CAIRN_DB_URL, else SQLite in "
                     "the data directory)");
  server->add_option("--blobs", f.server_store.blobs_url,
                     "Blob store: s3://bucket/prefix?endpoint=http://host:port&region=R, credentials from "
                     "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (default CAIRN_BLOBS_URL, else DATA/blobs)");
  server->add_flag("--s3-presign", f.s3_presign,
                   "Downloads redirect clients to short-lived presigned URLs of the object store (needs s3:// blobs)");
  server->add_option("--tls-cert", f.tls_cert, "Serve HTTPS with this PEM certificate chain (needs --tls-key)")
      ->check(CLI::ExistingFile);
  server->add_option("--tls-key", f.tls_key, "The PEM private key of --tls-cert (unencrypted; keep it mode 0600)")
      ->check(CLI::ExistingFile);
  server->add_option("--log-format", f.log_format,
                     "Log lines as text (for people) or json (one object per line, an access line per request "
                     "with its route template, status, bytes, duration and key id; for log pipelines)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  server->add_flag("--metrics-key-required", f.metrics_key_required,
                   "GET /metrics needs a valid API key (default: open; it shows no names and no keys)");
  server->add_flag("--no-metrics", f.no_metrics,
                   "Count no requests and time no store calls (for benchmarks; /metrics then shows little)");
  server->add_option("--retention-interval", f.retention_interval,
                     "Apply every project's retention policies this often in the background (30m, 1h, 1d; "
                     "default 0: never; `cairn retention apply` works either way)");
}

// Operator tools: on the store itself, like `cairn server` (not over HTTP).
void AddFsckAndGc(CLI::App& app, Flags& f) {
  auto add_store_flags = [&f](CLI::App* cmd) {
    cmd->add_option("--data", f.store.data_dir, "The server's data directory (default CAIRN_DATA_DIR)");
    cmd->add_option("--db", f.store.db_url, "The server's --db (default CAIRN_DB_URL, else SQLite in --data)");
    cmd->add_option("--blobs", f.store.blobs_url, "The server's --blobs (default CAIRN_BLOBS_URL, else DATA/blobs)");
  };
  f.fsck = app.add_subcommand(
      "fsck", "Verify every stored blob's SHA-256 and every version's blob; exit 1 when something is wrong. "
              "Safe while the server runs");
  add_store_flags(f.fsck);
  f.fsck->add_flag("--quarantine", f.fsck_quarantine, "Move corrupt blobs out of the store into DATA/quarantine/");
  f.fsck->add_flag("--json", f.fsck_json, "Print the report as JSON");
  f.gc = app.add_subcommand(
      "gc", "Remove blobs that no version refers to. Safe while the server runs: blobs younger than --grace stay");
  add_store_flags(f.gc);
  f.gc->add_flag("--dry-run", f.gc_dry_run, "Print what would be removed; remove nothing");
  f.gc->add_option("--grace", f.gc_grace,
                   "Keep unreferenced blobs younger than this (90s, 30m, 1h, 7d); must exceed the longest time "
                   "between an upload's last byte and its commit")
      ->capture_default_str();
}

// The password in a libpq connection string: postgresql://user:PASSWORD@host
// or the keyword form password=PASSWORD. Empty when there is none.
std::string DbPassword(const std::string& url) {
  if (const auto scheme = url.find("://"); scheme != std::string::npos) {
    const auto at = url.find('@', scheme + 3);
    const auto colon = url.find(':', scheme + 3);
    if (at != std::string::npos && colon != std::string::npos && colon < at) return url.substr(colon + 1, at - colon - 1);
    return "";
  }
  if (const auto kw = url.find("password="); kw != std::string::npos) {
    const auto end = url.find(' ', kw);
    return url.substr(kw + 9, end == std::string::npos ? std::string::npos : end - kw - 9);
  }
  return "";
}

int Server(const Flags& f) {
  auto s = ResolveServerSettings(f.server_store);
  if (!s) return Fail(s.status());
  std::chrono::milliseconds retention_interval{0};
  if (!f.retention_interval.empty()) {
    auto d = internal::ParseDuration(f.retention_interval);
    if (!d) {
      return Fail(InvalidArgumentError("--retention-interval '" + f.retention_interval +
                                       "' is not a duration: use e.g. 30m, 1h or 1d (0: off)"));
    }
    retention_interval = *d;
  }
  Status st = internal::RunServer({.data_dir = s->data_dir,
                                   .listen = f.listen,
                                   .threads = f.threads,
                                   .db_url = s->db_url,
                                   .blobs_url = s->blobs_url,
                                   .s3_presign = f.s3_presign,
                                   .request_timeout = s->request_timeout,
                                   .tls_cert = f.tls_cert,
                                   .tls_key = f.tls_key,
                                   .run_stale_after = s->run_stale_after,
                                   .log_format = f.log_format,
                                   .metrics_key_required = f.metrics_key_required,
                                   .metrics = !f.no_metrics,
                                   .retention_interval = retention_interval,
                                   .admin_key = s->admin_key});
  return st.ok() ? kExitOk : Fail(st);
}

// The store `cairn server` would use with these flags, opened beside a
// server that may be running on it (uploads in progress are left alone).
StatusOr<internal::Store> OpenOperatorStore(const StoreFlags& flags, fs::path* data_dir) {
  CAIRN_ASSIGN_OR_RETURN(ServerSettings s, ResolveServerSettings(flags));
  *data_dir = s.data_dir;
  if (!fs::is_directory(s.data_dir)) {
    return InvalidArgumentError("data directory " + s.data_dir.string() +
                                " does not exist: pass the --data DIR that `cairn server` uses");
  }
  return internal::OpenStore(
      {.data_dir = s.data_dir, .db_url = s.db_url, .blobs_url = s.blobs_url, .beside_server = true});
}

const char* KindName(internal::FsckProblem::Kind k) {
  return k == internal::FsckProblem::Kind::kCorrupt ? "corrupt" : "missing";
}

void PrintFsckReport(const internal::FsckReport& report, const fs::path& data, bool json) {
  if (json) {
    nlohmann::json problems = nlohmann::json::array();
    for (const auto& p : report.problems) {
      problems.push_back({{"kind", KindName(p.kind)}, {"sha256", p.sha256}, {"detail", p.detail},
                          {"versions", p.versions}, {"example", p.example}, {"quarantined", p.quarantined}});
    }
    std::cout << nlohmann::json{{"ok", report.problems.empty()},
                                {"blobs_checked", report.blobs_checked},
                                {"bytes_checked", report.bytes_checked},
                                {"references", report.references},
                                {"unreferenced", report.unreferenced},
                                {"problems", problems}}
                     .dump(2)
              << "\n";
    return;
  }
  for (const auto& p : report.problems) {
    std::cout << KindName(p.kind) << "\t" << p.sha256 << "\t" << p.detail;
    if (p.versions > 0) std::cout << "; " << p.versions << " version(s) refer to it, e.g. " << p.example;
    if (p.quarantined) std::cout << "; moved to " << (data / "quarantine" / p.sha256).string();
    std::cout << "\n";
  }
}

int Fsck(const Flags& f) {
  fs::path data;
  auto store = OpenOperatorStore(f.store, &data);
  if (!store) return Fail(store.status());
  auto report = internal::Fsck(*store->metadata, *store->blobs,
                               {.quarantine_dir = f.fsck_quarantine ? data / "quarantine" : fs::path()});
  if (!report) return Fail(report.status());
  PrintFsckReport(*report, data, f.fsck_json);
  std::cerr << "cairn fsck: " << report->blobs_checked << " blobs (" << FormatBytes(report->bytes_checked)
            << ") verified, " << report->references << " referenced, " << report->unreferenced
            << " unreferenced (`cairn gc` removes those): " << report->problems.size() << " problem(s)\n";
  if (report->problems.empty()) return kExitOk;
  std::cerr << "cairn: hint: restores of the versions named above fail until they are saved again";
  if (!f.fsck_quarantine) std::cerr << "; --quarantine moves corrupt blobs out of the store";
  std::cerr << "\n";
  return kExitFailure;
}

int Gc(const Flags& f) {
  auto grace_ms = internal::ParseDuration(f.gc_grace);
  if (!grace_ms) {
    return Fail(InvalidArgumentError("--grace '" + f.gc_grace + "' is not a duration: use e.g. 90s, 30m, 1h or 7d"));
  }
  fs::path data;
  auto store = OpenOperatorStore(f.store, &data);
  if (!store) return Fail(store.status());
  const bool dry_run = f.gc_dry_run;
  auto report = internal::CollectGarbage(*store->metadata, *store->blobs, {.grace = *grace_ms, .dry_run = dry_run});
  if (!report) return Fail(report.status());
  for (const auto& sha : report->removed_digests) std::cout << (dry_run ? "would remove\t" : "removed\t") << sha << "\n";
  std::cerr << "cairn gc: " << report->blobs << " blobs, " << report->referenced << " referenced, "
            << report->kept_recent << " unreferenced but younger than " << f.gc_grace << " (kept), "
            << report->removed << (dry_run ? " would be removed (" : " removed (") << FormatBytes(report->bytes_removed)
            << ")\n";
  return kExitOk;
}

}  // namespace

ServerCommands::ServerCommands(CLI::App& app) : f_(std::make_unique<Flags>()) {
  AddServer(app, *f_);
}

void ServerCommands::AddStoreTools(CLI::App& app) { AddFsckAndGc(app, *f_); }

ServerCommands::~ServerCommands() = default;

std::vector<std::string> ServerCommands::ArgvSecrets() const {
  std::vector<std::string> secrets;
  for (const std::string* url : {&f_->server_store.db_url, &f_->store.db_url}) {
    if (std::string p = DbPassword(*url); !p.empty()) secrets.push_back(std::move(p));
  }
  return secrets;
}

std::optional<int> ServerCommands::Run() {
  if (*f_->server) return Server(*f_);
  if (f_->fsck != nullptr && *f_->fsck) return Fsck(*f_);
  if (f_->gc != nullptr && *f_->gc) return Gc(*f_);
  return std::nullopt;
}

}  // namespace cairn::server_cli
