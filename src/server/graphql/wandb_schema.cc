#include "server/graphql/wandb_schema.h"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "common/sha256.h"
#include "common/validate.h"
#include "server/graphql/blob_md5.h"
#include "server/graphql/wandb_objects.h"
#include "server/graphql/wandb_runs.h"

namespace cairn::internal::graphql {
namespace {

// The client asks for 50 files a page; more than this is refused.
constexpr long long kDefaultPage = 50;
constexpr long long kMaxPage = 1000;

std::string MimeType(std::string_view name) {
  static const std::map<std::string, std::string, std::less<>> kTypes = {
      {".json", "application/json"}, {".txt", "text/plain"},          {".log", "text/plain"},
      {".md", "text/markdown"},      {".yaml", "application/x-yaml"}, {".yml", "application/x-yaml"},
      {".csv", "text/csv"},          {".html", "text/html"},          {".png", "image/png"},
      {".jpg", "image/jpeg"},        {".jpeg", "image/jpeg"},         {".gif", "image/gif"},
      {".py", "text/x-python"}};
  const std::size_t dot = name.rfind('.');
  const std::size_t slash = name.rfind('/');
  if (dot != std::string_view::npos && (slash == std::string_view::npos || dot > slash)) {
    std::string ext(name.substr(dot));
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (auto it = kTypes.find(ext); it != kTypes.end()) return it->second;
  }
  return "application/octet-stream";
}

// SQL LIKE: % any run of characters, _ any one character, \ escapes the
// next one. Bytewise and case-sensitive.
bool Like(std::string_view s, std::string_view p) {
  std::size_t si = 0, pi = 0;
  std::optional<std::pair<std::size_t, std::size_t>> star;  // (pattern after %, text position)
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '%') {
      star = {{++pi, si}};
      continue;
    }
    if (pi < p.size()) {
      const bool escaped = p[pi] == '\\' && pi + 1 < p.size();
      const char want = escaped ? p[pi + 1] : p[pi];
      if ((!escaped && want == '_') || want == s[si]) {
        pi += escaped ? 2 : 1;
        ++si;
        continue;
      }
    }
    if (!star) return false;
    pi = star->first;
    si = ++star->second;
  }
  while (pi < p.size() && p[pi] == '%') ++pi;
  return pi == p.size();
}





class WandbSchema : public std::enable_shared_from_this<WandbSchema> {
 public:
  explicit WandbSchema(WandbContext context) : c_(std::move(context)) {}

  std::shared_ptr<Object> Query() {
    auto self = shared_from_this();
    auto query = std::make_shared<Record>("Query");
    query->Set("viewer", Result::Of(NewUser(c_.principal.admin ? "admin" : c_.principal.entity,
                                            c_.principal.admin ? std::nullopt : std::optional(c_.principal.entity),
                                            c_.principal.admin)));
    auto project = [self](const Json& args) { return self->Project(args); };
    query->Lazy("project", project).Lazy("model", project);  // model: older clients' name
    query->Lazy("models", [self](const Json& args) { return ResolveModels(self->c_, args); });
    query->Lazy("__type", [](const Json& args) { return ResolveTypeProbe(args); });
    return query;
  }

 private:
  StatusOr<Result> Project(const Json& args) {
    StatusOr<std::string> entity = StringArg(args, "entityName", "project");
    if (!entity.ok()) return entity.status();
    StatusOr<std::string> name = StringArg(args, "name", "project");
    if (!name.ok()) return name.status();
    // An id that cannot exist names no project (never an error).
    if (!ValidateId(*entity, "entity").ok() || !ValidateId(*name, "project").ok()) return Result::Null();
    if (Status s = Authenticator::CheckAccess(c_.principal, *entity, false); !s.ok()) return s;
    StatusOr<Page<RunRecord>> probe = c_.metadata->ListRuns(*entity, *name, "", 1);
    if (!probe.ok()) {
      if (MissingRunPathPart(probe.status())) return Result::Null();
      return probe.status();
    }
    auto self = shared_from_this();
    auto p = std::make_shared<Record>("Project");
    const std::string internal_id = ProjectInternalId(*entity, *name);
    p->Set("id", EncodeBase64("Project:v1:" + *name + ":" + *entity))
        .Set("name", *name)
        .Set("entityName", *entity)
        .Set("internalId", internal_id)
        .Set("isBenchmark", false)
        .Set("readOnly", false);
    auto run = [self, entity = *entity, name = *name](const Json& a) { return self->Run(entity, name, a); };
    p->Lazy("run", run).Lazy("bucket", run);  // bucket: older clients' name
    auto runs = std::make_shared<ProjectRuns>(c_, *entity, *name,
                                              [self](const RunRecord& r) { return self->RunObject(r); });
    p->Lazy("runCount", [runs](const Json& a) { return runs->Count(a); });
    p->Lazy("runs", [runs](const Json& a) { return runs->Page(a); });
    return Result::Of(p);
  }

