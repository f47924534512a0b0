// The W&B-compatible endpoint (docs/wandb.md) against the real server, spoken
// the way the stock W&B client speaks it: POST /graphql with Basic
// base64("api:" + key), queries of the same shapes (login check, GetViewer
// with a user fragment, default entity, Run with a run fragment, RunFiles with
// variables and pagination), then GET of each file's url with the same
// credentials. What comes back is checked against `cairn ls --json` and the
// bytes themselves.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "common/sha256.h"
#include "store/postgres/postgres_metadata_store.h"
#include "store/sqlite/sqlite_metadata_store.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::Cairn;
using testing::CommandResult;
using testing::ServerProcess;
using testing::TempDir;
using Env = std::map<std::string, std::optional<std::string>>;

// The queries, in the shapes the client sends (its own texts are not copied).
constexpr const char* kLoginCheck = "query { viewer { id } }";
constexpr const char* kGetViewer = R"(
query Viewer {
  viewer { ...ViewerFields }
}
fragment ViewerFields on User {
  id name username email admin flags entity deletedAt
  apiKeys { edges { node { id name description } } }
  teams { edges { node { name } } }
})";
constexpr const char* kDefaultEntity = "query DefaultEntity { viewer { id entity } }";
constexpr const char* kRun = R"(
query RunQuery($project: String!, $entity: String!, $name: String!) {
  project(name: $project, entityName: $entity) {
    run(name: $name) { ...RunParts }
  }
}
fragment RunParts on Run {
  id tags name displayName sweepName state config group jobType commit readOnly createdAt heartbeatAt
  description notes systemMetrics summaryMetrics historyLineCount projectId
  user { name username }
})";
constexpr const char* kRunFiles = R"(
query FilesOfRun($project: String!, $entity: String!, $name: String!, $fileCursor: String,
                 $fileLimit: Int = 50, $fileNames: [String] = [], $upload: Boolean = false, $pattern: String) {
  project(name: $project, entityName: $entity) {
    internalId
    run(name: $name) {
      fileCount
      ...FilePage
    }
  }
}
fragment FilePage on Run {
  files(names: $fileNames, after: $fileCursor, first: $fileLimit, pattern: $pattern) {
    edges {
      node { id name url(upload: $upload) directUrl sizeBytes mimetype updatedAt md5 }
      cursor
    }
    pageInfo { endCursor hasNextPage }
  }
})";

struct Reply {
  int status = 0;
  Json json;
};

std::string Md5Base64(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_md5(), nullptr);
  std::string out(32, '\0');
  out.resize(static_cast<std::size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), md, len)));
  return out;
}

