// Deleting a file version, every version of a file, or a run
// (docs/http-api.md, "Deletion"; docs/adr/0021-accounts-and-deletion.md).
// The router has decoded and validated the run path and the file name and
// checked the key's write access. What is deleted is invisible at once; the
// bytes stay until `cairn gc` finds no other version referring to them.
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "server/handlers.h"

namespace cairn::internal {
namespace {

using Json = nlohmann::json;

std::string RunPathText(const RunKey& run) { return run.entity + "/" + run.project + "/" + run.run_id; }

}  // namespace

void HandleDeleteRun(const Services& s, Call& call) {
  StatusOr<std::int64_t> versions = s.metadata->DeleteRun(call.run);
  if (!versions.ok()) return call.Fail(versions.status());
  call.Answer(JsonResponse(200, Json{{"entity", call.run.entity},
                                     {"project", call.run.project},
                                     {"id", call.run.run_id},
                                     {"deleted_versions", *versions}}));
}

void HandleDeleteFile(const Services& s, Call& call) {
  std::optional<std::int64_t> version;
  if (auto it = call.query.find("version"); it != call.query.end() && !it->second.empty()) {
    version = ParseDecimal<std::int64_t>(it->second);
    if (!version || *version < 1) {
      return call.Fail(400, "invalid_argument", "version \"" + it->second + "\" must be an integer >= 1");
    }
  }
  StatusOr<std::vector<FileVersionRecord>> deleted = s.metadata->DeleteFile(call.run, call.name, version);
  if (!deleted.ok()) return call.Fail(deleted.status());
  if (deleted->empty()) {
    return call.Fail(404, "file_not_found",
                     "run " + RunPathText(call.run) + " has no file " + call.name +
                         (version.has_value() ? " version " + std::to_string(*version) : ""));
  }
  Json versions = Json::array();
  for (const FileVersionRecord& f : *deleted) {
    versions.push_back(Json{{"version", f.version}, {"size", f.size}, {"sha256", f.sha256}});
  }
  call.Answer(JsonResponse(200, Json{{"name", call.name}, {"deleted", versions}}));
}

}  // namespace cairn::internal
