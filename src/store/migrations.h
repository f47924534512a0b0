// Versioned schema migrations shared by every MetadataStore backend.
//
// The schema is a numbered list of migrations (migrations.cc), each with one
// SQL text per dialect. A database records what it has applied in
// schema_migrations(version, applied_ms). RunMigrations() applies the missing
// ones in order, each in its own transaction that excludes other migrators
// (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory transaction lock), so
// several processes may open the same database at once. A database at a
// version newer than this binary knows is refused with kFailedPrecondition.
//
// Never edit a released migration: append a new one, with both dialects.
#pragma once

#include <cstdint>
#include <string_view>

#include "cairn/status.h"

namespace cairn::internal {

enum class SqlDialect { kSqlite, kPostgres };

// The highest version in the list: what a freshly migrated database is at.
int LatestSchemaVersion();

// What the runner needs from a backend's connection. Implemented privately by
// each store (a few lines over its own Exec).
class MigrationSession {
 public:
  virtual ~MigrationSession() = default;
  virtual SqlDialect dialect() const = 0;
  // Begins a transaction that no other migrator can run concurrently.
  virtual Status BeginExclusive() = 0;
  // Runs one or more statements that return no rows.
  virtual Status Exec(std::string_view sql) = 0;
  // Runs a query whose first row's first column is an integer.
  virtual StatusOr<std::int64_t> QueryInt(std::string_view sql) = 0;
  virtual Status Commit() = 0;
  // Rolls back an open transaction; a no-op otherwise.
  virtual void Rollback() = 0;
};

// Creates schema_migrations when missing and applies every migration the
// database lacks. On failure the failing migration is rolled back (earlier
// ones stay applied) and its Status is returned.
Status RunMigrations(MigrationSession& session);

// The version recorded in schema_migrations (0 when none).
StatusOr<int> CurrentSchemaVersion(MigrationSession& session);

// MetadataStore::ListBlobReferences() in both dialects: one row per digest
// with columns sha256, size, versions, example ("e/p/r:name vN").
inline constexpr const char* kBlobReferencesSql =
    "SELECT f.sha256, MAX(f.size), COUNT(*),"
    " MIN(e.name || '/' || p.name || '/' || r.run_id || ':' || f.name || ' v' || f.version)"
    " FROM file_versions f JOIN runs r ON r.id = f.run JOIN projects p ON p.id = r.project_id"
    " JOIN entities e ON e.id = p.entity_id GROUP BY f.sha256";

// MetadataStore::EntityUsedBytes() in both dialects ($1 works in SQLite too,
// as a numbered parameter): the sum over the entity's distinct blobs.
inline constexpr const char* kEntityUsedBytesSql =
    "SELECT COALESCE(SUM(b.size), 0) FROM (SELECT f.sha256, MAX(f.size) AS size"
    " FROM file_versions f JOIN runs r ON r.id = f.run JOIN projects p ON p.id = r.project_id"
    " JOIN entities e ON e.id = p.entity_id WHERE e.name = $1 GROUP BY f.sha256) b";

}  // namespace cairn::internal
