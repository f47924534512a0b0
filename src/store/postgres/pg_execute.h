// PostgresMetadataStore::Execute and the pooled connection it leases, for the
// store's source files that run statements (a template: each file instantiates
// it with its own bodies). Private to src/store/postgres.
#pragma once

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <string_view>
#include <thread>
#include <utility>

#include "store/postgres/pg_connection.h"

namespace cairn::internal {

// The most rows ListRuns / ListFiles return in one page.
constexpr int kMaxPageSize = 1000;
inline int ClampLimit(int limit) { return std::clamp(limit, 1, kMaxPageSize); }

// Serialization failure or deadlock: the transaction rolled back and may be retried.
inline bool IsRetryableSqlState(std::string_view state) { return state == "40001" || state == "40P01"; }

// A connection checked out of the pool; returned (or discarded when broken)
// by the destructor.
class PostgresMetadataStore::Lease {
 public:
  Lease(PostgresMetadataStore* store, std::unique_ptr<PgConnection> conn) : store_(store), conn_(std::move(conn)) {}
  Lease(Lease&& o) noexcept : store_(o.store_), conn_(std::move(o.conn_)) {}
  ~Lease() {
    if (conn_) store_->Release(std::move(conn_));
  }
  PgConnection& operator*() { return *conn_; }
  PgConnection* operator->() { return conn_.get(); }

 private:
  PostgresMetadataStore* store_;
  std::unique_ptr<PgConnection> conn_;
};

template <typename Body>
Status PostgresMetadataStore::Execute(Access access, Body&& body) {
  std::mt19937 rng(std::random_device{}());
  const bool txn = access == Access::kTransaction;
  const int attempts = std::max(2, options_.max_txn_attempts);
  Status s;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    StatusOr<Lease> lease = Acquire();
    if (!lease.ok()) return lease.status();
    PgConnection& conn = **lease;
    bool begun = true;
    if (txn) {
      s = conn.Exec("BEGIN");
      begun = s.ok();
    }
    if (begun) s = body(conn);
    if (s.ok() && txn) s = conn.Exec("COMMIT");
    if (s.ok()) return s;
    const std::string state = conn.last_sqlstate();
    if (txn && begun && conn.healthy()) (void)conn.Exec("ROLLBACK");
    // Serialization failures and deadlocks rolled everything back: retry
    // from the start. A pooled connection that died while idle (server
    // restart) fails at its first statement: retry on a fresh one when that
    // cannot repeat a write (reads, or a transaction that never began).
    const bool broken = !conn.healthy() && (!txn || !begun);
    if (!(IsRetryableSqlState(state) || broken) || attempt == attempts) return s;
    if (!broken) {
      std::uniform_int_distribution<int> jitter_ms(1, 5 * attempt);
      std::this_thread::sleep_for(std::chrono::milliseconds(jitter_ms(rng)));
    }
  }
  return s;
}

}  // namespace cairn::internal
