// `cairn server --tls-cert F --tls-key F`: the CLI saves and restores over
// https, trusting a test CA through CAIRN_CA_BUNDLE; a certificate from
// another CA, plain HTTP to the TLS port and https to a plain port all fail
// with an error that says what to do. The CA and certificates are made here
// with the `openssl` command.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <span>
#include <variant>
#include <vector>

#include "common/sha256.h"
#include "sdk/internal/curl_connection.h"
#include "store/s3/s3_client.h"
#include "testing/server_fixture.h"

namespace cairn {
namespace {
namespace fs = std::filesystem;
using testing::Cairn;
using testing::CommandResult;
using testing::ServerProcess;
using testing::TempDir;
using Env = std::map<std::string, std::optional<std::string>>;

void Openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = testing::Run(argv);
  ASSERT_EQ(r.exit_code, 0) << "openssl failed: " << r.err;
}

// A self-signed CA: DIR/NAME.pem (certificate) and DIR/NAME.key.
void MakeCa(const fs::path& dir, const std::string& name) {
  Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
           "-subj", "/CN=" + name, "-keyout", (dir / (name + ".key")).string(), "-out",
           (dir / (name + ".pem")).string()});
}

// A server certificate for 127.0.0.1 and localhost signed by CA: DIR/server.pem, DIR/server.key.
void MakeServerCert(const fs::path& dir, const std::string& ca) {
  testing::WriteFile(dir / "san.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  Openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=127.0.0.1",
           "-keyout", (dir / "server.key").string(), "-out", (dir / "server.csr").string()});
  Openssl({"x509", "-req", "-in", (dir / "server.csr").string(), "-CA", (dir / (ca + ".pem")).string(), "-CAkey",
           (dir / (ca + ".key")).string(), "-CAcreateserial", "-days", "2", "-extfile", (dir / "san.ext").string(),
           "-out", (dir / "server.pem").string()});
}

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new TempDir;
    MakeCa(pki_->path(), "ca");
    MakeCa(pki_->path(), "other-ca");
    MakeServerCert(pki_->path(), "ca");
  }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }
  void SetUp() override {
    const fs::path& pki = pki_->path();
    server_ = std::make_unique<ServerProcess>(
        tmp_ / "data", Env{}, std::nullopt,
        std::vector<std::string>{"--tls-cert", (pki / "server.pem").string(), "--tls-key", (pki / "server.key").string()});
    // CreateKey's CLI call must trust the test CA too.
    ::setenv("CAIRN_CA_BUNDLE", (pki / "ca.pem").c_str(), 1);
    key_ = testing::CreateKey(*server_, "alice");
  }
  void TearDown() override { ::unsetenv("CAIRN_CA_BUNDLE"); }

  // The CLI against the TLS server, trusting `ca` ("" for the system CAs).
  CommandResult Cli(const std::vector<std::string>& args, const std::string& ca, std::string base_url = "") {
    Env env{{"CAIRN_BASE_URL", base_url.empty() ? server_->base_url() : base_url},
            {"CAIRN_API_KEY", key_},
            {"HOME", tmp_.path().string()},
            {"XDG_CONFIG_HOME", std::nullopt},
            {"CAIRN_CA_BUNDLE", ca.empty() ? std::nullopt : std::optional<std::string>((pki_->path() / ca).string())}};
    return Cairn(args, env);
  }

  static TempDir* pki_;
  TempDir tmp_;
  std::unique_ptr<ServerProcess> server_;
  std::string key_;
};
TempDir* Tls::pki_ = nullptr;

