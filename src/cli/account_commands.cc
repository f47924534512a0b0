#include "cli/account_commands.h"

#include <unistd.h>

#include <termios.h>

#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cairn/session.h"

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

// Reads a password: from standard input with --password-stdin (one line),
// else from the terminal without echo (twice when `confirm`). Never argv.
StatusOr<std::string> ReadPassword(bool from_stdin, bool confirm) {
  auto read_line = [](std::string& out) {
    if (!std::getline(std::cin, out)) return false;
    if (!out.empty() && out.back() == '\r') out.pop_back();
    return true;
  };
  std::string password;
  if (from_stdin) {
    if (!read_line(password) || password.empty()) {
      return InvalidArgumentError("--password-stdin: no password on standard input");
    }
    return password;
  }
  if (!::isatty(STDIN_FILENO)) {
    return InvalidArgumentError("no terminal to ask for the password on: pipe it in with --password-stdin");
  }
  termios old{};
  ::tcgetattr(STDIN_FILENO, &old);
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  std::cerr << "Password: " << std::flush;
  bool ok = read_line(password);
  std::string again;
  if (ok && confirm) {
    std::cerr << "\nThe same password again: " << std::flush;
    ok = read_line(again);
  }
  ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
  std::cerr << "\n";
  if (!ok || password.empty()) return InvalidArgumentError("no password given");
  if (confirm && again != password) return InvalidArgumentError("the two passwords differ: nothing was changed");
  return password;
}

// "30d", "12h", "90m", "45s" from now, or a date "2027-01-31" (00:00 UTC), as
// Unix milliseconds; nullopt when `text` is neither.
std::optional<long long> ParseExpiry(const std::string& text, long long now_ms) {
  if (text.size() == 10 && text[4] == '-' && text[7] == '-') {
    std::tm tm{};
    if (::strptime(text.c_str(), "%Y-%m-%d", &tm) == nullptr) return std::nullopt;
    return static_cast<long long>(::timegm(&tm)) * 1000;
  }
  if (text.size() < 2) return std::nullopt;
  long long n = 0;
  for (std::size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9' || n > 1'000'000'000) return std::nullopt;
    n = n * 10 + (text[i] - '0');
  }
  const char unit = text.back();
  const long long ms = unit == 's' ? 1000 : unit == 'm' ? 60'000 : unit == 'h' ? 3'600'000 : unit == 'd' ? 86'400'000 : 0;
  if (ms == 0) return std::nullopt;
  return now_ms + n * ms;
}

long long NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One request, its JSON answer (an object), or the exit code of its failure.
struct Answer {
  Json json;
  int exit_code = kExitOk;
};
Answer Request(const Global& g, const std::string& method, const std::string& target, const Json& body,
               const std::string& what) {
  auto client = Connect(g);
  if (!client) return {{}, Fail(client.status())};
  auto text = (*client)->CallJson(method, target, body.is_null() ? "" : body.dump(), what);
  if (!text) return {{}, Fail(text.status())};
  Json j = Json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return {{}, Fail(InternalError("unexpected answer from the server for " + what))};
  return {std::move(j), kExitOk};
}

std::string Col(const Json& j, const char* field) {
  if (!j.contains(field) || j[field].is_null()) return "-";
  return j[field].is_string() ? j[field].get<std::string>() : j[field].dump();
}

int PrintList(const Json& items, bool json, const std::vector<const char*>& columns) {
  if (json) {
    std::cout << items.dump(2) << "\n";
    return kExitOk;
  }
  for (const Json& item : items) {
    for (std::size_t i = 0; i < columns.size(); ++i) std::cout << (i ? "\t" : "") << Col(item, columns[i]);
    std::cout << "\n";
  }
  return kExitOk;
}

}  // namespace

