// `cairn`: the command line over the SDK and the server.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstring>
#include <iostream>

#include "cli/account_commands.h"
#include "cli/commands.h"
#include "cli/retention_commands.h"

namespace {

// Anyone on the machine can read argv (ps, /proc/PID/cmdline): overwrites
// every occurrence of `secret` in it with '*'. (A moment between exec and
// this call remains; the warnings point to the ways that have none.)
void HideFromArgv(int argc, char** argv, const std::string& secret) {
  if (secret.empty()) return;
  for (int i = 1; i < argc; ++i) {
    for (char* p = std::strstr(argv[i], secret.c_str()); p != nullptr; p = std::strstr(p, secret.c_str())) {
      std::fill(p, p + secret.size(), '*');
    }
  }
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

// Blanks a --db password out of argv, with a warning naming the safer ways.
void HideDbPassword(int argc, char** argv, const std::string& db_url) {
  const std::string password = DbPassword(db_url);
  if (password.empty()) return;
  HideFromArgv(argc, argv, password);
  std::cerr << "cairn: warning: a database password on the command line can be seen by other users (ps); set "
               "CAIRN_DB_URL instead, or keep the password in ~/.pgpass (PGPASSFILE)\n";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cairn::cli;
  CLI::App app{"Cairn: keep the files of machine-learning runs and get them back.\n"
               "Settings come from flags, then CAIRN_* variables, then the config file and ~/.netrc.\n"
               "An https:// server is verified with the system CAs, or CAIRN_CA_BUNDLE=ca.pem for a private CA."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "cairn 0.1.0");
  Global g;
  app.add_option("--base-url", g.base_url, "Server URL (default CAIRN_BASE_URL, else http://127.0.0.1:8765)");

  std::string data_dir, listen = "127.0.0.1:8765";
  int threads = 0;
  auto* server = app.add_subcommand(
      "server", "Run the Cairn store (SQLite + local disk by default); W&B clients can restore from it (docs/wandb.md)");
  server->footer("Environment: CAIRN_ADMIN_KEY (else DATA/admin.key), CAIRN_REQUEST_TIMEOUT (seconds a request's "
                 "headers or an upload's next chunk may take; default 30).");
  server->add_option("--data", data_dir, "Data directory (default CAIRN_DATA_DIR, else ~/.local/share/cairn)");
  server->add_option("--listen", listen, "HOST:PORT to listen on; port 0 picks a free port")->capture_default_str();
  server->add_option("--threads", threads, "Worker threads (default: number of cores, at least 8: handlers block on the store)");
  std::string db_url, blobs_url;
  bool s3_presign = false;
  server->add_option("--db", db_url,
                     "Metadata database: postgresql://user:pass@host:port/db (default CAIRN_DB_URL, else SQLite in "
                     "the data directory)");
  server->add_option("--blobs", blobs_url,
                     "Blob store: s3://bucket/prefix?endpoint=http://host:port&region=R, credentials from "
                     "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (default CAIRN_BLOBS_URL, else DATA/blobs)");
  server->add_flag("--s3-presign", s3_presign,
                   "Downloads redirect clients to short-lived presigned URLs of the object store (needs s3:// blobs)");

  std::string tls_cert, tls_key;
  server->add_option("--tls-cert", tls_cert, "Serve HTTPS with this PEM certificate chain (needs --tls-key)")
      ->check(CLI::ExistingFile);
  server->add_option("--tls-key", tls_key, "The PEM private key of --tls-cert (unencrypted; keep it mode 0600)")
      ->check(CLI::ExistingFile);

  ServerOpsFlags server_ops;
  server->add_option("--log-format", server_ops.log_format,
                     "Log lines as text (for people) or json (one object per line, an access line per request "
                     "with its route template, status, bytes, duration and key id; for log pipelines)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  server->add_flag("--metrics-key-required", server_ops.metrics_key_required,
                   "GET /metrics needs a valid API key (default: open; it shows no names and no keys)");
  server->add_flag("--no-metrics", server_ops.no_metrics,
                   "Count no requests and time no store calls (for benchmarks; /metrics then shows little)");
  server->add_option("--retention-interval", server_ops.retention_interval,
                     "Apply every project's retention policies this often in the background (30m, 1h, 1d; "
                     "default 0: never; `cairn retention apply` works either way)");

  std::optional<std::string> login_key;
  auto* login = app.add_subcommand("login", "Store an API key in ~/.netrc (mode 0600) for the server");
  login->add_option("key", login_key,
                    "The key; read from standard input when omitted (preferred: argv is visible to other users)");

  auto* quota = app.add_subcommand(
      "quota", "Per-entity storage quotas: a save that would pass one fails before any byte is stored");
  quota->require_subcommand(1);
  std::string quota_entity, quota_size;
  bool quota_json = false;
  auto* quota_set = quota->add_subcommand("set", "Set (or with none, remove) an entity's quota (needs the admin key)");
  quota_set->add_option("entity", quota_entity, "The entity (user or team)")->required();
  quota_set->add_option("size", quota_size, "Bytes with an optional unit: 500GiB, 2TB, 1048576; none removes it")
      ->required();
  auto* quota_show = quota->add_subcommand(
      "show", "Show an entity's quota and the bytes it uses (each distinct blob counted once per entity)");
  quota_show->add_option("entity", quota_entity, "The entity (user or team)")->required();
  quota_show->add_flag("--json", quota_json, "Print JSON: entity, max_bytes (null: none), used_bytes");

  SaveArgs sa;
  auto* save = app.add_subcommand(
      "save",
      "Upload files, directories (recursively) and globs in quotes ('ckpt/step-100/*') to a run (created if\n"
      "needed) as one batch; prints name, size, sha256, version per file. Each file commits whole or not at all.");
  save->add_option("paths", sa.paths, "Files, directories or globs in quotes")->required();
  save->add_option("--run", sa.run, "Run path: entity/project/run_id or project/run_id")->required();
  save->add_option("--parallel", sa.parallel, "Files uploaded at once (default 8, CAIRN_PARALLEL_FILES)");
  save->add_flag("-q,--quiet", sa.quiet, "No progress bar (there is none when stderr is not a terminal)");
  save->add_option("--base", sa.base, "Names are paths relative to this directory (default: working directory)");

  RestoreArgs ra;
  auto* restore = app.add_subcommand(
      "restore",
      "Bring a run's file (or every file matching a glob) back to local disk; prints the local paths.\n"
      "Resumes an interrupted download, reuses the local content cache, shows progress on a terminal.");
  restore->add_option("name", ra.name, "The file's name inside the run, or a glob in quotes: 'ckpt/*', '*.pt'")
      ->required();
  restore->add_option("--run", ra.run, "Run path: entity/project/run_id, project/run_id or a run URL")->required();
  restore->add_option("--root", ra.root, "Directory to restore into (default: working directory)");
  restore->add_flag("--replace", ra.replace, "Fetch the store's copy over an existing local file");
  restore->add_option("--version", ra.version, "An earlier version (1, 2, ...; see `cairn versions`); default the latest");
  restore->add_flag("--all-or-nothing", ra.all_or_nothing,
                    "With a glob: place no file unless every matching file was fetched and verified");
  restore->add_option("--parallel", ra.parallel, "Files transferred at once (default 4, CAIRN_PARALLEL_FILES)");
  restore->add_flag("-q,--quiet", ra.quiet, "No progress bar (there is none when stderr is not a terminal)");

  std::string versions_run, versions_name;
  bool versions_json = false;
  auto* versions = app.add_subcommand("versions", "List every version of one file of a run, oldest first");
  versions->add_option("run", versions_run, "Run path")->required();
  versions->add_option("name", versions_name, "The file's name inside the run")->required();
  versions->add_flag("--json", versions_json, "Print JSON");

  auto* cache = app.add_subcommand(
      "cache", "The local content cache of restored files (CAIRN_CACHE_DIR, default ~/.cache/cairn; limit "
               "CAIRN_CACHE_MAX_BYTES, default 20 GiB, 0 disables it)");
  cache->require_subcommand(1);
  bool cache_json = false;
  auto* cache_ls = cache->add_subcommand("ls", "List cached files (sha256, size, last use), least recently used first");
  cache_ls->add_flag("--json", cache_json, "Print JSON");
  std::optional<std::uint64_t> prune_max;
  auto* cache_prune = cache->add_subcommand("prune", "Evict least recently used files down to a size");
  cache_prune->add_option("--max-bytes", prune_max, "Keep at most this many bytes (default: the cache's limit; 0 empties it)");

  std::string ls_run;
  bool ls_json = false;
  auto* ls = app.add_subcommand("ls", "List a run's files (latest version of each)");
  ls->add_option("run", ls_run, "Run path")->required();
  ls->add_flag("--json", ls_json, "Print JSON");

  std::string runs_project;
  bool runs_json = false;
  auto* runs = app.add_subcommand("runs", "List a project's runs");
  runs->add_option("project", runs_project, "entity/project or project")->required();
  runs->add_flag("--json", runs_json, "Print JSON");

  std::string sync_dir;
  auto* sync = app.add_subcommand("sync", "Upload an offline run (CAIRN_MODE=offline) to the server; safe to repeat");
  sync->add_option("run_dir", sync_dir, "The run's directory: <dir>/cairn/run-<time>-<id>")->required();

  // Operator tools: on the store itself, like `cairn server` (not over HTTP).
  StoreFlags store_flags;
  auto add_store_flags = [&store_flags](CLI::App* cmd) {
    cmd->add_option("--data", store_flags.data_dir, "The server's data directory (default CAIRN_DATA_DIR)");
    cmd->add_option("--db", store_flags.db_url, "The server's --db (default CAIRN_DB_URL, else SQLite in --data)");
    cmd->add_option("--blobs", store_flags.blobs_url,
                    "The server's --blobs (default CAIRN_BLOBS_URL, else DATA/blobs)");
  };
  bool fsck_quarantine = false, fsck_json = false;
  auto* fsck = app.add_subcommand(
      "fsck", "Verify every stored blob's SHA-256 and every version's blob; exit 1 when something is wrong. "
              "Safe while the server runs");
  add_store_flags(fsck);
  fsck->add_flag("--quarantine", fsck_quarantine, "Move corrupt blobs out of the store into DATA/quarantine/");
  fsck->add_flag("--json", fsck_json, "Print the report as JSON");
  bool gc_dry_run = false;
  std::string gc_grace = "1h";
  auto* gc = app.add_subcommand(
      "gc", "Remove blobs that no version refers to. Safe while the server runs: blobs younger than --grace stay");
  add_store_flags(gc);
  gc->add_flag("--dry-run", gc_dry_run, "Print what would be removed; remove nothing");
  gc->add_option("--grace", gc_grace,
                 "Keep unreferenced blobs younger than this (90s, 30m, 1h, 7d); must exceed the longest time "
                 "between an upload's last byte and its commit")
      ->capture_default_str();

  AccountCommands accounts(app, g);  // rm, users, teams, service-accounts, keys, login --user, audit
  RetentionCommands retention(app, g);  // retention set|show|clear|apply

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return kExitUsage;
  }

  HideDbPassword(argc, argv, db_url);
  HideDbPassword(argc, argv, store_flags.db_url);
  if (*server) return Server(data_dir, listen, threads, db_url, blobs_url, s3_presign, tls_cert, tls_key, server_ops);
  if (std::optional<int> rc = accounts.Run()) return *rc;  // before `login`: it handles login --user
  if (*login) {
    if (login_key) {
      HideFromArgv(argc, argv, *login_key);
      std::cerr << "cairn: warning: a key on the command line can be seen by other users (ps, shell history); "
                   "pipe it in instead: cairn login < keyfile\n";
    }
    return Login(g, login_key);
  }
  if (std::optional<int> rc = retention.Run()) return *rc;
  if (*quota_set) return QuotaSet(g, quota_entity, quota_size);
  if (*quota_show) return QuotaShow(g, quota_entity, quota_json);
  if (*save) return Save(g, sa);
  if (*restore) return Restore(g, ra);
  if (*versions) return Versions(g, versions_run, versions_name, versions_json);
  if (*cache_ls) return CacheLs(cache_json);
  if (*cache_prune) return CachePrune(prune_max);
  if (*ls) return Ls(g, ls_run, ls_json);
  if (*runs) return Runs(g, runs_project, runs_json);
  if (*sync) return Sync(g, sync_dir);
  if (*fsck) return Fsck(store_flags, fsck_quarantine, fsck_json);
  if (*gc) return Gc(store_flags, gc_dry_run, gc_grace);
  std::cerr << app.help();
  return kExitUsage;
}
