// SqliteMetadataStore: per-entity storage quotas (docs/operations.md).
#include "common/fs.h"
#include "store/migrations.h"
#include "store/sqlite/sqlite_metadata_store.h"
#include "store/sqlite/sqlite_statement.h"

namespace cairn::internal {

StatusOr<std::optional<std::uint64_t>> SqliteMetadataStore::GetQuota(const std::string& entity) {
  MutexLock lock(mu_);
  StatusOr<sqlite3_stmt*> st = Prepare("SELECT max_bytes FROM entity_quotas WHERE entity = ?1");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  q.Bind(1, entity);
  StatusOr<bool> row = q.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<std::uint64_t>();
  return std::optional<std::uint64_t>(static_cast<std::uint64_t>(q.Int(0)));
}

Status SqliteMetadataStore::SetQuota(const std::string& entity, std::optional<std::uint64_t> bytes) {
  MutexLock lock(mu_);
  if (!bytes) {
    StatusOr<sqlite3_stmt*> st = Prepare("DELETE FROM entity_quotas WHERE entity = ?1");
    if (!st.ok()) return st.status();
    Stmt q(db_, *st);
    return q.Bind(1, entity).Run();
  }
  StatusOr<sqlite3_stmt*> st = Prepare(
      "INSERT INTO entity_quotas(entity, max_bytes, updated_ms) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (entity) DO UPDATE SET max_bytes = excluded.max_bytes, updated_ms = excluded.updated_ms");
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  return q.Bind(1, entity).Bind(2, static_cast<std::int64_t>(*bytes)).Bind(3, std::int64_t{NowMs()}).Run();
}

StatusOr<std::uint64_t> SqliteMetadataStore::EntityUsedBytes(const std::string& entity) {
  MutexLock lock(mu_);
  StatusOr<sqlite3_stmt*> st = Prepare(kEntityUsedBytesSql);
  if (!st.ok()) return st.status();
  Stmt q(db_, *st);
  q.Bind(1, entity);
  StatusOr<bool> row = q.Step();
  if (!row.ok()) return row.status();
  return *row ? static_cast<std::uint64_t>(q.Int(0)) : std::uint64_t{0};
}

}  // namespace cairn::internal