int Rm(const Global& g, const RmArgs& a) {
  if (a.version && a.name.empty()) {
    return Fail(InvalidArgumentError("--version selects a version of one file: name the file (cairn rm --run " +
                                     a.run + " NAME --version N)"));
  }
  if (a.version && *a.version < 1) return Fail(InvalidArgumentError("--version must be 1 or more"));
  if (!a.name.empty()) {
    if (Status st = ValidateFileName(a.name); !st.ok()) return Fail(st);
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
  std::string target = "/api/v1/runs/" + UrlEncode(run->entity) + "/" + UrlEncode(run->project) +
                       "/" + UrlEncode(run->run_id);
  if (!a.name.empty()) target += "/files/" + UrlEncode(a.name, /*keep_slash=*/true);
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
                           "bytes when no other version refers to them. Needs an admin of the entity, or the\n"
                           "run's creator.");
  rm_->add_option("--run", rm_args_.run, "Run path: entity/project/run_id or project/run_id")->required();
  rm_->add_option("name", rm_args_.name, "The file's name inside the run; omit it to delete the run");
  rm_->add_option("--version", rm_args_.version, "Only this version of the file (see `cairn versions`)");
  rm_->add_flag("-y,--yes", rm_args_.yes, "Do not ask (it asks only when standard input is a terminal)");
  AddUsersAndTeams(app);
  AddKeys(app);
  audit_ = app.add_subcommand("audit",
                              "Show the audit log: saves, deletions, key and member changes, failed sign-ins, and\n"
                              "downloads summarised per actor, run and minute (server admin, or an entity's admin)");
  audit_->add_option("--entity", entity_, "Only this entity's events (needed unless you are the server admin)");
  audit_->add_option("--since", since_, "Only events this recent: 90s, 30m, 1h, 7d (default: all)");
  audit_->add_flag("--json", json_, "Print JSON");
}

void AccountCommands::AddUsersAndTeams(CLI::App& app) {
  auto* users = app.add_subcommand("users", "People with a password (server admin)");
  users->require_subcommand(1);
  users_create_ = users->add_subcommand(
      "create", "Create a user; the password is asked on the terminal (twice), or read from stdin");
  users_create_->add_option("name", name_, "The user name (also their entity)")->required();
  users_create_->add_flag("--admin", admin_, "A server admin: may do everything, as the admin key");
  users_create_->add_flag("--password-stdin", password_stdin_, "Read the password from standard input (one line)");
  users_ls_ = users->add_subcommand("ls", "List users");
  users_ls_->add_flag("--json", json_, "Print JSON");

  auto* teams = app.add_subcommand("teams", "Teams and their members' roles: viewer, member, admin");
  teams->require_subcommand(1);
  teams_create_ = teams->add_subcommand("create", "Create a team (you become its admin)");
  teams_create_->add_option("team", team_, "The team name (also its entity)")->required();
  teams_add_ = teams->add_subcommand("add", "Add a user to a team, or change their role (team admin)");
  teams_add_->add_option("team", team_, "The team")->required();
  teams_add_->add_option("user", user_, "The user")->required();
  teams_add_->add_option("--role", role_,
                         "viewer: list and restore; member: also save and delete own runs; admin: everything")
      ->required()
      ->check(CLI::IsMember({"viewer", "member", "admin"}));
  teams_remove_ = teams->add_subcommand("remove", "Remove a user from a team (team admin)");
  teams_remove_->add_option("team", team_, "The team")->required();
  teams_remove_->add_option("user", user_, "The user")->required();
  teams_ls_ = teams->add_subcommand("ls", "List teams with their members and roles");
  teams_ls_->add_flag("--json", json_, "Print JSON");

  auto* sa = app.add_subcommand("service-accounts", "Accounts without a password for CI and training jobs");
  sa->require_subcommand(1);
  sa_create_ = sa->add_subcommand("create", "Create a service account of a team (team admin); then `cairn keys "
                                            "create --service-account TEAM/NAME`");
  sa_create_->add_option("team", team_, "The team")->required();
  sa_create_->add_option("name", name_, "The service account's name")->required();
}

