#include "cli/account_commands.h"

#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "sdk/internal/client.h"

namespace cairn::cli {
namespace {

using Json = nlohmann::json;

// Asks "question [y/N]" on the terminal; true only for y/yes.
bool Confirm(const std::string& question) {
  std::cerr << question << " [y/N] " << std::flush;
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes";
}

}  // namespace

int Rm(const Global& g, const RmArgs& a) {
  if (a.version && a.name.empty()) {
    return Fail(InvalidArgumentError("--version selects a version of one file: name the file (cairn rm --run " +
                                     a.run + " NAME --version N)"));
  }
  if (a.version && *a.version < 1) return Fail(InvalidArgumentError("--version must be 1 or more"));
  if (!a.name.empty()) {
    if (Status st = internal::ValidateFileName(a.name); !st.ok()) return Fail(st);
  }
  auto client = Connect(g);
  if (!client) return Fail(client.status());
  auto run = ResolveRun(**client, a.run);
  if (!run) return Fail(run.status());
  const std::string what = a.name.empty()                ? "run " + run->ToString()
                           : a.version.has_value() ? "version " + std::to_string(*a.version) + " of " + a.name +
                                                         " in run " + run->ToString()
                                                   : "every version of " + a.name + " in run " + run->ToString();
  if (!a.yes && ::isatty(STDIN_FILENO) && !Confirm("cairn: delete " + what + "?")) {
    std::cerr << "cairn: nothing deleted\n";
    return kExitUsage;
  }
  std::string target = "/api/v1/runs/" + internal::UrlEncode(run->entity) + "/" + internal::UrlEncode(run->project) +
                       "/" + internal::UrlEncode(run->run_id);
  if (!a.name.empty()) target += "/files/" + internal::UrlEncode(a.name, /*keep_slash=*/true);
  if (a.version) target += "?version=" + std::to_string(*a.version);
  bool no_file = false;
  auto body = (*client)->CallJson("DELETE", target, "", "delete " + what, &no_file);
  if (!body) return Fail(body.status());
  if (no_file) {
    std::cerr << "cairn: run " << run->ToString() << " has no file '" << a.name << "'";
    if (a.version) std::cerr << " at version " << *a.version;
    std::cerr << "\ncairn: hint: `cairn versions " << run->ToString() << " " << a.name
              << "` lists the versions it has\n";
    return kExitNoFile;
  }
  const Json j = Json::parse(*body, nullptr, /*allow_exceptions=*/false);
  if (a.name.empty()) {
    std::cerr << "cairn: deleted " << what << " (" << j.value("deleted_versions", 0) << " file versions)\n";
  } else {
    std::cerr << "cairn: deleted " << (j.contains("deleted") ? j["deleted"].size() : 0) << " version(s) of "
              << a.name << " in run " << run->ToString() << "\n";
  }
  std::cerr << "cairn: its bytes are freed by `cairn gc` on the server once no other version refers to them\n";
  return kExitOk;
}

AccountCommands::AccountCommands(CLI::App& app, const Global& g) : g_(g) {
  rm_ = app.add_subcommand("rm",
                           "Delete one version of a file, every version of a file, or (no NAME) a whole run.\n"
                           "Deleted things are gone for every reader at once; `cairn gc` on the server frees their\n"
                           "bytes when no other version refers to them.");
  rm_->add_option("--run", rm_args_.run, "Run path: entity/project/run_id or project/run_id")->required();
  rm_->add_option("name", rm_args_.name, "The file's name inside the run; omit it to delete the run");
  rm_->add_option("--version", rm_args_.version, "Only this version of the file (see `cairn versions`)");
  rm_->add_flag("-y,--yes", rm_args_.yes, "Do not ask (it asks only when standard input is a terminal)");
}

std::optional<int> AccountCommands::Run() {
  if (*rm_) return Rm(g_, rm_args_);
  return std::nullopt;
}

}  // namespace cairn::cli
