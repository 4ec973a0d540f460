#include "archive/export.hpp"

#include <sodium.h>

#include <boost/json.hpp>
#include <chrono>
#include <set>

#include "archive/codec.hpp"

namespace imcap::archive {

namespace {

constexpr std::string_view crlf = "\r\n";

std::string base64(std::string_view bytes) {
  const std::size_t n = sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  std::string out(n, '\0');
  sodium_bin2base64(out.data(), n, reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(n - 1);  // the terminating NUL
  return out;
}

// Base64 body lines of 76 characters (RFC 2045).
std::string base64_lines(std::string_view bytes) {
  const std::string b = base64(bytes);
  std::string out;
  for (std::size_t i = 0; i < b.size(); i += 76) {
    out.append(b, i, 76);
    out += crlf;
  }
  return out;
}

bool plain_ascii(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) return false;
  }
  return true;
}

// A header value as one or more RFC 2047 encoded words when it is not plain printable ASCII.
// UTF-8 sequences are not split across words.
std::string header_text(std::string_view s) {
  if (plain_ascii(s)) return std::string(s);
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    std::size_t n = std::min<std::size_t>(45, s.size() - i);
    while (i + n < s.size() && n > 1 && (static_cast<unsigned char>(s[i + n]) & 0xC0) == 0x80) --n;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(s.substr(i, n)) + "?=";
    i += n;
  }
  return out;
}

// A display name: a quoted string when ASCII, else encoded words.
std::string display_name(std::string_view s) {
  if (!plain_ascii(s)) return header_text(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

// An address built from a chat id: the id reduced to atext characters, at <app>.imcap.invalid.
std::string address(std::string_view id, std::string_view app) {
  auto clean = [](std::string_view v) {
    std::string o;
    for (char c : v) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.' || c == '+';
      o.push_back(ok ? c : '_');
    }
    while (!o.empty() && o.front() == '.') o.erase(0, 1);
    while (!o.empty() && o.back() == '.') o.pop_back();
    return o.empty() ? std::string("unknown") : o;
  };
  return clean(id) + "@" + clean(app.empty() ? "chat" : app) + ".imcap.invalid";
}

std::string mailbox(std::string_view id, std::string_view name, std::string_view app) {
  const std::string addr = "<" + address(id, app) + ">";
  return name.empty() ? addr : display_name(name) + " " + addr;
}

// A MIME parameter: quoted when plain ASCII, else RFC 2231 percent-encoded UTF-8.
std::string mime_param(std::string_view key, std::string_view value) {
  bool simple = plain_ascii(value);
  for (char c : value) simple = simple && c != '"' && c != '\\';
  if (simple) return std::string(key) + "=\"" + std::string(value) + "\"";
  std::string out = std::string(key) + "*=UTF-8''";
  constexpr char hex[] = "0123456789ABCDEF";
  for (char c : value) {
    const auto u = static_cast<unsigned char>(c);
    const bool keep = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
                      u == '-' || u == '_' || u == '.';
    if (keep) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(hex[u >> 4]);
      out.push_back(hex[u & 15]);
    }
  }
  return out;
}

// A media type as declared, when it looks like type/subtype; else application/octet-stream.
std::string media_type(std::string_view t) {
  const auto slash = t.find('/');
  bool ok = slash != std::string_view::npos && slash > 0 && slash + 1 < t.size() && t.size() < 128;
  for (char c : t) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '/' || c == '-' || c == '+' || c == '.');
  }
  return ok ? std::string(t) : std::string("application/octet-stream");
}

