#include "icap/parser.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>

#include <boost/url/parse.hpp>

#include "common/uri_guard.hpp"
#include "icap/text.hpp"

namespace imcap::icap {

int error_status(parse_error e) noexcept {
  switch (e) {
    case parse_error::unknown_method:
      return 501;
    case parse_error::bad_version:
      return 505;
    case parse_error::none:
      return 200;
    default:
      return 400;
  }
}

std::string_view error_reason(parse_error e) noexcept {
  switch (e) {
    case parse_error::none:
      return "no error";
    case parse_error::bad_request_line:
      return "malformed request line";
    case parse_error::unknown_method:
      return "method not implemented";
    case parse_error::bad_version:
      return "ICAP version not supported";
    case parse_error::bad_uri:
      return "malformed ICAP URI";
    case parse_error::bad_header:
      return "malformed ICAP header";
    case parse_error::header_too_large:
      return "ICAP header block too large";
    case parse_error::missing_encapsulated:
      return "missing Encapsulated header";
    case parse_error::bad_encapsulated:
      return "malformed Encapsulated header";
    case parse_error::http_head_too_large:
      return "encapsulated HTTP headers too large";
    case parse_error::bad_http_head:
      return "malformed encapsulated HTTP header";
    case parse_error::bad_preview:
      return "malformed Preview header";
    case parse_error::bad_chunk_size:
      return "malformed chunk size";
    case parse_error::chunk_line_too_long:
      return "chunk-size line too long";
    case parse_error::bad_chunk_terminator:
      return "chunk data not followed by CRLF";
    case parse_error::bad_trailer:
      return "malformed trailer";
    case parse_error::preview_too_long:
      return "preview longer than announced";
  }
  return "unknown error";
}

namespace {

constexpr std::string_view crlf2 = "\r\n\r\n";

// Parses header lines ("name: value" CRLF ...) from `block`, which holds everything after the
// start line up to and including the final empty line. Accepts obsolete line folding. On
// failure `out` may hold some fields; the caller discards the whole request then.
bool parse_fields(std::string_view block, header_list& out) {
  bool have_field = false;
  while (true) {
    auto eol = block.find("\r\n");
    if (eol == std::string_view::npos) return false;
    auto line = block.substr(0, eol);
    block.remove_prefix(eol + 2);
    if (line.empty()) break;
    if (is_ows(line.front())) {  // obs-fold: continuation of the previous value
      if (!have_field) return false;
      auto more = trim_ows(line);
      if (!more.empty()) out.append_to_last(more);
      continue;
    }
    auto colon = line.find(':');
    if (colon == 0 || colon == std::string_view::npos) return false;
    auto name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), [](char c) { return is_tchar(c); })) return false;
    auto value = trim_ows(line.substr(colon + 1));
    // A bare CR or LF inside a value (the line itself ends at the first CRLF). Two memchr
    // scans: string_view::find_first_of would call memchr once per character of the value.
    if (value.find('\r') != std::string_view::npos || value.find('\n') != std::string_view::npos)
      return false;
    out.add(std::string(name), std::string(value));
    have_field = true;
  }
  return block.empty();
}

