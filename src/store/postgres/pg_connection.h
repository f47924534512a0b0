// PostgresMetadataStore's connection helpers, shared by its source files
// (postgres_metadata_store.cc, postgres_deletion.cc, postgres_accounts.cc).
// Private to src/store/postgres.
#pragma once

#include <libpq-fe.h>

#include <array>
#include <charconv>
#include <cstring>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/metadata_store.h"
#include "store/postgres/postgres_metadata_store.h"

namespace cairn::internal {

inline std::int64_t ParseInt(const char* text) {
  std::int64_t v = 0;
  if (text != nullptr) std::from_chars(text, text + std::strlen(text), v);
  return v;
}

// A PGresult owned for one use.
class PgResult {
 public:
  explicit PgResult(PGresult* r) : r_(r) {}
  ~PgResult() { PQclear(r_); }
  PgResult(PgResult&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
  PgResult& operator=(PgResult&& o) noexcept {
    std::swap(r_, o.r_);
    return *this;
  }
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;

  const PGresult* get() const { return r_; }

  int rows() const { return PQntuples(r_); }
  bool IsNull(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }
  std::int64_t Int(int row, int col) const { return ParseInt(PQgetvalue(r_, row, col)); }
  bool Bool(int row, int col) const { return PQgetvalue(r_, row, col)[0] == 't'; }
  std::string Text(int row, int col) const {
    return std::string(PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col)));
  }

 private:
  PGresult* r_;
};

// One libpq connection with its prepared statements. Used by one thread at a
// time (the pool hands it out).
class PgConnection {
 public:
  static StatusOr<std::unique_ptr<PgConnection>> Connect(const std::string& url, int timeout_s) {
    const std::string timeout = std::to_string(timeout_s);
    // dbname (the URL) comes last so that settings in the URL win.
    const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {timeout.c_str(), "cairn-server", url.c_str(), nullptr};
    PGconn* conn = PQconnectdbParams(keys, values, /*expand_dbname=*/1);
    if (conn == nullptr) return ResourceExhaustedError("cannot allocate a PostgreSQL connection");
    if (PQstatus(conn) != CONNECTION_OK) {
      Status s = PgStatus(nullptr, conn, "connect to PostgreSQL at " + RedactDbUrl(url));
      PQfinish(conn);
      return s;
    }
    // NOTICEs (e.g. "relation already exists, skipping") are not errors and
    // must not reach the server's stderr.
    PQsetNoticeProcessor(
        conn, [](void*, const char*) {}, nullptr);
    return std::unique_ptr<PgConnection>(new PgConnection(conn));
  }
  ~PgConnection() { PQfinish(conn_); }
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  bool healthy() const { return PQstatus(conn_) == CONNECTION_OK; }
  // SQLSTATE of the last failed statement; empty after a success.
  const std::string& last_sqlstate() const { return last_sqlstate_; }

  // Runs `sql` (a string literal: its address keys the prepared statement)
  // with text parameters.
  StatusOr<PgResult> Query(const char* sql, const std::vector<std::string>& params = {}) {
    auto it = prepared_.find(sql);
    if (it == prepared_.end()) {
      std::string name = "cairn_" + std::to_string(prepared_.size() + 1);
      PgResult prep(PQprepare(conn_, name.c_str(), sql, 0, nullptr));
      if (Status s = Check(prep, "prepare statement"); !s.ok()) return s;
      it = prepared_.emplace(sql, std::move(name)).first;
    }
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const std::string& p : params) values.push_back(p.c_str());
    PgResult r(PQexecPrepared(conn_, it->second.c_str(), static_cast<int>(values.size()), values.data(), nullptr,
                              nullptr, /*resultFormat=*/0));
    if (Status s = Check(r, "postgres statement"); !s.ok()) return s;
    return r;
  }

  // Runs one or more statements without parameters (BEGIN, COMMIT, DDL).
  Status Exec(std::string_view sql) {
    const std::string text(sql);
    PgResult r(PQexec(conn_, text.c_str()));
    return Check(r, "postgres exec");
  }
  StatusOr<PgResult> ExecQuery(std::string_view sql) {
    const std::string text(sql);
    PgResult r(PQexec(conn_, text.c_str()));
    if (Status s = Check(r, "postgres query"); !s.ok()) return s;
    return r;
  }

 private:
  explicit PgConnection(PGconn* conn) : conn_(conn) {}

  Status Check(const PgResult& r, std::string_view what);

  PGconn* conn_;
  std::unordered_map<const char*, std::string> prepared_;
  std::string last_sqlstate_;
};

inline Status PgConnection::Check(const PgResult& r, std::string_view what) {
  const PGresult* raw = r.get();
  Status s = PgStatus(raw, conn_, what);
  if (s.ok()) {
    last_sqlstate_.clear();
  } else {
    const char* state = raw != nullptr ? PQresultErrorField(raw, PG_DIAG_SQLSTATE) : nullptr;
    last_sqlstate_ = state != nullptr ? state : "";
  }
  return s;
}


// Concatenates SQL string literals at compile time into one null-terminated
// array with static storage, so that its data() can key a prepared statement
// (PgConnection::Query) like a literal does.
template <std::size_t... N>
constexpr auto SqlConcat(const char (&... parts)[N]) {
  std::array<char, (N + ...) - sizeof...(N) + 1> out{};
  std::size_t at = 0;
  for (std::string_view part : {std::string_view(parts, N - 1)...}) {
    for (char c : part) out[at++] = c;
  }
  return out;
}

// How a statement resolves a run path ($1 entity, $2 project, $3 run): the
// statement selects e.id, p.id, r.id first, then its own columns, FROM these
// joins (r.id is the run's row id; further LEFT JOINs may follow) and ends
// its WHERE with kRunPathWhere. Row 0 then tells which part is missing
// (RunPathStatus), so one round trip both resolves the run and reads it.
inline constexpr char kRunPathFrom[] =
    " FROM entities e"
    " LEFT JOIN projects p ON p.entity_id = e.id AND p.name = $2"
    " LEFT JOIN runs r ON r.project_id = p.id AND r.run_id = $3";
inline constexpr char kRunPathWhere[] = " WHERE e.name = $1";
// OK when row 0 of `r` (a statement built as above) names an existing run,
// else the kNotFound naming the missing part.
Status RunPathStatus(const PgResult& r, const RunKey& run);

// A run's row id and record, as FindRun resolves it.
struct FoundRun {
  std::int64_t id = 0;
  RunRecord record;
};

// Resolves a run, or the kNotFound naming the missing part.
StatusOr<FoundRun> FindRun(PgConnection& conn, const RunKey& run);
// Locks the run's row until the transaction ends (writers of one run queue
// here) and returns its id, or the kNotFound naming the missing part.
StatusOr<std::int64_t> LockRun(PgConnection& conn, const RunKey& run);
// The row id of project `project` of `entity`, or the kNotFound naming the
// missing part (postgres_runs.cc).
StatusOr<std::int64_t> FindProject(PgConnection& conn, const std::string& entity, const std::string& project);
// A file_versions row: version, size, sha256, created_ms from `first_col`.
FileVersionRecord FileRow(const PgResult& r, int row, std::string name, int first_col);

}  // namespace cairn::internal