class WandbGraphql : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    fs::create_directories(tmp_->path() / "home");
    server_ = new ServerProcess(tmp_->path() / "data");
    alice_ = testing::CreateKey(*server_, "alice");
    bob_ = testing::CreateKey(*server_, "bob");
  }
  static void TearDownTestSuite() {
    delete server_;
    delete tmp_;
  }

  static Env AliceEnv() {
    return {
        {"CAIRN_BASE_URL", server_->base_url()}, {"CAIRN_API_KEY", alice_}, {"HOME", (tmp_->path() / "home").string()}};
  }

  // POSTs {"query", "variables"} as the client does (Basic api:KEY).
  static Reply Post(const std::string& query, const Json& variables = Json::object(), const std::string& key = alice_,
                    const std::string& auth_header = "") {
    TempDir t;
    testing::WriteFile(t / "body", Json{{"query", query}, {"variables", variables}}.dump());
    std::vector<std::string> argv{"/usr/bin/curl",
                                  "-s",
                                  "-o",
                                  (t / "out").string(),
                                  "-w",
                                  "%{http_code}",
                                  "-X",
                                  "POST",
                                  "--max-time",
                                  "60",
                                  "-H",
                                  "Content-Type: application/json",
                                  "--data-binary",
                                  "@" + (t / "body").string()};
    if (!auth_header.empty()) {
      argv.insert(argv.end(), {"-H", "Authorization: " + auth_header});
    } else if (!key.empty()) {
      argv.insert(argv.end(), {"-u", "api:" + key});
    }
    argv.push_back(server_->base_url() + "/graphql");
    CommandResult r = testing::Run(argv);
    Reply rep;
    rep.status = std::atoi(r.out.c_str());
    rep.json = Json::parse(testing::ReadFile(t / "out"), nullptr, false);
    return rep;
  }

  // GETs a url verbatim with Basic api:KEY (no key: none), following
  // redirects as the client does (credentials stay with the first host:port);
  // returns (status, body).
  static std::pair<int, std::string> Get(const std::string& url, const std::string& key) {
    TempDir t;
    std::vector<std::string> argv{"/usr/bin/curl", "-s",         "-L", "-o", (t / "out").string(), "-w",
                                  "%{http_code}",  "--max-time", "60", url};
    if (!key.empty()) argv.insert(argv.end(), {"-u", "api:" + key});
    CommandResult r = testing::Run(argv);
    return {std::atoi(r.out.c_str()), fs::exists(t / "out") ? testing::ReadFile(t / "out") : ""};
  }

  static void Save(const std::string& run, const fs::path& base, const std::vector<std::string>& names) {
    std::vector<std::string> args{"save"};
    for (const auto& n : names) args.push_back((base / n).string());
    args.insert(args.end(), {"--run", "alice/proj/" + run, "--base", base.string()});
    CommandResult r = Cairn(args, AliceEnv());
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  // `cairn ls --json` of alice/proj/<run>, by name.
  static std::map<std::string, Json> Ls(const std::string& run) {
    CommandResult r = Cairn({"ls", "alice/proj/" + run, "--json"}, AliceEnv());
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::map<std::string, Json> out;
    for (const Json& f : Json::parse(r.out)) out[f["name"].get<std::string>()] = f;
    return out;
  }

  static Json FilesVars(const std::string& run, Json extra = Json::object()) {
    Json v{{"project", "proj"}, {"entity", "alice"}, {"name", run}};
    v.update(extra);
    return v;
  }

  static inline TempDir* tmp_ = nullptr;
  static inline ServerProcess* server_ = nullptr;
  static inline std::string alice_, bob_;
};

TEST_F(WandbGraphql, KeysPassTheClientsLocalCheck) {
  // Older clients: the part after the first "-" is exactly 40 characters;
  // newer ones: after the last "-", 40 or more word characters.
  for (const std::string& key : {alice_, bob_, server_->admin_key()}) {
    EXPECT_TRUE(std::regex_match(key, std::regex("[A-Za-z0-9_]+-[A-Za-z0-9_]{40}"))) << key;
  }
}

TEST_F(WandbGraphql, LoginCheckViewerAndDefaultEntity) {
  Reply login = Post(kLoginCheck);
  ASSERT_EQ(login.status, 200) << login.json;
  EXPECT_TRUE(login.json["data"]["viewer"]["id"].is_string()) << login.json;
  EXPECT_FALSE(login.json.contains("errors"));

  Reply viewer = Post(kGetViewer);
  ASSERT_EQ(viewer.status, 200) << viewer.json;
  const Json& v = viewer.json["data"]["viewer"];
  for (const char* key :
       {"id", "name", "username", "email", "admin", "flags", "entity", "deletedAt", "apiKeys", "teams"}) {
    EXPECT_TRUE(v.contains(key)) << key << " missing from " << v;
  }
  EXPECT_EQ(v["entity"], "alice");
  EXPECT_EQ(v["username"], "alice");
  EXPECT_EQ(v["admin"], false);
  EXPECT_TRUE(v["apiKeys"]["edges"].is_array());
  EXPECT_TRUE(v["teams"]["edges"].is_array());

  Reply entity = Post(kDefaultEntity, Json::object(), bob_);
  ASSERT_EQ(entity.status, 200);
  EXPECT_EQ(entity.json["data"]["viewer"]["entity"], "bob");

  // Bearer works too, as on the rest of the API.
  Reply bearer = Post(kDefaultEntity, Json::object(), "", "Bearer " + alice_);
  EXPECT_EQ(bearer.json["data"]["viewer"]["entity"], "alice");
}

