// `cairn`: the command line over the SDK and the server.
#include <CLI/CLI.hpp>

#include <iostream>

#include "cli/commands.h"

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
  auto* server = app.add_subcommand("server", "Run the Cairn store (SQLite + local disk by default)");
  server->add_option("--data", data_dir, "Data directory (default CAIRN_DATA_DIR, else ~/.local/share/cairn)");
  server->add_option("--listen", listen, "HOST:PORT to listen on; port 0 picks a free port")->capture_default_str();
  server->add_option("--threads", threads, "Worker threads (default: number of cores, at least 2)");
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

  std::optional<std::string> login_key;
  auto* login = app.add_subcommand("login", "Store an API key in ~/.netrc (mode 0600) for the server");
  login->add_option("key", login_key, "The key; read from standard input when omitted");

  auto* keys = app.add_subcommand("keys", "Manage API keys (needs the admin key)");
  keys->require_subcommand(1);
  std::string key_entity;
  bool key_read_only = false;
  auto* keys_create = keys->add_subcommand("create", "Create a key for one entity and print it");
  keys_create->add_option("--entity", key_entity, "The entity the key may read and write")->required();
  keys_create->add_flag("--read-only", key_read_only, "The key may only read");

  std::vector<std::string> save_files;
  std::string save_run, save_base;
  auto* save = app.add_subcommand("save", "Upload files to a run (created if needed); prints name, size, sha256, version");
  save->add_option("files", save_files, "Files to save")->required();
  save->add_option("--run", save_run, "Run path: entity/project/run_id or project/run_id")->required();
  save->add_option("--base", save_base, "Names are paths relative to this directory (default: working directory)");

  std::string restore_name, restore_run, restore_root;
  bool restore_replace = false;
  std::optional<long long> restore_version;
  auto* restore = app.add_subcommand("restore", "Bring a run's file back to local disk; prints its path");
  restore->add_option("name", restore_name, "The file's name inside the run")->required();
  restore->add_option("--run", restore_run, "Run path: entity/project/run_id, project/run_id or a run URL")->required();
  restore->add_option("--root", restore_root, "Directory to restore into (default: working directory)");
  restore->add_flag("--replace", restore_replace, "Fetch the store's copy over an existing local file");
  restore->add_option("--version", restore_version, "An earlier version (1, 2, ...); default the latest");

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

  if (*server) return Server(data_dir, listen, threads, db_url, blobs_url, s3_presign, tls_cert, tls_key);
  if (*login) return Login(g, login_key);
  if (*keys_create) return KeysCreate(g, key_entity, key_read_only);
  if (*save) return Save(g, save_files, save_run, save_base);
  if (*restore) return Restore(g, restore_name, restore_run, restore_root, restore_replace, restore_version);
  if (*ls) return Ls(g, ls_run, ls_json);
  if (*runs) return Runs(g, runs_project, runs_json);
  if (*sync) return Sync(g, sync_dir);
  std::cerr << app.help();
  return kExitUsage;
}
