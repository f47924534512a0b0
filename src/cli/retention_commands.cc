#include "cli/retention_commands.h"

#include <iostream>
#include <nlohmann/json.hpp>

#include "cairn/bytes.h"
#include "cairn/duration.h"
#include "cairn/names.h"

namespace cairn::cli {

namespace {

using Json = nlohmann::json;

struct Scope {
  std::string entity;
  std::string project;  // empty: the entity's default
  std::string Path() const { return "/api/v1/retention/" + entity + (project.empty() ? "" : "/" + project); }
  std::string Name() const { return project.empty() ? "the default of entity " + entity : entity + "/" + project; }
};

// ENTITY/PROJECT, or ENTITY with --default (never both, never neither).
StatusOr<Scope> ParseScope(const std::string& target, bool entity_default, bool allow_default) {
  const auto slash = target.find('/');
  Scope s{target.substr(0, slash), slash == std::string::npos ? "" : target.substr(slash + 1)};
  if (Status st = ValidateId(s.entity, "entity"); !st.ok()) return st;
  if (s.project.empty()) {
    if (!allow_default) return InvalidArgumentError("give ENTITY/PROJECT (policies apply to a project's files)");
    if (!entity_default) {
      return InvalidArgumentError("\"" + target + "\" names no project: give ENTITY/PROJECT, or ENTITY --default "
                                  "for the entity's default policy");
    }
    return s;
  }
  if (entity_default) return InvalidArgumentError("--default takes an entity alone (ENTITY), not ENTITY/PROJECT");
  if (Status st = ValidateId(s.project, "project"); !st.ok()) return st;
  return s;
}

std::string Cell(const Json& v) { return v.is_null() ? "-" : (v.is_string() ? v.get<std::string>() : v.dump()); }

void PrintPolicies(const Json& policies) {
  std::cout << "  pattern\tkeep-last\tmax-age\n";
  for (const Json& p : policies) {
    std::cout << "  " << p["pattern"].get<std::string>() << "\t" << Cell(p["keep_last"]) << "\t"
              << Cell(p["max_age"]) << "\n";
  }
}

int PrintState(const std::string& body, bool json) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.contains("policies")) {
    return Fail(InternalError("unexpected answer from the server for retention policies: " + body));
  }
  if (json) {
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  const std::string entity = j["entity"].get<std::string>();
  const std::string project = j["project"].get<std::string>();
  if (project.empty()) {
    std::cout << "default retention of entity " << entity << " (for its projects without policies of their own)";
  } else {
    std::cout << "retention of " << entity << "/" << project << " (applies: " << j["applies"].get<std::string>()
              << ")";
  }
  std::cout << (j["policies"].empty() ? ": none\n" : "\n");
  if (!j["policies"].empty()) PrintPolicies(j["policies"]);
  if (j.contains("entity_default") && !j["entity_default"].empty()) {
    std::cout << "default of entity " << entity << (j["applies"] == "entity_default" ? "" : " (overridden)") << "\n";
    PrintPolicies(j["entity_default"]);
  }
  return kExitOk;
}

}  // namespace

RetentionCommands::RetentionCommands(CLI::App& app, const Global& g) : g_(g) {
  auto* retention = app.add_subcommand(
      "retention",
      "Retention policies: keep the newest N versions and/or the versions younger than an age of the files\n"
      "matching a glob, per project (or as an entity's default); the latest version of a file always stays.\n"
      "A version is kept when any rule keeps it; bytes come back with `cairn gc`.");
  retention->require_subcommand(1);
  auto target = [this](CLI::App* cmd, bool allow_default) {
    cmd->add_option("target", target_, allow_default ? "ENTITY/PROJECT, or ENTITY with --default" : "ENTITY/PROJECT")
        ->required();
    if (allow_default) {
      cmd->add_flag("--default", entity_default_,
                    "The entity's default: used by its projects that have no policy of their own");
    }
  };
  set_ = retention->add_subcommand(
      "set", "Create or replace the policy of a pattern (needs an admin of the entity, or the server admin)");
  target(set_, true);
  set_->add_option("--pattern", pattern_, "Files it covers: a glob on the name, `*` also matches `/` (default '*')");
  set_->add_option("--keep-last", keep_last_, "Keep the newest N versions of each file (N >= 1)");
  set_->add_option("--max-age", max_age_, "Keep versions younger than this: 90m, 12h, 30d, 2w");
  show_ = retention->add_subcommand("show", "Show the policies of a project (and its entity's default), or a default");
  target(show_, true);
  show_->add_flag("--json", json_, "Print JSON: policies, entity_default and applies (project, entity_default, none)");
  clear_ = retention->add_subcommand("clear", "Remove the policies (or with --pattern, one policy)");
  target(clear_, true);
  clear_->add_option("--pattern", pattern_, "Only the policy of this pattern");
  apply_ = retention->add_subcommand(
      "apply", "Apply the policies now and print what went (with --dry-run: what would go), with sizes");
  target(apply_, false);
  apply_->add_flag("--dry-run", dry_run_, "Remove nothing; list what would be removed");
  apply_->add_flag("--json", json_, "Print the server's answer as JSON");
}

