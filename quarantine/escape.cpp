#include "quarantine/escape.hpp"

#include <cstdint>
#include <set>

namespace imcap::quarantine {

namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the well-formed UTF-8 sequence at s[i], or 0 when it is not one (overlongs,
// surrogates and code points above U+10FFFF are not well-formed).
std::size_t sequence_length(std::string_view s, std::size_t i) noexcept {
  const auto b = [&](std::size_t k) { return static_cast<std::uint8_t>(s[k]); };
  const std::uint8_t c = b(i);
  const std::size_t left = s.size() - i;
  auto cont = [&](std::size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return left >= 2 && cont(i + 1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (left < 3 || !cont(i + 1) || !cont(i + 2)) return 0;
    if (c == 0xE0 && b(i + 1) < 0xA0) return 0;   // overlong
    if (c == 0xED && b(i + 1) >= 0xA0) return 0;  // surrogate
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (left < 4 || !cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (c == 0xF0 && b(i + 1) < 0x90) return 0;   // overlong
    if (c == 0xF4 && b(i + 1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

bool unreserved(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

void append_pct(std::string& out, unsigned char c) {
  constexpr char hex[] = "0123456789ABCDEF";
  out += '%';
  out += hex[c >> 4];
  out += hex[c & 0x0F];
}

}  // namespace

void append_html(std::string& out, std::string_view s) {
  out.reserve(out.size() + s.size() + s.size() / 8);
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = sequence_length(s, i);
    if (n == 0) {
      out += replacement;
      ++i;
      continue;
    }
    if (n == 1) {
      const char c = s[i];
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&#39;";
          break;
        case '\t':
        case '\n':
        case '\r':
          out += c;
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
            out += replacement;
          else
            out += c;
      }
    } else if (n == 2 && static_cast<std::uint8_t>(s[i]) == 0xC2 &&
               static_cast<std::uint8_t>(s[i + 1]) < 0xA0) {
      out += replacement;  // C1 controls U+0080..U+009F
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
}

std::string html(std::string_view s) {
  std::string out;
  append_html(out, s);
  return out;
}

std::string url_component(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (unreserved(c))
      out += ch;
    else
      append_pct(out, c);
  }
  return out;
}

std::size_t utf8_floor(std::string_view s, std::size_t pos) noexcept {
  if (pos >= s.size()) return s.size();
  // Step back over at most three continuation bytes to the lead byte.
  for (int k = 0; k < 3 && pos > 0 && (static_cast<std::uint8_t>(s[pos]) & 0xC0) == 0x80; ++k) {
    --pos;
  }
  return pos;
}

std::string mark_ranges(std::string_view text, const std::vector<marked_range>& ranges) {
  // Widen [begin, end) to whole characters: begin down to its lead byte, end up past the
  // continuation bytes of the character it falls in.
  auto ceil = [&](std::size_t pos) {
    while (pos < text.size() && (static_cast<std::uint8_t>(text[pos]) & 0xC0) == 0x80) ++pos;
    return pos;
  };
  struct span {
    std::size_t b, e;
    const std::string* label;
  };
  std::vector<span> spans;
  std::set<std::size_t> cuts = {0, text.size()};
  for (const auto& r : ranges) {
    if (r.end <= r.begin || r.begin >= text.size()) continue;
    const std::size_t b = utf8_floor(text, static_cast<std::size_t>(r.begin));
    const std::size_t e =
        ceil(static_cast<std::size_t>(std::min<std::uint64_t>(r.end, text.size())));
    spans.push_back({b, e, &r.label});
    cuts.insert(b);
    cuts.insert(e);
  }
  std::string out;
  for (auto it = cuts.begin(); it != cuts.end() && std::next(it) != cuts.end(); ++it) {
    const std::size_t b = *it, e = *std::next(it);
    std::string labels;
    for (const auto& sp : spans) {
      if (sp.b <= b && e <= sp.e) labels += (labels.empty() ? "" : ", ") + *sp.label;
    }
    if (labels.empty()) {
      append_html(out, text.substr(b, e - b));
    } else {
      out += "<mark title=\"";
      append_html(out, labels);
      out += "\">";
      append_html(out, text.substr(b, e - b));
      out += "</mark>";
    }
  }
  return out;
}

std::string safe_file_name(std::string_view name) {
  const auto slash = name.find_last_of("/\\");
  if (slash != std::string_view::npos) name = name.substr(slash + 1);
  std::string out;
  for (std::size_t i = 0; i < name.size();) {
    const std::size_t n = sequence_length(name, i);
    if (n == 0) {
      out += '_';
      ++i;
      continue;
    }
    const auto c = static_cast<unsigned char>(name[i]);
    if (n == 1 && (c < 0x20 || c == 0x7F)) {
      out += '_';
    } else if (n == 2 && c == 0xC2 && static_cast<std::uint8_t>(name[i + 1]) < 0xA0) {
      out += '_';
    } else {
      out.append(name.substr(i, n));
    }
    i += n;
  }
  const auto first = out.find_first_not_of(". ");
  out = first == std::string::npos ? std::string() : out.substr(first);
  while (!out.empty() && (out.back() == ' ' || out.back() == '.')) out.pop_back();
  if (out.size() > 200) out.resize(utf8_floor(out, 200));
  if (out.empty()) out = "attachment";
  return out;
}

std::string content_disposition(std::string_view name) {
  const std::string safe = safe_file_name(name);
  std::string ascii;
  for (const char ch : safe) {
    const auto c = static_cast<unsigned char>(ch);
    ascii += (c >= 0x20 && c < 0x7F && ch != '"' && ch != '\\' && ch != '%') ? ch : '_';
  }
  std::string out = "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''";
  // RFC 5987 attr-char: ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" /
  // "`" / "|" / "~"; everything else percent-encoded.
  for (const char ch : safe) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
        std::string_view("!#$&+-.^_`|~").find(ch) != std::string_view::npos) {
      out += ch;
    } else {
      append_pct(out, c);
    }
  }
  return out;
}

}  // namespace imcap::quarantine
