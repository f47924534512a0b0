// SigV4 against the worked examples of the AWS S3 documentation
// (sig-v4-header-based-auth.html "Example Signature Calculations" and
// sigv4-query-string-auth.html), all with the documentation's example key.
#include "store/s3/sigv4.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>

#include "store/s3/s3_client.h"

namespace cairn::internal {
namespace {

const S3Credentials kCreds{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
const SigV4Scope kScope{"us-east-1"};
constexpr const char* kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

// 2013-05-24T00:00:00Z
std::chrono::system_clock::time_point ExampleTime() {
  return std::chrono::system_clock::time_point(std::chrono::seconds(1369353600));
}

std::string SignatureOf(const std::vector<std::pair<std::string, std::string>>& headers) {
  for (const auto& [name, value] : headers) {
    if (name == "Authorization") return value.substr(value.find("Signature=") + 10);
  }
  return "";
}

std::string SignedHeadersOf(const std::vector<std::pair<std::string, std::string>>& headers) {
  for (const auto& [name, value] : headers) {
    if (name == "Authorization") {
      const std::size_t a = value.find("SignedHeaders=") + 14;
      return value.substr(a, value.find(',', a) - a);
    }
  }
  return "";
}

TEST(SigV4Test, AmzDate) { EXPECT_EQ(AmzDate(ExampleTime()), "20130524T000000Z"); }

TEST(SigV4Test, GetObjectWithRange) {
  SigV4Request r{"GET", "examplebucket.s3.amazonaws.com", "/test.txt", {}, {{"Range", "bytes=0-9"}}, kEmpty};
  auto h = SignRequest(r, kCreds, kScope, ExampleTime());
  EXPECT_EQ(SignedHeadersOf(h), "host;range;x-amz-content-sha256;x-amz-date");
  EXPECT_EQ(SignatureOf(h), "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Test, PutObjectEncodesThePath) {
  SigV4Request r{"PUT",
                 "examplebucket.s3.amazonaws.com",
                 "/test$file.text",
                 {},
                 {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
                 "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"};
  auto h = SignRequest(r, kCreds, kScope, ExampleTime());
  EXPECT_EQ(SignedHeadersOf(h), "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
  EXPECT_EQ(SignatureOf(h), "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4Test, BareQueryParameterIsSignedWithAnEmptyValue) {
  SigV4Request r{"GET", "examplebucket.s3.amazonaws.com", "/", {{"lifecycle", ""}}, {}, kEmpty};
  EXPECT_EQ(SignatureOf(SignRequest(r, kCreds, kScope, ExampleTime())),
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
  EXPECT_EQ(CanonicalQueryString(r.query), "lifecycle=");
}

TEST(SigV4Test, QueryParametersAreSorted) {
  SigV4Request r{"GET", "examplebucket.s3.amazonaws.com", "/", {{"prefix", "J"}, {"max-keys", "2"}}, {}, kEmpty};
  EXPECT_EQ(SignatureOf(SignRequest(r, kCreds, kScope, ExampleTime())),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
  EXPECT_EQ(CanonicalQueryString(r.query), "max-keys=2&prefix=J");
}

TEST(SigV4Test, PresignedUrl) {
  SigV4Request r{"GET", "examplebucket.s3.amazonaws.com", "/test.txt", {}, {}, ""};
  const std::string q = PresignQuery(r, kCreds, kScope, ExampleTime(), std::chrono::hours(24));
  EXPECT_EQ(q,
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
            "aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
}

TEST(SigV4Test, SessionTokenIsSentAndSigned) {
  S3Credentials creds = kCreds;
  creds.session_token = "token";
  SigV4Request r{"GET", "h", "/b/k", {}, {}, kEmpty};
  auto h = SignRequest(r, creds, kScope, ExampleTime());
  EXPECT_EQ(SignedHeadersOf(h), "host;x-amz-content-sha256;x-amz-date;x-amz-security-token");
}

TEST(SigV4Test, UriEncode) {
  EXPECT_EQ(UriEncode("a b/c~d", true), "a%20b/c~d");
  EXPECT_EQ(UriEncode("a b/c", false), "a%20b%2Fc");
  EXPECT_EQ(UriEncode("\xc3\xa9", false), "%C3%A9");
}

TEST(ObjectStoreUrlTest, ParsesBucketPrefixAndParameters) {
  auto loc = ParseS3Url("s3://cairn-test/some/prefix/?endpoint=http://127.0.0.1:7480&region=eu-west-1");
  ASSERT_TRUE(loc.ok()) << loc.status();
  EXPECT_EQ(loc->bucket, "cairn-test");
  EXPECT_EQ(loc->prefix, "some/prefix");
  EXPECT_EQ(loc->endpoint, "http://127.0.0.1:7480");
  EXPECT_EQ(loc->region, "eu-west-1");

  auto aws = ParseS3Url("s3://b");
  ASSERT_TRUE(aws.ok());
  EXPECT_EQ(aws->endpoint, "https://s3.us-east-1.amazonaws.com");
  EXPECT_EQ(aws->prefix, "");

  auto encoded = ParseS3Url("s3://b/p?endpoint=http%3A%2F%2Flocalhost%3A9000");
  ASSERT_TRUE(encoded.ok());
  EXPECT_EQ(encoded->endpoint, "http://localhost:9000");

  for (const char* bad : {"http://b/p", "s3://", "s3://Bad_Bucket", "s3://b?color=red", "s3://b?endpoint=ftp://x",
                          "s3://b?endpoint=http://h:1/path"}) {
    auto r = ParseS3Url(bad);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ObjectStoreUrlTest, MapsAnswersToStatus) {
  auto status = [](long code, std::string body = "") { return S3Status({code, {}, std::move(body)}, "x").code(); };
  EXPECT_EQ(status(200), StatusCode::kOk);
  EXPECT_EQ(status(404), StatusCode::kNotFound);
  EXPECT_EQ(status(404, "<Error><Code>NoSuchBucket</Code></Error>"), StatusCode::kFailedPrecondition);
  EXPECT_EQ(status(403, "<Error><Code>SignatureDoesNotMatch</Code></Error>"), StatusCode::kPermissionDenied);
  EXPECT_EQ(status(503, "<Error><Code>SlowDown</Code></Error>"), StatusCode::kUnavailable);
  EXPECT_EQ(status(500), StatusCode::kUnavailable);
  EXPECT_EQ(status(400, "<Error><Code>EntityTooLarge</Code></Error>"), StatusCode::kResourceExhausted);
  EXPECT_EQ(status(400), StatusCode::kInternal);
}

}  // namespace
}  // namespace cairn::internal
