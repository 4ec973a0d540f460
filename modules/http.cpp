#include "modules/http.hpp"

#include <algorithm>
#include <array>

#include <boost/url/authority_view.hpp>
#include <boost/url/encoding_opts.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/parse_query.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/url_view.hpp>

#include "common/uri_guard.hpp"

namespace imcap::modules {

namespace {

char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowercase(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = lower(c);
  return r;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Host (lowercase, port and userinfo dropped) from an authority such as a Host header value.
std::string host_from_authority(std::string_view authority) {
  auto a = boost::urls::parse_authority(authority);
  if (a) return lowercase(a->encoded_host_address());
  // Not a valid authority: keep what precedes a port-looking suffix, so classification still
  // has something to compare.
  auto colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') == std::string_view::npos)
    authority = authority.substr(0, colon);
  return lowercase(trim(authority));
}

// ---- the fast path: targets and authorities simple enough that splitting them by hand gives
// what Boost.URL gives (no percent-escapes, so decoding is the identity; only characters the
// grammar allows where they stand). Anything else goes to Boost.URL. Most traffic through a
// proxy is not chat, so this runs for every transaction; request_head::make_reference is the
// slow path the unit test compares it with.

constexpr bool alnum(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// RFC 3986 pchar without pct-encoded, plus '/' and '?' (path and query characters): alnum,
// unreserved, sub-delims, ':' '@' (pchar), '/' '?' (path separators, query). A table, since
// every byte of every target is looked up.
constexpr auto plain_path_table = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[static_cast<std::size_t>(c)] = alnum(static_cast<char>(c));
  for (char c : std::string_view("-._~!$&'()*+,;=:@/?")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool plain_path_or_query(char c) noexcept {
  return plain_path_table[static_cast<unsigned char>(c)];
}

bool plain_path_and_query(std::string_view s) noexcept {
  for (char c : s)
    if (!plain_path_or_query(c)) return false;
  return true;
}

// `host[:digits]` with host made of letters, digits, '-', '.', '_', '~' (a reg-name or an
// IPv4 address): the host part, or nullopt when the authority needs Boost.URL.
std::optional<std::string_view> plain_authority_host(std::string_view a) noexcept {
  std::size_t i = 0;
  while (i < a.size() && (alnum(a[i]) || a[i] == '-' || a[i] == '.' || a[i] == '_' || a[i] == '~'))
    ++i;
  std::string_view host = a.substr(0, i);
  if (i == a.size()) return host;
  if (a[i] != ':') return std::nullopt;
  for (++i; i < a.size(); ++i)
    if (a[i] < '0' || a[i] > '9') return std::nullopt;
  return host;
}

// Lowercase `s` into `out`, reusing out's storage.
void assign_lowercase(std::string& out, std::string_view s) {
  out.resize(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) out[i] = lower(s[i]);
}

void host_from_authority_fast(std::string& out, std::string_view authority) {
  if (auto h = plain_authority_host(authority))
    assign_lowercase(out, *h);
  else
    out = host_from_authority(authority);
}

// Origin-form "/path?query": path and query, or false when Boost.URL must decide.
bool split_origin_form(std::string_view t, std::string& path, std::string& query) {
  if (!plain_path_and_query(t)) return false;
  auto q = t.find('?');
  path.assign(t.substr(0, q));
  if (q != std::string_view::npos) query.assign(t.substr(q + 1));
  return true;
}

// Absolute-form "scheme://authority/path?query" with a plain authority: host, path ("/" when
// empty) and query, or false when Boost.URL must decide.
bool split_absolute_form(std::string_view t, std::string& host, std::string& path,
                         std::string& query) {
  if (t.empty() || !((t[0] >= 'a' && t[0] <= 'z') || (t[0] >= 'A' && t[0] <= 'Z'))) return false;
  std::size_t i = 1;
  while (i < t.size() && (alnum(t[i]) || t[i] == '+' || t[i] == '-' || t[i] == '.')) ++i;
  if (t.substr(i, 3) != "://") return false;
  t.remove_prefix(i + 3);
  const std::size_t end = std::min(t.find('/'), t.find('?'));
  auto h = plain_authority_host(t.substr(0, end));
  if (!h) return false;
  std::string_view rest = end == std::string_view::npos ? std::string_view{} : t.substr(end);
  if (!plain_path_and_query(rest)) return false;
  assign_lowercase(host, *h);
  auto q = rest.find('?');
  path.assign(rest.substr(0, q));
  if (path.empty()) path = "/";
  if (q != std::string_view::npos) query.assign(rest.substr(q + 1));
  return true;
}

}  // namespace

bool ascii_iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

void header_fields::reserve(std::size_t n) {
  fields_.reserve(n);
}

void header_fields::resize(std::size_t n) {
  fields_.resize(n);
}

void header_fields::set(std::size_t i, std::string_view name, std::string_view value) {
  fields_[i].name.assign(name);
  fields_[i].value.assign(value);
}

void header_fields::add(std::string name, std::string value) {
  fields_.push_back(field{std::move(name), std::move(value)});
}

std::optional<std::string_view> header_fields::get(std::string_view name) const noexcept {
  for (const auto& f : fields_) {
    if (ascii_iequals(f.name, name)) return std::string_view(f.value);
  }
  return std::nullopt;
}

request_head request_head::make(std::string method, std::string target, header_fields headers) {
  request_head h;
  h.headers = std::move(headers);
  h.remake(method, target);
  return h;
}

void request_head::remake(std::string_view m, std::string_view t) {
  method.assign(m);
  target.assign(t);
  host.clear();
  path.clear();
  query.clear();
  bool done = false;
  if (!target.empty() && target.front() == '/')
    done = split_origin_form(target, path, query);
  else if (method == "CONNECT")
    done = false;
  else
    done = split_absolute_form(target, host, path, query);
  if (!done) {
    *this = make_reference(std::move(method), std::move(target), std::move(headers));
    return;
  }
  if (host.empty()) {
    if (auto h = headers.get("Host")) host_from_authority_fast(host, trim(*h));
  }
}

request_head request_head::make_reference(std::string method, std::string target,
                                          header_fields headers) {
  request_head h;
  h.method = std::move(method);
  h.target = std::move(target);
  h.headers = std::move(headers);

  bool have_url = false;
  if (!h.target.empty() && h.target.front() == '/') {
    if (auto u = boost::urls::parse_origin_form(h.target)) {
      h.path = u->path();
      h.query = u->encoded_query();
      have_url = true;
    }
  } else if (h.method == "CONNECT") {
    h.host = host_from_authority(h.target);
    have_url = true;
  } else if (uri_guard::brackets_outside_authority(h.target)) {
    // Not a URI; and Boost.URL 1.81 asserts on some of these ("h:]"): kept undecoded below.
  } else if (auto u = boost::urls::parse_uri(h.target)) {
    if (u->has_authority()) h.host = lowercase(u->encoded_host_address());
    h.path = u->path();
    if (h.path.empty()) h.path = "/";
    h.query = u->encoded_query();
    have_url = true;
  }
  if (!have_url) {
    // A target Boost.URL rejects (raw spaces, bad escapes): keep it undecoded so the request
    // still classifies by what it looks like.
    std::string_view t = h.target;
    auto q = t.find('?');
    h.path = std::string(t.substr(0, q));
    if (q != std::string_view::npos) h.query = std::string(t.substr(q + 1));
  }
  if (h.host.empty()) {
    if (auto host = h.headers.get("Host")) h.host = host_from_authority(trim(*host));
  }
  return h;
}

std::string header_token(std::string_view header_value) {
  return lowercase(trim(header_value.substr(0, header_value.find(';'))));
}

std::optional<std::string> header_param(std::string_view v, std::string_view name) {
  // Skip the leading token, then walk `; name=value` pairs. Each step consumes at least one
  // character, so the loop ends.
  auto semi = v.find(';');
  if (semi == std::string_view::npos) return std::nullopt;
  std::size_t i = semi + 1;
  while (i < v.size()) {
    while (i < v.size() && (v[i] == ' ' || v[i] == '\t' || v[i] == ';')) ++i;
    std::size_t name_start = i;
    while (i < v.size() && v[i] != '=' && v[i] != ';') ++i;
    std::string_view pname = trim(v.substr(name_start, i - name_start));
    std::string value;
    if (i < v.size() && v[i] == '=') {
      ++i;
      while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
      if (i < v.size() && v[i] == '"') {
        ++i;
        while (i < v.size() && v[i] != '"') {
          if (v[i] == '\\' && i + 1 < v.size()) ++i;
          value += v[i];
          ++i;
        }
        if (i < v.size()) ++i;  // closing quote
        while (i < v.size() && v[i] != ';') ++i;
      } else {
        std::size_t vs = i;
        while (i < v.size() && v[i] != ';') ++i;
        value = std::string(trim(v.substr(vs, i - vs)));
      }
    }
    if (!pname.empty() && ascii_iequals(pname, name)) return value;
  }
  return std::nullopt;
}

std::string request_head::media_type() const {
  auto ct = headers.get("Content-Type");
  return ct ? header_token(*ct) : std::string();
}

std::optional<std::string> request_head::content_type_param(std::string_view name) const {
  auto ct = headers.get("Content-Type");
  if (!ct) return std::nullopt;
  return header_param(*ct, name);
}

std::optional<std::string> request_head::query_param(std::string_view name) const {
  auto params = boost::urls::parse_query(query);
  if (!params) return std::nullopt;
  boost::urls::encoding_opts opt;
  opt.space_as_plus = true;
  for (auto p : *params) {
    if (p.key.decode(opt) == name) {
      if (!p.has_value) return std::string();
      return p.value.decode(opt);
    }
  }
  return std::nullopt;
}

std::string http_response::media_type() const {
  auto ct = headers.get("Content-Type");
  return ct ? header_token(*ct) : std::string();
}

}  // namespace imcap::modules
