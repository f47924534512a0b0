// What a cairn::Session holds (session.h): one shared internal::Client.
#pragma once

#include <memory>

#include "cairn/session.h"
#include "sdk/internal/client.h"

namespace cairn {

struct Session::Impl {
  std::shared_ptr<internal::Client> client;
};

}  // namespace cairn
