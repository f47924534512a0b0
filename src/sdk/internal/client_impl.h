// The private state of internal::Client, shared by http_client.cc (JSON
// routes) and transfer.cc (file bytes). Not part of any API.
#pragma once

#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "sdk/internal/client.h"
#include "sdk/internal/http_transport.h"

namespace cairn::internal {

struct Client::Impl {
  explicit Impl(const Settings& settings)
      : transport(settings.base_url, settings.api_key, settings.ca_bundle), retry(RetryPolicy::FromEnvironment()) {}

  HttpTransport transport;
  const RetryPolicy retry;

  std::mutex mu;
  // The key's default entity from GET /api/v1/whoami; set once known.
  // "" cached means the key has none (admin key). Guarded by mu.
  std::optional<std::string> whoami_entity;
};

// A file object of docs/http-api.md; kInternal naming `context` when malformed.
StatusOr<FileInfo> FileFromJson(const nlohmann::json& j, std::string_view context);

// "/api/v1/runs/e/p/r"
std::string RunTarget(const RunPath& run);
// "/api/v1/runs/e/p/r/files/<name, percent-encoded>" (transfer.cc)
std::string FileTarget(const RunPath& run, const std::string& name);

// Runs one idempotent request with retries on kUnavailable outcomes
// (transport failures, 408, 429 honoring Retry-After, 5xx). Returns the final
// answer whatever its status, or the transport error once retries are spent.
// *ambiguous (optional) is set when an attempt that was retried may have
// reached the server (its answer was lost), so a 409 may be our own doing.
StatusOr<HttpClientResponse> PerformWithRetry(HttpTransport& transport, const RetryPolicy& policy,
                                              const HttpClientRequest& request, bool* ambiguous = nullptr);

}  // namespace cairn::internal
