// `cairn save`: files, directories (recursively) and quoted globs, uploaded
// as one batch with one progress bar (commands.h, SaveArgs).
#include <glob.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>
#include <system_error>
#include <thread>

#include "cli/commands.h"
#include "cli/progress.h"
#include "common/validate.h"
#include "sdk/internal/client.h"

namespace cairn::cli {
namespace {

namespace fs = std::filesystem;

// Files uploaded at once: --parallel, else CAIRN_PARALLEL_FILES, else 8.
int ParallelFiles(int given) {
  if (given > 0) return std::min(given, 64);
  const char* v = std::getenv("CAIRN_PARALLEL_FILES");
  const int env = v != nullptr ? std::atoi(v) : 0;
  return env > 0 ? std::min(env, 64) : 8;
}

bool IsGlob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

// What one argument stands for, before names are given: regular files,
// absolute. A directory stands for every regular file under it (symlinked
// directories are not followed); a glob that names no existing path is
// expanded (glob(3)), each match as if given itself.
StatusOr<std::vector<fs::path>> Expand(const std::string& arg) {
  std::error_code ec;
  const fs::file_status st = fs::status(arg, ec);
  if (fs::is_regular_file(st)) return std::vector<fs::path>{fs::absolute(arg)};
  if (fs::is_directory(st)) {
    std::vector<fs::path> out;
    for (fs::recursive_directory_iterator it(arg, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file(ec)) out.push_back(fs::absolute(it->path()));
    }
    if (ec) return InvalidArgumentError("cannot read directory '" + arg + "': " + ec.message());
    std::sort(out.begin(), out.end());
    return out;
  }
  if (!fs::exists(st) && IsGlob(arg)) {
    glob_t g{};
    const int rc = ::glob(arg.c_str(), 0, nullptr, &g);
    std::vector<std::string> matches(g.gl_pathv, g.gl_pathv + (rc == 0 ? g.gl_pathc : 0));
    ::globfree(&g);
    if (matches.empty()) {
      return InvalidArgumentError("'" + arg +
                                  "' matches no file; check the pattern (it is expanded relative to "
                                  "the working directory)");
    }
    std::vector<fs::path> out;
    for (const std::string& m : matches) {
      if (!fs::is_regular_file(m, ec) && !fs::is_directory(m, ec)) continue;  // sockets, dangling links
      StatusOr<std::vector<fs::path>> sub = Expand(m);
      if (!sub.ok()) return sub.status();
      out.insert(out.end(), sub->begin(), sub->end());
    }
    return out;
  }
  return InvalidArgumentError("'" + arg + "' is not a readable regular file, a directory or a glob that matches");
}

struct Planned {
  fs::path local;
  std::string name;
  std::uint64_t size = 0;
};

// Every argument expanded, named relative to `base_dir`, validated; in the
// order of the arguments (a directory's or glob's files sorted), each file
// once. Nothing is sent before all of them pass.
StatusOr<std::vector<Planned>> Plan(const std::vector<std::string>& args, const fs::path& base_dir) {
  std::vector<Planned> plan;
  std::set<std::string> seen;
  for (const std::string& arg : args) {
    StatusOr<std::vector<fs::path>> files = Expand(arg);
    if (!files.ok()) return files.status();
    for (const fs::path& f : *files) {
      std::error_code ec;
      const fs::path abs = fs::weakly_canonical(f, ec);
      if (ec) return InvalidArgumentError("'" + f.string() + "' is not readable: " + ec.message());
      const fs::path rel = abs.lexically_relative(base_dir);
      if (rel.empty() || *rel.begin() == "..") {
        return InvalidArgumentError("'" + f.string() + "' is outside the base directory " + base_dir.string() +
                                    "; pass --base DIR that contains it");
      }
      std::string name = rel.generic_string();
      if (Status st = internal::ValidateFileName(name); !st.ok()) return st;
      const std::uint64_t size = fs::file_size(abs, ec);
      if (ec) return InvalidArgumentError("'" + f.string() + "' is not readable: " + ec.message());
      if (seen.insert(name).second) plan.push_back({abs, name, size});
    }
  }
  return plan;
}

// What one request saves: a large file alone (Client::Upload), or up to
// kBatchFiles consecutive small files (Client::UploadBatch: one request, one
// metadata commit on the server for all of them; docs/adr/0020).
struct Unit {
  std::size_t first = 0;
  std::size_t count = 1;
  bool batch = false;
};
constexpr std::uint64_t kBatchMaxFileBytes = 1 << 20;
constexpr std::size_t kBatchFiles = 256;
constexpr std::uint64_t kBatchBytes = 16 << 20;

std::vector<Unit> Units(const std::vector<Planned>& plan) {
  std::vector<Unit> units;
  std::uint64_t batch_bytes = 0;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    if (plan[i].size > kBatchMaxFileBytes) {
      units.push_back({i, 1, false});
      continue;
    }
    Unit* last = units.empty() ? nullptr : &units.back();
    if (last != nullptr && last->batch && last->first + last->count == i && last->count < kBatchFiles &&
        batch_bytes + plan[i].size <= kBatchBytes) {
      ++last->count;
      batch_bytes += plan[i].size;
    } else {
      units.push_back({i, 1, true});
      batch_bytes = plan[i].size;
    }
  }
  // A file alone keeps Upload's commit by reference.
  for (Unit& u : units) u.batch = u.batch && u.count > 1;
  return units;
}

}  // namespace