  StatusOr<Result> Run(const std::string& entity, const std::string& project, const Json& args) {
    StatusOr<std::string> id = StringArg(args, "name", "run");
    if (!id.ok()) return id.status();
    if (!ValidateId(*id, "run id").ok()) return Result::Null();
    const RunKey key{entity, project, *id};
    StatusOr<RunRecord> rec = c_.metadata->GetRun(key);
    if (!rec.ok()) {
      if (MissingRunPathPart(rec.status())) return Result::Null();
      return rec.status();
    }
    return Result::Of(RunObject(*rec));
  }

  std::shared_ptr<Object> RunObject(const RunRecord& rec) {
    const std::string& entity = rec.entity;
    const std::string& project = rec.project;
    const std::string* id = &rec.run_id;
    const RunKey key{entity, project, *id};
    auto r = std::make_shared<Record>("Run");
    r->Set("id", EncodeBase64("Run:v1:" + *id + ":" + project + ":" + entity))
        .Set("name", *id)
        .Set("displayName", *id)
        .Set("state", RunStateNow(rec, c_.run_stale_after))
        .Set("config", WandbConfigText(rec.config))
        .Set("summaryMetrics", "{}")
        .Set("systemMetrics", "{}")
        .Set("sweepName", nullptr)
        .Set("tags", Json::array())
        .Set("readOnly", false)
        .Set("createdAt", WandbTime(rec.created_ms))
        .Set("updatedAt", WandbTime(rec.updated_ms))
        .Set("heartbeatAt", WandbTime(rec.heartbeat_ms != 0 ? rec.heartbeat_ms : rec.updated_ms))
        .Set("historyLineCount", 0)
        .Set("projectId", ProjectInternalId(entity, project))
        .Set("user", Result::Of(NewUser(entity, entity, false)));
    // One listing per request serves fileCount and every files() page.
    auto files = std::make_shared<std::optional<std::vector<FileVersionRecord>>>();
    auto self = shared_from_this();
    auto all = [self, key, files]() -> StatusOr<const std::vector<FileVersionRecord>*> {
      if (!*files) {
        StatusOr<std::vector<FileVersionRecord>> listed = self->ListAll(key);
        if (!listed.ok()) return listed.status();
        *files = std::move(*listed);
      }
      return &**files;
    };
    r->Lazy("fileCount", [all](const Json&) -> StatusOr<Result> {
      StatusOr<const std::vector<FileVersionRecord>*> list = all();
      if (!list.ok()) return list.status();
      return Result::Scalar(static_cast<long long>((*list)->size()));
    });
    r->Lazy("files", [self, key, all](const Json& a) { return self->Files(key, a, all); });
    return r;
  }

  StatusOr<std::vector<FileVersionRecord>> ListAll(const RunKey& key) {
    std::vector<FileVersionRecord> out;
    std::string cursor;
    do {
      StatusOr<Page<FileVersionRecord>> page = c_.metadata->ListFiles(key, "", cursor, 1000);
      if (!page.ok()) return page.status();
      for (FileVersionRecord& f : page->items) out.push_back(std::move(f));
      cursor = std::move(page->next_cursor);
    } while (!cursor.empty());
    return out;
  }

