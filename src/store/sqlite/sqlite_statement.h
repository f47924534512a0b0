// SqliteMetadataStore's statement and transaction helpers, shared by its
// source files (sqlite_metadata_store.cc, sqlite_runs.cc). Private to
// src/store/sqlite.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "store/sqlite/sqlite_metadata_store.h"

namespace cairn::internal {

// A cached statement checked out for one use: binds parameters, steps, reads
// columns, and resets the statement when it goes out of scope.
class SqliteMetadataStore::Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  // The store's cached statement for `sql` (a string literal), checked out:
  // CAIRN_ASSIGN_OR_RETURN(Stmt q, Stmt::Of(*this, "SELECT ..."));
  static StatusOr<Stmt> Of(SqliteMetadataStore& store, const char* sql) CAIRN_REQUIRES(store.mu_) {
    StatusOr<sqlite3_stmt*> st = store.Prepare(sql);
    if (!st.ok()) return st.status();
    return Stmt(store.db_, *st);
  }
  ~Stmt() {
    if (stmt_ == nullptr) return;  // moved from
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Stmt(Stmt&& o) noexcept
      : db_(o.db_), stmt_(std::exchange(o.stmt_, nullptr)), bind_status_(std::move(o.bind_status_)) {}
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& operator=(Stmt&&) = delete;

  Stmt& Bind(int index, std::string_view value) {
    Check(sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT));
    return *this;
  }
  Stmt& Bind(int index, std::int64_t value) {
    Check(sqlite3_bind_int64(stmt_, index, value));
    return *this;
  }

  // true: a row is available; false: done.
  StatusOr<bool> Step() {
    if (!bind_status_.ok()) return bind_status_;
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return SqliteStatus(rc, db_, "sqlite statement");
  }
  // Steps a statement that returns no rows.
  Status Run() {
    StatusOr<bool> r = Step();
    return r.status();
  }

  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::string Text(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    return p == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
  }

 private:
  void Check(int rc) {
    if (rc != SQLITE_OK && bind_status_.ok()) bind_status_ = SqliteStatus(rc, db_, "sqlite bind");
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  Status bind_status_;
};

// A transaction: rolled back on destruction unless Commit() succeeded.
class SqliteMetadataStore::Txn {
 public:
  // The caller holds store->mu_ for the transaction's life.
  explicit Txn(SqliteMetadataStore* store) CAIRN_REQUIRES(store->mu_) : store_(store) {}
  ~Txn() {
    if (open_) sqlite3_exec(store_->db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  // `immediate` takes the write lock now, so that a read-modify-write (such as
  // max(version)+1) cannot race another connection.
  // No analysis in Begin and Commit: the constructor required store->mu_,
  // and clang cannot see that store_ is that store.
  // BEGIN and COMMIT are cached statements like the queries (sqlite3_exec
  // would parse them again for every transaction).
  Status Begin(bool immediate) CAIRN_THREAD_ANNOTATION(no_thread_safety_analysis) {
    Status s = Run(immediate ? "BEGIN IMMEDIATE" : "BEGIN");
    open_ = s.ok();
    return s;
  }
  Status Commit() CAIRN_THREAD_ANNOTATION(no_thread_safety_analysis) {
    Status s = Run("COMMIT");
    if (s.ok()) open_ = false;
    return s;
  }

 private:
  Status Run(const char* sql) CAIRN_THREAD_ANNOTATION(no_thread_safety_analysis) {
    StatusOr<Stmt> q = Stmt::Of(*store_, sql);
    if (!q.ok()) return q.status();
    return q->Run();
  }

  SqliteMetadataStore* store_;
  bool open_ = false;
};

// Returns the error of a Status-or-StatusOr expression from the caller.
#define CAIRN_SQL_RETURN_IF_ERROR(expr)  \
  do {                                   \
    ::cairn::Status cairn_s_ = (expr);   \
    if (!cairn_s_.ok()) return cairn_s_; \
  } while (false)

}  // namespace cairn::internal
