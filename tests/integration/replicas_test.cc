// Several `cairn server` replicas sharing one PostgreSQL database and one
// radosgw bucket (the `backends` CTest fixture): concurrent saves of one path
// through two replicas, restores through each, a replica killed with
// SIGKILL in the middle of an upload, and presigned downloads.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/sha256.h"
#include "store/s3/s3_blob_store.h"
#include "testing/backends.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::Cairn;
using testing::CommandResult;
using testing::ServerProcess;
using testing::TempDir;
using Env = std::map<std::string, std::optional<std::string>>;

constexpr const char* kAdminKey = "cairn_replicasreplicasreplicasreplicas0001";

class Replicas : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string reason = testing::UsingBackends() ? testing::BackendsSkipReason()
                                                        : "replicas need the shared PostgreSQL + radosgw of the "
                                                          "`backends` fixture (ctest -L backends)";
    if (!reason.empty()) GTEST_SKIP() << reason;
    backend_ = testing::NewServerBackend();
  }

  std::unique_ptr<ServerProcess> StartReplica(const std::string& name, bool presign = false) {
    testing::ServerBackend b = backend_;
    b.s3_presign = presign;
    return std::make_unique<ServerProcess>(tmp_ / name, Env{{"CAIRN_ADMIN_KEY", kAdminKey}}, b);
  }

  Env As(const ServerProcess& s, const std::string& key) const {
    return {{"CAIRN_BASE_URL", s.base_url()}, {"CAIRN_API_KEY", key}, {"HOME", tmp_.path().string()}};
  }

  // `cairn save` of `content` as `name`; returns (sha256, version).
  std::pair<std::string, std::int64_t> Save(const ServerProcess& s, const std::string& key, const std::string& run,
                                            const std::string& name, const std::string& content) {
    TempDir src;
    testing::WriteFile(src / name, content);
    CommandResult r = Cairn({"save", (src / name).string(), "--run", run, "--base", src.path().string()}, As(s, key));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    // "name\tsize\tsha256\tvN"
    const std::size_t v = r.out.rfind("\tv");
    const std::size_t sha_at = r.out.rfind('\t', v - 1) + 1;
    if (v == std::string::npos) return {"", -1};
    return {r.out.substr(sha_at, 64), std::stoll(r.out.substr(v + 2))};
  }

  // GET on the API with curl; returns the body (and the status).
  std::pair<int, std::string> ApiGet(const ServerProcess& s, const std::string& key, const std::string& path) {
    CommandResult r = testing::Run({"/usr/bin/curl", "-s", "--max-time", "30", "-w", "\n%{http_code}", "-H",
                                    "Authorization: Bearer " + key, s.base_url() + path});
    const std::size_t nl = r.out.rfind('\n');
    return {std::stoi(r.out.substr(nl + 1)), r.out.substr(0, nl)};
  }

  TempDir tmp_;
  testing::ServerBackend backend_;
};

