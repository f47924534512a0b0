// Who is calling, and what they may do, for `cairn server` (private to
// src/server; free of Boost). docs/adr/0021-accounts-and-deletion.md has the
// model: users (with passwords), teams with roles, service accounts, keys.
//
// A request carries `Authorization: Bearer <key>`, or (W&B clients)
// `Authorization: Basic base64("api:" + key)`. Keys are stored only as
// their SHA-256 (account_keys in the MetadataStore); a key is shown in
// plaintext once, when it is created. The admin key (CAIRN_ADMIN_KEY, else
// DATA/admin.key) is never stored in the database: it is compared by hash in
// memory.
//
// No cache: every Authenticate() reads the key (and the user's roles) from
// the metadata store, so a revoked key, an expired key or a removed member is
// refused by the next request on every replica.
//
// Keys and passwords never reach a log or an error message.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cairn/status.h"
#include "store/metadata_store.h"

namespace cairn::internal {

// What a caller may do in one entity, weakest first.
enum class Role {
  kNone,
  kViewer,  // list and restore
  kMember,  // also create runs, save, delete the runs it created
  kAdmin,   // also delete any run, manage members, service accounts and keys
};
// "viewer", "member", "admin" ("none" for kNone).
std::string_view RoleName(Role role);
// nullopt for anything but viewer, member, admin.
std::optional<Role> ParseRole(std::string_view name);

// Who is calling.
struct Principal {
  // A user's name (user keys), a service account's entity, or empty (admin key).
  std::string entity;
  bool admin = false;      // a server admin: may touch every entity
  bool read_only = false;  // the key's scope is "read"
  std::string user;             // user keys (and VerifyPassword): the user
  std::string service_account;  // service-account keys: its name within `entity`
  std::string key_id;           // empty for the admin key and VerifyPassword
  // The caller's role per entity (its own entity, its teams), filled by
  // Authenticate(); a read-only key never gets more than kViewer.
  std::vector<std::pair<std::string, Role>> roles;

  Role RoleIn(std::string_view e) const;
  // For run creators and the audit log: "admin", "user:NAME", "sa:ENTITY/NAME".
  std::string Actor() const;
};

// What IssueKey makes: a key of a user, or of a service account.
struct NewKey {
  std::string user;             // a user key when set
  std::string entity;           // else: a key of service account `entity`/`service_account`
  std::string service_account;
  bool read_only = false;       // scope read
  long long expires_ms = 0;     // 0: never
  std::string name;             // a label for listings
};

class Authenticator {
 public:
  // Sets up the admin key: `admin_key` (CAIRN_ADMIN_KEY, read by the
  // server's settings: ServerOptions::admin_key) when not empty; else the
  // key in data_dir/admin.key; else a new key written there (mode 0600,
  // atomically), whose location is printed to stderr. `metadata` must outlive
  // the Authenticator.
  static StatusOr<std::unique_ptr<Authenticator>> Create(MetadataStore* metadata,
                                                         const std::filesystem::path& data_dir,
                                                         std::string_view admin_key = {});

  // Resolves an Authorization header value ("" when absent). kUnauthenticated
  // (saying how to get a key) for a missing, malformed, unknown, expired or
  // revoked key; other codes when the key store fails. Records the key's use
  // (at most once a minute per key). Thread-safe.
  StatusOr<Principal> Authenticate(std::string_view authorization) const;

  // For the web UI's sign-in (and `cairn login --user`): the Principal of
  // `user` when `password` is theirs, as a write-scoped key of that user
  // would have it (key_id empty). kUnauthenticated, the same for an unknown
  // user and a wrong password, otherwise. Slow by design (argon2id, tens of
  // ms): callers should limit attempts. To get a key usable by a session,
  // follow with IssueKey({.user = user, .expires_ms = ..., .name = ...}).
  StatusOr<Principal> VerifyPassword(std::string_view user, std::string_view password) const;
  // Resolves a key given by its SHA-256 hex (a web session holds the hash,
  // never the key: docs/adr/0023-web-ui.md). kUnauthenticated when no such
  // key exists (any more). Thread-safe.
  StatusOr<Principal> AuthenticateKeyHash(std::string_view key_hash) const;


  // OK when `who` may read (write=false) or write `entity` (kMember or
  // more, and not read-only); kPermissionDenied naming the entity otherwise.
  static Status CheckAccess(const Principal& who, std::string_view entity, bool write);
  // OK when `who` may delete in a run of `entity` created by `creator`
  // (Principal::Actor() of its creator, "" when unknown): a server admin, an
  // admin of the entity, or its creator with write access.
  static Status CheckDelete(const Principal& who, std::string_view entity, std::string_view creator);
  // OK when `who` may manage `entity`'s members, service accounts and keys:
  // a server admin or an admin of the entity, with a write key.
  static Status CheckManage(const Principal& who, std::string_view entity);

  // Creates a key and returns its secret in plaintext (the only time it is
  // available) and its record. The caller checks who may. kNotFound when the
  // user or service account does not exist.
  struct IssuedKey {
    std::string secret;
    KeyRecord record;
  };
  StatusOr<IssuedKey> IssueKey(const NewKey& key) const;

  // The old form: a key of service account `entity`/default (created when
  // missing), for `cairn keys create --entity E [--read-only]`.
  StatusOr<std::string> CreateKey(const std::string& entity, bool read_only) const;

 private:
  Authenticator(MetadataStore* metadata, std::string admin_key_hash)
      : metadata_(metadata), admin_key_hash_(std::move(admin_key_hash)) {}

  // The Principal of a key found in the store (revocation and expiry checked).
  StatusOr<Principal> FromKey(const KeyRecord& r) const;
  // Fills a user's Principal: server admin flag and roles.
  Status LoadUser(Principal& who) const;

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
