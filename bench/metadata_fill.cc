// metadata_fill: fills a Cairn metadata store directly (not through the
// server) with many file versions, for bench/metadata_scale_bench.sh.
//
//   metadata_fill sqlite DATA_DIR/cairn.db ENTITY PROJECT VERSIONS BIG_FILES
//   metadata_fill postgres postgresql://... ENTITY PROJECT VERSIONS BIG_FILES
//
// The schema must exist already (start `cairn server` on the store once).
// Writes, in one transaction: run "big" with BIG_FILES files of one version
// each (names shards/s-NNNNNN.bin), then runs "fill-NNNN" of 1,000 files x 10
// versions each until VERSIONS versions exist in total. Digests are made up:
// no blob exists for them (the bench reads metadata only from these runs).
// SQLite: one prepared INSERT, then ANALYZE; PostgreSQL: COPY FROM STDIN, then
// VACUUM (ANALYZE), the state autovacuum keeps a grown store in.
#include <libpq-fe.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>

namespace {

constexpr int kFillFiles = 1000;
constexpr int kFillVersions = 10;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "metadata_fill: %s\n", what.c_str());
  std::exit(1);
}

std::string FakeDigest(std::uint64_t n) {
  char buf[65];
  std::uint64_t x = n * 0x9E3779B97F4A7C15ULL + 1;
  for (int i = 0; i < 64; i += 16) {
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ULL;
    std::snprintf(buf + i, 17, "%016llx", static_cast<unsigned long long>(x));
  }
  return std::string(buf, 64);
}

std::string FileName(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shards/s-%06d.bin", i);
  return buf;
}

// Calls `row(run_name, file_name, version, digest_seed)` for every version,
// run by run; `run(run_name)` before a run's first version.
void ForEachVersion(long long versions, int big_files, const std::function<void(const std::string&)>& run,
                    const std::function<void(const std::string&, int, int, std::uint64_t)>& row) {
  std::uint64_t seed = 0;
  run("big");
  for (int i = 1; i <= big_files && seed < static_cast<std::uint64_t>(versions); ++i) row("big", i, 1, seed++);
  for (int r = 0; seed < static_cast<std::uint64_t>(versions); ++r) {
    char name[32];
    std::snprintf(name, sizeof name, "fill-%04d", r);
    run(name);
    for (int f = 1; f <= kFillFiles && seed < static_cast<std::uint64_t>(versions); ++f) {
      for (int v = 1; v <= kFillVersions && seed < static_cast<std::uint64_t>(versions); ++v) row(name, f, v, seed++);
    }
  }
}

long long NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void SqliteExec(sqlite3* db, const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    Die(sql + ": " + (err ? err : "?"));
  }
}

void FillSqlite(const std::string& path, const std::string& entity, const std::string& project, long long versions,
                int big_files) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) Die("open " + path);
  const long long now = NowMs();
  SqliteExec(db, "BEGIN IMMEDIATE");
  SqliteExec(db, "INSERT OR IGNORE INTO entities(name, created_ms) VALUES ('" + entity + "', " + std::to_string(now) +
                     ")");
  SqliteExec(db, "INSERT OR IGNORE INTO projects(entity_id, name, created_ms) SELECT id, '" + project + "', " +
                     std::to_string(now) + " FROM entities WHERE name = '" + entity + "'");
  sqlite3_stmt* run_stmt = nullptr;
  sqlite3_stmt* ver_stmt = nullptr;
  const std::string run_sql =
      "INSERT INTO runs(project_id, run_id, created_ms, updated_ms) SELECT p.id, ?1, ?2, ?2 FROM projects p JOIN "
      "entities e ON e.id = p.entity_id WHERE e.name = '" +
      entity + "' AND p.name = '" + project + "'";
  if (sqlite3_prepare_v2(db, run_sql.c_str(), -1, &run_stmt, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db,
                         "INSERT INTO file_versions(run, name, version, size, sha256, created_ms)"
                         " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                         -1, &ver_stmt, nullptr) != SQLITE_OK) {
    Die(std::string("prepare: ") + sqlite3_errmsg(db));
  }
  long long run_row = 0;
  ForEachVersion(
      versions, big_files,
      [&](const std::string& run) {
        sqlite3_reset(run_stmt);
        sqlite3_bind_text(run_stmt, 1, run.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(run_stmt, 2, now);
        if (sqlite3_step(run_stmt) != SQLITE_DONE) Die("insert run " + run + ": " + sqlite3_errmsg(db));
        run_row = sqlite3_last_insert_rowid(db);
      },
      [&](const std::string&, int file, int version, std::uint64_t seed) {
        const std::string name = FileName(file);
        const std::string digest = FakeDigest(seed);
        sqlite3_reset(ver_stmt);
        sqlite3_bind_int64(ver_stmt, 1, run_row);
        sqlite3_bind_text(ver_stmt, 2, name.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ver_stmt, 3, version);
        sqlite3_bind_int64(ver_stmt, 4, 65536);
        sqlite3_bind_text(ver_stmt, 5, digest.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ver_stmt, 6, now);
        if (sqlite3_step(ver_stmt) != SQLITE_DONE) Die(std::string("insert version: ") + sqlite3_errmsg(db));
      });
  sqlite3_finalize(run_stmt);
  sqlite3_finalize(ver_stmt);
  SqliteExec(db, "COMMIT");
  SqliteExec(db, "ANALYZE");
  sqlite3_close(db);
}

void PgExec(PGconn* pg, const std::string& sql) {
  PGresult* r = PQexec(pg, sql.c_str());
  const ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) Die(sql + ": " + PQerrorMessage(pg));
  PQclear(r);
}

