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

#include "cairn/cairn.h"
#include "cli/progress.h"
#include "common/duration.h"
#include "common/fs.h"
#include "common/validate.h"
#include "sdk/internal/client.h"
#include "sdk/internal/content_cache.h"
#include "sdk/internal/downloader.h"
#include "server/server.h"
#include "store/maintenance.h"
#include "store/store.h"

namespace cairn::cli {
namespace fs = std::filesystem;
using internal::Client;
using internal::ParseDuration;

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

namespace {

// --data, else CAIRN_DATA_DIR, else $XDG_DATA_HOME/cairn, else ~/.local/share/cairn.
StatusOr<fs::path> ResolveDataDir(const std::string& flag) {
  if (!flag.empty()) return fs::path(flag);
  if (const char* d = std::getenv("CAIRN_DATA_DIR"); d && *d) return fs::path(d);
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return fs::path(x) / "cairn";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".local/share/cairn";
  return InvalidArgumentError("no data directory: pass --data DIR or set CAIRN_DATA_DIR");
}

std::string FlagOrEnv(const std::string& flag, const char* var) {
  const char* v = std::getenv(var);
  return !flag.empty() ? flag : (v != nullptr ? std::string(v) : std::string());
}

// The store `cairn server` would use with these flags, opened beside a
// server that may be running on it (uploads in progress are left alone).
StatusOr<internal::Store> OpenOperatorStore(const StoreFlags& flags, fs::path* data_dir) {
  auto data = ResolveDataDir(flags.data_dir);
  if (!data) return data.status();
  *data_dir = *data;
  if (!fs::is_directory(*data)) {
    return InvalidArgumentError("data directory " + data->string() +
                                " does not exist: pass the --data DIR that `cairn server` uses");
  }
  return internal::OpenStore({.data_dir = *data,
                              .db_url = FlagOrEnv(flags.db_url, "CAIRN_DB_URL"),
                              .blobs_url = FlagOrEnv(flags.blobs_url, "CAIRN_BLOBS_URL"),
                              .beside_server = true});
}

// A whole number of seconds from 1 to max_s in environment variable `name`,
// else `default_s`; kInvalidArgument naming the variable when malformed.
StatusOr<std::chrono::seconds> EnvSeconds(const char* name, long default_s, long max_s) {
  const std::string t = FlagOrEnv("", name);
  if (t.empty()) return std::chrono::seconds(default_s);
  char* end = nullptr;
  const long v = std::strtol(t.c_str(), &end, 10);
  if (end == t.c_str() || *end != '\0' || v < 1 || v > max_s) {
    return InvalidArgumentError(std::string(name) + " '" + t + "' must be a number of seconds from 1 to " +
                                std::to_string(max_s));
  }
  return std::chrono::seconds(v);
}

}  // namespace

int Server(const std::string& data_dir, const std::string& listen, int threads, const std::string& db_url,
           const std::string& blobs_url, bool s3_presign, const std::string& tls_cert,
           const std::string& tls_key, const ServerOpsFlags& ops) {
  auto data = ResolveDataDir(data_dir);
  if (!data) return Fail(data.status());
  // How long a request's headers, and each chunk of an upload, may take to
  // arrive (seconds; default 30). Lowered by the fault tests.
  auto request_timeout = EnvSeconds("CAIRN_REQUEST_TIMEOUT", 30, 3600);
  if (!request_timeout) return Fail(request_timeout.status());
  // A running run silent this long reads as "crashed" (seconds; default 60,
  // twice the SDK's heartbeat interval). Lowered by tests.
  auto run_stale_after = EnvSeconds("CAIRN_RUN_STALE_AFTER_S", 60, 86400);
  if (!run_stale_after) return Fail(run_stale_after.status());
  std::chrono::milliseconds retention_interval{0};
  if (!ops.retention_interval.empty()) {
    auto d = ParseDuration(ops.retention_interval);
    if (!d) {
      return Fail(InvalidArgumentError("--retention-interval '" + ops.retention_interval +
                                       "' is not a duration: use e.g. 30m, 1h or 1d (0: off)"));
    }
    retention_interval = *d;
  }
  Status st = internal::RunServer({.data_dir = *data,
                                   .listen = listen,
                                   .threads = threads,
                                   .db_url = FlagOrEnv(db_url, "CAIRN_DB_URL"),
                                   .blobs_url = FlagOrEnv(blobs_url, "CAIRN_BLOBS_URL"),
                                   .s3_presign = s3_presign,
                                   .request_timeout = *request_timeout,
                                   .tls_cert = tls_cert,
                                   .tls_key = tls_key,
                                   .run_stale_after = *run_stale_after,
                                   .log_format = ops.log_format,
                                   .metrics_key_required = ops.metrics_key_required,
                                   .metrics = !ops.no_metrics,
                                   .retention_interval = retention_interval});
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
    std::cout << "v" << f.version << "\t" << HumanSize(f.size) << "\t" << f.updated_at << "\t" << f.sha256 << "\n";
  }
  return kExitOk;
}

