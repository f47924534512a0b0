// The operations routes: /metrics (Prometheus), /healthz, /readyz
// (docs/operations.md; decisions in docs/adr/0022-operations.md).
#include <nlohmann/json.hpp>
#include <optional>

#include "cairn/bytes.h"
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

// --- Quotas ---

std::optional<HttpResponse> QuotaRefusal(const Services& s, const std::string& entity, const std::string& sha256,
                                         std::uint64_t size) {
  StatusOr<std::optional<std::uint64_t>> limit = s.metadata->GetQuota(entity);
  if (!limit.ok()) return StatusResponse(limit.status());
  if (!limit->has_value()) return std::nullopt;
  // Bytes the entity already holds add nothing (a blob counts once per entity).
  StatusOr<std::optional<std::uint64_t>> held = s.metadata->FindEntityBlob(entity, sha256);
  if (!held.ok()) return StatusResponse(held.status());
  if (held->has_value()) return std::nullopt;
  StatusOr<std::uint64_t> used = s.metadata->EntityUsedBytes(entity);
  if (!used.ok()) return StatusResponse(used.status());
  const std::uint64_t allowed = **limit;
  if (*used <= allowed && size <= allowed - *used) return std::nullopt;
  if (s.ops != nullptr) s.ops->metrics().CountQuotaRefusal();
  return ErrorResponse(403, "quota_exceeded",
                       "entity " + entity + " uses " + FormatBytes(*used) + " (" + std::to_string(*used) +
                           " bytes) of its quota of " + FormatBytes(allowed) + " (" + std::to_string(allowed) +
                           " bytes); this " + FormatBytes(size) +
                           " file would pass it, so nothing was stored. Delete files, or ask an admin to raise "
                           "the quota (cairn quota set " +
                           entity + " SIZE)");
}

namespace {

HttpResponse QuotaJson(const Services& s, const std::string& entity) {
  StatusOr<std::optional<std::uint64_t>> limit = s.metadata->GetQuota(entity);
  if (!limit.ok()) return StatusResponse(limit.status());
  StatusOr<std::uint64_t> used = s.metadata->EntityUsedBytes(entity);
  if (!used.ok()) return StatusResponse(used.status());
  return JsonResponse(200, Json{{"entity", entity},
                                {"max_bytes", limit->has_value() ? Json(**limit) : Json(nullptr)},
                                {"used_bytes", *used}});
}

}  // namespace

void HandleGetQuota(const Services& s, Call& call) { call.Answer(QuotaJson(s, call.run.entity)); }

// The router let only the admin key through (AuthPolicy::kAdmin).
HttpResponse HandlePutQuota(const Services& s, Call& call, const Json& body, std::string_view /*raw*/) {
  auto max = body.find("max_bytes");
  if (max == body.end() || !(max->is_null() || max->is_number_unsigned())) {
    return ErrorResponse(400, "invalid_argument",
                         "the body needs \"max_bytes\": the entity's limit in bytes, or null to remove it");
  }
  std::optional<std::uint64_t> bytes;
  if (!max->is_null()) bytes = max->get<std::uint64_t>();
  if (Status st = s.metadata->SetQuota(call.run.entity, bytes); !st.ok()) return StatusResponse(st);
  return QuotaJson(s, call.run.entity);
}

}  // namespace cairn::internal
