// `cairn retention set|show|clear|apply`: retention policies over the HTTP
// API (docs/operations.md, "Retention"); every check happens on the server.
// main.cc builds one RetentionCommands over its CLI::App before parsing and
// asks it to run after.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>

#include "cli/commands.h"

namespace cairn::cli {

class RetentionCommands {
 public:
  // Adds `retention` and its subcommands to `app`. `g` must outlive this.
  RetentionCommands(CLI::App& app, const Global& g);

  // After app.parse(): the exit code when a retention command was chosen,
  // else nullopt.
  std::optional<int> Run();

 private:
  int Set();
  int Show();
  int Clear();
  int Apply();

  const Global& g_;
  CLI::App* set_ = nullptr;
  CLI::App* show_ = nullptr;
  CLI::App* clear_ = nullptr;
  CLI::App* apply_ = nullptr;
  std::string target_;  // ENTITY/PROJECT, or ENTITY with --default
  bool entity_default_ = false;
  std::optional<std::string> pattern_;
  std::optional<long long> keep_last_;
  std::string max_age_;
  bool json_ = false;
  bool dry_run_ = false;
};

}  // namespace cairn::cli