TEST_F(Tls, SaveAndRestoreOverHttpsWithTheCaBundle) {
  ASSERT_EQ(server_->base_url().rfind("https://127.0.0.1:", 0), 0u) << server_->base_url();
  // Several chunks of 256 KiB each way, so streaming runs over TLS records.
  const std::string sha = testing::WriteRandomFile(tmp_ / "src/model.pt", (3u << 20) + 12345);
  CommandResult save =
      Cli({"save", (tmp_ / "src/model.pt").string(), "--run", "alice/tls/run1", "--base", (tmp_ / "src").string()},
          "ca.pem");
  ASSERT_EQ(save.exit_code, 0) << save.err;
  CommandResult restore = Cli({"restore", "model.pt", "--run", "alice/tls/run1", "--root", (tmp_ / "dst").string()},
                              "ca.pem");
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_EQ(internal::Sha256Hex(testing::ReadFile(tmp_ / "dst/model.pt")), sha);
}

// At least 16 MiB (download::kDirectMinBytes): received straight into the
// restore's ring over its own TLS connection (curl_direct_get.cc).
TEST_F(Tls, ALargeRestoreOverHttpsIsVerified) {
  const std::string sha = testing::WriteRandomFile(tmp_ / "src/big.bin", (20u << 20) + 777);
  CommandResult save =
      Cli({"save", (tmp_ / "src/big.bin").string(), "--run", "alice/tls/run2", "--base", (tmp_ / "src").string()},
          "ca.pem");
  ASSERT_EQ(save.exit_code, 0) << save.err;
  CommandResult restore =
      Cli({"restore", "big.bin", "--run", "alice/tls/run2", "--root", (tmp_ / "dst").string()}, "ca.pem");
  ASSERT_EQ(restore.exit_code, 0) << restore.err;
  EXPECT_EQ(internal::Sha256Hex(testing::ReadFile(tmp_ / "dst/big.bin")), sha);

  // The same GET as the restore's, on the transport: most bytes arrive in
  // the memory offered, and the certificate is checked on that connection
  // too (a CA that did not sign it is refused before any byte moves).
  for (const std::string ca : {"ca.pem", "other-ca.pem"}) {
    internal::CurlConnection connection(server_->base_url(), key_, (pki_->path() / ca).string());
    std::vector<char> memory(24u << 20);
    std::size_t got = 0, in_place = 0;
    internal::HttpClientRequest req;
    req.target = "/api/v1/runs/alice/tls/run2/files/big.bin";
    req.body_buffer = [&] {
      return std::span<char>(memory.data() + got, std::min<std::size_t>(1u << 20, memory.size() - got));
    };
    req.on_body = [&](const internal::HttpClientResponse&, const char* data, std::size_t n) {
      if (data == memory.data() + got) {
        in_place += n;
      } else {
        std::memcpy(memory.data() + got, data, n);
      }
      got += n;
      return true;
    };
    internal::Outcome out = connection.Call(req, {}).outcome;
    if (ca == "ca.pem") {
      ASSERT_TRUE(std::holds_alternative<internal::HttpClientResponse>(out))
          << std::get<internal::TransportError>(out).status;
      EXPECT_EQ(internal::Sha256Hex(std::string_view(memory.data(), got)), sha);
      EXPECT_GT(in_place, got / 2);
    } else {
      ASSERT_TRUE(std::holds_alternative<internal::TransportError>(out));
      const Status& st = std::get<internal::TransportError>(out).status;
      EXPECT_NE(st.message().find("cannot trust the TLS certificate"), std::string::npos) << st;
      EXPECT_EQ(got, 0u);
    }
  }
}

TEST_F(Tls, AnotherCaIsRefusedWithACertificateError) {
  for (const std::string ca : {"other-ca.pem", ""}) {
    SCOPED_TRACE(ca.empty() ? "system CAs" : ca);
    CommandResult ls = Cli({"ls", "alice/tls/run1"}, ca);
    EXPECT_EQ(ls.exit_code, 1) << ls.err;
    EXPECT_NE(ls.err.find("cannot trust the TLS certificate of the cairn server"), std::string::npos) << ls.err;
    EXPECT_NE(ls.err.find("CAIRN_CA_BUNDLE"), std::string::npos) << ls.err;
  }
  // The server saw no request: the handshake failed before any was sent.
  EXPECT_EQ(server_->log().find("GET /api"), std::string::npos) << server_->log();
}

