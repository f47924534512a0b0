#include "cli/exit_codes.h"

#include <iostream>

namespace cairn::cli {
namespace {

const char* Hint(StatusCode code) {
  switch (code) {
    case StatusCode::kUnauthenticated:
      return "set CAIRN_API_KEY or run `cairn login` with a key from `cairn keys create`";
    case StatusCode::kPermissionDenied:
      return "use a key created for this entity (`cairn keys create --entity E`)";
    case StatusCode::kUnavailable:
      return "check that the server is running and CAIRN_BASE_URL / --base-url points at it";
    case StatusCode::kDataLoss:
      return "the stored copy does not match its digest; nothing local was changed";
    default:
      return nullptr;
  }
}

}  // namespace

int Fail(const Status& status) {
  std::cerr << "cairn: " << status.message() << "\n";
  if (const char* hint = Hint(status.code())) std::cerr << "cairn: hint: " << hint << "\n";
  switch (status.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    case StatusCode::kNotFound:
      return kExitNoRun;
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
      return kExitAuth;
    default:
      return kExitFailure;
  }
}

}  // namespace cairn::cli
