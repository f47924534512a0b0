// Many clients at once (issue 13): 20 concurrent clients mix small-file saves
// and restores for 10 s against the real server (bench/many_clients.cc, the
// tool bench/many_clients_bench.sh runs with 100 clients for 60 s). The tool
// exits 0 only when no request failed and every version it saved restores
// afterwards with the digest it was saved with. Under the `backends` fixture
// the server runs on PostgreSQL + radosgw.
#include <gtest/gtest.h>

#include "testing/server_fixture.h"

namespace cairn {
namespace {
using testing::ServerProcess;
using testing::TempDir;

TEST(ManyClients, TwentyClientsForTenSecondsLoseNothing) {
  TempDir tmp;
  ServerProcess server(tmp / "data");
  const std::string key = testing::CreateKey(server, "alice");
  testing::CommandResult r =
      testing::Run({testing::ExampleBinary("many_clients").string(), server.base_url(), key, "20", "10", "alice"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err << server.log();
  EXPECT_NE(r.out.find("0 errors"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace cairn
