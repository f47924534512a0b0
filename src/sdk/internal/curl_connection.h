// The transport under the SDK's Connection stack: one libcurl attempt per
// call, behind a pool of reusable easy handles. libcurl retries nothing by
// itself and neither does this class: RetryingConnection decides retries.
// The one mapping of libcurl failures to Status lives in its Call().
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "sdk/internal/connection.h"

namespace cairn::internal {

// Limits both of CurlConnection's paths keep (libcurl's and DirectGet's):
// connect within 10 s; a transfer that moves no byte for 60 s is abandoned
// (libcurl: below 1 byte/s for 60 s); a non-streamed answer (JSON) larger
// than 32 MiB is refused (bounded memory); the User-Agent sent.
inline constexpr long kConnectTimeoutSeconds = 10;
inline constexpr long kLowSpeedSeconds = 60;
inline constexpr std::size_t kMaxBufferedBody = 32u << 20;
inline constexpr char kUserAgent[] = "cairn-cpp/0.1.0";

// One "Name: value" line of an answer's head as HttpClientResponse keeps it
// (the name lowercased, both trimmed); nullopt for a line without a colon.
std::optional<std::pair<std::string, std::string>> HeaderField(std::string_view line);

class CurlConnection final : public Connection {
 public:
  // `ca_bundle`: PEM file of the CAs that may sign an https:// server's
  // certificate; empty: the system CAs. Makes no request.
  CurlConnection(std::string base_url, std::string api_key, std::string ca_bundle = {});
  ~CurlConnection() override;
  CurlConnection(const CurlConnection&) = delete;
  CurlConnection& operator=(const CurlConnection&) = delete;

  // Exactly one attempt; `options` are not interpreted. Connect timeout
  // 10 s; a transfer slower than 1 byte/s for 60 s is abandoned. Each
  // handle keeps its connection cache, so sequential calls reuse keep-alive
  // connections. Thread-safe.
  CallResult Call(HttpClientRequest& request, const CallOptions& options) override;
  std::string Url(std::string_view target) const override { return base_url_ + std::string(target); }
  bool has_api_key() const override { return !api_key_.empty(); }

 private:
  struct Pool;
  Outcome Perform(const HttpClientRequest& request);
  // A GET whose 2xx body is received straight into request.body_buffer's
  // memory, on a connection of its own (curl_direct_get.cc). nullopt when it
  // does not apply (no body_buffer, a proxy is configured) or the answer needs
  // libcurl's usual path (a redirect, a body without Content-Length): nothing
  // was handed to on_body, and Perform makes the request the usual way.
  std::optional<Outcome> DirectGet(const HttpClientRequest& request);
  // `code` is a CURLcode (an int here: no curl header in this one).
  TransportError TransportErrorOf(int code, bool aborted, bool body_too_large, const std::string& what,
                                  const std::string& url, const char* errbuf) const;

  std::string base_url_;
  std::string api_key_;
  std::string ca_bundle_;
  std::unique_ptr<Pool> pool_;
};

}  // namespace cairn::internal