template <class Int>
bool parse_decimal(std::string_view s, Int& out) noexcept {
  if (s.empty() || s.size() > 18) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// Parses the Encapsulated value for `m` and checks the entry order of RFC 3507 §4.4.1.
bool parse_encapsulated(std::string_view value, method m, encapsulation& enc) {
  bool seen_body = false;
  std::size_t prev = 0;
  bool first = true;
  bool ok = true;
  for_each_list_item(value, [&](std::string_view item) {
    if (!ok) return;
    auto eq = item.find('=');
    if (eq == std::string_view::npos || seen_body) {
      ok = false;
      return;
    }
    auto name = trim_ows(item.substr(0, eq));
    std::size_t off = 0;
    if (!parse_decimal(trim_ows(item.substr(eq + 1)), off)) {
      ok = false;
      return;
    }
    if ((first && off != 0) || (!first && off < prev)) {
      ok = false;
      return;
    }
    first = false;
    prev = off;
    if (iequals(name, "req-hdr")) {
      if (m == method::options || enc.req_hdr || enc.res_hdr) ok = false;
      enc.req_hdr = off;
    } else if (iequals(name, "res-hdr")) {
      if (m != method::respmod || enc.res_hdr) ok = false;
      enc.res_hdr = off;
    } else {
      seen_body = true;
      enc.body_offset = off;
      if (iequals(name, "null-body"))
        enc.body = body_part::none;
      else if (iequals(name, "req-body") && m == method::reqmod)
        enc.body = body_part::req_body;
      else if (iequals(name, "res-body") && m == method::respmod)
        enc.body = body_part::res_body;
      else if (iequals(name, "opt-body") && m == method::options)
        enc.body = body_part::opt_body;
      else
        ok = false;
    }
  });
  if (!ok || !seen_body) return false;
  // A header entry must start before the body offset, strictly (a head is never empty).
  if (enc.req_hdr && *enc.req_hdr >= enc.body_offset) return false;
  if (enc.res_hdr && *enc.res_hdr >= enc.body_offset) return false;
  if (enc.req_hdr && enc.res_hdr && *enc.res_hdr <= *enc.req_hdr) return false;
  if (!enc.req_hdr && !enc.res_hdr && enc.body_offset != 0) return false;
  return true;
}

// Looks for the `ieof` chunk extension in the part of a chunk-size line after the size.
// Extensions are `;name[=token|quoted-string]`; unknown ones are accepted and ignored.
bool scan_chunk_extensions(std::string_view ext, bool& ieof) {
  ieof = false;
  std::size_t i = 0;
  auto skip_ows = [&] {
    while (i < ext.size() && is_ows(ext[i])) ++i;
  };
  skip_ows();
  while (i < ext.size()) {
    if (ext[i] != ';') return false;
    ++i;
    skip_ows();
    auto name_start = i;
    while (i < ext.size() && is_tchar(ext[i])) ++i;
    auto name = ext.substr(name_start, i - name_start);
    if (name.empty()) return false;
    if (iequals(name, "ieof")) ieof = true;
    skip_ows();
    if (i < ext.size() && ext[i] == '=') {
      ++i;
      skip_ows();
      if (i < ext.size() && ext[i] == '"') {
        ++i;
        while (i < ext.size() && ext[i] != '"') {
          if (ext[i] == '\\') ++i;
          ++i;
        }
        if (i >= ext.size()) return false;
        ++i;
      } else {
        auto v = i;
        while (i < ext.size() && is_tchar(ext[i])) ++i;
        if (i == v) return false;
      }
      skip_ows();
    }
  }
  return true;
}

}  // namespace

parse_result request_parser::fail(parse_error e, std::size_t consumed) {
  error_ = e;
  state_ = state::failed;
  buf_.clear();
  return {parse_status::error, consumed, {}};
}

void request_parser::reset() noexcept {
  state_ = state::icap_head;
  error_ = parse_error::none;
  // Cleared member by member, not replaced: strings and lists keep their storage for the next
  // request on this connection (a fresh request{} cost a dozen allocations per transaction).
  request_.method = icap::method::options;
  request_.uri.clear();
  request_.service.clear();
  request_.headers.clear();
  request_.encapsulated = encapsulation{};
  for (auto* head : {&request_.http_request, &request_.http_response}) {
    if (*head && spare_heads_.size() < 2) spare_heads_.push_back(std::move(**head));
    head->reset();
  }
  request_.preview.reset();
  request_.allow_204 = false;
  request_.allow_206 = false;
  request_.allow_trailers = false;
  buf_.clear();
  scan_from_ = 0;
  chunk_left_ = 0;
  body_bytes_ = 0;
  wire_bytes_ = 0;
  ieof_ = false;
  in_preview_ = false;
  trailers_.clear();
}

