#include "quarantine/auth.hpp"

#include <sodium.h>

#include <stdexcept>

namespace imcap::quarantine {

namespace {

void init_sodium() {
  static const int rc = sodium_init();
  if (rc < 0) throw std::runtime_error("libsodium cannot be initialised");
}

// A well-formed hash of a random password: verifying against it costs what a real check costs.
const std::string& dummy_hash() {
  static const std::string h = hash_password(random_token());
  return h;
}

}  // namespace

std::optional<role> parse_role(std::string_view s) noexcept {
  if (s == "admin") return role::admin;
  if (s == "reviewer") return role::reviewer;
  if (s == "auditor") return role::auditor;
  return std::nullopt;
}

std::string_view role_name(role r) noexcept {
  switch (r) {
    case role::admin:
      return "admin";
    case role::reviewer:
      return "reviewer";
    case role::auditor:
      return "auditor";
  }
  return "auditor";
}

bool valid_user_name(std::string_view name) noexcept {
  if (name.empty() || name.size() > 64) return false;
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '@' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string hash_password(std::string_view password) {
  init_sodium();
  if (password.empty() || password.size() > 1024) {
    throw std::runtime_error("a password must have 1 to 1024 bytes");
  }
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
    throw std::runtime_error("cannot hash the password (out of memory)");
  }
  return out;
}

bool verify_password(std::string_view hash, std::string_view password) {
  init_sodium();
  const bool well_formed = !hash.empty() && hash.size() < crypto_pwhash_STRBYTES &&
                           hash.starts_with("$argon2id$") && password.size() <= 1024;
  const std::string h(well_formed ? hash : std::string_view(dummy_hash()));
  const int rc = crypto_pwhash_str_verify(h.c_str(), password.data(), password.size());
  return well_formed && rc == 0;
}

std::string random_token() {
  init_sodium();
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  char hex[sizeof raw * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  return hex;
}

bool tokens_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size() || a.empty()) return false;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::int64_t system_now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

session_table::session_table(std::chrono::minutes idle, std::chrono::hours absolute, clock_fn now)
    : idle_us_(std::chrono::duration_cast<std::chrono::microseconds>(idle).count()),
      absolute_us_(std::chrono::duration_cast<std::chrono::microseconds>(absolute).count()),
      now_(std::move(now)) {}

session session_table::create(const std::string& user, role r) {
  session s;
  s.id = random_token();
  s.csrf = random_token();
  s.user = user;
  s.role = r;
  s.created_us = s.last_us = now_();
  std::lock_guard lk(mutex_);
  prune_locked(s.created_us);
  sessions_[s.id] = s;
  return s;
}

std::optional<session> session_table::touch(std::string_view id) {
  const std::int64_t now = now_();
  std::lock_guard lk(mutex_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  auto& s = it->second;
  if (now - s.last_us >= idle_us_ || now - s.created_us >= absolute_us_ || now < s.created_us) {
    sessions_.erase(it);
    return std::nullopt;
  }
  s.last_us = now;
  return s;
}

void session_table::end(std::string_view id) {
  std::lock_guard lk(mutex_);
  if (auto it = sessions_.find(id); it != sessions_.end()) sessions_.erase(it);
}

std::size_t session_table::size() const {
  std::lock_guard lk(mutex_);
  return sessions_.size();
}

void session_table::prune_locked(std::int64_t now) {
  std::erase_if(sessions_, [&](const auto& kv) {
    return now - kv.second.last_us >= idle_us_ || now - kv.second.created_us >= absolute_us_;
  });
}

login_throttle::login_throttle(unsigned max_failures, std::chrono::minutes window, clock_fn now)
    : max_(max_failures),
      window_us_(std::chrono::duration_cast<std::chrono::microseconds>(window).count()),
      now_(std::move(now)) {}

bool login_throttle::locked_key(const std::string& key, std::int64_t now) {
  auto it = failures_.find(key);
  if (it == failures_.end()) return false;
  auto& q = it->second;
  while (!q.empty() && now - q.front() >= window_us_) q.pop_front();
  if (q.empty()) {
    failures_.erase(it);
    return false;
  }
  return q.size() >= max_;
}

bool login_throttle::locked(std::string_view user, std::string_view address) {
  const std::int64_t now = now_();
  std::lock_guard lk(mutex_);
  const bool u = locked_key("user:" + std::string(user), now);
  const bool a = locked_key("addr:" + std::string(address), now);
  return u || a;
}

void login_throttle::failure(std::string_view user, std::string_view address) {
  const std::int64_t now = now_();
  std::lock_guard lk(mutex_);
  // Bounded memory: a flood of distinct names cannot grow the table without limit.
  if (failures_.size() > 100'000) {
    std::erase_if(failures_, [&](const auto& kv) {
      return kv.second.empty() || now - kv.second.back() >= window_us_;
    });
  }
  for (auto key : {"user:" + std::string(user), "addr:" + std::string(address)}) {
    auto& q = failures_[key];
    q.push_back(now);
    while (q.size() > max_) q.pop_front();
  }
}

void login_throttle::success(std::string_view user) {
  std::lock_guard lk(mutex_);
  if (auto it = failures_.find("user:" + std::string(user)); it != failures_.end()) {
    failures_.erase(it);
  }
}

}  // namespace imcap::quarantine