void FillPostgres(const std::string& url, const std::string& entity, const std::string& project, long long versions,
                  int big_files) {
  PGconn* pg = PQconnectdb(url.c_str());
  if (PQstatus(pg) != CONNECTION_OK) Die(std::string("connect: ") + PQerrorMessage(pg));
  const std::string now = std::to_string(NowMs());
  PgExec(pg, "BEGIN");
  PgExec(pg, "INSERT INTO entities(name, created_ms) VALUES ('" + entity + "', " + now + ") ON CONFLICT DO NOTHING");
  PgExec(pg, "INSERT INTO projects(entity_id, name, created_ms) SELECT id, '" + project + "', " + now +
                 " FROM entities WHERE name = '" + entity + "' ON CONFLICT DO NOTHING");
  // Runs first (their ids), then every version through one COPY.
  const std::string project_id = "(SELECT p.id FROM projects p JOIN entities e ON e.id = p.entity_id WHERE e.name = '" +
                                 entity + "' AND p.name = '" + project + "')";
  std::map<std::string, std::string> run_ids;
  ForEachVersion(
      versions, big_files,
      [&](const std::string& run) {
        PGresult* r = PQexec(pg, ("INSERT INTO runs(project_id, run_id, created_ms, updated_ms) VALUES (" + project_id +
                                  ", '" + run + "', " + now + ", " + now + ") RETURNING id")
                                     .c_str());
        if (PQresultStatus(r) != PGRES_TUPLES_OK) Die(std::string("insert run: ") + PQerrorMessage(pg));
        run_ids[run] = PQgetvalue(r, 0, 0);
        PQclear(r);
      },
      [](const std::string&, int, int, std::uint64_t) {});
  PGresult* r = PQexec(pg, "COPY file_versions(run, name, version, size, sha256, created_ms) FROM STDIN");
  if (PQresultStatus(r) != PGRES_COPY_IN) Die(std::string("copy: ") + PQerrorMessage(pg));
  PQclear(r);
  std::string chunk;
  ForEachVersion(
      versions, big_files, [](const std::string&) {},
      [&](const std::string& run, int file, int version, std::uint64_t seed) {
        chunk += run_ids[run] + '\t' + FileName(file) + '\t' + std::to_string(version) + "\t65536\t" +
                 FakeDigest(seed) + '\t' + now + '\n';
        if (chunk.size() > (1 << 20)) {
          if (PQputCopyData(pg, chunk.data(), static_cast<int>(chunk.size())) != 1) Die(PQerrorMessage(pg));
          chunk.clear();
        }
      });
  if (PQputCopyData(pg, chunk.data(), static_cast<int>(chunk.size())) != 1 || PQputCopyEnd(pg, nullptr) != 1) {
    Die(PQerrorMessage(pg));
  }
  r = PQgetResult(pg);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) Die(std::string("copy end: ") + PQerrorMessage(pg));
  PQclear(r);
  while ((r = PQgetResult(pg)) != nullptr) PQclear(r);
  PgExec(pg, "COMMIT");
  // VACUUM, not only ANALYZE: a store that reached 1M versions through the
  // server was autovacuumed along the way; one filled by a single COPY has
  // no visibility map and no hint bits, and autovacuum's first pass over
  // the whole table would land at a random point of the bench (it did, in
  // the save phase). One statement each: VACUUM refuses a multi-statement
  // string.
  PgExec(pg, "VACUUM (ANALYZE) file_versions");
  PgExec(pg, "ANALYZE runs");
  PQfinish(pg);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 7) {
    std::fprintf(stderr, "usage: metadata_fill sqlite|postgres DB ENTITY PROJECT VERSIONS BIG_FILES\n");
    return 2;
  }
  const std::string kind = argv[1];
  const long long versions = std::atoll(argv[5]);
  const int big_files = std::atoi(argv[6]);
  const auto t0 = std::chrono::steady_clock::now();
  if (kind == "sqlite") {
    FillSqlite(argv[2], argv[3], argv[4], versions, big_files);
  } else if (kind == "postgres") {
    FillPostgres(argv[2], argv[3], argv[4], versions, big_files);
  } else {
    Die("unknown store " + kind);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("metadata_fill: %lld versions into %s in %.1f s\n", versions, kind.c_str(), s);
  return 0;
}
