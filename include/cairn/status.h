// Cairn's one error vocabulary (see docs/adr/0001-error-model.md).
//
// Every fallible public call returns a Status or a StatusOr<T>; nothing in the
// public API throws for an expected failure. Codes follow abseil's canonical
// codes and their advice: kUnavailable means "retrying this call may succeed",
// kFailedPrecondition means "do not retry until the state is fixed".
#pragma once

#include <cassert>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <variant>

namespace cairn {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // bad name, run path, option: the caller must change the input
  kNotFound,            // no such run / entity / project (a missing *file* is "nothing", not this)
  kAlreadyExists,       // e.g. init with resume=never on a run that exists
  kUnauthenticated,     // missing or unknown API key
  kPermissionDenied,    // the key may not touch that entity
  kDataLoss,            // integrity failure: bytes do not match their SHA-256 or size
  kUnavailable,         // network failure, server down, 5xx: retrying may help
  kDeadlineExceeded,    // a timeout fired
  kFailedPrecondition,  // state is wrong for the call (e.g. offline mode, a directory in the way)
  kResourceExhausted,   // disk full, quota, body too large
  kInternal,            // a bug or an unexpected server answer
  kCancelled,           // the caller asked to stop (TransferOptions::cancelled); nothing was published
};

// A short lowercase name for a code ("not_found"), stable, used in JSON errors.
const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  // With a `reason`: a stable, machine-readable refinement of the code.
  Status(StatusCode code, std::string message, std::string reason)
      : code_(code), message_(std::move(message)), reason_(std::move(reason)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  // Says what failed, naming the input, and what to do next.
  const std::string& message() const { return message_; }
  // A stable lowercase refinement of code() that programs may branch on
  // ("run_not_found" for a kNotFound about a run path), like google-cloud-cpp's
  // ErrorInfo::reason(); "" when there is none. Test this, never message():
  // messages are for people and may change.
  const std::string& reason() const { return reason_; }
  // "not_found: run alice/mnist/x1 does not exist ..."
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_ && a.reason_ == b.reason_;
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string reason_;
};

std::ostream& operator<<(std::ostream& os, const Status& s);

inline Status OkStatus() { return Status(); }
inline Status InvalidArgumentError(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFoundError(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExistsError(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status UnauthenticatedError(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
inline Status PermissionDeniedError(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status DataLossError(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status UnavailableError(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DeadlineExceededError(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
inline Status FailedPreconditionError(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status ResourceExhaustedError(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status InternalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
inline Status CancelledError(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }

// A value or the Status that explains its absence. Accessing value() of a
// non-OK StatusOr is a programming error (asserts in debug builds).
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const T& value) : v_(value) {}            // NOLINT(google-explicit-constructor)
  StatusOr(T&& value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  StatusOr(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "StatusOr built from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  // OK when a value is held.
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

  T& value() & { assert(ok()); return std::get<T>(v_); }
  const T& value() const& { assert(ok()); return std::get<T>(v_); }
  T&& value() && { assert(ok()); return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<Status, T> v_;
};

namespace status_internal {
inline const Status& AsStatus(const Status& s) { return s; }
template <typename T>
Status AsStatus(const StatusOr<T>& s) {
  return s.status();
}
}  // namespace status_internal

}  // namespace cairn

// Early returns on errors, as in abseil and google-cloud-cpp. In a function
// returning Status or StatusOr<U>:
//
//   CAIRN_RETURN_IF_ERROR(ValidateId(id, "entity"));   // a Status or a StatusOr<T>
//   CAIRN_ASSIGN_OR_RETURN(RunRecord run, store.GetRun(key));
//   CAIRN_ASSIGN_OR_RETURN(auto page, store.ListRuns(e, p, cursor, limit));
//
// The first returns the error of `expr` when it is not OK. The second
// evaluates `rexpr` (a StatusOr<T>) once, returns its error when it has one,
// and otherwise moves its value into `lhs` (a declaration or an lvalue); it
// is a statement of its own (not for an unbraced if/else branch).
#define CAIRN_RETURN_IF_ERROR(expr)                                                                  \
  do {                                                                                               \
    if (::cairn::Status cairn_status_ = ::cairn::status_internal::AsStatus(expr); !cairn_status_.ok()) \
      return cairn_status_;                                                                          \
  } while (false)

#define CAIRN_ASSIGN_OR_RETURN(lhs, rexpr) \
  CAIRN_ASSIGN_OR_RETURN_IMPL_(CAIRN_STATUS_CONCAT_(cairn_statusor_, __LINE__), lhs, rexpr)
// `statusor` names a variable and `lhs` may be a declaration: neither can be
// parenthesized.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define CAIRN_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return statusor.status();            \
  lhs = std::move(statusor).value()
// NOLINTEND(bugprone-macro-parentheses)
#define CAIRN_STATUS_CONCAT_(a, b) CAIRN_STATUS_CONCAT_IMPL_(a, b)
#define CAIRN_STATUS_CONCAT_IMPL_(a, b) a##b
