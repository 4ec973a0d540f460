#pragma once
// Accounts, passwords, sessions and login throttling of the reviewer UI.
//
// Passwords: argon2id via libsodium's crypto_pwhash_str (interactive limits); the hash string
// carries its own salt and parameters. Accounts live in the archive (archive::store::put_user),
// so `imcapctl user` in another process and the UI see the same accounts.
//
// Sessions live in memory (a restart logs everyone out): 256-bit random ids from libsodium,
// one CSRF token per session, an idle and an absolute lifetime measured with the injected
// clock. Thread-safe: the UI handles requests on several threads.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "quarantine/settings.hpp"

namespace imcap::quarantine {

enum class role : std::uint8_t {
  admin,     // everything: accounts, packs, quarantine actions, audit log
  reviewer,  // quarantine actions, archive read, attachment download
  auditor,   // read-only, including the audit log
};
std::optional<role> parse_role(std::string_view s) noexcept;
std::string_view role_name(role r) noexcept;

// 1..64 characters from A-Z a-z 0-9 . _ @ -
bool valid_user_name(std::string_view name) noexcept;

// crypto_pwhash_str (argon2id, interactive limits). Throws std::runtime_error when libsodium
// cannot (out of memory) or the password is empty or longer than 1024 bytes.
std::string hash_password(std::string_view password);
// Constant work whether or not `hash` is well-formed, so an unknown user costs the same time.
bool verify_password(std::string_view hash, std::string_view password);

// 32 random bytes (libsodium), lowercase hex.
std::string random_token();
// Constant-time equality of two tokens.
bool tokens_equal(std::string_view a, std::string_view b) noexcept;

// UTC microseconds since the epoch; tests inject their own.
using clock_fn = std::function<std::int64_t()>;
std::int64_t system_now_us();

struct session {
  std::string id;
  std::string user;
  quarantine::role role = role::auditor;
  std::string csrf;
  std::int64_t created_us = 0;
  std::int64_t last_us = 0;
};

class session_table {
 public:
  session_table(std::chrono::minutes idle, std::chrono::hours absolute, clock_fn now);
  session create(const std::string& user, role r);
  // The live session with this id, its idle clock restarted; nullopt (and forgotten) when
  // unknown, idle too long or past its absolute lifetime.
  std::optional<session> touch(std::string_view id);
  void end(std::string_view id);
  std::size_t size() const;

 private:
  void prune_locked(std::int64_t now);
  std::int64_t idle_us_, absolute_us_;
  clock_fn now_;
  mutable std::mutex mutex_;
  std::map<std::string, session, std::less<>> sessions_;
};

// Counts failed logins per user name and per client address; `max_failures` within `window`
// lock further attempts for that name or address until the oldest counted failure is older
// than `window` (a correct password does not get through while locked).
class login_throttle {
 public:
  login_throttle(unsigned max_failures, std::chrono::minutes window, clock_fn now);
  bool locked(std::string_view user, std::string_view address);
  void failure(std::string_view user, std::string_view address);
  void success(std::string_view user);

 private:
  bool locked_key(const std::string& key, std::int64_t now);
  unsigned max_;
  std::int64_t window_us_;
  clock_fn now_;
  std::mutex mutex_;
  std::map<std::string, std::deque<std::int64_t>, std::less<>> failures_;
};

}  // namespace imcap::quarantine