  template <typename All>
  StatusOr<Result> Files(const RunKey& key, const Json& args, const All& all) {
    const Json* names = Arg(args, "names");
    const Json* pattern = Arg(args, "pattern");
    if (names != nullptr && !names->is_array()) return InvalidArgumentError("files: names must be a list of strings");
    if (names != nullptr && names->empty()) names = nullptr;  // [] means every file, as in W&B
    if (pattern != nullptr && !pattern->is_string()) return InvalidArgumentError("files: pattern must be a String");
    if (names != nullptr && pattern != nullptr) {
      return InvalidArgumentError("files: give either names or pattern, not both");
    }
    long long first = kDefaultPage;
    if (const Json* f = Arg(args, "first")) {
      if (!f->is_number_integer() || f->get<long long>() < 0 || f->get<long long>() > kMaxPage) {
        return InvalidArgumentError("files: first must be an integer from 0 to " + std::to_string(kMaxPage));
      }
      first = f->get<long long>();
    }
    std::optional<std::string> after;
    if (const Json* a = Arg(args, "after")) {
      std::optional<std::string> decoded = a->is_string() ? DecodeBase64(a->get<std::string>()) : std::nullopt;
      if (!decoded) return InvalidArgumentError("files: after must be a cursor from a previous page");
      after = std::move(*decoded);
    }

    // The candidates, in page order: the names asked for (a missing one as a
    // placeholder with md5 "0", W&B's "not found"), or the run's files.
    std::vector<std::optional<FileVersionRecord>> found;
    std::vector<std::string> order;
    if (names != nullptr) {
      std::set<std::string> seen;
      for (const Json& n : *names) {
        if (!n.is_string()) return InvalidArgumentError("files: names must be a list of strings");
        const std::string name = n.get<std::string>();
        if (!seen.insert(name).second) continue;
        std::optional<FileVersionRecord> file;
        if (ValidateFileName(name).ok()) {
          StatusOr<std::optional<FileVersionRecord>> got = c_.metadata->GetFile(key, name, std::nullopt);
          if (!got.ok()) return got.status();
          file = std::move(*got);
        }
        order.push_back(name);
        found.push_back(std::move(file));
      }
    } else {
      StatusOr<const std::vector<FileVersionRecord>*> list = all();
      if (!list.ok()) return list.status();
      for (const FileVersionRecord& f : **list) {
        if (pattern != nullptr && !Like(f.name, pattern->get_ref<const std::string&>())) continue;
        order.push_back(f.name);
        found.emplace_back(f);
      }
    }
    std::size_t start = 0;
    if (after) {
      if (names != nullptr) {
        auto it = std::find(order.begin(), order.end(), *after);
        start = it == order.end() ? order.size() : static_cast<std::size_t>(it - order.begin()) + 1;
      } else {
        start = static_cast<std::size_t>(std::upper_bound(order.begin(), order.end(), *after) - order.begin());
      }
    }
    std::vector<Edge> edges;
    std::size_t i = start;
    for (; i < order.size() && static_cast<long long>(edges.size()) < first; ++i) {
      edges.push_back({File(key, order[i], found[i]), EncodeBase64(order[i])});
    }
    return Connection("File", std::move(edges), i < order.size());
  }

  std::string DownloadUrl(const RunKey& key, const std::string& name, std::optional<std::int64_t> version) const {
    return c_.base_url + "/api/v1/runs/" + UrlEncode(key.entity) + "/" + UrlEncode(key.project) + "/" +
           UrlEncode(key.run_id) + "/files/" + UrlEncode(name, /*keep_slash=*/true) +
           (version ? "?version=" + std::to_string(*version) : "");
  }

  std::shared_ptr<Object> File(const RunKey& key, const std::string& name, const std::optional<FileVersionRecord>& f) {
    auto file = std::make_shared<Record>("File");
    // The url names the version, so the bytes fetched are the ones whose
    // md5 and size this answer reports, even if a newer version lands.
    const std::string url = DownloadUrl(key, name, f ? std::optional(f->version) : std::nullopt);
    file->Set("id", EncodeBase64("File:" + key.entity + "/" + key.project + "/" + key.run_id + "/" + name +
                                 (f ? ":" + std::to_string(f->version) : "")))
        .Set("name", name)
        .Set("directUrl", url)
        .Lazy("url", [url](const Json& args) -> StatusOr<Result> {
          if (const Json* upload = Arg(args, "upload"); upload != nullptr && *upload == true) {
            return FailedPreconditionError("Cairn's W&B endpoint does not take uploads: save files with cairn");
          }
          return Result::Scalar(url);
        });
    if (!f) {  // not in the run: W&B's placeholder
      file->Set("sizeBytes", 0).Set("md5", "0").Set("mimetype", nullptr).Set("updatedAt", nullptr);
      return file;
    }
    file->Set("sizeBytes", f->size).Set("mimetype", MimeType(name)).Set("updatedAt", WandbTime(f->created_ms));
    auto self = shared_from_this();
    const std::string sha = f->sha256;
    const std::uint64_t size = f->size;
    file->Lazy("md5", [self, sha, size](const Json&) -> StatusOr<Result> {
      if (self->c_.md5_indexer != nullptr) self->c_.md5_indexer->AwaitInFlight(sha);
      StatusOr<std::string> md5 = BlobMd5Base64(*self->c_.metadata, *self->c_.blobs, sha, size);
      if (!md5.ok()) return md5.status();
      return Result::Scalar(*md5);
    });
    if (c_.url_signer != nullptr) {
      file->Lazy("directUrl", [self, sha](const Json&) -> StatusOr<Result> {
        StatusOr<std::string> signed_url = self->c_.url_signer->PresignGet(sha, self->c_.presign_ttl);
        if (!signed_url.ok()) return signed_url.status();
        return Result::Scalar(*signed_url);
      });
    }
    return file;
  }

  WandbContext c_;
};

}  // namespace

std::shared_ptr<Object> NewWandbQuery(const WandbContext& context) {
  return std::make_shared<WandbSchema>(context)->Query();
}

}  // namespace cairn::internal::graphql
