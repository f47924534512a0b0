#include "sdk/internal/save_glob.h"

#include <glob.h>

#include <algorithm>
#include <system_error>

#include "common/validate.h"

namespace cairn::internal {
namespace {

namespace fs = std::filesystem;

fs::path AbsoluteNormal(const fs::path& p, const fs::path& cwd) {
  return (p.is_absolute() ? p : cwd / p).lexically_normal();
}

// Escapes glob(3) metacharacters so a directory prefix matches only itself.
std::string EscapeGlob(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// True when `p` lies strictly inside `dir` (component-wise).
bool IsInside(const fs::path& p, const fs::path& dir) {
  fs::path rel = p.lexically_relative(dir);
  return !rel.empty() && rel != "." && *rel.begin() != "..";
}

// Matches `dir_prefix` (a literal directory, may be empty) + `pattern`.
StatusOr<std::vector<fs::path>> Match(const fs::path& dir_prefix, const std::string& pattern, bool literal,
                                      const fs::path& cwd) {
  std::vector<fs::path> out;
  if (literal) {
    fs::path p = AbsoluteNormal(dir_prefix.empty() ? fs::path(pattern) : dir_prefix / pattern, cwd);
    std::error_code ec;
    if (fs::exists(p, ec)) out.push_back(p);
    return out;
  }
  std::string full = pattern;
  if (!fs::path(pattern).is_absolute()) {
    fs::path prefix = dir_prefix.empty() ? cwd : AbsoluteNormal(dir_prefix, cwd);
    std::string pre = EscapeGlob(prefix.string());
    if (pre.empty() || pre.back() != '/') pre += '/';
    full = pre + pattern;
  }
  glob_t g{};
  int rc = ::glob(full.c_str(), 0, nullptr, &g);
  if (rc == 0) {
    for (std::size_t i = 0; i < g.gl_pathc; ++i) out.push_back(AbsoluteNormal(g.gl_pathv[i], cwd));
  }
  ::globfree(&g);
  if (rc == GLOB_NOSPACE) return ResourceExhaustedError("out of memory expanding '" + pattern + "'");
  // GLOB_NOMATCH and GLOB_ABORTED (an unreadable directory) mean "no match".
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

StatusOr<std::string> NameUnderBase(const fs::path& path, const fs::path& base, const fs::path& cwd) {
  const fs::path p = AbsoluteNormal(path, cwd);
  const fs::path b = AbsoluteNormal(base, cwd);
  if (!IsInside(p, b)) {
    return InvalidArgumentError("cannot save " + p.string() + ": it is outside the base path " + b.string() +
                                "; pass a base_path that contains it (names are relative to it)");
  }
  std::string name = p.lexically_relative(b).generic_string();
  if (Status st = ValidateFileName(name); !st.ok()) return st;
  return name;
}

StatusOr<std::vector<SaveTarget>> ExpandSaveGlob(const std::string& pattern, const std::string& base_path, bool literal,
                                                 const fs::path& files_dir, const fs::path& cwd) {
  if (pattern.empty()) return InvalidArgumentError("nothing to save: the glob is empty");
  const bool relative = !fs::path(pattern).is_absolute();

  std::vector<fs::path> matches;
  if (relative && base_path.empty() && !files_dir.empty()) {
    StatusOr<std::vector<fs::path>> m = Match(files_dir, pattern, literal, cwd);
    if (!m.ok()) return m.status();
    matches = std::move(*m);
  }
  if (matches.empty()) {
    StatusOr<std::vector<fs::path>> m = Match({}, pattern, literal, cwd);
    if (!m.ok()) return m.status();
    matches = std::move(*m);
  }

  std::vector<fs::path> files;
  for (const fs::path& p : matches) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) continue;
    files.push_back(p);
  }
  if (files.empty()) {
    if (!matches.empty()) {
      return InvalidArgumentError("'" + pattern + "' matches only directories; save the files in them (e.g. '" +
                                  pattern + "/*')");
    }
    std::string where = relative ? " (looked in " + (files_dir.empty() ? std::string() : files_dir.string() + " and ") +
                                       cwd.string() + ")"
                                 : "";
    return InvalidArgumentError("'" + pattern + "' matches no file" + where);
  }

  fs::path base;
  if (!base_path.empty()) {
    base = AbsoluteNormal(base_path, cwd);
  } else {
    const fs::path fd = files_dir.empty() ? fs::path() : AbsoluteNormal(files_dir, cwd);
    bool all_in_files_dir =
        !fd.empty() && std::all_of(files.begin(), files.end(), [&](const fs::path& p) { return IsInside(p, fd); });
    base = all_in_files_dir ? fd : cwd;
  }

  std::vector<SaveTarget> out;
  for (const fs::path& p : files) {
    StatusOr<std::string> name = NameUnderBase(p, base, cwd);
    if (!name.ok()) return name.status();
    out.push_back({p, std::move(*name)});
  }
  return out;
}

}  // namespace cairn::internal