int Save(const Global& g, const SaveArgs& args) {
  std::error_code ec;
  const fs::path base_dir = fs::weakly_canonical(args.base.empty() ? fs::current_path() : fs::path(args.base), ec);
  if (ec) return Fail(InvalidArgumentError("cannot use --base '" + args.base + "': " + ec.message()));
  StatusOr<std::vector<Planned>> plan = Plan(args.paths, base_dir);
  if (!plan.ok()) return Fail(plan.status());
  auto client = Connect(g);
  if (!client) return Fail(client.status());
  auto path = ResolveRun(**client, args.run);
  if (!path) return Fail(path.status());
  auto created = (*client)->PutRun(*path, "allow");
  if (!created) return Fail(created.status());

  ProgressBar bar(!args.quiet && ::isatty(STDERR_FILENO));
  for (const Planned& p : *plan) bar.Expect(p.name, p.size);
  // Work goes up on several connections at once (the client is thread-safe).
  // Small files go in batches, one request and one commit per batch; a large
  // file alone (by reference when the server holds it, or in parts).
  const std::vector<Unit> units = Units(*plan);
  std::vector<std::optional<StatusOr<FileInfo>>> results(plan->size());  // nullopt: not attempted
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  const auto worker = [&] {
    for (std::size_t u; !failed.load() && (u = next++) < units.size();) {
      const Unit& unit = units[u];
      if (unit.batch) {
        std::vector<internal::Client::BatchItem> items;
        for (std::size_t i = unit.first; i < unit.first + unit.count; ++i) {
          items.push_back({(*plan)[i].name, (*plan)[i].local});
        }
        StatusOr<std::vector<FileInfo>> saved = (*client)->UploadBatch(*path, items);
        if (!saved.ok()) failed = true;  // the others in flight finish; no new one starts
        for (std::size_t k = 0; k < unit.count; ++k) {
          const std::size_t i = unit.first + k;
          if (saved.ok()) bar.Update({(*plan)[i].name, (*saved)[k].size, (*saved)[k].size});
          results[i] = saved.ok() ? StatusOr<FileInfo>((*saved)[k]) : StatusOr<FileInfo>(saved.status());
        }
        continue;
      }
      const Planned& p = (*plan)[unit.first];
      internal::ProgressFn progress;
      if (bar.enabled()) {
        progress = [&bar, &p](std::uint64_t done, std::uint64_t total) { bar.Update({p.name, done, total}); };
      }
      StatusOr<FileInfo> saved = (*client)->Upload(*path, p.name, p.local, progress);
      if (!saved.ok()) failed = true;
      if (saved.ok()) bar.Update({p.name, saved->size, saved->size});
      results[unit.first] = std::move(saved);
    }
  };
  std::vector<std::thread> threads;
  const int n = std::min<int>(ParallelFiles(args.parallel), static_cast<int>(units.size()));
  for (int t = 1; t < n; ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  bar.Done();

  std::size_t saved_count = 0;
  Status first_error;
  for (std::size_t i = 0; i < plan->size(); ++i) {
    if (!results[i]) continue;
    if (results[i]->ok()) {
      ++saved_count;
      const FileInfo& f = **results[i];
      std::cout << f.name << "\t" << f.size << "\t" << f.sha256 << "\tv" << f.version << "\n";
    } else if (first_error.ok()) {
      first_error = results[i]->status();
    }
  }
  if (first_error.ok()) return kExitOk;
  std::cerr << "cairn: saved " << saved_count << " of " << plan->size()
            << " files; the others were not (each saved file is committed whole; rerun to save them)\n";
  return Fail(first_error);
}

}  // namespace cairn::cli
