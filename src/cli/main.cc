// `cairn`: the command line over the SDK (include/cairn) and the server's
// commands (server/cli/server_commands.h): docs/adr/0024-cli-layers.md.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <iostream>

#include "cli/account_commands.h"
#include "cli/commands.h"
#include "cli/retention_commands.h"
#include "server/cli/server_commands.h"

namespace cairn::cli {
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

// The client commands' flags and subcommands, filled by CLI11.
struct ClientCommands {
  std::optional<std::string> login_key;
  std::string quota_entity, quota_size;
  bool quota_json = false;
  SaveArgs save_args;
  RestoreArgs restore_args;
  std::string versions_run, versions_name;
  bool versions_json = false;
  bool cache_json = false;
  std::optional<std::uint64_t> prune_max;
  std::string ls_run;
  bool ls_json = false;
  std::string runs_project;
  bool runs_json = false;
  std::string sync_dir;
  CLI::App *login = nullptr, *quota_set = nullptr, *quota_show = nullptr, *save = nullptr, *restore = nullptr,
           *versions = nullptr, *cache_ls = nullptr, *cache_prune = nullptr, *ls = nullptr, *runs = nullptr,
           *sync = nullptr;
};

void AddLoginAndQuota(CLI::App& app, ClientCommands& c) {
  c.login = app.add_subcommand("login", "Store an API key in ~/.netrc (mode 0600) for the server");
  c.login->add_option("key", c.login_key,
                      "The key; read from standard input when omitted (preferred: argv is visible to other users)");

  auto* quota = app.add_subcommand(
      "quota", "Per-entity storage quotas: a save that would pass one fails before any byte is stored");
  quota->require_subcommand(1);
  c.quota_set = quota->add_subcommand("set", "Set (or with none, remove) an entity's quota (needs the admin key)");
  c.quota_set->add_option("entity", c.quota_entity, "The entity (user or team)")->required();
  c.quota_set->add_option("size", c.quota_size, "Bytes with an optional unit: 500GiB, 2TB, 1048576; none removes it")
      ->required();
  c.quota_show = quota->add_subcommand(
      "show", "Show an entity's quota and the bytes it uses (each distinct blob counted once per entity)");
  c.quota_show->add_option("entity", c.quota_entity, "The entity (user or team)")->required();
  c.quota_show->add_flag("--json", c.quota_json, "Print JSON: entity, max_bytes (null: none), used_bytes");
}

void AddSaveAndRestore(CLI::App& app, ClientCommands& c) {
  SaveArgs& sa = c.save_args;
  auto* save = c.save = app.add_subcommand(
      "save",
      "Upload files, directories (recursively) and globs in quotes ('ckpt/step-100/*') to a run (created if\n"
      "needed) as one batch; prints name, size, sha256, version per file. Each file commits whole or not at all.");
  save->add_option("paths", sa.paths, "Files, directories or globs in quotes")->required();
  save->add_option("--run", sa.run, "Run path: entity/project/run_id or project/run_id")->required();
  save->add_option("--parallel", sa.parallel, "Files uploaded at once (default 8, CAIRN_PARALLEL_FILES)");
  save->add_flag("-q,--quiet", sa.quiet, "No progress bar (there is none when stderr is not a terminal)");
  save->add_option("--base", sa.base, "Names are paths relative to this directory (default: working directory)");

  RestoreArgs& ra = c.restore_args;
  auto* restore = c.restore = app.add_subcommand(
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
}

void AddListings(CLI::App& app, ClientCommands& c) {
  c.versions = app.add_subcommand("versions", "List every version of one file of a run, oldest first");
  c.versions->add_option("run", c.versions_run, "Run path")->required();
  c.versions->add_option("name", c.versions_name, "The file's name inside the run")->required();
  c.versions->add_flag("--json", c.versions_json, "Print JSON");

  auto* cache = app.add_subcommand(
      "cache", "The local content cache of restored files (CAIRN_CACHE_DIR, default ~/.cache/cairn; limit "
               "CAIRN_CACHE_MAX_BYTES, default 20 GiB, 0 disables it)");
  cache->require_subcommand(1);
  c.cache_ls = cache->add_subcommand("ls", "List cached files (sha256, size, last use), least recently used first");
  c.cache_ls->add_flag("--json", c.cache_json, "Print JSON");
  c.cache_prune = cache->add_subcommand("prune", "Evict least recently used files down to a size");
  c.cache_prune->add_option("--max-bytes", c.prune_max,
                            "Keep at most this many bytes (default: the cache's limit; 0 empties it)");

  c.ls = app.add_subcommand("ls", "List a run's files (latest version of each)");
  c.ls->add_option("run", c.ls_run, "Run path")->required();
  c.ls->add_flag("--json", c.ls_json, "Print JSON");

  c.runs = app.add_subcommand("runs", "List a project's runs");
  c.runs->add_option("project", c.runs_project, "entity/project or project")->required();
  c.runs->add_flag("--json", c.runs_json, "Print JSON");

  c.sync = app.add_subcommand("sync", "Upload an offline run (CAIRN_MODE=offline) to the server; safe to repeat");
  c.sync->add_option("run_dir", c.sync_dir, "The run's directory: <dir>/cairn/run-<time>-<id>")->required();
}

// The exit code of the chosen client command; nullopt when none was chosen.
std::optional<int> RunClientCommand(const ClientCommands& c, const Global& g, int argc, char** argv) {
  if (*c.login) {
    if (c.login_key) {
      HideFromArgv(argc, argv, *c.login_key);
      std::cerr << "cairn: warning: a key on the command line can be seen by other users (ps, shell history); "
                   "pipe it in instead: cairn login < keyfile\n";
    }
    return Login(g, c.login_key);
  }
  if (*c.quota_set) return QuotaSet(g, c.quota_entity, c.quota_size);
  if (*c.quota_show) return QuotaShow(g, c.quota_entity, c.quota_json);
  if (*c.save) return Save(g, c.save_args);
  if (*c.restore) return Restore(g, c.restore_args);
  if (*c.versions) return Versions(g, c.versions_run, c.versions_name, c.versions_json);
  if (*c.cache_ls) return CacheLs(c.cache_json);
  if (*c.cache_prune) return CachePrune(c.prune_max);
  if (*c.ls) return Ls(g, c.ls_run, c.ls_json);
  if (*c.runs) return Runs(g, c.runs_project, c.runs_json);
  if (*c.sync) return Sync(g, c.sync_dir);
  return std::nullopt;
}

}  // namespace
}  // namespace cairn::cli