void AccountCommands::AddKeys(CLI::App& app) {
  auto* keys = app.add_subcommand("keys", "API keys: create (the secret is shown once), list, revoke");
  keys->require_subcommand(1);
  keys_create_ = keys->add_subcommand(
      "create", "Create a key and print its secret alone on stdout (shown once: store it now)");
  auto* owner = keys_create_->add_option_group("owner", "Whose key it is (exactly one)");
  owner->add_option("--user", key_.user, "A user's key (yourself, or any user as the server admin)");
  owner->add_option("--service-account", key_.service_account, "A service account's key: TEAM/NAME (team admin)");
  owner->add_option("--entity", key_.entity, "The old form: a key of service account ENTITY/default (server admin)");
  owner->require_option(1);
  keys_create_->add_option("--scope", key_.scope, "read or write (default write)")
      ->check(CLI::IsMember({"read", "write"}));
  keys_create_->add_flag("--read-only", key_.read_only, "The same as --scope read");
  keys_create_->add_option("--expires", key_.expires, "When it stops working: 30d, 12h, or a date 2027-01-31 (UTC)");
  keys_create_->add_option("--name", key_.name, "A label shown by `cairn keys ls`");
  keys_ls_ = keys->add_subcommand("ls", "List the keys you may manage (id, name, owner, scope, times; never secrets)");
  keys_ls_->add_flag("--json", json_, "Print JSON");
  keys_revoke_ = keys->add_subcommand("revoke", "Revoke a key at once, on every server replica");
  keys_revoke_->add_option("id", key_id_, "The key's id (see `cairn keys ls`)")->required();

  login_ = app.get_subcommand("login");
  login_->add_option("--user", user_, "Sign in as this user: asks the password and stores a new key for this machine");
  login_->add_flag("--password-stdin", password_stdin_, "With --user: read the password from standard input");
}

std::optional<int> AccountCommands::Run() {
  if (*rm_) return Rm(g_, rm_args_);
  if (std::optional<int> rc = RunUsersAndTeams()) return rc;
  if (*keys_create_) return KeysCreate();
  return RunKeysLoginAudit();
}

std::optional<int> AccountCommands::RunUsersAndTeams() {
  if (*users_create_) {
    StatusOr<std::string> password = ReadPassword(password_stdin_, /*confirm=*/true);
    if (!password.ok()) return Fail(password.status());
    Answer a = Request(g_, "POST", "/api/v1/users", Json{{"name", name_}, {"password", *password}, {"admin", admin_}},
                       "create user " + name_);
    std::fill(password->begin(), password->end(), '\0');
    if (a.exit_code == kExitOk) std::cerr << "cairn: created user " << name_ << (admin_ ? " (server admin)" : "") << "\n";
    return a.exit_code;
  }
  if (*users_ls_) {
    Answer a = Request(g_, "GET", "/api/v1/users", nullptr, "the users");
    return a.exit_code != kExitOk ? a.exit_code : PrintList(a.json["users"], json_, {"name", "admin", "created_at"});
  }
  if (*teams_create_) {
    Answer a = Request(g_, "POST", "/api/v1/teams", Json{{"name", team_}}, "create team " + team_);
    if (a.exit_code == kExitOk) std::cerr << "cairn: created team " << team_ << "\n";
    return a.exit_code;
  }
  if (*teams_add_) {
    Answer a = Request(g_, "PUT", "/api/v1/teams/" + UrlEncode(team_) + "/members/" + UrlEncode(user_),
                       Json{{"role", role_}}, "add " + user_ + " to team " + team_);
    if (a.exit_code == kExitOk) std::cerr << "cairn: " << user_ << " is " << role_ << " of " << team_ << "\n";
    return a.exit_code;
  }
  if (*teams_remove_) {
    Answer a = Request(g_, "DELETE",
                       "/api/v1/teams/" + UrlEncode(team_) + "/members/" + UrlEncode(user_), nullptr,
                       "remove " + user_ + " from team " + team_);
    if (a.exit_code == kExitOk) std::cerr << "cairn: removed " << user_ << " from " << team_ << "\n";
    return a.exit_code;
  }
  if (*teams_ls_) {
    Answer a = Request(g_, "GET", "/api/v1/teams", nullptr, "the teams");
    if (a.exit_code != kExitOk) return a.exit_code;
    if (json_) return PrintList(a.json["teams"], true, {});
    for (const Json& t : a.json["teams"]) {
      std::cout << t.value("name", "");
      for (const Json& m : t["members"]) std::cout << "\t" << m.value("user", "") << ":" << m.value("role", "");
      std::cout << "\n";
    }
    return kExitOk;
  }
  if (*sa_create_) {
    Answer a = Request(g_, "POST", "/api/v1/teams/" + UrlEncode(team_) + "/service-accounts",
                       Json{{"name", name_}}, "create service account " + team_ + "/" + name_);
    if (a.exit_code == kExitOk) std::cerr << "cairn: created service account " << team_ << "/" << name_ << "\n";
    return a.exit_code;
  }
  return std::nullopt;
}

