// `cairn save`: files, directories (recursively) and quoted globs, uploaded
// as one batch with one progress bar (commands.h, SaveArgs).
#include <glob.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <optional>
#include <set>
#include <system_error>

#include "cairn/session.h"
#include "cli/commands.h"
#include "cli/progress.h"

namespace cairn::cli {
namespace {

namespace fs = std::filesystem;

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
      if (Status st = ValidateFileName(name); !st.ok()) return st;
      const std::uint64_t size = fs::file_size(abs, ec);
      if (ec) return InvalidArgumentError("'" + f.string() + "' is not readable: " + ec.message());
      if (seen.insert(name).second) plan.push_back({abs, name, size});
    }
  }
  return plan;
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
  auto created = (*client)->EnsureRun(*path);
  if (!created) return Fail(created.status());

  ProgressBar bar(!args.quiet && ::isatty(STDERR_FILENO));
  std::vector<SaveItem> items;
  for (const Planned& p : *plan) {
    bar.Expect(p.name, p.size);
    items.push_back({.name = p.name, .local = p.local, .size = p.size});
  }
  const auto results =
      (*client)->SaveFiles(*path, items, {.parallel_files = args.parallel, .progress = bar.Callback()});
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