int main(int argc, char** argv) {
  using namespace cairn::cli;
  CLI::App app{"Cairn: keep the files of machine-learning runs and get them back.\n"
               "Settings come from flags, then CAIRN_* variables, then the config file and ~/.netrc.\n"
               "An https:// server is verified with the system CAs, or CAIRN_CA_BUNDLE=ca.pem for a private CA."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "cairn 0.1.0");
  Global g;
  app.add_option("--base-url", g.base_url, "Server URL (default CAIRN_BASE_URL, else http://127.0.0.1:8765)");

  cairn::server_cli::ServerCommands server(app);  // server; fsck and gc below
  ClientCommands client;
  AddLoginAndQuota(app, client);
  AddSaveAndRestore(app, client);
  AddListings(app, client);
  server.AddStoreTools(app);
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

  // A --db password on the command line, blanked out of argv with a warning naming the safer ways.
  for (const std::string& password : server.ArgvSecrets()) {
    HideFromArgv(argc, argv, password);
    std::cerr << "cairn: warning: a database password on the command line can be seen by other users (ps); set "
                 "CAIRN_DB_URL instead, or keep the password in ~/.pgpass (PGPASSFILE)\n";
  }
  if (std::optional<int> rc = server.Run()) return *rc;
  if (std::optional<int> rc = accounts.Run()) return *rc;  // before `login`: it handles login --user
  if (std::optional<int> rc = retention.Run()) return *rc;
  if (std::optional<int> rc = RunClientCommand(client, g, argc, argv)) return *rc;
  std::cerr << app.help();
  return kExitUsage;
}