TEST_F(Replicas, ConcurrentSavesThroughTwoReplicasGetOrderedVersionsAndRestoreAlikeThroughEach) {
  auto a = StartReplica("a");
  auto b = StartReplica("b");
  // A key made through one replica works on the other (keys live in PostgreSQL).
  const std::string key = testing::CreateKey(*a, "alice");
  const std::string run = "alice/rep/r1";

  constexpr int kPerReplica = 20;
  std::mutex mu;
  std::map<std::int64_t, std::string> sha_of_version;  // guarded by mu
  std::map<std::string, std::string> content_of_sha;   // guarded by mu
  auto saver = [&](const ServerProcess* s, const std::string& tag) {
    for (int i = 0; i < kPerReplica; ++i) {
      const std::string content = "checkpoint " + tag + " #" + std::to_string(i) + std::string(1000 + i, 'x');
      auto [sha, version] = Save(*s, key, run, "ckpt.bin", content);
      std::lock_guard<std::mutex> lock(mu);
      EXPECT_TRUE(sha_of_version.emplace(version, sha).second) << "version " << version << " given twice";
      content_of_sha[sha] = content;
    }
  };
  std::thread ta(saver, a.get(), "a");
  std::thread tb(saver, b.get(), "b");
  ta.join();
  tb.join();
  ASSERT_EQ(sha_of_version.size(), 2u * kPerReplica);
  EXPECT_EQ(sha_of_version.begin()->first, 1);
  EXPECT_EQ(sha_of_version.rbegin()->first, 2 * kPerReplica);

  // Both replicas list the same versions, in the same order, with the digests the saves reported.
  const std::string versions_path = "/api/v1/runs/" + run + "/versions/ckpt.bin";
  auto [code_a, list_a] = ApiGet(*a, key, versions_path);
  auto [code_b, list_b] = ApiGet(*b, key, versions_path);
  ASSERT_EQ(code_a, 200) << list_a;
  ASSERT_EQ(code_b, 200) << list_b;
  EXPECT_EQ(list_a, list_b);
  auto versions = nlohmann::json::parse(list_a)["versions"];
  ASSERT_EQ(versions.size(), 2u * kPerReplica);
  for (std::size_t i = 0; i < versions.size(); ++i) {
    EXPECT_EQ(versions[i]["version"].get<std::int64_t>(), static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(versions[i]["sha256"].get<std::string>(), sha_of_version[static_cast<std::int64_t>(i + 1)]);
  }

  // Every version restores with the same bytes through either replica.
  for (const auto& [version, sha] : sha_of_version) {
    for (const ServerProcess* s : {a.get(), b.get()}) {
      TempDir root;
      CommandResult r = Cairn(
          {"restore", "ckpt.bin", "--run", run, "--root", root.path().string(), "--version", std::to_string(version)},
          As(*s, key));
      ASSERT_EQ(r.exit_code, 0) << r.err;
      EXPECT_EQ(testing::ReadFile(root / "ckpt.bin"), content_of_sha[sha]) << "version " << version;
    }
  }
}

TEST_F(Replicas, KillingOneReplicaMidUploadLeavesTheOtherServingAndNothingHalfCommitted) {
  auto a = StartReplica("a");
  auto b = StartReplica("b");
  const std::string key = testing::CreateKey(*b, "alice");
  const std::string run = "alice/rep/k1";
  auto [first_sha, first_version] = Save(*b, key, run, "before.bin", "saved before the crash");
  ASSERT_EQ(first_version, 1);

  // A slow upload (2 MiB/s of 64 MiB) through replica a...
  const std::string big_sha = testing::WriteRandomFile(tmp_ / "big.bin", 64ull << 20, 11);
  testing::BackgroundProcess upload({"/usr/bin/curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--limit-rate",
                                     "2M", "-T", (tmp_ / "big.bin").string(), "-H", "Authorization: Bearer " + key,
                                     "-H", "X-Cairn-Sha256: " + big_sha,
                                     a->base_url() + "/api/v1/runs/" + run + "/files/big.bin"});
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  // ...and a dies with it half received.
  a->Kill();
  CommandResult up = upload.Wait();
  EXPECT_NE(up.out, "201") << "the upload cannot have completed";

  // b keeps serving: reads, listings and new saves.
  TempDir root;
  CommandResult r = Cairn({"restore", "before.bin", "--run", run, "--root", root.path().string()}, As(*b, key));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(testing::ReadFile(root / "before.bin"), "saved before the crash");
  auto [after_sha, after_version] = Save(*b, key, run, "after.bin", "saved after the crash");
  EXPECT_EQ(after_version, 1);
  auto [code, files] = ApiGet(*b, key, "/api/v1/runs/" + run + "/files");
  ASSERT_EQ(code, 200) << files;
  std::vector<std::string> names;
  const nlohmann::json listing = nlohmann::json::parse(files);
  for (const auto& f : listing["files"]) names.push_back(f["name"].get<std::string>());
  EXPECT_EQ(names, (std::vector<std::string>{"after.bin", "before.bin"})) << files;

  // Nothing half-committed: no version row for the interrupted upload, no
  // object under its digest, and every version row has its whole object.
  auto rows = testing::PgQuery(backend_.db_url, "SELECT name, sha256, size FROM file_versions ORDER BY id");
  ASSERT_EQ(rows.size(), 2u);
  auto blobs = internal::S3BlobStore::Open(backend_.blobs_url, {.staging_dir = tmp_ / "check-staging"});
  ASSERT_TRUE(blobs.ok()) << blobs.status();
  for (const auto& row : rows) {
    EXPECT_NE(row[0], "big.bin");
    auto size = (*blobs)->Stat(row[1]);
    ASSERT_TRUE(size.ok()) << size.status();
    ASSERT_TRUE(size->has_value()) << "version row " << row[0] << " without its object";
    EXPECT_EQ(std::to_string(**size), row[2]);
  }
  EXPECT_FALSE((*blobs)->Stat(big_sha)->has_value()) << "the interrupted upload published an object";
  EXPECT_TRUE(fs::is_empty(tmp_ / "a" / "s3-staging")) << "staging files are anonymous: a crash leaves none";

  // The killed replica comes back and serves what the other saved meanwhile.
  a->Start();
  TempDir root2;
  r = Cairn({"restore", "after.bin", "--run", run, "--root", root2.path().string()}, As(*a, key));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(testing::ReadFile(root2 / "after.bin"), "saved after the crash");
}

TEST_F(Replicas, PresignedDownloadsComeFromTheObjectStoreAndAreStillVerified) {
  auto a = StartReplica("a", /*presign=*/true);
  auto b = StartReplica("b");  // a plain replica beside it
  const std::string key = testing::CreateKey(*a, "alice");
  const std::string run = "alice/rep/p1";
  const std::string content = std::string(3u << 20, 'w') + "end";
  auto [sha, version] = Save(*b, key, run, "w.bin", content);
  ASSERT_EQ(version, 1);

  // The API answers 307 to a presigned radosgw URL, with the digest to check.
  CommandResult head =
      testing::Run({"/usr/bin/curl", "-s", "-D", "-", "-o", "/dev/null", "-H", "Authorization: Bearer " + key,
                    a->base_url() + "/api/v1/runs/" + run + "/files/w.bin"});
  EXPECT_NE(head.out.find("HTTP/1.1 307"), std::string::npos) << head.out;
  EXPECT_NE(head.out.find("X-Amz-Signature="), std::string::npos) << head.out;
  EXPECT_NE(head.out.find("X-Cairn-Sha256: " + sha), std::string::npos) << head.out;

  TempDir root;
  CommandResult r = Cairn({"restore", "w.bin", "--run", run, "--root", root.path().string()}, As(*a, key));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(testing::ReadFile(root / "w.bin"), content);
  // The server sent no body bytes: its log shows the redirect with 0 bytes.
  const std::string log = a->LogOnceItHas("/files/w.bin?version=1 307 0B");
  EXPECT_NE(log.find("/files/w.bin?version=1 307 0B"), std::string::npos) << log;

  // A tampered object is caught by the client's digest check, and the local
  // copy is left alone.
  testing::CorruptBlob(*a, sha, 1000);
  CommandResult bad =
      Cairn({"restore", "w.bin", "--run", run, "--root", root.path().string(), "--replace"}, As(*a, key));
  EXPECT_EQ(bad.exit_code, 1) << bad.err;
  EXPECT_NE(bad.err.find("integrity"), std::string::npos) << bad.err;
  EXPECT_EQ(testing::ReadFile(root / "w.bin"), content);
}

// A browser ignores the `download` attribute of a link that redirects to
// another origin: the presigned URL asks radosgw itself to name the file.
TEST_F(Replicas, PresignedDownloadsCarryTheFileNameInContentDisposition) {
  auto a = StartReplica("a", /*presign=*/true);
  const std::string key = testing::CreateKey(*a, "alice");
  const std::string run = "alice/rep/p2";
  const std::string name = "ckpt/mod\xC3\xA8le \"v1\".bin";
  auto [sha, version] = Save(*a, key, run, name, "named bytes");
  ASSERT_EQ(version, 1);
  CommandResult redirect = testing::Run({"/usr/bin/curl", "-s", "--max-time", "30", "-o", "/dev/null", "-w",
                                         "%{redirect_url}", "-H", "Authorization: Bearer " + key,
                                         a->base_url() + "/api/v1/runs/" + run + "/files/ckpt/mod%C3%A8le%20%22v1%22.bin"});
  ASSERT_NE(redirect.out.find("response-content-disposition="), std::string::npos) << redirect.out;
  // The object store's own answer (no key: the URL is the credential).
  CommandResult got = testing::Run({"/usr/bin/curl", "-s", "--max-time", "30", "-D", "-", redirect.out});
  EXPECT_NE(got.out.find(" 200"), std::string::npos) << got.out;
  EXPECT_NE(got.out.find("attachment; filename=\"mod__le _v1_.bin\"; filename*=UTF-8''mod%C3%A8le%20%22v1%22.bin"),
            std::string::npos)
      << got.out;
  EXPECT_NE(got.out.find("named bytes"), std::string::npos) << got.out;
  // Tampering with the requested name breaks the signature.
  std::string forged = redirect.out;
  const std::size_t at = forged.find("mod%25C3");
  ASSERT_NE(at, std::string::npos) << forged;
  forged.replace(at, 8, "evil%25C3");
  CommandResult refused = testing::Run({"/usr/bin/curl", "-s", "--max-time", "30", "-o", "/dev/null", "-w",
                                        "%{http_code}", forged});
  EXPECT_EQ(refused.out, "403") << forged;
}

// Revocation, membership and deletion are read from the shared database on
// every request (no cache): a key revoked through one replica is refused by
// another within a second, and so is a member removed from a team.
TEST_F(Replicas, ARevokedKeyIsRefusedByTheOtherReplicaWithinASecond) {
  auto a = StartReplica("a");
  auto b = StartReplica("b");
  CommandResult made = Cairn({"keys", "create", "--entity", "team", "--name", "ci"}, As(*a, kAdminKey));
  ASSERT_EQ(made.exit_code, 0) << made.err;
  const std::string key = made.out.substr(0, made.out.find('\n'));
  ASSERT_EQ(ApiGet(*b, key, "/api/v1/whoami").first, 200);
  CommandResult ls = Cairn({"keys", "ls", "--json"}, As(*b, kAdminKey));
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  const std::string id = nlohmann::json::parse(ls.out).at(0)["id"];

  ASSERT_EQ(Cairn({"keys", "revoke", id}, As(*a, kAdminKey)).exit_code, 0);
  const auto revoked_at = std::chrono::steady_clock::now();
  int status = 200;
  while (status == 200 && std::chrono::steady_clock::now() - revoked_at < std::chrono::seconds(1)) {
    status = ApiGet(*b, key, "/api/v1/whoami").first;
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - revoked_at);
  EXPECT_EQ(status, 401) << "still accepted by the other replica after " << took.count() << " ms";
  std::printf("[replicas] revoked key refused by the other replica after %lld ms\n",
              static_cast<long long>(took.count()));
  EXPECT_EQ(ApiGet(*a, key, "/api/v1/whoami").first, 401);
}

}  // namespace
}  // namespace cairn
