#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <system_error>

#include "common/fs.h"
#include "common/sha256.h"
#include "common/validate.h"
#include "server/passwords.h"

namespace cairn::internal {
namespace {

// "prefix-" + 40 characters is the form W&B clients accept for on-premises
// keys (they check the part after the dash), so Cairn keys work there too.
constexpr std::string_view kKeyPrefix = "cairn-";
constexpr int kKeyRandomChars = 40;
constexpr std::string_view kHowToGetKey =
    "run `cairn login` (or `cairn login --user NAME`) or set CAIRN_API_KEY (`cairn keys create` makes keys)";
// How often a key's last use is written (a key used all the time costs one
// write a minute, not one per request).
constexpr long long kTouchEveryMs = 60'000;

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
                                                               const std::filesystem::path& data_dir,
                                                               std::string_view configured_admin_key) {
  std::string admin_key;
  if (!configured_admin_key.empty()) {
    admin_key = std::string(Trim(configured_admin_key));
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
  return AuthenticateKeyHash(Sha256Hex(key));
}

StatusOr<Principal> Authenticator::AuthenticateKeyHash(std::string_view hash) const {
  if (hash.size() == admin_key_hash_.size() &&
      CRYPTO_memcmp(hash.data(), admin_key_hash_.data(), hash.size()) == 0) {
    return Principal{.entity = "", .admin = true, .read_only = false};
  }
  // Looked up by hash, so the lookup's timing says nothing about the key.
  StatusOr<std::optional<KeyRecord>> record = metadata_->FindKey(std::string(hash));
  if (!record.ok()) return record.status();
  if (!record->has_value()) {
    return UnauthenticatedError("the API key is not known to this server: " + std::string(kHowToGetKey));
  }
  return FromKey(**record);
}

StatusOr<Principal> Authenticator::FromKey(const KeyRecord& r) const {
  const long long now = NowMs();
  if (r.revoked_ms != 0) {
    return UnauthenticatedError("API key " + r.id + " was revoked on " + FormatTimeMs(r.revoked_ms) + ": " +
                                std::string(kHowToGetKey));
  }
  if (r.expires_ms != 0 && r.expires_ms <= now) {
    return UnauthenticatedError("API key " + r.id + " expired on " + FormatTimeMs(r.expires_ms) + ": " +
                                std::string(kHowToGetKey));
  }
  // At most one write a minute per key: reads stay reads.
  if (now - r.last_used_ms >= kTouchEveryMs) {
    if (Status s = metadata_->TouchKey(r.id, now); !s.ok()) return s;
  }
  Principal who{.entity = r.admin ? "" : r.entity, .admin = r.admin, .read_only = r.read_only};
  who.key_id = r.id;
  if (r.admin) return who;
  if (!r.user.empty()) {
    who.user = r.user;
    if (Status s = LoadUser(who); !s.ok()) return s;
    return who;
  }
  who.service_account = r.service_account;
  who.roles.emplace_back(r.entity, r.read_only ? Role::kViewer : Role::kMember);
  return who;
}

Status Authenticator::LoadUser(Principal& who) const {
  StatusOr<std::optional<UserRecord>> user = metadata_->FindUser(who.user);
  if (!user.ok()) return user.status();
  if (!user->has_value()) {
    return UnauthenticatedError("the user of this API key no longer exists: " + std::string(kHowToGetKey));
  }
  who.entity = who.user;
  who.admin = (*user)->admin;
  const Role cap = who.read_only ? Role::kViewer : Role::kAdmin;
  who.roles.emplace_back(who.user, cap);
  StatusOr<std::vector<std::pair<std::string, std::string>>> teams = metadata_->RolesOf(who.user);
  if (!teams.ok()) return teams.status();
  for (const auto& [team, role] : *teams) {
    const Role r = ParseRole(role).value_or(Role::kNone);
    who.roles.emplace_back(team, std::min(r, cap));
  }
  return OkStatus();
}

StatusOr<Principal> Authenticator::VerifyPassword(std::string_view user, std::string_view password) const {
  constexpr std::string_view kWrong = "wrong user name or password";
  if (ValidateId(user, "user").ok() && !password.empty()) {
    StatusOr<std::optional<UserRecord>> record = metadata_->FindUser(std::string(user));
    if (!record.ok()) return record.status();
    if (record->has_value() && PasswordMatches((*record)->password_hash, password)) {
      Principal who{.user = std::string(user)};
      if (Status s = LoadUser(who); !s.ok()) return s;
      return who;
    }
    // An unknown user costs a hash too, so timing does not tell users apart.
    if (!record->has_value()) (void)HashPassword(password);
  }
  return UnauthenticatedError(std::string(kWrong));
}

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kViewer:
      return "viewer";
    case Role::kMember:
      return "member";
    case Role::kAdmin:
      return "admin";
    case Role::kNone:
      break;
  }
  return "none";
}