void request_parser::continue_after_preview() noexcept {
  if (state_ != state::after_preview) return;
  state_ = state::chunk_size;
  in_preview_ = false;
}

parse_result request_parser::parse(std::string_view input) {
  std::size_t used = 0;
  auto report = [&](parse_result r) {
    r.consumed += used;
    wire_bytes_ += r.consumed;
    return r;
  };
  while (true) {
    auto rest = input.substr(used);
    switch (state_) {
      case state::icap_head: {
        auto r = parse_icap_head(rest);
        if (r.status != parse_status::incomplete || state_ == state::icap_head) return report(r);
        used += r.consumed;
        break;
      }
      case state::http_heads: {
        auto r = parse_http_heads(rest);
        if (r.status != parse_status::incomplete || state_ == state::http_heads) return report(r);
        used += r.consumed;
        break;
      }
      case state::chunk_size: {
        auto r = parse_chunk_size(rest);
        if (r.status != parse_status::incomplete || state_ == state::chunk_size) return report(r);
        used += r.consumed;
        break;
      }
      case state::chunk_data: {
        if (rest.empty()) return report({parse_status::incomplete, 0, {}});
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_left_, rest.size()));
        if (in_preview_ && request_.preview && body_bytes_ + n > *request_.preview)
          return report(fail(parse_error::preview_too_long, 0));
        chunk_left_ -= n;
        body_bytes_ += n;
        if (chunk_left_ == 0) state_ = state::chunk_data_crlf;
        return report({parse_status::body, n, rest.substr(0, n)});
      }
      case state::chunk_data_crlf: {
        // CRLF after chunk data; a bare LF is tolerated. buf_ holds a CR seen at a boundary.
        if (rest.empty()) return report({parse_status::incomplete, 0, {}});
        if (buf_.empty() && rest[0] == '\r') {
          buf_.push_back('\r');
          ++used;
          continue;
        }
        if (rest[0] != '\n') return report(fail(parse_error::bad_chunk_terminator, 0));
        buf_.clear();
        ++used;
        state_ = state::chunk_size;
        break;
      }
      case state::trailer: {
        auto r = parse_trailer(rest);
        if (r.status != parse_status::incomplete || state_ == state::trailer) return report(r);
        used += r.consumed;
        break;
      }
      case state::after_preview:
        return report({parse_status::preview_done, 0, {}});
      case state::complete:
        return report({parse_status::done, 0, {}});
      case state::failed:
        return report({parse_status::error, 0, {}});
    }
  }
}

// Accumulates the ICAP head up to the empty line; parses it in one piece.
parse_result request_parser::parse_icap_head(std::string_view in) {
  const auto limit = limits_.max_icap_header_bytes;
  std::string_view head;
  std::size_t consumed = 0;
  if (buf_.empty()) {
    auto pos = in.find(crlf2);
    if (pos != std::string_view::npos && pos + 4 <= limit) {
      head = in.substr(0, pos + 4);
      consumed = pos + 4;
    }
  }
  if (head.empty()) {
    auto old = buf_.size();
    auto start = old >= 3 ? old - 3 : 0;
    auto take = std::min(in.size(), limit + 1 - std::min(old, limit + 1));
    buf_.append(in.substr(0, take));
    auto pos = buf_.find(crlf2, start);
    if (pos == std::string::npos) {
      if (buf_.size() > limit) return fail(parse_error::header_too_large, take);
      return {parse_status::incomplete, take, {}};
    }
    if (pos + 4 > limit) return fail(parse_error::header_too_large, take);
    consumed = pos + 4 - old;
    buf_.resize(pos + 4);
    head = buf_;
  }
  auto e = finish_icap_head(head);
  buf_.clear();
  if (e != parse_error::none) return fail(e, consumed);
  if (request_.encapsulated.body_offset > 0) {
    if (request_.encapsulated.body_offset > limits_.max_http_header_bytes)
      return fail(parse_error::http_head_too_large, consumed);
    state_ = state::http_heads;
    return {parse_status::incomplete, consumed, {}};
  }
  state_ = request_.has_body() ? state::chunk_size : state::complete;
  return {parse_status::head_done, consumed, {}};
}

