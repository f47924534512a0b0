// API keys for `cairn server` (private to src/server; free of Boost).
//
// A request carries `Authorization: Bearer <key>`, or (W&B clients)
// `Authorization: Basic base64("api:" + key)`. Keys are stored only as
// their SHA-256 (api_keys in the MetadataStore); a key is shown in plaintext
// once, when it is created. The admin key (CAIRN_ADMIN_KEY, else DATA/admin.key)
// is never stored in the database: it is compared by hash in memory.
//
// Keys never reach a log or an error message.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cairn/status.h"
#include "store/metadata_store.h"

namespace cairn::internal {

// Who is calling.
struct Principal {
  std::string entity;  // the one entity the key may touch; empty for admin keys
  bool admin = false;  // may touch every entity and create keys
  bool read_only = false;
  // For logs: "admin", or the first 12 hex digits of the key's SHA-256 (not
  // the key; enough to tell keys apart). Empty when no key was given.
  std::string key_id;
};

class Authenticator {
 public:
  // Sets up the admin key: CAIRN_ADMIN_KEY when set and non-empty; else the
  // key in data_dir/admin.key; else a new key written there (mode 0600,
  // atomically), whose location is printed to stderr. `metadata` must outlive
  // the Authenticator.
  static StatusOr<std::unique_ptr<Authenticator>> Create(MetadataStore* metadata,
                                                         const std::filesystem::path& data_dir);

  // Resolves an Authorization header value ("" when absent). kUnauthenticated
  // (saying how to get a key) for a missing, malformed or unknown key; other
  // codes when the key store fails. Thread-safe.
  StatusOr<Principal> Authenticate(std::string_view authorization) const;

  // OK when `who` may read (write=false) or write `entity`; kPermissionDenied
  // naming the entity otherwise.
  static Status CheckAccess(const Principal& who, std::string_view entity, bool write);

  // Creates a key for `entity` and returns it in plaintext (the only time it
  // is available). The caller checks that `who` is an admin.
  StatusOr<std::string> CreateKey(const std::string& entity, bool read_only) const;

 private:
  Authenticator(MetadataStore* metadata, std::string admin_key_hash)
      : metadata_(metadata), admin_key_hash_(std::move(admin_key_hash)) {}

  MetadataStore* metadata_;
  std::string admin_key_hash_;  // SHA-256 hex of the admin key
};

// A new key: "cairn-" followed by 40 characters of [A-Za-z0-9] drawn from
// OpenSSL's CSPRNG (the "prefix-" + 40 form W&B clients accept). kInternal
// when the CSPRNG fails.
StatusOr<std::string> GenerateApiKey();

// Standard base64 with padding.
std::string EncodeBase64(std::string_view bytes);
// Decodes base64 (standard or URL-safe alphabet, padding optional); nullopt
// when `in` is not base64.
std::optional<std::string> DecodeBase64(std::string_view in);

}  // namespace cairn::internal
