// The external backends of the `backends` CTest fixture: a throwaway
// PostgreSQL 15 cluster and a single-node Ceph radosgw, started by
// scripts/testenv/backends.sh (tests/CMakeLists.txt wires it up). Tests that
// need them find them through one variable, CAIRN_TEST_BACKENDS: the
// fixture's directory, holding backends.env (or an "unavailable" note when
// the servers are not installed). backends.env sets, unless already set:
//   CAIRN_TEST_DB_URL       postgresql://ci:cipw@127.0.0.1:PORT/cidb (role may CREATE DATABASE)
//   CAIRN_TEST_BLOBS_URL    s3://bucket/prefix?endpoint=http://127.0.0.1:PORT&region=us-east-1
//   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
// The variables may also be set by hand, without CAIRN_TEST_BACKENDS.
// CAIRN_TEST_BACKENDS_PRESIGN=DIR is the same with presigned downloads
// (`cairn server --s3-presign`) for every server the tests start.
// Deliberately free of the SDK: store unit tests link it too.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace cairn::testing {

// True when this process runs against the external backends (CAIRN_TEST_BACKENDS
// or CAIRN_TEST_DB_URL is set). Loads backends.env into the environment, so
// that child processes (cairn server) inherit the credentials.
bool UsingBackends();

// True when servers should redirect downloads to presigned URLs
// (CAIRN_TEST_BACKENDS_PRESIGN, or CAIRN_TEST_S3_PRESIGN=1).
bool PresignRequested();

// Empty when the backends are usable; otherwise why not (for GTEST_SKIP).
std::string BackendsSkipReason();

// CAIRN_TEST_DB_URL / CAIRN_TEST_BLOBS_URL, or nullopt when unset.
std::optional<std::string> TestDbUrl();
std::optional<std::string> TestBlobsUrl();

// Creates a fresh, empty database on the server of `admin_url` and returns
// its URL (same credentials). Throws std::runtime_error on failure.
std::string NewTestDatabase(const std::string& admin_url);

// `blobs_url` with a fresh, unique key prefix, so that a test sees only its
// own objects in the shared bucket.
std::string NewTestBlobsUrl(const std::string& blobs_url);

// Runs `sql` on `url`; returns the rows, every value as text ("" for NULL).
// Throws std::runtime_error on failure.
std::vector<std::vector<std::string>> PgQuery(const std::string& url, const std::string& sql);

}  // namespace cairn::testing
