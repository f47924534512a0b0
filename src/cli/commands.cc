#include "cli/commands.h"

#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cairn/cairn.h"
#include "common/fs.h"
#include "common/validate.h"
#include "sdk/internal/client.h"
#include "server/server.h"

namespace cairn::cli {
namespace fs = std::filesystem;
using internal::Client;

namespace {

const char* Hint(StatusCode code) {
  switch (code) {
    case StatusCode::kUnauthenticated:
      return "set CAIRN_API_KEY or run `cairn login` with a key from `cairn keys create`";
    case StatusCode::kPermissionDenied:
      return "use a key created for this entity (`cairn keys create --entity E`)";
    case StatusCode::kUnavailable:
      return "check that the server is running and CAIRN_BASE_URL / --base-url points at it";
    case StatusCode::kDataLoss:
      return "the stored copy does not match its digest; nothing local was changed";
    default:
      return nullptr;
  }
}

StatusOr<std::shared_ptr<Client>> Connect(const Global& g) {
  auto settings = ResolveSettings({.base_url = g.base_url});
  if (!settings) return settings.status();
  return Client::Create(*settings);
}

StatusOr<internal::RunPath> ResolveRun(Client& client, const std::string& run) {
  auto path = internal::ParseRunPath(run);
  if (!path) return path.status();
  if (auto st = client.ResolveEntity(*path); !st.ok()) return st;
  return *path;
}

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

std::string HostOf(const std::string& base_url) {
  std::string rest = base_url.substr(base_url.find("://") + 3);
  rest = rest.substr(0, rest.find('/'));
  if (!rest.empty() && rest.front() == '[') return rest.substr(0, rest.find(']') + 1);
  return rest.substr(0, rest.find(':'));
}

// Replaces (or adds) the entry for `host` in ~/.netrc, keeping every other
// entry, and writes the file atomically with mode 0600.
Status WriteNetrc(const std::string& host, const std::string& key) {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return FailedPreconditionError("HOME is not set; cannot find ~/.netrc");
  fs::path path = fs::path(home) / ".netrc";
  std::vector<std::vector<std::string>> entries;
  if (fs::exists(path)) {
    auto text = internal::ReadSmallFile(path);
    if (!text) return text.status();
    std::istringstream in(*text);
    std::string tok;
    while (in >> tok) {
      if (tok == "machine" || tok == "default" || entries.empty()) entries.emplace_back();
      entries.back().push_back(tok);
    }
  }
  std::string out;
  for (const auto& e : entries) {
    if (e.size() >= 2 && e[0] == "machine" && e[1] == host) continue;
    for (std::size_t i = 0; i < e.size(); ++i) out += (i ? " " : "") + e[i];
    out += "\n";
  }
  out += "machine " + host + " login api password " + key + "\n";
  return internal::WriteFileAtomic(path, out, 0600);
}

std::string HumanSize(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

}  // namespace

int Fail(const Status& status) {
  std::cerr << "cairn: " << status.message() << "\n";
  if (const char* hint = Hint(status.code())) std::cerr << "cairn: hint: " << hint << "\n";
  switch (status.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    case StatusCode::kNotFound:
      return kExitNoRun;
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
      return kExitAuth;
    default:
      return kExitFailure;
  }
}

int Server(const std::string& data_dir, const std::string& listen, int threads, const std::string& db_url,
           const std::string& blobs_url, bool s3_presign, const std::string& tls_cert,
           const std::string& tls_key) {
  fs::path data = data_dir;
  if (data.empty()) {
    if (const char* d = std::getenv("CAIRN_DATA_DIR"); d && *d) {
      data = d;
    } else if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) {
      data = fs::path(x) / "cairn";
    } else if (const char* h = std::getenv("HOME"); h && *h) {
      data = fs::path(h) / ".local/share/cairn";
    } else {
      return Fail(InvalidArgumentError("no data directory: pass --data DIR or set CAIRN_DATA_DIR"));
    }
  }
  auto flag_or_env = [](const std::string& flag, const char* var) {
    const char* v = std::getenv(var);
    return !flag.empty() ? flag : (v != nullptr ? std::string(v) : std::string());
  };
  Status st = internal::RunServer({.data_dir = data,
                                   .listen = listen,
                                   .threads = threads,
                                   .db_url = flag_or_env(db_url, "CAIRN_DB_URL"),
                                   .blobs_url = flag_or_env(blobs_url, "CAIRN_BLOBS_URL"),
                                   .s3_presign = s3_presign,
                                   .tls_cert = tls_cert,
                                   .tls_key = tls_key});
  return st.ok() ? kExitOk : Fail(st);
}

int Login(const Global& g, std::optional<std::string> key) {
  std::string k = key ? *key : ReadKeyFromStdin();
  if (k.empty()) return Fail(InvalidArgumentError("no API key given; pass it as an argument or on standard input"));
  for (char c : k) {
    if (std::isspace(static_cast<unsigned char>(c))) return Fail(InvalidArgumentError("an API key has no spaces in it"));
  }
  auto settings = ResolveSettings({.base_url = g.base_url, .api_key = k});
  if (!settings) return Fail(settings.status());
  auto client = Client::Create(*settings);
  if (!client) return Fail(client.status());
  // Ask the server who the key belongs to: a wrong key is refused before it is stored.
  internal::RunPath probe{.project = "x", .run_id = "x"};
  Status st = (*client)->ResolveEntity(probe);
  if (!st.ok() && st.code() != StatusCode::kInvalidArgument) return Fail(st);
  std::string host = HostOf(settings->base_url);
  if (Status w = WriteNetrc(host, k); !w.ok()) return Fail(w);
  std::cerr << "cairn: key stored in ~/.netrc for " << host;
  if (!probe.entity.empty()) std::cerr << " (entity " << probe.entity << ")";
  std::cerr << "\n";
  return kExitOk;
}

int KeysCreate(const Global& g, const std::string& entity, bool read_only) {
  if (Status st = internal::ValidateId(entity, "entity"); !st.ok()) return Fail(st);
  auto client = Connect(g);
  if (!client) return Fail(client.status());
  auto key = (*client)->CreateKey(entity, read_only);
  if (!key) return Fail(key.status());
  std::cout << *key << "\n";
  return kExitOk;
}

int Save(const Global& g, const std::vector<std::string>& files, const std::string& run, const std::string& base) {
  std::error_code ec;
  fs::path base_dir = fs::weakly_canonical(base.empty() ? fs::current_path() : fs::path(base), ec);
  if (ec) return Fail(InvalidArgumentError("cannot use --base '" + base + "': " + ec.message()));
  // Validate every name before the first byte moves.
  std::vector<std::pair<fs::path, std::string>> plan;
  for (const auto& f : files) {
    fs::path abs = fs::weakly_canonical(fs::absolute(f), ec);
    if (ec || !fs::is_regular_file(abs)) {
      return Fail(InvalidArgumentError("'" + f + "' is not a readable regular file"));
    }
    fs::path rel = abs.lexically_relative(base_dir);
    if (rel.empty() || *rel.begin() == "..") {
      return Fail(InvalidArgumentError("'" + f + "' is outside the base directory " + base_dir.string() +
                                       "; pass --base DIR that contains it"));
    }
    std::string name = rel.generic_string();
    if (Status st = internal::ValidateFileName(name); !st.ok()) return Fail(st);
    plan.emplace_back(abs, name);
  }
  auto client = Connect(g);
  if (!client) return Fail(client.status());
  auto path = ResolveRun(**client, run);
  if (!path) return Fail(path.status());
  auto created = (*client)->PutRun(*path, "allow");
  if (!created) return Fail(created.status());
  for (const auto& [abs, name] : plan) {
    auto saved = (*client)->Upload(*path, name, abs);
    if (!saved) return Fail(saved.status());
    std::cout << saved->name << "\t" << saved->size << "\t" << saved->sha256 << "\tv" << saved->version << "\n";
  }
  return kExitOk;
}

int Restore(const Global& g, const std::string& name, const std::string& run, const std::string& root, bool replace,
            std::optional<long long> version) {
  if (version && *version < 1) return Fail(InvalidArgumentError("--version must be 1 or more"));
  auto file = cairn::restore(name, {.run_path = run,
                                    .replace = replace,
                                    .root = root.empty() ? fs::current_path().string() : root,
                                    .version = version,
                                    .client = {.base_url = g.base_url}});
  if (!file) return Fail(file.status());
  if (!file->has_value()) {
    std::cerr << "cairn: run " << run << " has no file '" << name << "'";
    if (version) std::cerr << " at version " << *version;
    std::cerr << "\ncairn: hint: `cairn ls " << run << "` lists the files it has\n";
    return kExitNoFile;
  }
  std::cout << (*file)->path().string() << "\n";
  return kExitOk;
}

int Ls(const Global& g, const std::string& run, bool json) {
  Api api({.base_url = g.base_url});
  auto r = api.run(run);
  if (!r) return Fail(r.status());
  auto files = r->files();
  if (!files) return Fail(files.status());
  if (json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& f : *files) {
      arr.push_back({{"name", f.name}, {"size", f.size}, {"sha256", f.sha256}, {"version", f.version},
                     {"updated_at", f.updated_at}});
    }
    std::cout << arr.dump(2) << "\n";
    return kExitOk;
  }
  for (const auto& f : *files) {
    std::cout << f.name << "\t" << HumanSize(f.size) << "\tv" << f.version << "\t" << f.updated_at << "\t"
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
      arr.push_back({{"entity", r.entity}, {"project", r.project}, {"id", r.id}, {"created_at", r.created_at},
                     {"updated_at", r.updated_at}});
    }
    std::cout << arr.dump(2) << "\n";
    return kExitOk;
  }
  for (const auto& r : *runs) std::cout << r.path() << "\t" << r.created_at << "\t" << r.updated_at << "\n";
  return kExitOk;
}

