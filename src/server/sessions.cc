#include "server/sessions.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>

#include "common/fs.h"
#include "common/sha256.h"

namespace cairn::internal {
namespace {

constexpr std::string_view kKeySubject = "key:";
// A password sign-in: the session holds a user key of its own (issued at
// sign-in, expiring with the session), revoked when the session ends.
constexpr std::string_view kUserKeySubject = "userkey:";

// 32 bytes from OpenSSL's CSPRNG, base64url without padding (43 characters).
StatusOr<std::string> NewToken() {
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return InternalError("OpenSSL RAND_bytes failed to make a session");
  std::string token = EncodeBase64(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
  std::replace(token.begin(), token.end(), '+', '-');
  std::replace(token.begin(), token.end(), '/', '_');
  while (!token.empty() && token.back() == '=') token.pop_back();
  return token;
}

// Derived from the token, which only the browser's cookie jar holds: a page
// of another origin can neither read the cookie nor this value.
std::string CsrfFor(std::string_view token) { return Sha256Hex("cairn-csrf:" + std::string(token)).substr(0, 32); }

bool ChangesState(std::string_view method) { return method != "GET" && method != "HEAD"; }

}  // namespace

std::string_view CookieValue(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const std::size_t semi = header.find(';');
    std::string_view pair = TrimSpace(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    const std::size_t eq = pair.find('=');
    if (eq != std::string_view::npos && TrimSpace(pair.substr(0, eq)) == name) return TrimSpace(pair.substr(eq + 1));
  }
  return {};
}

bool RequestIsSecure(const HttpRequest& request) { return request.tls || request.forwarded_proto == "https"; }

StatusOr<BrowserSession> WebSessions::FromSubject(std::string subject, std::string_view token) const {
  std::string_view hash;
  if (subject.starts_with(kKeySubject)) {
    hash = std::string_view(subject).substr(kKeySubject.size());
  } else if (subject.starts_with(kUserKeySubject)) {
    hash = std::string_view(subject).substr(kUserKeySubject.size());
  } else {
    return UnauthenticatedError("this session's kind of sign-in is not supported by this server: sign in again");
  }
  StatusOr<Principal> who = auth_->AuthenticateKeyHash(hash);
  if (!who.ok()) {
    if (who.status().code() != StatusCode::kUnauthenticated) return who.status();
    return UnauthenticatedError("the API key of this session was revoked: sign in again");
  }
  return BrowserSession{.principal = *std::move(who),
                        .subject = std::move(subject),
                        .csrf = CsrfFor(token),
                        .token_hash = Sha256Hex(token)};
}

StatusOr<std::pair<BrowserSession, std::string>> WebSessions::StartWithKey(std::string_view key) const {
  key = TrimSpace(key);
  if (key.empty()) return InvalidArgumentError("sign in with an API key: the \"key\" field is empty");
  return Start(key, kKeySubject);
}

StatusOr<std::pair<BrowserSession, std::string>> WebSessions::StartWithPassword(std::string_view user,
                                                                                std::string_view password) const {
  if (user.empty() || password.empty()) {
    return InvalidArgumentError("sign in with {\"user\": ..., \"password\": ...}: both must be non-empty");
  }
  CAIRN_RETURN_IF_ERROR(auth_->VerifyPassword(user, password).status());
  const long long expires = NowMs() + std::chrono::duration_cast<std::chrono::milliseconds>(ttl_).count();
  StatusOr<Authenticator::IssuedKey> issued =
      auth_->IssueKey({.user = std::string(user), .expires_ms = expires, .name = "web session"});
  if (!issued.ok()) return issued.status();
  return Start(issued->secret, kUserKeySubject);
}

StatusOr<std::pair<BrowserSession, std::string>> WebSessions::Start(std::string_view key,
                                                                    std::string_view subject_kind) const {
  MaybeSweep();
  StatusOr<Principal> who = auth_->Authenticate("Bearer " + std::string(key));
  if (!who.ok()) return who.status();
  StatusOr<std::string> token = NewToken();
  if (!token.ok()) return token.status();
  const long long now = NowMs();
  SessionRecord record{.token_hash = Sha256Hex(*token),
                       .subject = std::string(subject_kind) + Sha256Hex(key),
                       .created_ms = now,
                       .expires_ms = now + std::chrono::duration_cast<std::chrono::milliseconds>(ttl_).count()};
  CAIRN_RETURN_IF_ERROR(metadata_->PutSession(record));
  BrowserSession session{.principal = *std::move(who),
                         .subject = record.subject,
                         .csrf = CsrfFor(*token),
                         .token_hash = record.token_hash};
  return std::make_pair(std::move(session), *std::move(token));
}

StatusOr<std::optional<BrowserSession>> WebSessions::Resolve(const HttpRequest& request) const {
  const std::string_view token = CookieValue(request.cookie, kSessionCookie);
  if (token.empty()) return std::optional<BrowserSession>();
  StatusOr<std::optional<SessionRecord>> record = metadata_->FindSession(Sha256Hex(token), NowMs());
  if (!record.ok()) return record.status();
  if (!record->has_value()) {
    MaybeSweep();  // perhaps it expired: delete it and what it held
    return UnauthenticatedError("the session has ended or expired: sign in again");
  }
  StatusOr<BrowserSession> session = FromSubject((*record)->subject, token);
  if (!session.ok()) return session.status();
  if (ChangesState(request.method)) {
    const std::string& want = session->csrf;
    if (request.csrf.size() != want.size() || CRYPTO_memcmp(request.csrf.data(), want.data(), want.size()) != 0) {
      return PermissionDeniedError(
          "this request changes state and needs the X-Cairn-Csrf header of its session (GET /api/v1/session)");
    }
  }
  return std::optional<BrowserSession>(*std::move(session));
}

Status WebSessions::End(const BrowserSession& session) const {
  CAIRN_RETURN_IF_ERROR(metadata_->DeleteSession(session.token_hash));
  // A password sign-in's own key ends with it (a key signed in with stays).
  if (session.subject.starts_with(kUserKeySubject) && !session.principal.key_id.empty()) {
    return metadata_->RevokeKey(session.principal.key_id, NowMs()).status();
  }
  return OkStatus();
}

StatusOr<std::size_t> WebSessions::SweepExpired() const {
  const long long now = NowMs();
  StatusOr<std::vector<SessionRecord>> expired = metadata_->DeleteExpiredSessions(now);
  if (!expired.ok()) return expired.status();
  for (const SessionRecord& s : *expired) {
    if (!s.subject.starts_with(kUserKeySubject)) continue;  // a key signed in with stays
    const std::string key_hash = s.subject.substr(kUserKeySubject.size());
    StatusOr<bool> revoked = metadata_->RevokeKey(KeyIdFromHash(key_hash), now);
    if (!revoked.ok()) return revoked.status();
  }
  return expired->size();
}

void WebSessions::MaybeSweep() const {
  const long long now = NowMs();
  long long last = last_sweep_ms_.load();
  const long long interval = std::chrono::duration_cast<std::chrono::milliseconds>(sweep_interval_).count();
  if (last != 0 && now - last < interval) return;
  if (!last_sweep_ms_.compare_exchange_strong(last, now)) return;  // another thread sweeps
  (void)SweepExpired();  // best effort: the next sign-in retries
}

std::string WebSessions::SetCookie(std::string_view token, bool secure) const {
  return std::string(kSessionCookie) + "=" + std::string(token) + "; Path=/; Max-Age=" + std::to_string(ttl_.count()) +
         "; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "");
}

std::string WebSessions::ClearCookie(bool secure) {
  return std::string(kSessionCookie) + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "");
}

}  // namespace cairn::internal
