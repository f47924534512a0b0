// The private state of internal::Client, shared by http_client.cc (JSON
// routes) and transfer.cc (file bytes). Not part of any API.
#pragma once

#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "common/thread_annotations.h"
#include "sdk/internal/client.h"
#include "sdk/internal/connection.h"

namespace cairn::internal {

struct Client::Impl {
  explicit Impl(std::unique_ptr<Connection> c) : connection(std::move(c)) {}

  // The stack every request goes through: RetryingConnection over
  // CurlConnection (or, in unit tests, over a fake).
  const std::unique_ptr<Connection> connection;

  Mutex mu;
  // The key's default entity from GET /api/v1/whoami; set once known.
  // "" cached means the key has none (admin key).
  std::optional<std::string> whoami_entity CAIRN_GUARDED_BY(mu);
};

// A file object of docs/http-api.md; kInternal naming `context` when malformed.
StatusOr<FileInfo> FileFromJson(const nlohmann::json& j, std::string_view context);

// "/api/v1/runs/e/p/r"
std::string RunTarget(const RunPath& run);
// "/api/v1/runs/e/p/r/files/<name, percent-encoded>" (transfer.cc)
std::string FileTarget(const RunPath& run, const std::string& name);

// Calls `request` on `connection` (which retries as `options` allow): the
// final answer whatever its status, or the transport's error.
// *ambiguous (optional): CallResult::ambiguous.
StatusOr<HttpClientResponse> CallForAnswer(Connection& connection, HttpClientRequest& request,
                                           const CallOptions& options = {}, bool* ambiguous = nullptr);

}  // namespace cairn::internal
