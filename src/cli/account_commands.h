// The commands of a shared server (docs/adr/0021-accounts-and-deletion.md):
// `cairn rm` (deletion), users, teams, service accounts, keys (create, ls,
// revoke), `cairn login --user` and `cairn audit`. They talk to the server
// over docs/http-api.md; every check happens there. Passwords are read from
// the terminal without echo, or from standard input with --password-stdin:
// never from argv.
//
// main.cc builds one AccountCommands over its CLI::App before parsing and
// asks it to run after: each command is a few lines here, none in main.cc.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "cli/commands.h"

namespace cairn::cli {

// `cairn rm --run PATH [NAME] [--version N] [--yes]`: deletes one version of
// NAME, every version of NAME, or (no NAME) the whole run. Without --yes it
// asks first when standard input is a terminal. Exit 3 when the run has no
// such file/version, 4 when there is no such run, 5 when the key may not.
struct RmArgs {
  std::string run;
  std::string name;  // empty: the run
  std::optional<long long> version;
  bool yes = false;
};
int Rm(const Global& g, const RmArgs& args);

// `cairn keys create`: exactly one owner (user, service account TEAM/NAME,
// or the old --entity E, which makes a key of service account E/default).
struct KeyArgs {
  std::string user;
  std::string service_account;
  std::string entity;
  std::string scope;    // "read" | "write"; empty: write (read with --read-only)
  bool read_only = false;
  std::string expires;  // 30d, 12h, 2027-01-31; empty: never
  std::string name;
};

class AccountCommands {
 public:
  // Adds rm, users, teams, service-accounts, keys, audit to `app`, and
  // --user/--password-stdin to its `login`. `g` must outlive this.
  AccountCommands(CLI::App& app, const Global& g);

  // After app.parse(): the exit code when one of these commands was chosen,
  // else nullopt.
  std::optional<int> Run();

 private:
  void AddUsersAndTeams(CLI::App& app);
  void AddKeys(CLI::App& app);
  std::optional<int> RunUsersAndTeams();
  int KeysCreate();
  std::optional<int> RunKeysLoginAudit();

  const Global& g_;
  CLI::App* rm_ = nullptr;
  RmArgs rm_args_;
  CLI::App* users_create_ = nullptr;
  CLI::App* users_ls_ = nullptr;
  CLI::App* teams_create_ = nullptr;
  CLI::App* teams_add_ = nullptr;
  CLI::App* teams_remove_ = nullptr;
  CLI::App* teams_ls_ = nullptr;
  CLI::App* sa_create_ = nullptr;
  CLI::App* keys_create_ = nullptr;
  CLI::App* keys_ls_ = nullptr;
  CLI::App* keys_revoke_ = nullptr;
  CLI::App* login_ = nullptr;
  CLI::App* audit_ = nullptr;
  std::string name_, team_, user_, role_, key_id_, entity_, since_;
  bool admin_ = false, password_stdin_ = false, json_ = false;
  KeyArgs key_;
};

}  // namespace cairn::cli
