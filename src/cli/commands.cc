#include "cli/commands.h"

#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cairn/bytes.h"
#include "cairn/cairn.h"
#include "cairn/session.h"
#include "cli/progress.h"

namespace cairn::cli {
namespace fs = std::filesystem;

namespace {

std::string ReadKeyFromStdin() {
  bool tty = ::isatty(STDIN_FILENO);
  termios old{};
  if (tty) {
    std::cerr << "Paste an API key (input is hidden): " << std::flush;
    ::tcgetattr(STDIN_FILENO, &old);
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
  }
  std::string key;
  std::getline(std::cin, key);
  if (tty) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &old);
    std::cerr << "\n";
  }
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.front()))) key.erase(0, 1);
  return key;
}

}  // namespace

StatusOr<std::shared_ptr<Session>> Connect(const Global& g) { return Session::Open({.base_url = g.base_url}); }

StatusOr<RunPath> ResolveRun(Session& session, const std::string& run) { return session.ResolveRun(run); }

int Login(const Global& g, std::optional<std::string> key) {
  std::string k = key ? *key : ReadKeyFromStdin();
  if (k.empty()) return Fail(InvalidArgumentError("no API key given; pass it as an argument or on standard input"));
  for (char c : k) {
    if (std::isspace(static_cast<unsigned char>(c))) return Fail(InvalidArgumentError("an API key has no spaces in it"));
  }
  auto session = Session::Open({.base_url = g.base_url, .api_key = k});
  if (!session) return Fail(session.status());
  // Ask the server who the key belongs to: a wrong key is refused before it is stored.
  RunPath probe{.project = "x", .run_id = "x"};
  Status st = (*session)->ResolveEntity(probe);
  if (!st.ok() && st.code() != StatusCode::kInvalidArgument) return Fail(st);
  auto host = StoreApiKeyInNetrc((*session)->settings().base_url, k);
  if (!host) return Fail(host.status());
  std::cerr << "cairn: key stored in ~/.netrc for " << *host;
  if (!probe.entity.empty()) std::cerr << " (entity " << probe.entity << ")";
  std::cerr << "\n";
  return kExitOk;
}

namespace {

// The file objects of docs/http-api.md, as a JSON array on stdout.
int PrintFilesJson(const std::vector<FileInfo>& files) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& f : files) {
    arr.push_back({{"name", f.name}, {"size", f.size}, {"sha256", f.sha256}, {"version", f.version},
                   {"updated_at", f.updated_at}});
  }
  std::cout << arr.dump(2) << "\n";
  return kExitOk;
}

bool IsGlob(const std::string& name) { return name.find_first_of("*?[") != std::string::npos; }

}  // namespace

int Restore(const Global& g, const RestoreArgs& a) {
  if (a.version && *a.version < 1) return Fail(InvalidArgumentError("--version must be 1 or more"));
  const std::string root = a.root.empty() ? fs::current_path().string() : a.root;
  ProgressBar bar(!a.quiet && ::isatty(STDERR_FILENO));
  if (IsGlob(a.name) || a.all_or_nothing) {
    if (a.version) {
      return Fail(InvalidArgumentError("--version selects one file's version; it cannot be combined with a pattern "
                                       "or --all-or-nothing"));
    }
    auto files = cairn::restore_many(a.name, {.run_path = a.run,
                                              .replace = a.replace,
                                              .root = root,
                                              .parallel_files = a.parallel,
                                              .all_or_nothing = a.all_or_nothing,
                                              .client = {.base_url = g.base_url},
                                              .transfer = {.progress = bar.Callback()}});
    bar.Done();
    if (!files) return Fail(files.status());
    if (files->empty()) {
      std::cerr << "cairn: no file of run " << a.run << " matches '" << a.name
                << "'\ncairn: hint: `cairn ls " << a.run << "` lists the files it has\n";
      return kExitNoFile;
    }
    for (const auto& f : *files) std::cout << f.path.string() << "\n";
    return kExitOk;
  }
  auto file = cairn::restore(a.name, {.run_path = a.run,
                                      .replace = a.replace,
                                      .root = root,
                                      .version = a.version,
                                      .client = {.base_url = g.base_url},
                                      .transfer = {.progress = bar.Callback()}});
  bar.Done();
  if (!file) return Fail(file.status());
  if (!file->has_value()) {
    std::cerr << "cairn: run " << a.run << " has no file '" << a.name << "'";
    if (a.version) std::cerr << " at version " << *a.version;
    std::cerr << "\ncairn: hint: `cairn ls " << a.run << "` lists the files it has\n";
    return kExitNoFile;
  }
  std::cout << (*file)->path().string() << "\n";
  return kExitOk;
}

