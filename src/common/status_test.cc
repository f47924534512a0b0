// CAIRN_RETURN_IF_ERROR / CAIRN_ASSIGN_OR_RETURN and Status::reason().
#include "cairn/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace cairn {
namespace {

StatusOr<int> Half(int n) {
  if (n % 2 != 0) return InvalidArgumentError(std::to_string(n) + " is odd");
  return n / 2;
}

Status CheckEven(int n) { return n % 2 == 0 ? OkStatus() : InvalidArgumentError("odd"); }

// Quarter(n): both macros, in a function returning StatusOr.
StatusOr<int> Quarter(int n, int* steps) {
  CAIRN_RETURN_IF_ERROR(CheckEven(n));
  ++*steps;
  CAIRN_ASSIGN_OR_RETURN(int half, Half(n));
  ++*steps;
  CAIRN_ASSIGN_OR_RETURN(const auto quarter, Half(half));
  ++*steps;
  return quarter;
}

TEST(StatusMacrosTest, ReturnEarlyWithTheFirstError) {
  int steps = 0;
  EXPECT_EQ(Quarter(8, &steps).value(), 2);
  EXPECT_EQ(steps, 3);
  steps = 0;
  EXPECT_EQ(Quarter(7, &steps).status().message(), "odd");
  EXPECT_EQ(steps, 0);
  steps = 0;
  EXPECT_EQ(Quarter(6, &steps).status().message(), "3 is odd");  // 6/2 = 3, odd: stops there
  EXPECT_EQ(steps, 2);
}

Status FromStatusOr(int n, int* out) {
  CAIRN_RETURN_IF_ERROR(Half(n));         // a StatusOr works too
  CAIRN_ASSIGN_OR_RETURN(*out, Half(n));  // into an existing lvalue
  return OkStatus();
}

TEST(StatusMacrosTest, StatusOrAndLvalues) {
  int out = 0;
  EXPECT_TRUE(FromStatusOr(10, &out).ok());
  EXPECT_EQ(out, 5);
  EXPECT_EQ(FromStatusOr(3, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(out, 5);
}

StatusOr<std::unique_ptr<int>> MakeInt(int v) { return std::make_unique<int>(v); }

Status MoveOnly(int* out) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<int> p, MakeInt(4));
  *out = *p;
  return OkStatus();
}

TEST(StatusMacrosTest, MoveOnlyValues) {
  int out = 0;
  EXPECT_TRUE(MoveOnly(&out).ok());
  EXPECT_EQ(out, 4);
}

TEST(StatusTest, ReasonIsPartOfTheStatus) {
  const Status plain = NotFoundError("run a/b/c does not exist");
  const Status reasoned(StatusCode::kNotFound, "run a/b/c does not exist", "run_not_found");
  EXPECT_EQ(plain.reason(), "");
  EXPECT_EQ(reasoned.reason(), "run_not_found");
  EXPECT_FALSE(plain == reasoned);
  StatusOr<int> carried = reasoned;
  EXPECT_EQ(carried.status().reason(), "run_not_found");
}

}  // namespace
}  // namespace cairn