std::optional<std::string_view> icap_uri_service_reference(std::string_view uri) {
  if (uri_guard::brackets_outside_authority(uri)) return std::nullopt;
  auto parsed = boost::urls::parse_uri_reference(uri);
  if (!parsed) return std::nullopt;
  if (parsed->has_scheme()) {
    auto scheme = parsed->scheme();
    if (!iequals(scheme, "icap") && !iequals(scheme, "icaps")) return std::nullopt;
  } else if (!parsed->is_path_absolute()) {
    return std::nullopt;
  }
  auto path = parsed->encoded_path();
  if (path.empty()) return std::string_view("/");
  return std::string_view(path.data(), path.size());
}

namespace {

// Characters that need no second look in the common URI shape: unreserved, sub-delims, ':'
// and '@'. No '%', so no escape to validate; no '[', so no IP literal.
constexpr auto plain_uri_table = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (char c : std::string_view("-._~!$&'()*+,;=:@")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

bool plain_uri_chars(std::string_view s) noexcept {
  for (char c : s)
    if (!plain_uri_table[static_cast<unsigned char>(c)]) return false;
  return true;
}

}  // namespace

std::optional<std::string_view> icap_uri_service(std::string_view uri) {
  // What proxies send: "icap://host[:port]/service[?args]", or an origin-form "/service".
  // Those are split here; anything else (escapes, IP literals, fragments, odd schemes, errors)
  // goes to Boost.URL, whose answer is the definition (test/icap/parser_test.cpp compares the
  // two on every URI shape it knows).
  std::string_view rest;
  if (uri.size() > 7 && iequals(uri.substr(0, 7), "icap://"))
    rest = uri.substr(7);
  else if (uri.size() > 8 && iequals(uri.substr(0, 8), "icaps://"))
    rest = uri.substr(8);
  std::string_view path;
  if (!rest.empty()) {
    auto slash = rest.find('/');
    auto authority = rest.substr(0, slash);
    // A plain authority: a registered name or IPv4 address, then an optional ":digits" port;
    // no userinfo.
    auto colon = authority.find(':');
    auto host = authority.substr(0, colon);
    bool plain = !host.empty() && host.find('@') == std::string_view::npos && plain_uri_chars(host);
    if (plain && colon != std::string_view::npos) {
      auto port = authority.substr(colon + 1);
      plain = std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    }
    if (!plain) return icap_uri_service_reference(uri);
    if (slash == std::string_view::npos) return std::string_view("/");
    path = rest.substr(slash);
  } else if (!uri.empty() && uri.front() == '/' && (uri.size() == 1 || uri[1] != '/')) {
    path = uri;
  } else {
    return icap_uri_service_reference(uri);
  }
  auto q = path.find('?');
  auto p = path.substr(0, q);
  if (!plain_uri_chars(p.substr(1)) || p.find("//") != std::string_view::npos ||
      (q != std::string_view::npos && !plain_uri_chars(path.substr(q + 1))))
    return icap_uri_service_reference(uri);
  return p;
}

parse_error request_parser::finish_icap_head(std::string_view head) {
  auto eol = head.find("\r\n");
  auto line = head.substr(0, eol);
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
      line.find(' ', sp2 + 1) != std::string_view::npos || sp1 == 0 || sp2 == sp1 + 1 ||
      sp2 + 1 == line.size())
    return parse_error::bad_request_line;
  auto meth = line.substr(0, sp1);
  auto uri = line.substr(sp1 + 1, sp2 - sp1 - 1);
  auto version = line.substr(sp2 + 1);
  if (!std::all_of(meth.begin(), meth.end(), [](char c) { return is_tchar(c); }))
    return parse_error::bad_request_line;
  if (version.substr(0, 5) != "ICAP/") return parse_error::bad_request_line;
  if (version != "ICAP/1.0") return parse_error::bad_version;
  if (meth == "OPTIONS")
    request_.method = method::options;
  else if (meth == "REQMOD")
    request_.method = method::reqmod;
  else if (meth == "RESPMOD")
    request_.method = method::respmod;
  else
    return parse_error::unknown_method;