int Versions(const Global& g, const std::string& run, const std::string& name, bool json) {
  Api api({.base_url = g.base_url});
  auto r = api.run(run);
  if (!r) return Fail(r.status());
  auto versions = r->versions(name);
  if (!versions) return Fail(versions.status());
  if (versions->empty()) {
    std::cerr << "cairn: run " << r->path() << " has no file '" << name << "'\n";
    return kExitNoFile;
  }
  if (json) return PrintFilesJson(*versions);
  for (const auto& f : *versions) {
    std::cout << "v" << f.version << "\t" << FormatBytes(f.size) << "\t" << f.updated_at << "\t" << f.sha256 << "\n";
  }
  return kExitOk;
}

int CacheLs(bool json) {
  auto cache = ListCache();
  if (!cache) return Fail(cache.status());
  std::uint64_t total = 0;
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& e : cache->files) {
    total += e.size;
    if (json) {
      arr.push_back({{"sha256", e.sha256}, {"size", e.size}, {"last_used", e.last_used}});
    } else {
      std::cout << e.sha256 << "\t" << FormatBytes(e.size) << "\t" << e.last_used << "\n";
    }
  }
  if (json) std::cout << arr.dump(2) << "\n";
  std::cerr << "cairn: cache " << cache->dir << ": " << cache->files.size() << " file(s), " << FormatBytes(total)
            << " of " << FormatBytes(cache->max_bytes)
            << (cache->max_bytes > 0 ? "" : " (disabled: CAIRN_CACHE_MAX_BYTES=0)") << "\n";
  return kExitOk;
}

int CachePrune(std::optional<std::uint64_t> max_bytes) {
  auto pruned = PruneCache(max_bytes);
  if (!pruned) return Fail(pruned.status());
  std::cerr << "cairn: freed " << FormatBytes(pruned->freed) << " from " << pruned->dir << " (limit "
            << FormatBytes(pruned->limit) << ", least recently used first)\n";
  return kExitOk;
}

int Ls(const Global& g, const std::string& run, bool json) {
  Api api({.base_url = g.base_url});
  auto r = api.run(run);
  if (!r) return Fail(r.status());
  auto files = r->files();
  if (!files) return Fail(files.status());
  if (json) return PrintFilesJson(*files);
  for (const auto& f : *files) {
    std::cout << f.name << "\t" << FormatBytes(f.size) << "\tv" << f.version << "\t" << f.updated_at << "\t"
              << f.sha256.substr(0, 12) << "\n";
  }
  if (files->empty()) std::cerr << "cairn: run " << r->path() << " has no files yet\n";
  return kExitOk;
}

int Runs(const Global& g, const std::string& project, bool json) {
  Api api({.base_url = g.base_url});
  auto runs = api.runs(project);
  if (!runs) return Fail(runs.status());
  if (json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& r : *runs) {
      nlohmann::json config = nlohmann::json::parse(r.config, nullptr, /*allow_exceptions=*/false);
      arr.push_back({{"entity", r.entity},
                     {"project", r.project},
                     {"id", r.id},
                     {"created_at", r.created_at},
                     {"updated_at", r.updated_at},
                     {"state", r.state},
                     {"config", config.is_object() ? config : nlohmann::json::object()}});
    }
    std::cout << arr.dump(2) << "\n";
    return kExitOk;
  }
  for (const auto& r : *runs) std::cout << r.path() << "\t" << r.created_at << "\t" << r.updated_at << "\n";
  return kExitOk;
}

