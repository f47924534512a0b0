// The commands that run the server or open its store directly (`cairn
// server`, `cairn fsck`, `cairn gc`): the server layer's part of the `cairn`
// command (docs/adr/0024-cli-layers.md). The one header of the server the CLI
// target may include; it names no server type.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cairn::server_cli {

class ServerCommands {
 public:
  // Adds `server` (with its flags) to `app`.
  explicit ServerCommands(CLI::App& app);
  // Adds fsck and gc; apart so that `cairn --help` lists them last.
  void AddStoreTools(CLI::App& app);
  ~ServerCommands();
  ServerCommands(const ServerCommands&) = delete;
  ServerCommands& operator=(const ServerCommands&) = delete;

  // After app.parse(): database passwords given in --db flags, which the
  // caller blanks out of argv (empty when there are none).
  std::vector<std::string> ArgvSecrets() const;
  // After app.parse(): the exit code when one of these commands was chosen
  // (it has run), else nullopt.
  std::optional<int> Run();

  struct Flags;  // private

 private:
  std::unique_ptr<Flags> f_;
};

}  // namespace cairn::server_cli