std::optional<int> RetentionCommands::Run() {
  if (*set_) return Set();
  if (*show_) return Show();
  if (*clear_) return Clear();
  if (*apply_) return Apply();
  return std::nullopt;
}

int RetentionCommands::Set() {
  StatusOr<Scope> scope = ParseScope(target_, entity_default_, true);
  if (!scope.ok()) return Fail(scope.status());
  Json body{{"pattern", pattern_.value_or("*")}};
  if (keep_last_) {
    if (*keep_last_ < 1) return Fail(InvalidArgumentError("--keep-last must be 1 or more"));
    body["keep_last"] = *keep_last_;
  }
  if (!max_age_.empty()) {
    auto age = ParseDuration(max_age_);
    if (!age || age->count() < 1000) {
      return Fail(InvalidArgumentError("--max-age '" + max_age_ + "' is not a duration of a second or more: use e.g. "
                                       "90m, 12h, 30d or 2w"));
    }
    body["max_age_seconds"] = age->count() / 1000;
  }
  if (!keep_last_ && max_age_.empty()) {
    return Fail(InvalidArgumentError("give --keep-last N and/or --max-age AGE (a policy needs a rule)"));
  }
  auto session = Connect(g_);
  if (!session.ok()) return Fail(session.status());
  StatusOr<std::string> answer = (*session)->CallJson("PUT", scope->Path(), body.dump(), "retention of " + scope->Name());
  if (!answer.ok()) return Fail(answer.status());
  return PrintState(*answer, /*json=*/false);
}

int RetentionCommands::Show() {
  StatusOr<Scope> scope = ParseScope(target_, entity_default_, true);
  if (!scope.ok()) return Fail(scope.status());
  auto session = Connect(g_);
  if (!session.ok()) return Fail(session.status());
  StatusOr<std::string> answer = (*session)->CallJson("GET", scope->Path(), "", "retention of " + scope->Name());
  if (!answer.ok()) return Fail(answer.status());
  return PrintState(*answer, json_);
}

int RetentionCommands::Clear() {
  StatusOr<Scope> scope = ParseScope(target_, entity_default_, true);
  if (!scope.ok()) return Fail(scope.status());
  auto session = Connect(g_);
  if (!session.ok()) return Fail(session.status());
  const std::string query = pattern_ ? "?pattern=" + UrlEncode(*pattern_) : "";
  StatusOr<std::string> answer =
      (*session)->CallJson("DELETE", scope->Path() + query, "", "retention of " + scope->Name());
  if (!answer.ok()) return Fail(answer.status());
  Json j = Json::parse(*answer, nullptr, false);
  if (!j.is_discarded() && j.contains("removed")) std::cout << "cleared " << j["removed"].dump() << " policies\n";
  return PrintState(*answer, /*json=*/false);
}

int RetentionCommands::Apply() {
  StatusOr<Scope> scope = ParseScope(target_, false, false);
  if (!scope.ok()) return Fail(scope.status());
  auto session = Connect(g_);
  if (!session.ok()) return Fail(session.status());
  StatusOr<std::string> answer = (*session)->CallJson("POST", scope->Path() + "/apply",
                                                     Json{{"dry_run", dry_run_}}.dump(), "retention of " + scope->Name());
  if (!answer.ok()) return Fail(answer.status());
  Json j = Json::parse(*answer, nullptr, false);
  if (j.is_discarded() || !j.contains("versions")) {
    return Fail(InternalError("unexpected answer from the server for a retention pass: " + *answer));
  }
  if (json_) {
    std::cout << j.dump(2) << "\n";
    return kExitOk;
  }
  const auto bytes = j["removed_bytes"].get<std::uint64_t>();
  if (j["policies"].empty()) std::cout << scope->Name() << " has no retention policy (nor a default): nothing to do\n";
  std::cout << (dry_run_ ? "would remove " : "removed ") << j["removed_versions"].dump() << " versions ("
            << FormatBytes(bytes) << ", " << bytes << " bytes) of " << scope->Name()
            << (dry_run_ ? "" : "; `cairn gc` reclaims the bytes no other version uses") << "\n";
  for (const Json& v : j["versions"]) {
    const auto size = v["size"].get<std::uint64_t>();
    std::cout << "  " << v["run"].get<std::string>() << "\t" << v["name"].get<std::string>() << "\tv"
              << v["version"].dump() << "\t" << FormatBytes(size) << "\t(" << size << " bytes)\n";
  }
  return kExitOk;
}

}  // namespace cairn::cli