namespace {

// An offline run's directory: its run path (run.json) and the latest
// recorded local file per name (offline.jsonl; a torn last line, from a crash
// mid-append, is skipped).
struct OfflineRun {
  RunPath path;
  std::map<std::string, fs::path> files;
};

StatusOr<OfflineRun> ReadOfflineRun(const std::string& run_dir) {
  const fs::path dir = run_dir;
  const fs::path run_json = dir / "run.json";
  if (!fs::is_regular_file(run_json)) {
    return InvalidArgumentError("'" + run_dir + "' is not a cairn run directory (no run.json in it); pass " +
                                "<dir>/cairn/run-<time>-<id> of a run made with CAIRN_MODE=offline");
  }
  std::ifstream meta_in(run_json, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(meta_in)), std::istreambuf_iterator<char>());
  nlohmann::json meta = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  OfflineRun run;
  try {
    run.path.entity = meta.at("entity").get<std::string>();
    run.path.project = meta.at("project").get<std::string>();
    run.path.run_id = meta.at("id").get<std::string>();
  } catch (const nlohmann::json::exception&) {
    return InvalidArgumentError(run_json.string() + " is malformed: expected entity, project and id");
  }
  CAIRN_RETURN_IF_ERROR(ValidateId(run.path.project, "project"));
  CAIRN_RETURN_IF_ERROR(ValidateId(run.path.run_id, "run id"));
  const fs::path manifest = dir / "offline.jsonl";
  if (!fs::exists(manifest)) return run;
  std::ifstream in(manifest);
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    nlohmann::json rec = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!rec.is_object() || !rec.contains("name") || !rec["name"].is_string() || !rec.contains("path") ||
        !rec["path"].is_string()) {
      std::cerr << "cairn: skipping unreadable line " << lineno << " of " << manifest.string() << "\n";
      continue;
    }
    std::string name = rec["name"].get<std::string>();
    CAIRN_RETURN_IF_ERROR(ValidateFileName(name));
    fs::path local = rec["path"].get<std::string>();
    run.files[name] = local.is_absolute() ? local : dir / local;
  }
  return run;
}

}  // namespace

int Sync(const Global& g, const std::string& run_dir) {
  auto run = ReadOfflineRun(run_dir);
  if (!run) return Fail(run.status());
  RunPath& path = run->path;
  auto session = Connect(g);
  if (!session) return Fail(session.status());
  if (path.entity.empty()) {
    if (Status st = (*session)->ResolveEntity(path); !st.ok()) return Fail(st);
  }
  auto created = (*session)->EnsureRun(path);
  if (!created) return Fail(created.status());

  int uploaded = 0, skipped = 0, failed = 0;
  Status first_error;
  for (const auto& [name, local] : run->files) {
    auto latest = (*session)->LatestFile(path, name);
    if (!latest) return Fail(latest.status());  // run-level trouble: stop
    SaveFileOptions options;
    if (latest->has_value()) options.unless_sha256 = (*latest)->sha256;
    auto sent = (*session)->SaveFile(path, name, local, options);
    if (!sent) {
      ++failed;
      if (first_error.ok()) first_error = sent.status();
      std::cerr << "cairn: could not upload " << name << ": " << sent.status().message() << "\n";
      continue;
    }
    if (sent->unchanged) {
      ++skipped;
      std::cout << "skipped\t" << name << "\tv" << (*latest)->version << " on the server has the same sha256\n";
    } else {
      ++uploaded;
      const FileInfo& f = sent->info;
      std::cout << "uploaded\t" << name << "\t" << f.size << "\t" << f.sha256 << "\tv" << f.version << "\n";
    }
  }
  std::cerr << "cairn: run " << path.ToString() << ": " << uploaded << " uploaded, " << skipped << " unchanged";
  if (failed > 0) std::cerr << ", " << failed << " failed (run `cairn sync` again to retry them)";
  std::cerr << "\n";
  return first_error.ok() ? kExitOk : Fail(first_error);
}

}  // namespace cairn::cli