  auto service = icap_uri_service(uri);
  if (!service) return parse_error::bad_uri;
  request_.uri.assign(uri.data(), uri.size());
  request_.service.assign(service->data(), service->size());

  if (!parse_fields(head.substr(eol + 2), request_.headers)) return parse_error::bad_header;

  const auto& h = request_.headers;
  if (auto enc = h.get("Encapsulated")) {
    if (!parse_encapsulated(*enc, request_.method, request_.encapsulated))
      return parse_error::bad_encapsulated;
  } else if (request_.method != method::options) {
    return parse_error::missing_encapsulated;
  }
  if (auto p = h.get("Preview")) {
    std::size_t n = 0;
    if (!parse_decimal(*p, n)) return parse_error::bad_preview;
    if (request_.has_body()) {
      request_.preview = n;
      in_preview_ = true;
    }
  }
  request_.allow_204 = h.has_token("Allow", "204");
  request_.allow_206 = h.has_token("Allow", "206");
  request_.allow_trailers = h.has_token("Allow", "trailers");
  return parse_error::none;
}

// Accumulates exactly Encapsulated's body offset worth of HTTP heads, then splits and parses.
parse_result request_parser::parse_http_heads(std::string_view in) {
  const auto total = request_.encapsulated.body_offset;
  auto take = std::min(in.size(), total - buf_.size());
  buf_.append(in.substr(0, take));
  if (buf_.size() < total) return {parse_status::incomplete, take, {}};
  auto e = finish_http_heads();
  buf_.clear();
  if (e != parse_error::none) return fail(e, take);
  state_ = request_.has_body() ? state::chunk_size : state::complete;
  return {parse_status::head_done, take, {}};
}

parse_error request_parser::finish_http_heads() {
  const auto& enc = request_.encapsulated;
  auto parse_head = [&](std::size_t from, std::size_t to, bool is_request,
                        std::optional<http_head>& out) {
    std::string_view bytes = std::string_view(buf_).substr(from, to - from);
    if (bytes.size() < 4 || bytes.substr(bytes.size() - 4) != crlf2) return false;
    auto eol = bytes.find("\r\n");
    auto line = bytes.substr(0, eol);
    auto sp = line.find(' ');
    if (line.empty() || sp == std::string_view::npos || sp == 0) return false;
    if (line.find('\0') != std::string_view::npos) return false;
    if (!is_request && line.substr(0, 5) != "HTTP/") return false;
    http_head h;
    if (!spare_heads_.empty()) {
      h = std::move(spare_heads_.back());
      spare_heads_.pop_back();
      h.fields.clear();
    }
    if (!parse_fields(bytes.substr(eol + 2), h.fields)) return false;
    h.raw.assign(bytes);
    h.start_line.assign(line);
    out = std::move(h);
    return true;
  };
  if (enc.req_hdr) {
    auto end = enc.res_hdr ? *enc.res_hdr : enc.body_offset;
    if (!parse_head(*enc.req_hdr, end, true, request_.http_request))
      return parse_error::bad_http_head;
  }
  if (enc.res_hdr) {
    if (!parse_head(*enc.res_hdr, enc.body_offset, false, request_.http_response))
      return parse_error::bad_http_head;
  }
  return parse_error::none;
}

