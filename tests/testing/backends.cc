#include "testing/backends.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace cairn::testing {
namespace {

std::optional<std::string> Env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

// A name no other test process uses: pid, time and a counter.
std::string UniqueSuffix() {
  static std::atomic<int> counter{0};
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::to_string(::getpid()) + "_" +
         std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(now).count() % 1000000000) + "_" +
         std::to_string(counter++);
}

// Sets every KEY=VALUE of DIR/backends.env that is not set yet (once).
std::optional<std::string> BackendsDir() {
  if (auto dir = Env("CAIRN_TEST_BACKENDS")) return dir;
  return Env("CAIRN_TEST_BACKENDS_PRESIGN");
}

void LoadEnvFile() {
  static const bool loaded = [] {
    if (auto dir = BackendsDir()) {
      std::ifstream in(*dir + "/backends.env");
      std::string line;
      while (std::getline(in, line)) {
        const std::size_t eq = line.find('=');
        if (eq == std::string::npos || line[0] == '#') continue;
        std::string value = line.substr(eq + 1);
        if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') value = value.substr(1, value.size() - 2);
        ::setenv(line.substr(0, eq).c_str(), value.c_str(), /*overwrite=*/0);
      }
    }
    return true;
  }();
  (void)loaded;
}

}  // namespace

bool UsingBackends() {
  LoadEnvFile();
  return BackendsDir().has_value() || Env("CAIRN_TEST_DB_URL").has_value();
}

bool PresignRequested() {
  return Env("CAIRN_TEST_BACKENDS_PRESIGN").has_value() || Env("CAIRN_TEST_S3_PRESIGN") == "1";
}

std::string BackendsSkipReason() {
  LoadEnvFile();
  if (auto dir = BackendsDir()) {
    std::ifstream note(*dir + "/unavailable");
    if (note) {
      std::stringstream ss;
      ss << note.rdbuf();
      return ss.str();
    }
  }
  if (!TestDbUrl() || !TestBlobsUrl()) {
    return "CAIRN_TEST_DB_URL / CAIRN_TEST_BLOBS_URL are not set: run these tests through ctest "
           "(ctest -L backends), whose fixture starts PostgreSQL 15 and radosgw";
  }
  return "";
}

std::optional<std::string> TestDbUrl() {
  LoadEnvFile();
  return Env("CAIRN_TEST_DB_URL");
}
std::optional<std::string> TestBlobsUrl() {
  LoadEnvFile();
  return Env("CAIRN_TEST_BLOBS_URL");
}

std::vector<std::vector<std::string>> PgQuery(const std::string& url, const std::string& sql) {
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(url.c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error("cannot connect to the test PostgreSQL: " + std::string(PQerrorMessage(conn.get())));
  }
  std::unique_ptr<PGresult, decltype(&PQclear)> res(PQexec(conn.get(), sql.c_str()), &PQclear);
  const ExecStatusType st = PQresultStatus(res.get());
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    throw std::runtime_error("query \"" + sql + "\" failed: " + PQresultErrorMessage(res.get()));
  }
  std::vector<std::vector<std::string>> rows;
  for (int r = 0; r < PQntuples(res.get()); ++r) {
    std::vector<std::string> row;
    for (int c = 0; c < PQnfields(res.get()); ++c) row.emplace_back(PQgetvalue(res.get(), r, c));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string NewTestDatabase(const std::string& admin_url) {
  const std::string name = "cairn_t_" + UniqueSuffix();
  PgQuery(admin_url, "CREATE DATABASE " + name);
  // Replace the path of postgresql://user:pw@host:port/db[?query].
  const std::size_t scheme = admin_url.find("://");
  const std::size_t slash = admin_url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) throw std::runtime_error("database URL has no /dbname: " + admin_url);
  const std::size_t query = admin_url.find('?', slash);
  return admin_url.substr(0, slash + 1) + name + (query == std::string::npos ? "" : admin_url.substr(query));
}

std::string NewTestBlobsUrl(const std::string& blobs_url) {
  // s3://bucket[/prefix][?query] -> s3://bucket/<prefix>/t<unique>[?query]
  const std::size_t query = blobs_url.find('?');
  std::string base = blobs_url.substr(0, query);
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/t" + UniqueSuffix() + (query == std::string::npos ? "" : blobs_url.substr(query));
}

}  // namespace cairn::testing
