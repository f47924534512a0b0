// Runs: create or resume, get, list (docs/http-api.md, "Runs"). The router
// has decoded and validated the run path and checked the key's access.
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "server/handlers.h"

namespace cairn::internal {

using Json = nlohmann::json;

namespace {

Json RunJson(const RunRecord& r) {
  return Json{{"entity", r.entity},
              {"project", r.project},
              {"id", r.run_id},
              {"created_at", FormatTimeMs(r.created_ms)},
              {"updated_at", FormatTimeMs(r.updated_ms)}};
}

}  // namespace

void HandleGetRun(const Services& s, Call& call) {
  StatusOr<RunRecord> run = s.metadata->GetRun(call.run);
  if (!run.ok()) return call.Fail(run.status());
  call.Answer(JsonResponse(200, RunJson(*run)));
}

void HandleListRuns(const Services& s, Call& call) {
  StatusOr<int> limit = ParsePageLimit(call.query);
  if (!limit.ok()) return call.Fail(limit.status());
  StatusOr<Page<RunRecord>> page =
      s.metadata->ListRuns(call.run.entity, call.run.project, QueryValue(call.query, "cursor"), *limit);
  if (!page.ok()) return call.Fail(page.status());
  Json runs = Json::array();
  for (const RunRecord& r : page->items) runs.push_back(RunJson(r));
  call.Answer(JsonResponse(200, Json{{"runs", std::move(runs)}, {"next_cursor", CursorJson(page->next_cursor)}}));
}

HttpResponse HandlePutRun(const Services& s, Call& call, const Json& body, std::string_view /*raw*/) {
  ResumeMode mode = ResumeMode::kNever;
  if (auto resume = body.find("resume"); resume != body.end()) {
    const std::string value = resume->is_string() ? resume->get<std::string>() : std::string();
    if (value == "never") {
      mode = ResumeMode::kNever;
    } else if (value == "allow") {
      mode = ResumeMode::kAllow;
    } else if (value == "must") {
      mode = ResumeMode::kMust;
    } else {
      return ErrorResponse(400, "invalid_argument",
                           "\"resume\" must be \"never\", \"allow\" or \"must\", not " +
                               resume->dump(-1, ' ', false, Json::error_handler_t::replace));
    }
  }
  bool created = false;
  StatusOr<RunRecord> run = s.metadata->CreateOrResumeRun(call.run, mode, &created);
  if (!run.ok()) return StatusResponse(run.status());
  return JsonResponse(created ? 201 : 200, RunJson(*run));
}

}  // namespace cairn::internal