std::optional<Role> ParseRole(std::string_view name) {
  if (name == "viewer") return Role::kViewer;
  if (name == "member") return Role::kMember;
  if (name == "admin") return Role::kAdmin;
  return std::nullopt;
}

Role Principal::RoleIn(std::string_view e) const {
  for (const auto& [entity_name, role] : roles) {
    if (entity_name == e) return role;
  }
  return Role::kNone;
}

std::string Principal::Actor() const {
  if (!user.empty()) return "user:" + user;
  if (!service_account.empty()) return "sa:" + entity + "/" + service_account;
  return admin ? "admin" : "";
}

Status Authenticator::CheckAccess(const Principal& who, std::string_view entity, bool write) {
  if (write && who.read_only) {
    return PermissionDeniedError("this API key is read-only: use a key with write access to change entity " +
                                 std::string(entity));
  }
  if (who.admin) return OkStatus();
  const Role role = who.RoleIn(entity);
  if (role >= (write ? Role::kMember : Role::kViewer)) return OkStatus();
  if (role == Role::kViewer) {
    return PermissionDeniedError("you are a viewer of " + std::string(entity) +
                                 ": a team admin can make you a member (cairn teams add " + std::string(entity) +
                                 " USER --role member)");
  }
  const std::string holder = who.user.empty() ? "entity " + who.entity : "user " + who.user;
  return PermissionDeniedError("this API key belongs to " + holder + " and may not access entity " +
                               std::string(entity) + ": use a key for " + std::string(entity) +
                               ", or ask an admin of it to add you");
}

Status Authenticator::CheckDelete(const Principal& who, std::string_view entity, std::string_view creator) {
  CAIRN_RETURN_IF_ERROR(CheckAccess(who, entity, /*write=*/true));
  if (who.admin || who.RoleIn(entity) == Role::kAdmin) return OkStatus();
  if (!creator.empty() && creator == who.Actor()) return OkStatus();
  return PermissionDeniedError("only an admin of " + std::string(entity) + " or the run's creator may delete in it");
}

Status Authenticator::CheckManage(const Principal& who, std::string_view entity) {
  if (who.read_only) return PermissionDeniedError("this API key is read-only: use a key with write access");
  if (who.admin || who.RoleIn(entity) == Role::kAdmin) return OkStatus();
  return PermissionDeniedError("only an admin of " + std::string(entity) + " (or the server admin) may do this");
}

StatusOr<Authenticator::IssuedKey> Authenticator::IssueKey(const NewKey& k) const {
  KeyRecord record;
  if (!k.user.empty()) {
    StatusOr<std::optional<UserRecord>> user = metadata_->FindUser(k.user);
    if (!user.ok()) return user.status();
    if (!user->has_value()) return NotFoundError("there is no user " + k.user + ": create it with `cairn users create`");
    record.entity = k.user;
    record.user = k.user;
  } else {
    StatusOr<bool> exists = metadata_->ServiceAccountExists(k.entity, k.service_account);
    if (!exists.ok()) return exists.status();
    if (!*exists) {
      return NotFoundError("there is no service account " + k.entity + "/" + k.service_account +
                           ": create it with `cairn service-accounts create " + k.entity + " " + k.service_account +
                           "`");
    }
    record.entity = k.entity;
    record.service_account = k.service_account;
  }
  CAIRN_ASSIGN_OR_RETURN(std::string secret, GenerateApiKey());
  record.key_hash = Sha256Hex(secret);
  record.id = KeyIdFromHash(record.key_hash);
  record.read_only = k.read_only;
  record.created_ms = NowMs();
  record.expires_ms = k.expires_ms;
  record.name = k.name;
  CAIRN_RETURN_IF_ERROR(metadata_->PutKey(record));
  return IssuedKey{std::move(secret), std::move(record)};
}

StatusOr<std::string> Authenticator::CreateKey(const std::string& entity, bool read_only) const {
  CAIRN_RETURN_IF_ERROR(metadata_->CreateServiceAccount(entity, "default", /*if_missing=*/true));
  CAIRN_ASSIGN_OR_RETURN(IssuedKey key, IssueKey({.entity = entity, .service_account = "default",
                                                  .read_only = read_only, .name = "default"}));
  return std::move(key.secret);
}

}  // namespace cairn::internal