std::string rfc5322_date(std::int64_t us) {
  using namespace std::chrono;
  const sys_seconds t{seconds{us / 1'000'000 - (us % 1'000'000 < 0 ? 1 : 0)}};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const weekday wd{day};
  const hh_mm_ss hms{t - day};
  static constexpr const char* wds[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04d %02d:%02d:%02d +0000", wds[wd.c_encoding()],
                static_cast<unsigned>(ymd.day()), mons[static_cast<unsigned>(ymd.month()) - 1],
                static_cast<int>(ymd.year()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
  return buf;
}

// Chat text on one body line: line breaks become " / ", other control characters a space.
std::string one_line(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
    if (c == '\n' || c == '\r')
      out += " / ";
    else if (static_cast<unsigned char>(c) < 0x20 && c != '\t')
      out.push_back(' ');
    else
      out.push_back(c);
  }
  return out;
}

void pretty(const boost::json::value& v, std::string& out, int depth) {
  const std::string pad(static_cast<std::size_t>(depth + 1) * 2, ' ');
  const std::string close_pad(static_cast<std::size_t>(depth) * 2, ' ');
  if (v.is_object()) {
    const auto& o = v.get_object();
    if (o.empty()) {
      out += "{}";
      return;
    }
    out += "{\n";
    bool first = true;
    for (const auto& kv : o) {
      if (!first) out += ",\n";
      first = false;
      out += pad + boost::json::serialize(boost::json::value(kv.key())) + ": ";
      pretty(kv.value(), out, depth + 1);
    }
    out += "\n" + close_pad + "}";
  } else if (v.is_array()) {
    const auto& a = v.get_array();
    if (a.empty()) {
      out += "[]";
      return;
    }
    out += "[\n";
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (i != 0) out += ",\n";
      out += pad;
      pretty(a[i], out, depth + 1);
    }
    out += "\n" + close_pad + "]";
  } else {
    out += boost::json::serialize(v);
  }
}

}  // namespace

std::string rfc3339(std::int64_t us) {
  using namespace std::chrono;
  std::int64_t secs = us / 1'000'000;
  std::int64_t frac = us % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    --secs;
  }
  const sys_seconds t{seconds{secs}};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const hh_mm_ss hms{t - day};
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  std::string out = buf;
  if (frac != 0) {
    std::snprintf(buf, sizeof buf, ".%06lld", static_cast<long long>(frac));
    out += buf;
  }
  return out + "Z";
}

std::optional<std::int64_t> parse_time(std::string_view s, bool end_of_day) {
  using namespace std::chrono;
  auto digits = [&](std::size_t at, std::size_t n, int& v) {
    if (at + n > s.size()) return false;
    v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    return true;
  };
  int y, mo, d;
  if (!digits(0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(5, 2, mo) || s[7] != '-' ||
      !digits(8, 2, d))
    return std::nullopt;
  const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                           day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  const std::int64_t day_us = duration_cast<microseconds>(sys_days{ymd}.time_since_epoch()).count();
  if (s.size() == 10) return day_us + (end_of_day ? 86'400'000'000LL : 0);
  int h, mi, se;
  if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(11, 2, h) || s.size() < 19 ||
      s[13] != ':' || !digits(14, 2, mi) || s[16] != ':' || !digits(17, 2, se) || h > 23 ||
      mi > 59 || se > 60)
    return std::nullopt;
  std::size_t at = 19;
  std::int64_t frac = 0;
  if (at < s.size() && s[at] == '.') {
    ++at;
    std::int64_t scale = 100'000;
    const std::size_t start = at;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') {
      frac += (s[at] - '0') * scale;
      scale /= 10;
      ++at;
    }
    if (at == start) return std::nullopt;
  }
  std::int64_t offset_s = 0;
  if (at < s.size() && (s[at] == 'Z' || s[at] == 'z')) {
    ++at;
  } else if (at < s.size() && (s[at] == '+' || s[at] == '-')) {
    int oh, om;
    if (!digits(at + 1, 2, oh) || at + 3 >= s.size() || s[at + 3] != ':' ||
        !digits(at + 4, 2, om) || oh > 23 || om > 59)
      return std::nullopt;
    offset_s = (oh * 3600 + om * 60) * (s[at] == '+' ? 1 : -1);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != s.size()) return std::nullopt;
  return day_us + (std::int64_t{h} * 3600 + mi * 60 + se - offset_s) * 1'000'000 + frac;
}

std::string pretty_json(std::string_view json) {
  boost::system::error_code ec;
  const auto v = boost::json::parse(json, ec);
  if (ec) return std::string(json);
  std::string out;
  pretty(v, out, 0);
  return out;
}

