// The operations routes: /metrics (Prometheus), /healthz, /readyz
// (docs/operations.md; decisions in docs/adr/0022-operations.md).
#include <nlohmann/json.hpp>

#include "server/handlers.h"
#include "server/ops.h"

namespace cairn::internal {

using Json = nlohmann::json;

void HandleMetrics(const Services& s, Call& call) {
  if (s.ops == nullptr) return call.Fail(404, "not_found", "this server has no metrics");
  if (s.ops->options().metrics_key_required) {
    // The route is open in the table; the key check is this server's choice
    // (--metrics-key-required): any valid key, e.g. a read-only one for the
    // scraper.
    StatusOr<Principal> who = s.auth->Authenticate(call.request.authorization);
    if (!who.ok()) return call.Fail(who.status());
  }
  HttpResponse r{.status = 200, .content_type = "text/plain; version=0.0.4; charset=utf-8"};
  r.body = s.ops->registry().Render();
  call.Answer(std::move(r));
}

void HandleHealthz(const Services& /*s*/, Call& call) { call.Answer(JsonResponse(200, Json{{"status", "ok"}})); }

void HandleReadyz(const Services& s, Call& call) {
  if (s.ops == nullptr) return call.Answer(JsonResponse(200, Json{{"status", "ready"}}));
  Ops::Readiness r = s.ops->CheckReady();
  if (r.failing.empty()) return call.Answer(JsonResponse(200, Json{{"status", "ready"}}));
  HttpResponse resp = JsonResponse(
      503, Json{{"status", "not_ready"},
                {"failing", r.failing},
                {"error", {{"code", "not_ready"}, {"message", r.message + "; this replica should get no traffic"}}}});
  resp.log_note = r.message + ": " + r.detail;
  call.Answer(std::move(resp));
}

}  // namespace cairn::internal
