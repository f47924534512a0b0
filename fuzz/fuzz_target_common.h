// A real SQLite + local-disk store and the router, shared by the request fuzzers.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "server/auth.h"
#include "server/handlers.h"
#include "store/store.h"

namespace cairn::fuzz {

struct Router {
  internal::Store store;
  std::unique_ptr<internal::Authenticator> auth;
  std::unique_ptr<internal::Api> api;
  std::string alice_key;
  std::string admin_key = "cairn_fuzzadminkeyfuzzadminkeyfuzzadminkey0";

  static Router& Get() {
    static Router* router = [] {
      auto* r = new Router();
      static const std::string dir =
          (std::filesystem::temp_directory_path() / ("cairn-fuzz-" + std::to_string(::getpid()))).string();
      std::filesystem::create_directories(dir);
      // The store goes when the fuzzer exits normally; after a crash it stays, beside the artifact.
      std::atexit([] {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      });
      ::setenv("CAIRN_ADMIN_KEY", r->admin_key.c_str(), 1);
      auto store = internal::OpenStore({.data_dir = dir});
      if (!store.ok()) std::abort();
      r->store = std::move(*store);
      auto auth = internal::Authenticator::Create(r->store.metadata.get(), dir);
      if (!auth.ok()) std::abort();
      r->auth = std::move(*auth);
      r->alice_key = r->auth->CreateKey("alice", false).value();
      r->api = std::make_unique<internal::Api>(r->store.metadata.get(), r->store.blobs.get(), r->auth.get());
      bool created = false;
      (void)r->store.metadata->CreateOrResumeRun({"alice", "p", "r"}, internal::ResumeMode::kAllow, &created);
      return r;
    }();
    return *router;
  }

  // Runs one request through the router the way server.cc does.
  internal::HttpResponse Handle(const internal::HttpRequest& req, std::string_view body) {
    internal::Call call = api->Begin(req);
    if (call.response) return std::move(*call.response);
    if (call.upload) {
      if (!call.upload->Append(body.data(), body.size()).ok()) return internal::ErrorResponse(500, "x", "append");
      return api->FinishUpload(call);
    }
    if (body.size() > internal::kMaxJsonBody) return internal::ErrorResponse(413, "too_large", "");
    return api->Finish(call, body);
  }
};

}  // namespace cairn::fuzz
