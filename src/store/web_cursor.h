// What both MetadataStore backends share for listing runs (ListRuns, oldest
// first) and for the web UI's reads (SummarizeRuns newest first,
// SummarizeFiles): the run cursor and the SQL texts (private to src/store).
#pragma once

#include <charconv>
#include <cstdint>
#include <limits>
#include <string>

#include "cairn/status.h"
#include "store/metadata_store.h"

namespace cairn::internal {

// Where a page of runs continues: strictly after this run (ListRuns, oldest
// first) or strictly before it (SummarizeRuns, newest first).
struct RunCursor {
  std::int64_t created_ms = std::numeric_limits<std::int64_t>::max();
  std::string run_id;  // with created_ms = max (min): before (after) every run
};

// "<created_ms>:<run_id>" of the last run of the previous page; "" for the
// first page, then {first_ms, ""}. kInvalidArgument quoting anything else.
inline StatusOr<RunCursor> ParseRunCursor(const std::string& cursor, std::int64_t first_ms) {
  RunCursor out{.created_ms = first_ms};
  if (cursor.empty()) return out;
  const std::size_t colon = cursor.find(':');
  const char* end = cursor.data() + (colon == std::string::npos ? cursor.size() : colon);
  auto [ptr, ec] = std::from_chars(cursor.data(), end, out.created_ms);
  if (colon == std::string::npos || ec != std::errc() || ptr != end) {
    return InvalidArgumentError("malformed cursor \"" + cursor + "\": pass the next_cursor of a previous page");
  }
  out.run_id = cursor.substr(colon + 1);
  return out;
}
inline StatusOr<RunCursor> ParseOldestFirstCursor(const std::string& cursor) {
  return ParseRunCursor(cursor, std::numeric_limits<std::int64_t>::min());
}
inline StatusOr<RunCursor> ParseNewestFirstCursor(const std::string& cursor) {
  return ParseRunCursor(cursor, std::numeric_limits<std::int64_t>::max());
}

// The next_cursor of a page of runs whose last run is `last` (either order).
inline std::string RunCursorAfter(const RunRecord& last) { return std::to_string(last.created_ms) + ":" + last.run_id; }

// 1..200 runs a page: each carries an aggregate over its files.
inline int ClampSummaryLimit(int limit) { return limit < 1 ? 1 : (limit > 200 ? 200 : limit); }

// Runs of project ?1 whose id contains ?2, before (?3, ?4), newest first, at
// most ?5; columns as RunRecord, then the file count and the latest versions'
// total size.
#define CAIRN_SUMMARIZE_RUNS_SQL(CONTAINS, P1, P2, P3, P4, P5)                                               \
  "SELECT r.run_id, r.created_ms, r.updated_ms, r.config, r.state, r.heartbeat_ms,"                          \
  " (SELECT COUNT(*) FROM (SELECT DISTINCT f.name FROM file_versions f WHERE f.run = r.id) n),"              \
  " (SELECT COALESCE(SUM(f.size), 0) FROM file_versions f WHERE f.run = r.id AND f.version ="                \
  "   (SELECT MAX(g.version) FROM file_versions g WHERE g.run = f.run AND g.name = f.name))"                  \
  " FROM runs r WHERE r.project_id = " P1 " AND " CONTAINS "(r.run_id, " P2 ") > 0"                          \
  " AND (r.created_ms < " P3 " OR (r.created_ms = " P3 " AND r.run_id < " P4 "))"                            \
  " ORDER BY r.created_ms DESC, r.run_id DESC LIMIT " P5
inline constexpr const char* kSummarizeRunsSqlite = CAIRN_SUMMARIZE_RUNS_SQL("instr", "?1", "?2", "?3", "?4", "?5");
inline constexpr const char* kSummarizeRunsPostgres =
    CAIRN_SUMMARIZE_RUNS_SQL("strpos", "$1", "$2::text", "$3::bigint", "$4::text", "$5");
#undef CAIRN_SUMMARIZE_RUNS_SQL

// Every file of run ?1/$1: the latest version's columns as FileVersionRecord,
// then the version count, by name.
inline constexpr const char* kSummarizeFilesSql =
    "SELECT f.name, f.version, f.size, f.sha256, f.created_ms, f.created_by, c.n FROM file_versions f JOIN"
    " (SELECT name, MAX(version) AS v, COUNT(*) AS n FROM file_versions WHERE run = ?1 GROUP BY name) c"
    " ON f.name = c.name AND f.version = c.v WHERE f.run = ?1 ORDER BY f.name";
inline constexpr const char* kSummarizeFilesPostgres =
    "SELECT f.name, f.version, f.size, f.sha256, f.created_ms, f.created_by, c.n FROM file_versions f JOIN"
    " (SELECT name, MAX(version) AS v, COUNT(*) AS n FROM file_versions WHERE run = $1 GROUP BY name) c"
    " ON f.name = c.name AND f.version = c.v WHERE f.run = $1 ORDER BY f.name";

}  // namespace cairn::internal
