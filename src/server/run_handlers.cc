// Runs: create or resume, get, list (docs/http-api.md, "Runs"). The router
// has decoded and validated the run path and checked the key's access.
#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/run_config.h"
#include "server/handlers.h"

namespace cairn::internal {

using Json = nlohmann::json;

namespace {

// `stale_after`: a "running" run without a heartbeat for longer is "crashed".
Json RunJson(const RunRecord& r, std::chrono::seconds stale_after) {
  Json config = Json::parse(r.config, nullptr, /*allow_exceptions=*/false);
  return Json{{"entity", r.entity},
              {"project", r.project},
              {"id", r.run_id},
              {"created_at", FormatTimeMs(r.created_ms)},
              {"updated_at", FormatTimeMs(r.updated_ms)},
              {"state", EffectiveRunState(r.state, r.heartbeat_ms, NowMs(),
                                          std::chrono::milliseconds(stale_after).count())},
              {"heartbeat_at", r.heartbeat_ms == 0 ? Json(nullptr) : Json(FormatTimeMs(r.heartbeat_ms))},
              {"config", config.is_object() ? config : Json::object()}};
}

}  // namespace

void HandleGetRun(const Services& s, Call& call) {
  StatusOr<RunRecord> run = s.metadata->GetRun(call.run);
  if (!run.ok()) return call.Fail(run.status());
  call.Answer(JsonResponse(200, RunJson(*run, s.run_stale_after)));
}

void HandleListRuns(const Services& s, Call& call) {
  StatusOr<int> limit = ParsePageLimit(call.query);
  if (!limit.ok()) return call.Fail(limit.status());
  StatusOr<Page<RunRecord>> page =
      s.metadata->ListRuns(call.run.entity, call.run.project, QueryValue(call.query, "cursor"), *limit);
  if (!page.ok()) return call.Fail(page.status());
  Json runs = Json::array();
  for (const RunRecord& r : page->items) runs.push_back(RunJson(r, s.run_stale_after));
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
  StatusOr<RunUpdate> update = ParseRunUpdate(body);  // run_update.cc
  if (!update.ok()) return StatusResponse(update.status());
  bool created = false;
  StatusOr<RunRecord> run = s.metadata->CreateOrResumeRun(call.run, mode, &created);
  if (run.ok() && (!update->config_patch.empty() || !update->state.empty())) {
    run = s.metadata->UpdateRun(call.run, *update);
  }
  if (!run.ok()) return StatusResponse(run.status());
  // Its creator may delete it (auth.h, CheckDelete).
  if (created) {
    if (Status st = s.metadata->SetRunCreator(call.run, call.principal.Actor()); !st.ok()) return StatusResponse(st);
  }
  return JsonResponse(created ? 201 : 200, RunJson(*run, s.run_stale_after));
}

}  // namespace cairn::internal
