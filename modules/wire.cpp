#include "modules/wire.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <boost/json.hpp>

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

template <class Int>
bool parse_int(std::string_view s, Int& out) noexcept {
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

bool all_digits(std::string_view s) noexcept {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

std::string rfc3339_from_unix_s(std::int64_t s, std::string_view fraction) {
  if (s < 0 || s > max_unix_s) return {};
  using namespace std::chrono;
  const sys_seconds tp{seconds{s}};
  const sys_days day = floor<days>(tp);
  const year_month_day ymd{day};
  const hh_mm_ss<seconds> hms{tp - day};
  // "YYYY-MM-DDTHH:MM:SS" by hand: snprintf was a visible cost on history pages where every
  // message carries a Unix time. The range check above keeps the year at four digits.
  std::string out = "0000-00-00T00:00:00";
  auto put = [&out](std::size_t at, unsigned v, std::size_t digits) {
    for (std::size_t i = digits; i-- > 0; v /= 10) out[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, static_cast<unsigned>(static_cast<int>(ymd.year())), 4);
  put(5, static_cast<unsigned>(ymd.month()), 2);
  put(8, static_cast<unsigned>(ymd.day()), 2);
  put(11, static_cast<unsigned>(hms.hours().count()), 2);
  put(14, static_cast<unsigned>(hms.minutes().count()), 2);
  put(17, static_cast<unsigned>(hms.seconds().count()), 2);
  if (!fraction.empty() && fraction.size() <= 9 && all_digits(fraction)) {
    out += '.';
    out += fraction;
  }
  out += 'Z';
  return out;
}

std::string rfc3339_from_unix_ms(std::int64_t ms) {
  if (ms < 0) return {};
  const int millis = static_cast<int>(ms % 1000);
  if (millis == 0) return rfc3339_from_unix_s(ms / 1000);
  const char frac[3] = {static_cast<char>('0' + millis / 100),
                        static_cast<char>('0' + millis / 10 % 10),
                        static_cast<char>('0' + millis % 10)};
  return rfc3339_from_unix_s(ms / 1000, std::string_view(frac, 3));
}

std::string rfc3339_from_decimal_seconds(std::string_view ts) {
  const std::size_t dot = ts.find('.');
  std::int64_t secs = 0;
  if (!parse_int(ts.substr(0, dot), secs)) return {};
  const std::string_view frac =
      dot == std::string_view::npos ? std::string_view{} : ts.substr(dot + 1);
  return rfc3339_from_unix_s(secs, frac);
}

std::string normalize_rfc3339(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't') ||
      t[13] != ':' || t[16] != ':')
    return {};
  int y = 0;
  unsigned mo = 0, d = 0;
  int h = 0, mi = 0, s = 0;
  if (!parse_int(t.substr(0, 4), y) || !parse_int(t.substr(5, 2), mo) ||
      !parse_int(t.substr(8, 2), d) || !parse_int(t.substr(11, 2), h) ||
      !parse_int(t.substr(14, 2), mi) || !parse_int(t.substr(17, 2), s))
    return {};
  std::size_t i = 19;
  std::string_view frac;
  if (i < t.size() && t[i] == '.') {
    std::size_t j = i + 1;
    while (j < t.size() && t[j] >= '0' && t[j] <= '9') ++j;
    frac = t.substr(i + 1, j - i - 1);
    if (frac.empty()) return {};
    i = j;
  }
  if (i >= t.size()) return {};
  int offset_minutes = 0;
  const std::string_view zone = t.substr(i);
  if (zone == "Z" || zone == "z") {
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    int oh = 0, om = 0;
    if (!parse_int(zone.substr(1, 2), oh) || !parse_int(zone.substr(4, 2), om)) return {};
    offset_minutes = (oh * 60 + om) * (zone[0] == '-' ? -1 : 1);
  } else {
    return {};
  }
  using namespace std::chrono;
  const year_month_day ymd{year{y}, month{mo}, day{d}};
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) return {};
  const std::int64_t secs =
      static_cast<std::int64_t>(sys_days{ymd}.time_since_epoch().count()) * 86400 +
      std::int64_t{h} * 3600 + std::int64_t{mi} * 60 + s - std::int64_t{offset_minutes} * 60;
  // Keep at most milli/micro/nano precision as sent (up to 9 digits).
  return rfc3339_from_unix_s(secs, frac.size() <= 9 ? frac : frac.substr(0, 9));
}