int Sync(const Global& g, const std::string& run_dir) {
  const fs::path dir = run_dir;
  const fs::path run_json = dir / "run.json";
  if (!fs::is_regular_file(run_json)) {
    return Fail(InvalidArgumentError("'" + run_dir + "' is not a cairn run directory (no run.json in it); pass " +
                                     "<dir>/cairn/run-<time>-<id> of a run made with CAIRN_MODE=offline"));
  }
  auto text = internal::ReadSmallFile(run_json);
  if (!text) return Fail(text.status());
  nlohmann::json meta = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  internal::RunPath path;
  try {
    path.entity = meta.at("entity").get<std::string>();
    path.project = meta.at("project").get<std::string>();
    path.run_id = meta.at("id").get<std::string>();
  } catch (const nlohmann::json::exception&) {
    return Fail(InvalidArgumentError(run_json.string() + " is malformed: expected entity, project and id"));
  }
  if (Status st = internal::ValidateId(path.project, "project"); !st.ok()) return Fail(st);
  if (Status st = internal::ValidateId(path.run_id, "run id"); !st.ok()) return Fail(st);

  // The latest record per name; a torn last line (a crash mid-append) is skipped.
  std::map<std::string, fs::path> files;
  const fs::path manifest = dir / "offline.jsonl";
  if (fs::exists(manifest)) {
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
      if (Status st = internal::ValidateFileName(name); !st.ok()) return Fail(st);
      fs::path local = rec["path"].get<std::string>();
      files[name] = local.is_absolute() ? local : dir / local;
    }
  }

  auto settings = ResolveSettings({.base_url = g.base_url});
  if (!settings) return Fail(settings.status());
  auto client = Client::Create(*settings);
  if (!client) return Fail(client.status());
  if (path.entity.empty()) {
    if (Status st = (*client)->ResolveEntity(path); !st.ok()) return Fail(st);
  }
  auto created = (*client)->PutRun(path, "allow");
  if (!created) return Fail(created.status());

  int uploaded = 0, skipped = 0, failed = 0;
  Status first_error;
  for (const auto& [name, local] : files) {
    auto latest = (*client)->GetFileInfo(path, name, std::nullopt);
    if (!latest) return Fail(latest.status());  // run-level trouble: stop
    internal::UploadControl control;
    if (latest->has_value()) control.unless_sha256 = (*latest)->sha256;
    auto sent = (*client)->Upload(path, name, local, nullptr, &control);
    if (!sent) {
      ++failed;
      if (first_error.ok()) first_error = sent.status();
      std::cerr << "cairn: could not upload " << name << ": " << sent.status().message() << "\n";
      continue;
    }
    if (control.unchanged) {
      ++skipped;
      std::cout << "skipped\t" << name << "\tv" << (*latest)->version << " on the server has the same sha256\n";
    } else {
      ++uploaded;
      std::cout << "uploaded\t" << name << "\t" << sent->size << "\t" << sent->sha256 << "\tv" << sent->version
                << "\n";
    }
  }
  std::cerr << "cairn: run " << path.ToString() << ": " << uploaded << " uploaded, " << skipped << " unchanged";
  if (failed > 0) std::cerr << ", " << failed << " failed (run `cairn sync` again to retry them)";
  std::cerr << "\n";
  return first_error.ok() ? kExitOk : Fail(first_error);
}

}  // namespace cairn::cli