// Reads one chunk-size line (size in hex, then extensions) ending in CRLF (bare LF tolerated).
parse_result request_parser::parse_chunk_size(std::string_view in) {
  const auto limit = limits_.max_chunk_line_bytes;
  std::string_view line;
  std::size_t consumed = 0;
  auto nl = buf_.empty() ? in.find('\n') : std::string_view::npos;
  if (nl != std::string_view::npos && nl < limit) {
    line = in.substr(0, nl);
    consumed = nl + 1;
  } else {
    auto old = buf_.size();
    auto take = std::min(in.size(), limit + 1 - std::min(old, limit + 1));
    buf_.append(in.substr(0, take));
    auto pos = buf_.find('\n', old);
    if (pos == std::string::npos || pos >= limit) {
      if (buf_.size() > limit || pos != std::string::npos)
        return fail(parse_error::chunk_line_too_long, take);
      return {parse_status::incomplete, take, {}};
    }
    consumed = pos + 1 - old;
    buf_.resize(pos);
    line = buf_;
  }
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);

  std::size_t digits = 0;
  std::uint64_t size = 0;
  while (digits < line.size()) {
    char c = line[digits];
    int v = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                     : -1;
    if (v < 0) break;
    if (size > (std::numeric_limits<std::uint64_t>::max() >> 5)) {
      buf_.clear();
      return fail(parse_error::bad_chunk_size, consumed);
    }
    size = size * 16 + static_cast<std::uint64_t>(v);
    ++digits;
  }
  bool ieof = false;
  if (digits == 0 || !scan_chunk_extensions(line.substr(digits), ieof)) {
    buf_.clear();
    return fail(parse_error::bad_chunk_size, consumed);
  }
  buf_.clear();
  if (size == 0) {
    ieof_ = ieof && in_preview_;
    state_ = state::trailer;
    return {parse_status::incomplete, consumed, {}};
  }
  if (in_preview_ && request_.preview && body_bytes_ + size > *request_.preview)
    return fail(parse_error::preview_too_long, consumed);
  chunk_left_ = size;
  state_ = state::chunk_data;
  return {parse_status::incomplete, consumed, {}};
}

// Trailer section after the last chunk: header lines, then an empty line.
parse_result request_parser::parse_trailer(std::string_view in) {
  const auto limit = limits_.max_icap_header_bytes;
  std::size_t used = 0;
  while (true) {
    auto rest = in.substr(used);
    auto old = buf_.size();
    auto nl = rest.find('\n');
    auto take = nl == std::string_view::npos ? rest.size() : nl + 1;
    if (old + take > limit) return fail(parse_error::bad_trailer, used);
    buf_.append(rest.substr(0, take));
    used += take;
    if (nl == std::string_view::npos) return {parse_status::incomplete, used, {}};
    // buf_ holds one complete line (with its LF); scan_from_ marks where the line starts.
    std::string_view line = std::string_view(buf_).substr(scan_from_);
    line.remove_suffix(1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {
      std::string block = buf_.substr(0, scan_from_);
      buf_.clear();
      scan_from_ = 0;
      if (!block.empty()) {
        // Normalise bare-LF lines so the shared field parser sees CRLF.
        std::string fields;
        for (std::size_t i = 0; i < block.size(); ++i) {
          if (block[i] == '\n' && (i == 0 || block[i - 1] != '\r')) fields.push_back('\r');
          fields.push_back(block[i]);
        }
        fields += "\r\n";
        if (!parse_fields(fields, trailers_)) return fail(parse_error::bad_trailer, used);
      }
      return finish_last_chunk(used);
    }
    scan_from_ = buf_.size();
  }
}

parse_result request_parser::finish_last_chunk(std::size_t consumed) {
  if (in_preview_ && !ieof_) {
    state_ = state::after_preview;
    return {parse_status::preview_done, consumed, {}};
  }
  in_preview_ = false;
  state_ = state::complete;
  return {parse_status::done, consumed, {}};
}

}  // namespace imcap::icap