std::optional<std::string_view> cookie(const header_fields& headers, std::string_view name) {
  for (const auto& f : headers.fields()) {
    if (!ascii_iequals(f.name, "cookie")) continue;
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
  if (s.size() < 7 || !ascii_iequals(s.substr(0, 7), "bearer ")) return std::nullopt;
  s = trim(s.substr(7));
  if (s.empty()) return std::nullopt;
  return s;
}

std::optional<std::string> authorization_secret(const header_fields& headers) {
  const auto v = headers.get("authorization");
  if (!v) return std::nullopt;
  std::string_view s = trim(*v);
  for (const std::string_view scheme : {"bearer ", "bot "}) {
    if (s.size() > scheme.size() && ascii_iequals(s.substr(0, scheme.size()), scheme)) {
      s = trim(s.substr(scheme.size()));
      break;
    }
  }
  if (s.empty()) return std::nullopt;
  return std::string(s);
}

std::string authorization_digest(const header_fields& headers) {
  if (auto s = authorization_secret(headers)) return short_digest(*s);
  return {};
}

party proxy_party(const exchange& x) {
  party p;
  if (!x.proxy_user.empty()) {
    p.id = std::string(x.proxy_user);
    p.source = identity_source::proxy;
  }
  return p;
}

chat_event new_event(std::string_view app, std::string_view transport, direction d,
                     std::string session_key, event_kind kind) {
  chat_event e;
  e.kind = kind;
  e.app = std::string(app);
  e.transport = std::string(transport);
  e.direction = d;
  e.session_key = std::move(session_key);
  return e;
}

attachment attachment_of_part(const content::multipart_part& part, std::size_t index) {
  attachment a;
  a.name = part.filename;
  a.media_type = part.media_type;
  a.size = part.body.size();
  a.sha256 = sha256_hex(part.body);
  a.bytes = part.body;
  a.at.path.push_back({layer_kind::multipart, std::to_string(index)});
  return a;
}

std::string file_record(const attachment& a, bool with_ref) {
  boost::json::object o;
  o["name"] = a.name;
  o["media_type"] = a.media_type;
  if (a.size) o["size"] = *a.size;
  o["sha256"] = a.sha256;
  if (with_ref && !a.ref.empty()) o["url"] = a.ref;
  return boost::json::serialize(o);
}

void apply_file_record(attachment& a, std::string_view record, const limits& lim, bool with_ref) {
  content::json_arena v_arena;
  boost::json::value v(v_arena.storage());
  if (content::parse_json(record, lim, v)) return;
  if (a.name.empty()) a.name = str(v, "name");
  if (a.media_type.empty()) a.media_type = str(v, "media_type");
  if (a.sha256.empty()) a.sha256 = str(v, "sha256");
  if (!a.size)
    if (auto s = content::id_at(v, "/size")) a.size = to_u64(*s);
  if (with_ref && a.ref.empty()) a.ref = str(v, "url");
}

bool success_with_body(const exchange& x) noexcept {
  return x.response != nullptr && x.response->status >= 200 && x.response->status <= 299 &&
         !x.response->body.empty();
}

bool starts_with(std::string_view s, std::string_view prefix) noexcept {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

bool ends_with(std::string_view s, std::string_view suffix) noexcept {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool iends_with(std::string_view s, std::string_view suffix) noexcept {
  return s.size() >= suffix.size() && ascii_iequals(s.substr(s.size() - suffix.size()), suffix);
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

std::string json_str(const boost::json::value& v, std::string_view pointer) {
  const boost::json::value* p = content::at_pointer(v, pointer);
  if (p == nullptr || !p->is_string()) return {};
  return std::string(p->get_string());
}

std::string pointer_join(std::string_view base, std::string_view token) {
  std::string out(base);
  out += '/';
  out += content::pointer_escape(token);
  return out;
}

std::string pointer_join(std::string_view base, std::size_t index) {
  std::string out(base);
  out += '/';
  out += std::to_string(index);
  return out;
}

}  // namespace imcap::modules::wire