std::string conversation_eml(const std::vector<event_record>& events, const content_lookup& get) {
  const event_record& first = events.front();
  std::string body;
  std::set<std::string> others;
  std::vector<std::string> to;
  auto add_to = [&](const std::string& id, const std::string& name) {
    if (id.empty() || id == first.sender_id || !others.insert(id).second) return;
    to.push_back(mailbox(id, name, first.app));
  };
  std::string ids;
  for (const auto& e : events) {
    const std::string who = !e.sender_name.empty() && !e.sender_id.empty()
                                ? e.sender_name + " (" + e.sender_id + ")"
                            : !e.sender_name.empty() ? e.sender_name
                            : !e.sender_id.empty()   ? e.sender_id
                                                     : e.proxy_user;
    body += rfc3339(e.seen_us) + " " + one_line(who) + ": " + one_line(e.text);
    if (!e.verdict.empty() && e.verdict != "allow") body += " [" + one_line(e.verdict) + "]";
    body += crlf;
    for (const auto& a : e.attachments) {
      body += rfc3339(e.seen_us) + " " + one_line(who) + ": [attachment " + one_line(a.name);
      if (a.size) body += ", " + std::to_string(*a.size) + " bytes";
      if (!a.sha256.empty()) body += ", sha256 " + one_line(a.sha256);
      body += a.content_stored ? "]" : ", content not archived]";
      body += crlf;
    }
    add_to(e.sender_id, e.sender_name);
    for (const auto& [id, name] : e.recipients) add_to(id, name);
    if (!ids.empty()) ids += ",";
    ids += std::to_string(e.id);
  }
  // The boundary is derived from the whole text part; base64 parts cannot contain it.
  const std::string boundary = "=_imcap_" + codec::to_hex(codec::sha256(body)).substr(0, 32);
  bool eight_bit = true;
  std::size_t line = 0;
  for (char c : body) {
    line = c == '\n' ? 0 : line + 1;
    if (line > 990 || c == '\0') eight_bit = false;
  }

  std::string m;
  auto header = [&](std::string_view name, const std::string& value) {
    m += std::string(name) + ": " + value + std::string(crlf);
  };
  header("From", mailbox(first.sender_id.empty() ? first.proxy_user : first.sender_id,
                         first.sender_name, first.app));
  if (!to.empty()) {
    std::string list;
    for (const auto& t : to) list += (list.empty() ? "" : ",\r\n ") + t;
    header("To", list);
  }
  header("Subject", header_text(first.app + " conversation " + first.conversation_id + " (" +
                                std::to_string(events.size()) + " events)"));
  header("Date", rfc5322_date(first.seen_us));
  header("Message-ID",
         "<" +
             codec::to_hex(codec::sha256(first.app + '\0' + first.conversation_id)).substr(0, 32) +
             "@imcap.invalid>");
  header("X-Imcap-App", header_text(first.app));
  header("X-Imcap-Conversation", header_text(first.conversation_id));
  header("X-Imcap-Events", ids);
  header("MIME-Version", "1.0");
  header("Content-Type", "multipart/mixed; boundary=\"" + boundary + "\"");
  m += crlf;
  m += "This is a MIME message: an archived chat conversation exported by imcap.\r\n";
  m += "--" + boundary + std::string(crlf);
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  if (eight_bit) {
    m += "Content-Transfer-Encoding: 8bit\r\n\r\n";
    m += body;
  } else {
    m += "Content-Transfer-Encoding: base64\r\n\r\n";
    m += base64_lines(body);
  }
  for (const auto& e : events) {
    for (const auto& a : e.attachments) {
      if (!a.content_stored || a.sha256.empty()) continue;
      const auto bytes = get(a.sha256);
      if (!bytes) continue;
      const std::string name = a.name.empty() ? a.sha256 : a.name;
      m += "--" + boundary + std::string(crlf);
      m += "Content-Type: " + media_type(a.media_type) + "; " + mime_param("name", name) +
           std::string(crlf);
      m += "Content-Disposition: attachment; " + mime_param("filename", name) + std::string(crlf);
      m += "Content-Transfer-Encoding: base64\r\n";
      m += "X-Imcap-Event: " + std::to_string(e.id) + std::string(crlf);
      m += "X-Imcap-Sha256: " + header_text(a.sha256) + "\r\n\r\n";
      m += base64_lines(*bytes);
    }
  }
  m += "--" + boundary + "--" + std::string(crlf);
  return m;
}

}  // namespace imcap::archive