int CacheLs(bool json) {
  auto transfer = internal::ResolveTransferOptions({});
  if (!transfer) return Fail(transfer.status());
  internal::ContentCache cache(transfer->cache_dir, transfer->cache_max_bytes.value_or(0));
  auto entries = cache.List();
  if (!entries) return Fail(entries.status());
  std::uint64_t total = 0;
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& e : *entries) {
    total += e.size;
    if (json) {
      arr.push_back({{"sha256", e.sha256}, {"size", e.size}, {"last_used", internal::FormatTimeMs(e.last_used_ms)}});
    } else {
      std::cout << e.sha256 << "\t" << HumanSize(e.size) << "\t" << internal::FormatTimeMs(e.last_used_ms) << "\n";
    }
  }
  if (json) std::cout << arr.dump(2) << "\n";
  std::cerr << "cairn: cache " << transfer->cache_dir << ": " << entries->size() << " file(s), " << HumanSize(total)
            << " of " << HumanSize(*transfer->cache_max_bytes)
            << (cache.enabled() ? "" : " (disabled: CAIRN_CACHE_MAX_BYTES=0)") << "\n";
  return kExitOk;
}

int CachePrune(std::optional<std::uint64_t> max_bytes) {
  auto transfer = internal::ResolveTransferOptions({});
  if (!transfer) return Fail(transfer.status());
  // The cache's own limit may be 0 (disabled); pruning still works on what is there.
  internal::ContentCache cache(transfer->cache_dir, 1);
  const std::uint64_t limit = max_bytes.value_or(*transfer->cache_max_bytes);
  auto freed = cache.Prune(limit);
  if (!freed) return Fail(freed.status());
  std::cerr << "cairn: freed " << HumanSize(*freed) << " from " << transfer->cache_dir << " (limit "
            << HumanSize(limit) << ", least recently used first)\n";
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

int Fsck(const StoreFlags& flags, bool quarantine, bool json) {
  fs::path data;
  auto store = OpenOperatorStore(flags, &data);
  if (!store) return Fail(store.status());
  auto report = internal::Fsck(*store->metadata, *store->blobs,
                               {.quarantine_dir = quarantine ? data / "quarantine" : fs::path()});
  if (!report) return Fail(report.status());
  auto kind = [](internal::FsckProblem::Kind k) {
    return k == internal::FsckProblem::Kind::kCorrupt ? "corrupt" : "missing";
  };
  if (json) {
    nlohmann::json problems = nlohmann::json::array();
    for (const auto& p : report->problems) {
      problems.push_back({{"kind", kind(p.kind)}, {"sha256", p.sha256}, {"detail", p.detail},
                          {"versions", p.versions}, {"example", p.example}, {"quarantined", p.quarantined}});
    }
    std::cout << nlohmann::json{{"ok", report->problems.empty()},
                                {"blobs_checked", report->blobs_checked},
                                {"bytes_checked", report->bytes_checked},
                                {"references", report->references},
                                {"unreferenced", report->unreferenced},
                                {"problems", problems}}
                     .dump(2)
              << "\n";
  } else {
    for (const auto& p : report->problems) {
      std::cout << kind(p.kind) << "\t" << p.sha256 << "\t" << p.detail;
      if (p.versions > 0) std::cout << "; " << p.versions << " version(s) refer to it, e.g. " << p.example;
      if (p.quarantined) std::cout << "; moved to " << (data / "quarantine" / p.sha256).string();
      std::cout << "\n";
    }
  }
  std::cerr << "cairn fsck: " << report->blobs_checked << " blobs (" << HumanSize(report->bytes_checked)
            << ") verified, " << report->references << " referenced, " << report->unreferenced
            << " unreferenced (`cairn gc` removes those): " << report->problems.size() << " problem(s)\n";
  if (report->problems.empty()) return kExitOk;
  std::cerr << "cairn: hint: restores of the versions named above fail until they are saved again";
  if (!quarantine) std::cerr << "; --quarantine moves corrupt blobs out of the store";
  std::cerr << "\n";
  return kExitFailure;
}

int Gc(const StoreFlags& flags, bool dry_run, const std::string& grace) {
  auto grace_ms = ParseDuration(grace);
  if (!grace_ms) {
    return Fail(InvalidArgumentError("--grace '" + grace + "' is not a duration: use e.g. 90s, 30m, 1h or 7d"));
  }
  fs::path data;
  auto store = OpenOperatorStore(flags, &data);
  if (!store) return Fail(store.status());
  auto report = internal::CollectGarbage(*store->metadata, *store->blobs, {.grace = *grace_ms, .dry_run = dry_run});
  if (!report) return Fail(report.status());
  for (const auto& sha : report->removed_digests) std::cout << (dry_run ? "would remove\t" : "removed\t") << sha << "\n";
  std::cerr << "cairn gc: " << report->blobs << " blobs, " << report->referenced << " referenced, "
            << report->kept_recent << " unreferenced but younger than " << grace << " (kept), " << report->removed
            << (dry_run ? " would be removed (" : " removed (") << HumanSize(report->bytes_removed) << ")\n";
  return kExitOk;
}

}  // namespace cairn::cli
