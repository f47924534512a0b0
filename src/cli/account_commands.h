// The commands of a shared server (docs/adr/0021-accounts-and-deletion.md):
// `cairn rm` (deletion), and the account, key and audit commands. They talk
// to the server over docs/http-api.md; every check happens there.
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

class AccountCommands {
 public:
  // Adds `rm` (and the account commands) to `app`. `g` must outlive this.
  AccountCommands(CLI::App& app, const Global& g);

  // After app.parse(): the exit code when one of these commands was chosen,
  // else nullopt.
  std::optional<int> Run();

 private:
  const Global& g_;
  CLI::App* rm_ = nullptr;
  RmArgs rm_args_;
};

}  // namespace cairn::cli
