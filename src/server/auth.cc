#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <system_error>

#include "common/fs.h"
#include "common/sha256.h"

namespace cairn::internal {
namespace {

// "prefix-" + 40 characters is the form W&B clients accept for on-premises
// keys (they check the part after the dash), so Cairn keys work there too.
constexpr std::string_view kKeyPrefix = "cairn-";
constexpr int kKeyRandomChars = 40;
constexpr std::string_view kHowToGetKey =
    "run `cairn login` or set CAIRN_API_KEY (an admin creates keys with POST /api/v1/keys)";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// Whether `header` starts with `scheme` (lowercase) followed by a blank.
bool HasScheme(std::string_view header, std::string_view scheme) {
  return header.size() > scheme.size() && EqualsIgnoreCase(header.substr(0, scheme.size()), scheme) &&
         (header[scheme.size()] == ' ' || header[scheme.size()] == '\t');
}

}  // namespace

std::string EncodeBase64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> DecodeBase64(std::string_view in) {
  auto sextet = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = sextet(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

StatusOr<std::string> GenerateApiKey() {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  constexpr unsigned kAlphabetSize = sizeof(kAlphabet) - 1;  // 62
  // Rejection sampling keeps the characters uniform: 248 = 4 * 62.
  constexpr unsigned kLimit = 256 - 256 % kAlphabetSize;
  std::string key(kKeyPrefix);
  while (key.size() < kKeyPrefix.size() + kKeyRandomChars) {
    unsigned char bytes[64];
    if (RAND_bytes(bytes, sizeof bytes) != 1) return InternalError("OpenSSL RAND_bytes failed to produce a key");
    for (unsigned char b : bytes) {
      if (b >= kLimit) continue;
      key += kAlphabet[b % kAlphabetSize];
      if (key.size() == kKeyPrefix.size() + kKeyRandomChars) break;
    }
  }
  return key;
}

StatusOr<std::unique_ptr<Authenticator>> Authenticator::Create(MetadataStore* metadata,
                                                               const std::filesystem::path& data_dir) {
  std::string admin_key;
  if (const char* env = std::getenv("CAIRN_ADMIN_KEY"); env != nullptr && *env != '\0') {
    admin_key = std::string(Trim(env));
  } else {
    const std::filesystem::path path = data_dir / "admin.key";
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      StatusOr<std::string> content = ReadSmallFile(path);
      if (!content.ok()) return content.status();
      admin_key = std::string(Trim(*content));
      if (admin_key.empty()) {
        return FailedPreconditionError(path.string() +
                                       " is empty: delete it to generate a new admin key, or set CAIRN_ADMIN_KEY");
      }
    } else {
      StatusOr<std::string> key = GenerateApiKey();
      if (!key.ok()) return key.status();
      admin_key = std::move(key).value();
      if (Status s = WriteFileAtomic(path, admin_key + "\n", 0600); !s.ok()) return s;
      std::fprintf(stderr, "cairn server: admin key written to %s\n", path.c_str());
      std::fflush(stderr);
    }
  }
  return std::unique_ptr<Authenticator>(new Authenticator(metadata, Sha256Hex(admin_key)));
}

StatusOr<Principal> Authenticator::Authenticate(std::string_view authorization) const {
  authorization = Trim(authorization);
  if (authorization.empty()) {
    return UnauthenticatedError("this request needs an API key: " + std::string(kHowToGetKey));
  }
  std::string basic_key;  // holds the key decoded from Basic credentials
  std::string_view key;
  if (HasScheme(authorization, "bearer")) {
    key = Trim(authorization.substr(6));
  } else if (HasScheme(authorization, "basic")) {
    // W&B clients send Basic base64("api:" + key); the user name is not checked.
    std::optional<std::string> decoded = DecodeBase64(Trim(authorization.substr(5)));
    const std::size_t colon = decoded ? decoded->find(':') : std::string::npos;
    if (colon == std::string::npos) {
      return UnauthenticatedError("malformed Basic credentials: send base64(\"api:\" + key) or \"Bearer <key>\"");
    }
    basic_key = decoded->substr(colon + 1);
    key = basic_key;
  } else {
    return UnauthenticatedError(
        "the Authorization header must be \"Bearer <key>\" (or Basic with user api and the key): " +
        std::string(kHowToGetKey));
  }
  if (key.empty()) return UnauthenticatedError("the API key is empty: " + std::string(kHowToGetKey));
  const std::string hash = Sha256Hex(key);
  if (CRYPTO_memcmp(hash.data(), admin_key_hash_.data(), hash.size()) == 0) {
    return Principal{.entity = "", .admin = true, .read_only = false, .key_id = "admin"};
  }
  // Looked up by hash, so the lookup's timing says nothing about the key.
  StatusOr<std::optional<KeyRecord>> record = metadata_->FindKey(hash);
  if (!record.ok()) return record.status();
  if (!record->has_value()) {
    return UnauthenticatedError("the API key is not known to this server: " + std::string(kHowToGetKey));
  }
  const KeyRecord& r = **record;
  return Principal{
      .entity = r.admin ? "" : r.entity, .admin = r.admin, .read_only = r.read_only, .key_id = hash.substr(0, 12)};
}

Status Authenticator::CheckAccess(const Principal& who, std::string_view entity, bool write) {
  if (write && who.read_only) {
    return PermissionDeniedError("this API key is read-only: use a key with write access to change entity " +
                                 std::string(entity));
  }
  if (who.admin || who.entity == entity) return OkStatus();
  return PermissionDeniedError("this API key belongs to entity " + who.entity + " and may not access entity " +
                               std::string(entity) + ": use a key for " + std::string(entity));
}

StatusOr<std::string> Authenticator::CreateKey(const std::string& entity, bool read_only) const {
  StatusOr<std::string> key = GenerateApiKey();
  if (!key.ok()) return key.status();
  KeyRecord record;
  record.key_hash = Sha256Hex(*key);
  record.entity = entity;
  record.admin = false;
  record.read_only = read_only;
  record.created_ms = NowMs();
  if (Status s = metadata_->PutKey(record); !s.ok()) return s;
  return key;
}

}  // namespace cairn::internal
