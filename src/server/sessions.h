// Browser sessions of the web UI (docs/adr/0023-web-ui.md; private to
// src/server; free of Boost).
//
// Signing in (POST /api/v1/session) checks a credential and stores a new
// session in the MetadataStore, by the SHA-256 of its random token only, so
// every replica sharing the store knows it. The browser holds the token in a
// cookie (HttpOnly, SameSite=Strict, Secure under TLS); JavaScript never sees
// it. A session names its subject, not a principal: "key:<key hash>" is
// resolved again on every request, so revoking the key ends the session.
// Accounts add "user:<name>" subjects (a password check) without changing
// the cookie, the store or the CSRF rule.
//
// CSRF: a request authenticated by the cookie whose method changes state
// (anything but GET/HEAD) must carry X-Cairn-Csrf with the session's CSRF
// token, which only a page of this origin can read (GET /api/v1/session).
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "cairn/status.h"
#include "server/auth.h"
#include "server/http.h"
#include "store/metadata_store.h"

namespace cairn::internal {

inline constexpr std::string_view kSessionCookie = "cairn_session";

// A signed-in browser, as one request sees it.
struct BrowserSession {
  Principal principal;
  std::string subject;     // "key:<hash>", or "userkey:<hash>" (a password sign-in's own key)
  std::string csrf;        // what X-Cairn-Csrf must carry
  std::string token_hash;  // the stored key of the session
};

class WebSessions {
 public:
  // Both must outlive this. Sessions last `ttl` from sign-in. Expired
  // sessions are swept (SweepExpired) at sign-in and when a request names an
  // unknown or expired session, at most once per `sweep_interval` per
  // process: sessions are only added at sign-in, so this bounds the table to
  // the sessions of the last ttl + sweep_interval, with no timer.
  WebSessions(MetadataStore* metadata, const Authenticator* auth,
              std::chrono::seconds ttl = std::chrono::hours(12),
              std::chrono::seconds sweep_interval = std::chrono::minutes(1))
      : metadata_(metadata), auth_(auth), ttl_(ttl), sweep_interval_(sweep_interval) {}

  // A new session for the holder of API key `key`: the session and its token
  // (for the cookie). kUnauthenticated for an unknown key. Thread-safe.
  StatusOr<std::pair<BrowserSession, std::string>> StartWithKey(std::string_view key) const;
  // A new session for user `user` with `password` (Authenticator::VerifyPassword):
  // the session gets a user key of its own named "web session", expiring with
  // it and revoked by End(). kUnauthenticated, the same for an unknown user
  // and a wrong password. Thread-safe.
  StatusOr<std::pair<BrowserSession, std::string>> StartWithPassword(std::string_view user,
                                                                     std::string_view password) const;

  // The session named by the request's cookie: nullopt when it carries no
  // session cookie; kUnauthenticated when the session is unknown or expired
  // or its key is gone; kPermissionDenied when the method changes state and
  // X-Cairn-Csrf is missing or wrong. Thread-safe.
  StatusOr<std::optional<BrowserSession>> Resolve(const HttpRequest& request) const;

  // Deletes the session (idempotent), and revokes the key of a password sign-in.
  Status End(const BrowserSession& session) const;

  // Deletes every expired session (on any replica's behalf) and revokes the
  // "web session" key of each expired password sign-in; returns how many
  // sessions it deleted. Thread-safe; replicas may sweep concurrently.
  StatusOr<std::size_t> SweepExpired() const;

  // The Set-Cookie value that stores `token` (Secure when `secure`), and the
  // one that clears it.
  std::string SetCookie(std::string_view token, bool secure) const;
  static std::string ClearCookie(bool secure);

 private:
  // Stores a session for `key` (already valid) under subject `subject_kind` + its hash.
  StatusOr<std::pair<BrowserSession, std::string>> Start(std::string_view key, std::string_view subject_kind) const;
  StatusOr<BrowserSession> FromSubject(std::string subject, std::string_view token) const;
  // SweepExpired unless this process swept less than sweep_interval_ ago;
  // a failed sweep is logged by nobody and retried next time (best effort).
  void MaybeSweep() const;

  MetadataStore* metadata_;
  const Authenticator* auth_;
  std::chrono::seconds ttl_;
  std::chrono::seconds sweep_interval_;
  mutable std::atomic<long long> last_sweep_ms_{0};
};

// The value of cookie `name` in a Cookie header, "" when absent.
std::string_view CookieValue(std::string_view header, std::string_view name);
// Whether the request came over TLS (or through a proxy that says so).
bool RequestIsSecure(const HttpRequest& request);

}  // namespace cairn::internal
