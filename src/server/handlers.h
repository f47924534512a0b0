// The routes of docs/http-api.md, independent of the HTTP library (private to
// src/server; server.cc owns sockets, parsing and timeouts).
//
// A request is handled in two steps so that nothing is read before it has
// been routed, authenticated and checked:
//   1. Begin() with the request's headers. It either answers at once
//      (Call::response: errors, every GET/HEAD) or asks for the body:
//      - Call::upload set: stream the body into it, then FinishUpload();
//      - otherwise: read the (JSON) body, at most kMaxJsonBody bytes, then
//        Finish().
//   2. If the connection fails while the body is read, just destroy the Call:
//      its BlobWriter cancels and nothing is committed.
//
// Api is thread-safe; a Call belongs to one connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/status.h"
#include "server/auth.h"
#include "server/upload_sessions.h"
#include "store/blob_store.h"
#include "store/metadata_store.h"

namespace cairn::internal {
namespace graphql {
class Md5Indexer;
}

// Body limit for every route except file uploads (which are unlimited).
inline constexpr std::size_t kMaxJsonBody = 1 << 20;

// What the handlers need from a request's header block.
struct HttpRequest {
  std::string method;         // as received: "GET", "PUT", ...
  std::string target;         // origin-form "/path?query", still percent-encoded
  std::string authorization;  // "" when absent
  std::string range;          // Range, "" when absent
  std::string if_range;       // If-Range, "" when absent
  std::string sha256;         // X-Cairn-Sha256, "" when absent
  std::optional<std::uint64_t> cairn_size;  // X-Cairn-Size (commits by reference)
  bool by_reference = false;                // X-Cairn-By-Reference: 1
  std::optional<std::uint64_t> content_length;
  bool chunked = false;  // Transfer-Encoding: chunked
  std::string host;             // Host, "" when absent (for URLs handed to W&B clients)
  std::string forwarded_proto;  // X-Forwarded-Proto, "" when absent
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  // Besides Content-Type, Content-Length and Connection, which the server sets.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent when `stream` is null
  // File bytes: `stream_length` of them are read from `stream` in chunks.
  std::unique_ptr<BlobReader> stream;
  std::uint64_t stream_length = 0;
  // HEAD: send the headers only; Content-Length announces `stream_length`.
  bool head_only = false;
  // For the server's log on 5xx: what went wrong (never contains a key).
  std::string log_note;
};

// An error answer: `status` and {"error": {"code": code, "message": message}}.
HttpResponse ErrorResponse(int status, std::string_view code, std::string_view message);
// A 5xx answer whose body says only `advice`: the cause (a store error that
// may name server-side paths) goes to log_note, never to the client.
HttpResponse ServerErrorResponse(int status, std::string_view code, std::string_view advice, const Status& cause);
// The one place a Status becomes an HTTP status and error code (kNotFound for
// a run path part -> entity_not_found / project_not_found / run_not_found,
// kResourceExhausted (disk full: ENOSPC, EDQUOT) -> 507, kUnavailable -> 503,
// ...). 5xx bodies never carry the Status's message (ServerErrorResponse).
HttpResponse StatusResponse(const Status& status);

// One request in progress (see the overview).
struct Call {
  enum class Route {
    kNone,
    kHealth,
    kWhoami,
    kCreateKey,
    kPutRun,
    kGetRun,
    kListRuns,
    kListFiles,
    kGetMeta,
    kListVersions,
    kGetFile,
    kPutFile,
    // Uploads in parts (upload_handlers.cc).
    kCreateUpload,
    kGetUpload,
    kDeleteUpload,
    kPutPart,
    kCompleteUpload,
    kGraphql,  // POST /graphql: the W&B-compatible endpoint (docs/wandb.md)
  };

  // Set when the answer is known without reading the body.
  std::optional<HttpResponse> response;
  // Set for uploads: the body goes here.
  std::unique_ptr<BlobWriter> upload;

  // Handler state between Begin() and Finish*().
  Route route = Route::kNone;
  Principal principal;
  RunKey run;
  std::string name;                 // file name, decoded and validated
  std::string sha256;               // upload: expected digest
  std::uint64_t declared_size = 0;  // upload: Content-Length
  std::uint64_t part = 0;           // kPutPart: the part number
  std::string base_url;             // graphql: "http://host:port" as the client reached us
};

class Api {
 public:
  // The stores and the authenticator must outlive the Api. With a
  // `url_signer`, file downloads (GET) answer 307 to a presigned URL valid
  // for `presign_ttl` instead of streaming the bytes. Without `uploads`, the
  // routes of uploads in parts answer 404. Each committed blob's MD5 (for W&B
  // clients, docs/wandb.md) is computed by a background thread the Api owns.
  Api(MetadataStore* metadata, BlobStore* blobs, const Authenticator* auth, BlobUrlSigner* url_signer = nullptr,
      std::chrono::seconds presign_ttl = std::chrono::seconds(300), UploadSessions* uploads = nullptr,
      std::chrono::seconds run_stale_after = std::chrono::seconds(60));
  ~Api();

  Call Begin(const HttpRequest& request) const;
  // For a Call without response and without upload: `body` is the request body.
  HttpResponse Finish(Call& call, std::string_view body) const;
  // For an upload whose body was received completely: verify, publish, commit.
  HttpResponse FinishUpload(Call& call) const;

 private:
  HttpResponse GetFileBytes(const Call& call, const HttpRequest& request, std::optional<std::int64_t> version) const;
  // upload_handlers.cc: commits by reference and uploads in parts.
  HttpResponse CommitByReference(const Call& call, const std::string& sha256, const HttpRequest& request) const;
  Call BeginSessionRoute(Call call, const HttpRequest& request, std::string_view id, std::string_view part) const;
  HttpResponse FinishCreateUpload(const Call& call, const nlohmann::json& body) const;
  HttpResponse FinishPart(Call& call) const;
  HttpResponse CompleteUpload(const UploadSession& session) const;
  Call BeginGraphql(const HttpRequest& request, Call& call) const;
  HttpResponse FinishGraphql(const Call& call, std::string_view body) const;

  MetadataStore* metadata_;
  BlobStore* blobs_;
  const Authenticator* auth_;
  BlobUrlSigner* url_signer_;
  std::chrono::seconds presign_ttl_;
  UploadSessions* uploads_;
  std::chrono::seconds run_stale_after_;  // a "running" run silent this long is "crashed"
  std::unique_ptr<graphql::Md5Indexer> md5_indexer_;
};

// The config and state fields of a run PUT's body (docs/http-api.md):
// "config" a JSON object (merged into the stored one), "state" "running" (a
// heartbeat) or "finished". kInvalidArgument naming the field otherwise.
StatusOr<RunUpdate> ParseRunUpdate(const nlohmann::json& body);

// A file version as every route shows it (docs/http-api.md, Objects).
HttpResponse FileResponse(int status, const FileVersionRecord& file);

// A single byte range resolved against a file size (RFC 9110 section 14).
struct RangeSpec {
  enum class Kind {
    kWhole,          // no Range header, another unit, or several ranges: send everything
    kPartial,        // [first, last] (inclusive)
    kUnsatisfiable,  // 416
    kMalformed,      // 400
  };
  Kind kind = Kind::kWhole;
  std::uint64_t first = 0;
  std::uint64_t last = 0;
};
// Parses "bytes=A-B", "bytes=A-" and "bytes=-N" against `size`.
RangeSpec ParseRange(std::string_view header, std::uint64_t size);

}  // namespace cairn::internal