// The server's own S3 client (for an https:// object store with a private CA)
// trusts CAIRN_CA_BUNDLE too, or AWS_CA_BUNDLE. The TLS server stands in for
// the object store: any HTTP answer means the certificate was accepted.
TEST_F(Tls, TheServersS3ClientTrustsTheCaBundle) {
  const internal::S3Location location{.endpoint = server_->base_url(), .bucket = "bucket"};
  const internal::S3Credentials credentials{.access_key_id = "AKIDEXAMPLE", .secret_access_key = "secret"};
  // This test decides the CA variables (a machine may set AWS_CA_BUNDLE).
  const char* outer = std::getenv("AWS_CA_BUNDLE");
  const std::optional<std::string> aws_before = outer ? std::optional<std::string>(outer) : std::nullopt;
  ::unsetenv("AWS_CA_BUNDLE");
  auto send = [&] {
    internal::S3Client client(location, credentials);
    return client.Send("POST", "key", {}, {}, internal::S3Body{}, /*idempotent=*/false);
  };
  auto trusted = send();  // CAIRN_CA_BUNDLE is the test CA (SetUp)
  ASSERT_TRUE(trusted.ok()) << trusted.status();
  EXPECT_GT(trusted->http_status, 0);
  ::setenv("CAIRN_CA_BUNDLE", (pki_->path() / "other-ca.pem").c_str(), 1);
  auto wrong = send();
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("SSL"), std::string::npos) << wrong.status();
  ::setenv("AWS_CA_BUNDLE", (pki_->path() / "ca.pem").c_str(), 1);  // takes precedence
  auto aws = send();
  if (aws_before) {
    ::setenv("AWS_CA_BUNDLE", aws_before->c_str(), 1);
  } else {
    ::unsetenv("AWS_CA_BUNDLE");
  }
  ASSERT_TRUE(aws.ok()) << aws.status();
}

TEST_F(Tls, PlainHttpToTheTlsPortIsToldToUseHttps) {
  const std::string http_url = "http://127.0.0.1:" + std::to_string(server_->port());
  CommandResult ls = Cli({"ls", "alice/tls/run1"}, "ca.pem", http_url);
  EXPECT_EQ(ls.exit_code, 2) << ls.err;
  EXPECT_NE(ls.err.find("only speaks HTTPS; use an https:// URL"), std::string::npos) << ls.err;
}

TEST_F(Tls, HttpsToAPlainServerSaysTheServerMayNotSpeakHttps) {
  ServerProcess plain(tmp_ / "plain-data");
  ASSERT_EQ(plain.base_url().rfind("http://", 0), 0u);
  const std::string https_url = "https://127.0.0.1:" + std::to_string(plain.port());
  CommandResult ls = Cli({"ls", "alice/tls/run1"}, "ca.pem", https_url);
  EXPECT_EQ(ls.exit_code, 1) << ls.err;
  EXPECT_NE(ls.err.find("TLS handshake with the cairn server failed"), std::string::npos) << ls.err;
  EXPECT_NE(ls.err.find("use an http:// URL"), std::string::npos) << ls.err;
}

TEST_F(Tls, ServerRefusesAKeyThatIsNotTheCertificates) {
  const fs::path& pki = pki_->path();
  CommandResult r = Cairn({"server", "--data", (tmp_ / "d2").string(), "--listen", "127.0.0.1:0", "--tls-cert",
                           (pki / "server.pem").string(), "--tls-key", (pki / "ca.key").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("cannot load the TLS private key"), std::string::npos) << r.err;
  CommandResult half = Cairn({"server", "--data", (tmp_ / "d3").string(), "--listen", "127.0.0.1:0", "--tls-cert",
                              (pki / "server.pem").string()});
  EXPECT_EQ(half.exit_code, 2) << half.err;
  EXPECT_NE(half.err.find("--tls-key"), std::string::npos) << half.err;
}

}  // namespace
}  // namespace cairn
