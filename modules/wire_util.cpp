#include "modules/wire_util.hpp"

#include <charconv>
#include <cstdio>
#include <ctime>
#include <vector>

#include "modules/content/json.hpp"
#include "modules/event.hpp"

namespace imcap::modules::wire {

std::string short_digest(std::string_view secret) {
  if (secret.empty()) return {};
  return sha256_hex(secret).substr(0, 16);
}

namespace {

// 9999-12-31T23:59:59Z; beyond that the four-digit year of RFC 3339 does not hold.
constexpr std::int64_t max_unix_s = 253402300799;

std::string format_utc(std::int64_t s, int millis) {
  if (s < 0 || s > max_unix_s) return {};
  const auto t = static_cast<std::time_t>(s);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return {};
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  if (n == 0) return {};
  std::string out(buf, n);
  if (millis != 0) {
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03d", millis);
    out += frac;
  }
  out += 'Z';
  return out;
}

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string rfc3339_from_unix_ms(std::int64_t ms) {
  if (ms < 0) return {};
  return format_utc(ms / 1000, static_cast<int>(ms % 1000));
}

std::string rfc3339_from_unix_s(std::int64_t s) { return format_utc(s, 0); }

std::optional<std::string_view> cookie(const header_fields& headers, std::string_view name) {
  for (const auto& f : headers.fields()) {
    if (!iequals(f.name, "cookie")) continue;
    std::string_view rest = f.value;
    // Cookie pairs are separated by ';' (RFC 6265 §5.4); bounded by the header's length.
    while (!rest.empty()) {
      const std::size_t semi = rest.find(';');
      std::string_view pair = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      const std::size_t eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      if (trim(pair.substr(0, eq)) == name) return trim(pair.substr(eq + 1));
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> bearer_token(const header_fields& headers) {
  const auto v = headers.get("authorization");
  if (!v) return std::nullopt;
  std::string_view s = trim(*v);
  if (s.size() < 7 || !iequals(s.substr(0, 7), "bearer ")) return std::nullopt;
  s = trim(s.substr(7));
  if (s.empty()) return std::nullopt;
  return s;
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i])) return false;
  return true;
}

bool starts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view s, std::string_view suffix) noexcept {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool host_under(std::string_view host, std::string_view domain) noexcept {
  if (host == domain) return true;
  return host.size() > domain.size() && ends_with(host, domain) &&
         host[host.size() - domain.size() - 1] == '.';
}

std::string_view path_segment(std::string_view path, std::string_view prefix,
                              std::size_t index) noexcept {
  if (!starts_with(path, prefix)) return {};
  std::string_view rest = path.substr(prefix.size());
  for (std::size_t i = 0;; ++i) {
    const std::size_t slash = rest.find('/');
    if (i == index) return rest.substr(0, slash);
    if (slash == std::string_view::npos) return {};
    rest.remove_prefix(slash + 1);
  }
}

}  // namespace imcap::modules::wire


namespace imcap::modules::wire {

std::optional<std::size_t> parse_index(std::string_view s) noexcept {
  std::size_t v = 0;
  if (s.empty() || s.size() > 9) return std::nullopt;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

bool parse_range(std::string_view s, std::size_t& offset, std::size_t& length) noexcept {
  const std::size_t colon = s.find(':');
  if (colon == std::string_view::npos) return false;
  const auto o = parse_index(s.substr(0, colon));
  const auto l = parse_index(s.substr(colon + 1));
  if (!o || !l) return false;
  offset = *o;
  length = *l;
  return true;
}

std::optional<std::uint64_t> to_u64(std::string_view s) noexcept {
  std::uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<std::int64_t> to_i64(std::string_view s) noexcept {
  std::int64_t v = 0;
  if (s.empty()) return std::nullopt;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string str(const boost::json::value& v, std::string_view key) {
  if (const auto* o = v.if_object())
    if (const auto* f = o->if_contains(key))
      if (const auto* s = f->if_string()) return std::string(*s);
  return {};
}

std::optional<std::int64_t> int_at(const boost::json::value& v, std::string_view pointer) {
  const auto text = content::id_at(v, pointer);
  if (!text) return std::nullopt;
  return to_i64(*text);
}

}  // namespace imcap::modules::wire
