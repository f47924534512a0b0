// PostgresMetadataStore: per-entity storage quotas (docs/operations.md).
#include <cstdint>
#include <optional>
#include <string>

#include "common/fs.h"
#include "store/migrations.h"
#include "store/postgres/pg_execute.h"

namespace cairn::internal {

StatusOr<std::optional<std::uint64_t>> PostgresMetadataStore::GetQuota(const std::string& entity) {
  std::optional<std::uint64_t> out;
  Status s = Execute(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query("SELECT max_bytes FROM entity_quotas WHERE entity = $1", {entity});
    if (!r.ok()) return r.status();
    out.reset();
    if (r->rows() > 0) out = static_cast<std::uint64_t>(r->Int(0, 0));
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

Status PostgresMetadataStore::SetQuota(const std::string& entity, std::optional<std::uint64_t> bytes) {
  return Execute(Access::kTransaction, [&](PgConnection& conn) -> Status {
    if (!bytes) return conn.Query("DELETE FROM entity_quotas WHERE entity = $1", {entity}).status();
    return conn
        .Query(
            "INSERT INTO entity_quotas(entity, max_bytes, updated_ms) VALUES ($1, $2, $3) "
            "ON CONFLICT (entity) DO UPDATE SET max_bytes = excluded.max_bytes, updated_ms = excluded.updated_ms",
            {entity, std::to_string(*bytes), std::to_string(NowMs())})
        .status();
  });
}

StatusOr<std::uint64_t> PostgresMetadataStore::EntityUsedBytes(const std::string& entity) {
  std::uint64_t out = 0;
  Status s = Execute(Access::kRead, [&](PgConnection& conn) -> Status {
    StatusOr<PgResult> r = conn.Query(kEntityUsedBytesSql, {entity});
    if (!r.ok()) return r.status();
    out = r->rows() > 0 ? static_cast<std::uint64_t>(r->Int(0, 0)) : 0;
    return OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

}  // namespace cairn::internal
