// Validators for the DLP detectors. Decoding (hex, base64, JSON) goes through libsodium and
// Boost.JSON; only the checksums that define the formats (Luhn, mod-97) are computed here.

#include "signatures/validators.hpp"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cstdint>
#include <set>
#include <string>

namespace imcap::signatures::validators {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}
bool is_alnum(char c) {
  return is_digit(c) || is_upper(c) || is_lower(c);
}
bool is_token_char(int c) {
  return c >= 0 && (is_alnum(static_cast<char>(c)) || c == '_' || c == '-');
}
char upper(char c) {
  return is_lower(c) ? static_cast<char>(c - 'a' + 'A') : c;
}

unsigned prefix_number(std::string_view digits, std::size_t n) {
  unsigned v = 0;
  for (std::size_t i = 0; i < n && i < digits.size(); ++i)
    v = v * 10 + static_cast<unsigned>(digits[i] - '0');
  return v;
}

std::optional<std::string> base64_decode(std::string_view in, int variant, const char* ignore) {
  std::string out(in.size(), '\0');
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(),
                        in.size(), ignore, &len, &end, variant) != 0 ||
      end != in.data() + in.size())
    return std::nullopt;
  out.resize(len);
  return out;
}

bool json_object_with(std::string_view text, std::string_view key) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return false;
  return key.empty() || v.as_object().contains(key);
}

}  // namespace

candidate candidate_for(dlp_detector d) {
  switch (d) {
    case dlp_detector::payment_card:
      return {"[0-9](?:[ -]?[0-9]){11,18}"};
    case dlp_detector::iban:
      return {"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}", true};
    case dlp_detector::us_ssn:
      return {"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}"};
    case dlp_detector::private_key:
      return {
          "-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[A-Za-z0-9+/=\\r\\n\\t :,-]+"
          "-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----"};
    case dlp_detector::aws_access_key:
      return {"A(?:KIA|SIA)[A-Z0-9]{16}"};
    case dlp_detector::slack_token:
      return {"xox[abpr]-[A-Za-z0-9-]{10,100}"};
    case dlp_detector::github_token:
      return {"gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82}"};
    case dlp_detector::google_api_key:
      return {"AIza[0-9A-Za-z_-]{35}"};
    case dlp_detector::jwt:
      return {"ey[A-Za-z0-9_-]{8,}\\.ey[A-Za-z0-9_-]{8,}\\.[A-Za-z0-9_-]{8,}"};
    case dlp_detector::connection_string_password:
      return {
          "(?:password|passwd|pwd)[ \\t]*=[ \\t]*[^;\\s'\"]+"
          "|[a-z][a-z0-9+.-]*://[^:/\\s@]+:[^@/\\s]+@[A-Za-z0-9.-]+",
          true};
  }
  return {};
}

bool boundary_before_ok(dlp_detector d, int before) {
  if (before < 0) return true;
  const char c = static_cast<char>(before);
  switch (d) {
    case dlp_detector::payment_card:
    case dlp_detector::us_ssn:
      return !is_digit(c);
    case dlp_detector::iban:
      return !is_alnum(c);
    case dlp_detector::private_key:
      return true;
    case dlp_detector::connection_string_password:
      return !is_alnum(c);
    case dlp_detector::jwt:
      return !is_token_char(before) && c != '.';
    default:
      return !is_token_char(before);
  }
}

bool boundary_after_ok(dlp_detector d, int after) {
  if (after < 0) return true;
  const char c = static_cast<char>(after);
  switch (d) {
    case dlp_detector::payment_card:
    case dlp_detector::us_ssn:
      return !is_digit(c);
    case dlp_detector::iban:
      return !is_alnum(c);
    case dlp_detector::private_key:
      return true;
    case dlp_detector::connection_string_password:
      return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == ';' || c == '\'' || c == '"' ||
             c == '/' || c == ',' || c == ')' || c == '>' || c == ':';
    case dlp_detector::jwt:
      return !is_token_char(after) && c != '.';
    default:
      return !is_token_char(after);
  }
}

bool luhn(std::string_view digits) {
  if (digits.empty()) return false;
  unsigned sum = 0;
  bool twice = false;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (!is_digit(*it)) return false;
    unsigned v = static_cast<unsigned>(*it - '0');
    if (twice) {
      v *= 2;
      if (v > 9) v -= 9;
    }
    sum += v;
    twice = !twice;
  }
  return sum % 10 == 0;
}

