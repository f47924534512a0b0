// What the route tests without sockets share (handlers_test.cc,
// web_handlers_test.cc): an Api over real stores (SQLite + local blobs) in a
// fresh temp directory, with the admin key "cairn_testadminkey". Test-only.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "server/handlers.h"
#include "store/store.h"

namespace cairn::internal {

inline constexpr const char* kTestAdminKey = "cairn_testadminkey";

class ApiFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cairn-api-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    auto store = OpenStore({.data_dir = dir_});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(store).value();
    auto auth = Authenticator::Create(store_.metadata.get(), dir_, kTestAdminKey);
    ASSERT_TRUE(auth.ok()) << auth.status();
    auth_ = std::move(auth).value();
    api_ = std::make_unique<Api>(store_.metadata.get(), store_.blobs.get(), auth_.get());
  }
  void TearDown() override {
    api_.reset();
    std::filesystem::remove_all(dir_);
  }

  // `req` through the router; `body` is the whole request body (no upload).
  HttpResponse Send(const HttpRequest& req, std::string_view body = "") {
    Call call = api_->Begin(req);
    if (call.response) return std::move(*call.response);
    return api_->Finish(call, body);
  }
  // The value of response header `name` ("" when absent).
  static std::string Header(const HttpResponse& r, std::string_view name) {
    for (const auto& [n, v] : r.headers) {
      if (n == name) return v;
    }
    return "";
  }

  std::filesystem::path dir_;
  Store store_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<Api> api_;
};

}  // namespace cairn::internal