TEST_F(WandbGraphql, BadOrMissingKeyIs401) {
  const std::string wrong = "cairn-" + std::string(40, 'x');
  Reply bad = Post(kLoginCheck, Json::object(), wrong);
  EXPECT_EQ(bad.status, 401);
  ASSERT_TRUE(bad.json.contains("errors")) << bad.json;
  EXPECT_FALSE(bad.json.contains("data"));
  EXPECT_NE(bad.json["errors"][0]["message"].get<std::string>().find("not known to this server"), std::string::npos);
  EXPECT_EQ(Post(kLoginCheck, Json::object(), "").status, 401);
  EXPECT_EQ(Post(kLoginCheck, Json::object(), "", "Basic !!notbase64!!").status, 401);
}

TEST_F(WandbGraphql, RunFragmentHasWhatTheClientReliesOn) {
  TempDir src;
  testing::WriteFile(src / "model.bin", "weights");
  Save("frag1", src.path(), {"model.bin"});
  Reply r = Post(kRun, FilesVars("frag1"));
  ASSERT_EQ(r.status, 200) << r.json;
  EXPECT_FALSE(r.json.contains("errors")) << r.json;
  const Json& run = r.json["data"]["project"]["run"];
  EXPECT_EQ(run["name"], "frag1");
  EXPECT_EQ(run["state"], "finished");
  EXPECT_TRUE(run["sweepName"].is_null());
  for (const char* key : {"config", "summaryMetrics", "systemMetrics"}) {
    ASSERT_TRUE(run[key].is_string()) << key;
    EXPECT_TRUE(Json::parse(run[key].get<std::string>()).is_object()) << key;
  }
  ASSERT_TRUE(run["projectId"].is_string());
  EXPECT_TRUE(std::regex_match(run["projectId"].get<std::string>(), std::regex("[0-9]+"))) << run["projectId"];
  EXPECT_EQ(run["user"]["username"], "alice");
  EXPECT_TRUE(run["tags"].is_array());
  EXPECT_TRUE(std::regex_match(run["createdAt"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")));
}

TEST_F(WandbGraphql, MissingRunProjectOrEntityIsNull) {
  TempDir src;
  testing::WriteFile(src / "a.bin", "a");
  Save("exists1", src.path(), {"a.bin"});
  Reply run = Post(kRun, FilesVars("nosuchrun"));
  ASSERT_EQ(run.status, 200);
  EXPECT_FALSE(run.json.contains("errors")) << run.json;
  EXPECT_TRUE(run.json["data"]["project"].is_object());
  EXPECT_TRUE(run.json["data"]["project"]["run"].is_null());
  Reply project = Post(kRunFiles, {{"project", "nosuchproject"}, {"entity", "alice"}, {"name", "exists1"}});
  EXPECT_TRUE(project.json["data"]["project"].is_null()) << project.json;
  EXPECT_FALSE(project.json.contains("errors"));
  // The admin key sees every entity; one that does not exist is null too.
  Reply entity =
      Post(kRun, {{"project", "proj"}, {"entity", "nosuchentity"}, {"name", "exists1"}}, server_->admin_key());
  EXPECT_TRUE(entity.json["data"]["project"].is_null()) << entity.json;
  EXPECT_FALSE(entity.json.contains("errors"));
}

TEST_F(WandbGraphql, AnotherEntitysKeyGetsNoAccess) {
  TempDir src;
  testing::WriteFile(src / "secret.bin", "alice only");
  Save("private1", src.path(), {"secret.bin"});
  Reply r = Post(kRunFiles, FilesVars("private1"), bob_);
  ASSERT_EQ(r.status, 200);
  // No data about the project, and an error the client raises.
  EXPECT_TRUE(r.json["data"]["project"].is_null()) << r.json;
  ASSERT_TRUE(r.json.contains("errors"));
  EXPECT_NE(
      r.json["errors"][0]["message"].get<std::string>().find("belongs to entity bob and may not access entity alice"),
      std::string::npos)
      << r.json;
  // And the download URL alice would get is refused to bob.
  Reply mine = Post(kRunFiles, FilesVars("private1"));
  const std::string url = mine.json["data"]["project"]["run"]["files"]["edges"][0]["node"]["url"];
  EXPECT_EQ(Get(url, bob_).first, 403);
  EXPECT_EQ(Get(url, "cairn-" + std::string(40, 'z')).first, 401);
  EXPECT_EQ(Get(url, alice_), std::make_pair(200, std::string("alice only")));
}

// Over 50 files: pages of 50 followed by hasNextPage and the last edge's
// cursor; every node equals `cairn ls --json` and the bytes behind its url.
TEST_F(WandbGraphql, RunFilesPaginateAndMatchLsAndTheBytes) {
  TempDir src;
  std::vector<std::string> names;
  std::map<std::string, std::string> content;
  // The restore contract's shapes: empty, tiny, nested, a name to encode, and a 3 MiB checkpoint.
  for (int i = 0; i < 57; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "step_%03d.txt", i);
    names.push_back(name);
    content[name] = "step " + std::to_string(i) + "\n";
  }
  names.insert(names.end(), {"empty.bin", "ckpt/model.bin", "dir with space/a+b%c.json", "config.json"});
  content["empty.bin"] = "";
  content["dir with space/a+b%c.json"] = "{\"x\": 1}";
  content["config.json"] = "{}";
  for (const auto& [n, c] : content) testing::WriteFile(src / n, c);
  testing::WriteRandomFile(src / "ckpt/model.bin", 3 << 20, 7);
  content["ckpt/model.bin"] = testing::ReadFile(src / "ckpt/model.bin");
  Save("many1", src.path(), names);
  const std::map<std::string, Json> ls = Ls("many1");
  ASSERT_EQ(ls.size(), names.size());

  std::vector<Json> nodes;
  std::optional<std::string> cursor;
  int pages = 0;
  for (;;) {
    Json vars = FilesVars("many1", {{"fileLimit", 50}});
    if (cursor) vars["fileCursor"] = *cursor;
    Reply r = Post(kRunFiles, vars);
    ASSERT_EQ(r.status, 200) << r.json;
    ASSERT_FALSE(r.json.contains("errors")) << r.json;
    const Json& run = r.json["data"]["project"]["run"];
    EXPECT_EQ(run["fileCount"], static_cast<int>(names.size()));
    const Json& files = run["files"];
    for (const Json& e : files["edges"]) nodes.push_back(e["node"]);
    ++pages;
    ASSERT_LE(pages, 5);
    if (!files["pageInfo"]["hasNextPage"].get<bool>()) break;
    cursor = files["edges"].back()["cursor"].get<std::string>();
    EXPECT_EQ(*cursor, files["pageInfo"]["endCursor"]);
  }
  EXPECT_EQ(pages, 2);
  ASSERT_EQ(nodes.size(), names.size());
  std::set<std::string> seen;
  for (const Json& node : nodes) {
    const std::string name = node["name"];
    SCOPED_TRACE(name);
    EXPECT_TRUE(seen.insert(name).second) << "listed twice";
    ASSERT_TRUE(ls.contains(name));
    EXPECT_EQ(node["sizeBytes"], ls.at(name)["size"]);
    EXPECT_EQ(node["md5"], Md5Base64(content[name]));
    EXPECT_TRUE(node["updatedAt"].is_string());
    EXPECT_TRUE(node["mimetype"].is_string());
    if (server_->backend().s3_presign) {
      // A presigned object-store URL: the bytes without any key.
      EXPECT_NE(node["directUrl"], node["url"]);
      EXPECT_EQ(Get(node["directUrl"], ""), std::make_pair(200, content[name]));
    } else {
      EXPECT_EQ(node["directUrl"], node["url"]);
    }
    auto [status, bytes] = Get(node["url"], alice_);
    ASSERT_EQ(status, 200);
    EXPECT_EQ(bytes.size(), node["sizeBytes"].get<std::size_t>());
    EXPECT_EQ(internal::Sha256Hex(bytes), ls.at(name)["sha256"]);
    EXPECT_EQ(Md5Base64(bytes), node["md5"]);
  }
  EXPECT_EQ(nodes[0]["name"], "ckpt/model.bin");  // by name, bytewise
}

TEST_F(WandbGraphql, PatternUsesSqlLike) {
  TempDir src;
  const std::vector<std::string> names{"a.json", "b.json", "bjson", "model_1.pt", "model_22.pt", "x%y.txt"};
  for (const auto& n : names) testing::WriteFile(src / n, n);
  Save("pattern1", src.path(), names);
  auto match = [&](const std::string& pattern) {
    Reply r = Post(kRunFiles, FilesVars("pattern1", {{"pattern", pattern}}));
    EXPECT_FALSE(r.json.contains("errors")) << r.json;
    std::vector<std::string> out;
    for (const Json& e : r.json["data"]["project"]["run"]["files"]["edges"]) out.push_back(e["node"]["name"]);
    return out;
  };
  EXPECT_EQ(match("%.json"), (std::vector<std::string>{"a.json", "b.json"}));
  EXPECT_EQ(match("model\\__.pt"), (std::vector<std::string>{"model_1.pt"}));
  EXPECT_EQ(match("model%"), (std::vector<std::string>{"model_1.pt", "model_22.pt"}));
  EXPECT_EQ(match("%\\%%"), (std::vector<std::string>{"x%y.txt"}));
  EXPECT_EQ(match("nothing%"), std::vector<std::string>{});
  // Names and pattern together are refused, as the client refuses them.
  Reply both = Post(kRunFiles, FilesVars("pattern1", {{"pattern", "%"}, {"fileNames", {"a.json"}}}));
  EXPECT_TRUE(both.json["data"]["project"]["run"]["files"].is_null());
  EXPECT_NE(both.json["errors"][0]["message"].get<std::string>().find("either names or pattern"), std::string::npos);
}

// restore(name) asks for one name: a missing one comes back as a node with
// md5 "0", which the client reports as "file not found".
TEST_F(WandbGraphql, MissingFileIsMd5Zero) {
  TempDir src;
  testing::WriteFile(src / "present.bin", "here");
  Save("missing1", src.path(), {"present.bin"});
  Reply r = Post(kRunFiles, FilesVars("missing1", {{"fileNames", {"absent.bin", "present.bin", "../bad"}}}));
  ASSERT_EQ(r.status, 200);
  ASSERT_FALSE(r.json.contains("errors")) << r.json;
  const Json& run = r.json["data"]["project"]["run"];
  EXPECT_EQ(run["fileCount"], 1);
  const Json& edges = run["files"]["edges"];
  ASSERT_EQ(edges.size(), 3u);
  EXPECT_EQ(edges[0]["node"]["name"], "absent.bin");
  EXPECT_EQ(edges[0]["node"]["md5"], "0");
  EXPECT_EQ(edges[0]["node"]["sizeBytes"], 0);
  EXPECT_EQ(Get(edges[0]["node"]["url"], alice_).first, 404);
  EXPECT_EQ(edges[1]["node"]["md5"], Md5Base64("here"));
  EXPECT_EQ(edges[2]["node"]["md5"], "0");
  EXPECT_FALSE(run["files"]["pageInfo"]["hasNextPage"].get<bool>());
  // The names paginate too.
  Reply page = Post(kRunFiles, FilesVars("missing1", {{"fileNames", {"absent.bin", "present.bin"}}, {"fileLimit", 1}}));
  const Json& files = page.json["data"]["project"]["run"]["files"];
  EXPECT_TRUE(files["pageInfo"]["hasNextPage"].get<bool>());
  Reply next = Post(kRunFiles, FilesVars("missing1", {{"fileNames", {"absent.bin", "present.bin"}},
                                                      {"fileLimit", 1},
                                                      {"fileCursor", files["pageInfo"]["endCursor"]}}));
  EXPECT_EQ(next.json["data"]["project"]["run"]["files"]["edges"][0]["node"]["name"], "present.bin");
}

// Each upload's MD5 is computed by the server in the background: it is in the
// metadata store before any W&B client asks for it. (A damaged blob getting
// no MD5 is pinned in src/server/graphql/blob_md5_test.cc.)
TEST_F(WandbGraphql, Md5IsRecordedInTheBackgroundAfterUpload) {
  TempDir src;
  const std::string sha = testing::WriteRandomFile(src / "big.bin", 8 << 20, 5);
  Save("background1", src.path(), {"big.bin"});
  std::unique_ptr<internal::MetadataStore> store;
  if (server_->backend().db_url.empty()) {
    auto s = internal::SqliteMetadataStore::Open(server_->data_dir() / "cairn.db");
    ASSERT_TRUE(s.ok()) << s.status();
    store = std::move(s).value();
  } else {
    auto s = internal::PostgresMetadataStore::Open(server_->backend().db_url);
    ASSERT_TRUE(s.ok()) << s.status();
    store = std::move(s).value();
  }
  std::optional<std::string> md5;
  for (int i = 0; i < 600 && !md5; ++i) {
    auto got = store->GetBlobMd5(sha);
    ASSERT_TRUE(got.ok()) << got.status();
    md5 = *got;
    if (!md5) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(md5) << "no MD5 recorded 30 s after the upload";
  EXPECT_EQ(*md5, Md5Base64(testing::ReadFile(src / "big.bin")));
}

TEST_F(WandbGraphql, BadQueriesGetGraphqlErrors) {
  Reply syntax = Post("query { viewer { id }");
  EXPECT_EQ(syntax.status, 400);
  EXPECT_NE(syntax.json["errors"][0]["message"].get<std::string>().find("Syntax Error"), std::string::npos);
  EXPECT_TRUE(syntax.json["errors"][0]["locations"].is_array());
  Reply mutation =
      Post("mutation UpsertBucket($name: String) { upsertBucket(input: {name: $name}) { bucket { id } } }");
  EXPECT_EQ(mutation.status, 400);
  EXPECT_NE(mutation.json["errors"][0]["message"].get<std::string>().find("not supported"), std::string::npos);
  Reply missing_var = Post(kRunFiles, {{"project", "proj"}});
  EXPECT_EQ(missing_var.status, 400);
  EXPECT_NE(missing_var.json["errors"][0]["message"].get<std::string>().find("$entity"), std::string::npos);
  // Fields Cairn has no data for are null, not errors.
  Reply extra = Post("{ viewer { id photoUrl defaultFramework } serverInfo { cliVersionInfo } }");
  EXPECT_EQ(extra.status, 200);
  EXPECT_FALSE(extra.json.contains("errors")) << extra.json;
  EXPECT_TRUE(extra.json["data"]["viewer"]["photoUrl"].is_null());
  EXPECT_TRUE(extra.json["data"]["serverInfo"].is_null());
  // GET is not how the client talks to it.
  CommandResult get = testing::Run({"/usr/bin/curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u",
                                    "api:" + alice_, server_->base_url() + "/graphql"});
  EXPECT_EQ(get.out, "405");
}

}  // namespace
}  // namespace cairn