int AccountCommands::KeysCreate() {
  Json body = Json::object();
  if (!key_.user.empty()) body["user"] = key_.user;
  if (!key_.service_account.empty()) body["service_account"] = key_.service_account;
  if (!key_.entity.empty()) body["entity"] = key_.entity;
  if (key_.read_only && key_.scope == "write") {
    return Fail(InvalidArgumentError("--read-only and --scope write contradict each other: pick one"));
  }
  body["scope"] = key_.read_only ? "read" : key_.scope.empty() ? "write" : key_.scope;
  if (!key_.expires.empty()) {
    std::optional<long long> at = ParseExpiry(key_.expires, NowMillis());
    if (!at) return Fail(InvalidArgumentError("--expires '" + key_.expires + "': use 30d, 12h or a date 2027-01-31"));
    body["expires_ms"] = *at;
  }
  if (!key_.name.empty()) body["name"] = key_.name;
  Answer a = Request(g_, "POST", "/api/v1/keys", body, "create a key");
  if (a.exit_code != kExitOk) return a.exit_code;
  std::cout << a.json.value("key", "") << "\n";
  std::cerr << "cairn: key " << a.json.value("id", "") << " (" << a.json.value("owner", "") << ", "
            << a.json.value("scope", "") << "); the secret above is shown only this once\n";
  return kExitOk;
}

std::optional<int> AccountCommands::RunKeysLoginAudit() {
  if (*keys_ls_) {
    Answer a = Request(g_, "GET", "/api/v1/keys", nullptr, "the keys");
    return a.exit_code != kExitOk ? a.exit_code
                                  : PrintList(a.json["keys"], json_,
                                              {"id", "name", "owner", "scope", "created_at", "expires_at",
                                               "last_used_at", "revoked_at"});
  }
  if (*keys_revoke_) {
    Answer a = Request(g_, "DELETE", "/api/v1/keys/" + UrlEncode(key_id_), nullptr, "revoke key " + key_id_);
    if (a.exit_code == kExitOk) std::cerr << "cairn: revoked key " << key_id_ << "\n";
    return a.exit_code;
  }
  if (*login_ && !user_.empty()) {
    StatusOr<std::string> password = ReadPassword(password_stdin_, /*confirm=*/false);
    if (!password.ok()) return Fail(password.status());
    Json body{{"user", user_}, {"password", *password}, {"name", "cairn login"}};
    std::fill(password->begin(), password->end(), '\0');
    Answer a = Request(g_, "POST", "/api/v1/login", body, "sign in as " + user_);
    if (a.exit_code != kExitOk) return a.exit_code;
    return Login(g_, a.json.value("key", ""));
  }
  if (*audit_) {
    std::string target = "/api/v1/audit?entity=" + UrlEncode(entity_);
    if (!since_.empty()) {
      std::optional<long long> ago = ParseExpiry(since_, 0);
      if (!ago || since_.find('-') != std::string::npos) {
        return Fail(InvalidArgumentError("--since '" + since_ + "': use 90s, 30m, 1h or 7d"));
      }
      target += "&since_ms=" + std::to_string(NowMillis() - *ago);
    }
    Answer a = Request(g_, "GET", target, nullptr, "the audit log");
    return a.exit_code != kExitOk ? a.exit_code
                                  : PrintList(a.json["events"], json_,
                                              {"time", "actor", "action", "target", "count", "bytes", "address",
                                               "key_id"});
  }
  return std::nullopt;
}

}  // namespace cairn::cli