card_network network_of(std::string_view d) {
  const std::size_t n = d.size();
  if (n < 12 || n > 19) return card_network::none;
  const unsigned p1 = prefix_number(d, 1), p2 = prefix_number(d, 2), p3 = prefix_number(d, 3),
                 p4 = prefix_number(d, 4), p6 = prefix_number(d, 6);
  if (p1 == 4 && (n == 13 || n == 16 || n == 19)) return card_network::visa;
  if (((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) && n == 16)
    return card_network::mastercard;
  if ((p2 == 34 || p2 == 37) && n == 15) return card_network::amex;
  if ((p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65 || (p6 >= 622126 && p6 <= 622925)) &&
      n >= 16)
    return card_network::discover;
  if (p4 >= 3528 && p4 <= 3589 && n >= 16) return card_network::jcb;
  if (((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39) && n >= 14)
    return card_network::diners;
  if (p2 == 62 && n >= 16) return card_network::unionpay;
  if ((p2 == 50 || (p2 >= 56 && p2 <= 58) || p3 == 639 || p2 == 67) && n >= 12)
    return card_network::maestro;
  return card_network::none;
}

bool payment_card(std::string_view c) {
  std::string digits;
  char sep = 0;
  for (char ch : c) {
    if (is_digit(ch)) {
      digits += ch;
    } else if (ch == ' ' || ch == '-') {
      if (sep != 0 && sep != ch)
        return false;  // "4111-1111 1111-1111" is not how cards are written
      sep = ch;
    } else {
      return false;
    }
  }
  if (network_of(digits) == card_network::none || !luhn(digits)) return false;
  // All-same-digit runs pass Luhn for some lengths; nobody's card looks like that.
  return std::any_of(digits.begin() + 1, digits.end(), [&](char x) { return x != digits[0]; });
}

bool iban(std::string_view c) {
  static const std::array<std::pair<std::string_view, std::size_t>, 82> lengths{{
      {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
      {"BG", 22}, {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22},
      {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20},
      {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22},
      {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28},
      {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30},
      {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21},
      {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20}, {"MR", 27},
      {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24},
      {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33},
      {"SA", 24}, {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27},
      {"SO", 23}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24},
  }};
  static const std::array<std::pair<std::string_view, std::size_t>, 6> more{
      {{"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}, {"YE", 30}}};
  std::string s;
  for (char ch : c) {
    if (ch == ' ') continue;
    if (!is_alnum(ch)) return false;
    s += upper(ch);
  }
  if (s.size() < 15 || s.size() > 34) return false;
  const std::string_view country(s.data(), 2);
  std::size_t expected = 0;
  for (const auto& [cc, len] : lengths)
    if (cc == country) expected = len;
  for (const auto& [cc, len] : more)
    if (cc == country) expected = len;
  if (expected == 0 || s.size() != expected) return false;
  if (!is_digit(s[2]) || !is_digit(s[3])) return false;
  // ISO 13616: move the first four characters to the end, letters become 10..35, mod 97 == 1.
  const std::string r = s.substr(4) + s.substr(0, 4);
  unsigned rem = 0;
  for (char ch : r) {
    if (is_digit(ch)) {
      rem = (rem * 10 + static_cast<unsigned>(ch - '0')) % 97;
    } else {
      const unsigned v = static_cast<unsigned>(ch - 'A') + 10;
      rem = (rem * 100 + v) % 97;
    }
  }
  return rem == 1;
}

bool us_ssn(std::string_view c) {
  if (c.size() != 11) return false;
  const char sep = c[3];
  if ((sep != '-' && sep != ' ') || c[6] != sep) return false;
  const std::string_view a = c.substr(0, 3), g = c.substr(4, 2), s = c.substr(7, 4);
  for (auto part : {a, g, s})
    if (!std::all_of(part.begin(), part.end(), is_digit)) return false;
  const unsigned area = prefix_number(a, 3);
  if (area == 0 || area == 666 || area >= 900) return false;
  if (g == "00" || s == "0000") return false;
  // Numbers the SSA itself published in advertising; they show up in templates, not records.
  if ((a == "078" && g == "05" && s == "1120") || (a == "219" && g == "09" && s == "9999"))
    return false;
  return true;
}

bool private_key(std::string_view c) {
  constexpr std::string_view begin = "-----BEGIN ", end = "-----END ", dashes = "-----";
  if (c.substr(0, begin.size()) != begin) return false;
  const auto label_end = c.find(dashes, begin.size());
  if (label_end == std::string_view::npos) return false;
  const std::string_view label = c.substr(begin.size(), label_end - begin.size());
  const auto end_at = c.rfind(end);
  if (end_at == std::string_view::npos || end_at < label_end) return false;
  const std::string_view end_label =
      c.substr(end_at + end.size(), c.size() - end_at - end.size() - dashes.size());
  if (label != end_label) return false;
  std::string_view body = c.substr(label_end + dashes.size(), end_at - label_end - dashes.size());
  // Encrypted legacy PEM carries "Proc-Type:" / "DEK-Info:" header lines before the data.
  std::string data;
  std::size_t pos = 0;
  while (pos < body.size()) {
    auto nl = body.find('\n', pos);
    if (nl == std::string_view::npos) nl = body.size();
    std::string_view line = body.substr(pos, nl - pos);
    if (line.find(':') == std::string_view::npos) data.append(line);
    pos = nl + 1;
  }
  auto der = base64_decode(data, sodium_base64_VARIANT_ORIGINAL, " \r\t");
  if (!der || der->size() < 32) return false;
  if (label == "OPENSSH PRIVATE KEY") return der->rfind("openssh-key-v1", 0) == 0;
  return static_cast<unsigned char>((*der)[0]) == 0x30;  // DER SEQUENCE
}

bool aws_access_key(std::string_view c) {
  if (c.size() != 20) return false;
  if (c.substr(0, 4) != "AKIA" && c.substr(0, 4) != "ASIA") return false;
  return std::all_of(c.begin() + 4, c.end(), [](char x) { return is_upper(x) || is_digit(x); });
}

bool slack_token(std::string_view c) {
  if (c.size() < 15 || c.substr(0, 3) != "xox" || c[4] != '-') return false;
  if (std::string_view("abpr").find(c[3]) == std::string_view::npos) return false;
  std::vector<std::string_view> parts;
  std::size_t pos = 5;
  while (pos <= c.size()) {
    auto dash = c.find('-', pos);
    if (dash == std::string_view::npos) dash = c.size();
    parts.push_back(c.substr(pos, dash - pos));
    pos = dash + 1;
  }
  if (parts.size() < 3) return false;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i)
    if (parts[i].empty() || !std::all_of(parts[i].begin(), parts[i].end(), is_digit)) return false;
  const auto last = parts.back();
  return last.size() >= 16 && std::all_of(last.begin(), last.end(), is_alnum);
}

namespace {
bool varied(std::string_view s) {
  std::set<char> distinct(s.begin(), s.end());
  return distinct.size() >= 10;
}
}  // namespace

bool github_token(std::string_view c) {
  if (c.rfind("github_pat_", 0) == 0) {
    const auto rest = c.substr(11);
    return rest.size() == 82 &&
           std::all_of(rest.begin(), rest.end(), [](char x) { return is_alnum(x) || x == '_'; }) &&
           varied(rest);
  }
  if (c.size() != 40 || c.substr(0, 2) != "gh" || c[3] != '_') return false;
  if (std::string_view("pousr").find(c[2]) == std::string_view::npos) return false;
  const auto rest = c.substr(4);
  return std::all_of(rest.begin(), rest.end(), is_alnum) && varied(rest);
}

bool google_api_key(std::string_view c) {
  if (c.size() != 39 || c.substr(0, 4) != "AIza") return false;
  const auto rest = c.substr(4);
  return std::all_of(rest.begin(), rest.end(), [](char x) { return is_token_char(x); }) &&
         varied(rest);
}

bool jwt(std::string_view c) {
  const auto d1 = c.find('.');
  if (d1 == std::string_view::npos) return false;
  const auto d2 = c.find('.', d1 + 1);
  if (d2 == std::string_view::npos || c.find('.', d2 + 1) != std::string_view::npos) return false;
  auto header = base64_decode(c.substr(0, d1), sodium_base64_VARIANT_URLSAFE_NO_PADDING, nullptr);
  auto payload = base64_decode(c.substr(d1 + 1, d2 - d1 - 1),
                               sodium_base64_VARIANT_URLSAFE_NO_PADDING, nullptr);
  auto sig = base64_decode(c.substr(d2 + 1), sodium_base64_VARIANT_URLSAFE_NO_PADDING, nullptr);
  return header && payload && sig && json_object_with(*header, "alg") &&
         json_object_with(*payload, "");
}

bool connection_string_password(std::string_view c) {
  std::string_view value;
  if (auto scheme = c.find("://"); scheme != std::string_view::npos) {
    const auto creds = c.substr(scheme + 3);
    const auto colon = creds.find(':');
    const auto at = creds.rfind('@');
    if (colon == std::string_view::npos || at == std::string_view::npos || at < colon) return false;
    value = creds.substr(colon + 1, at - colon - 1);
  } else {
    const auto eq = c.find('=');
    if (eq == std::string_view::npos) return false;
    value = c.substr(eq + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
  }
  if (value.empty()) return false;
  // Placeholders people paste into docs and templates are not credentials.
  if (value.front() == '<' || value.front() == '$' || value.front() == '{' || value.front() == '%')
    return false;
  if (std::all_of(value.begin(), value.end(), [&](char x) { return x == value.front(); }))
    return false;
  std::string low;
  for (char x : value) low += is_upper(x) ? static_cast<char>(x - 'A' + 'a') : x;
  for (std::string_view placeholder : {"password", "changeme", "secret", "xxxx", "****", "null"})
    if (low == placeholder) return false;
  return true;
}

bool validate(dlp_detector d, std::string_view c) {
  switch (d) {
    case dlp_detector::payment_card:
      return payment_card(c);
    case dlp_detector::iban:
      return iban(c);
    case dlp_detector::us_ssn:
      return us_ssn(c);
    case dlp_detector::private_key:
      return private_key(c);
    case dlp_detector::aws_access_key:
      return aws_access_key(c);
    case dlp_detector::slack_token:
      return slack_token(c);
    case dlp_detector::github_token:
      return github_token(c);
    case dlp_detector::google_api_key:
      return google_api_key(c);
    case dlp_detector::jwt:
      return jwt(c);
    case dlp_detector::connection_string_password:
      return connection_string_password(c);
  }
  return false;
}

}  // namespace imcap::signatures::validators
