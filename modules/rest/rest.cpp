#include "modules/rest/rest.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <vector>

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <boost/json.hpp>

#include "modules/content/base64.hpp"
#include "modules/content/form.hpp"
#include "modules/content/json.hpp"
#include "modules/content/multipart.hpp"
#include "modules/content/rewrite.hpp"
#include "modules/session.hpp"
#include "modules/wire.hpp"

namespace imcap::modules::rest {

namespace {

template <class Int>
bool parse_int(std::string_view s, Int& out) noexcept {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && p == s.data() + s.size();
}

}  // namespace

// ---- text ----

namespace {

bool is_block(std::string_view n) noexcept {
  static constexpr std::string_view blocks[] = {"p",          "div", "li", "tr", "h1",
                                                "h2",         "h3",  "h4", "h5", "h6",
                                                "blockquote", "pre", "ul", "ol", "table"};
  return std::find(std::begin(blocks), std::end(blocks), n) != std::end(blocks);
}

void end_line(std::string& out) {
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (!out.empty() && out.back() != '\n') out += '\n';
}

void append_text(std::string& out, std::string_view s, bool pre) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    // U+00A0 no-break space
    if (static_cast<unsigned char>(c) == 0xC2 && i + 1 < s.size() &&
        static_cast<unsigned char>(s[i + 1]) == 0xA0) {
      c = ' ';
      ++i;
      if (pre) {
        out += ' ';
        continue;
      }
    }
    if (pre) {
      out += c;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
      if (!out.empty() && out.back() != ' ' && out.back() != '\n') out += ' ';
    } else {
      out += c;
    }
  }
}

}  // namespace

namespace {

// Trims white space and blank lines at both ends, and trailing spaces on each line.
std::string finish_text(const std::string& out) {
  std::string cleaned;
  cleaned.reserve(out.size());
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (out[i] == '\n')
      while (!cleaned.empty() && cleaned.back() == ' ') cleaned.pop_back();
    cleaned += out[i];
  }
  std::size_t b = cleaned.find_first_not_of(" \n");
  if (b == std::string::npos) return {};
  std::size_t e = cleaned.find_last_not_of(" \n");
  return cleaned.substr(b, e - b + 1);
}

bool html_space(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool is_inline(std::string_view n) noexcept {
  static constexpr std::string_view tags[] = {"span", "b", "i", "strong", "em",
                                              "u",    "s", "a", "code"};
  return std::find(std::begin(tags), std::end(tags), n) != std::end(tags);
}

// One UTF-8 sequence at s[i] that libxml2 takes as a character as it is (no overlong form, no
// surrogate, not U+FFFE/U+FFFF, at most U+10FFFF); its length, 0 when not.
std::size_t utf8_char(std::string_view s, std::size_t i) noexcept {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned c = b(0);
  if (c < 0x80) return (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') ? 1 : 0;
  std::size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
  if (n == 0 || c > 0xF4 || i + n > s.size()) return 0;
  unsigned cp = c & (0x7Fu >> n);
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3Fu);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF))) return 0;
  if ((cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF) return 0;
  return n;
}

// A tag at h[i] == '<': its lowercase name, whether it closes ("</x>") or closes itself
// ("<x/>"); i moves past '>'. Attributes (name, or name="..." / name='...') are skipped.
// false for anything else (comments, doctype, unquoted values, upper case): libxml2 decides.
bool read_tag(std::string_view h, std::size_t& i, std::string_view& name, bool& closing,
              bool& self_closing) {
  std::size_t j = i + 1;
  closing = j < h.size() && h[j] == '/';
  if (closing) ++j;
  const std::size_t n0 = j;
  while (j < h.size() && ((h[j] >= 'a' && h[j] <= 'z') || (j > n0 && h[j] >= '0' && h[j] <= '9')))
    ++j;
  if (j == n0) return false;
  name = h.substr(n0, j - n0);
  self_closing = false;
  for (;;) {
    const std::size_t before = j;
    while (j < h.size() && html_space(h[j])) ++j;
    if (j >= h.size()) return false;
    if (h[j] == '>') break;
    if (h[j] == '/' && !closing && j + 1 < h.size() && h[j + 1] == '>') {
      self_closing = true;
      ++j;
      break;
    }
    if (closing || j == before) return false;  // attributes need white space before them
    const std::size_t a0 = j;
    while (j < h.size() && ((h[j] >= 'a' && h[j] <= 'z') || (h[j] >= 'A' && h[j] <= 'Z') ||
                            (j > a0 && ((h[j] >= '0' && h[j] <= '9') || h[j] == '-' ||
                                        h[j] == '_' || h[j] == ':' || h[j] == '.'))))
      ++j;
    if (j == a0) return false;
    if (j < h.size() && h[j] == '=') {
      ++j;
      if (j >= h.size() || (h[j] != '"' && h[j] != '\'')) return false;
      const std::size_t close = h.find(h[j], j + 1);
      if (close == std::string_view::npos) return false;
      const std::string_view value = h.substr(j + 1, close - j - 1);
      if (value.find_first_of("<&") != std::string_view::npos) return false;
      j = close + 1;
    }
  }
  i = j + 1;
  return true;
}

// Text between tags, entities decoded; false when libxml2 might read it otherwise (white
// space only, an entity other than amp/lt/gt/quot/nbsp, a character it would reject).
bool read_text(std::string_view run, std::string& text) {
  text.clear();
  bool blank = true;
  for (std::size_t i = 0; i < run.size();) {
    if (run[i] == '&') {
      const std::size_t semi = run.find(';', i);
      if (semi == std::string_view::npos) return false;
      const std::string_view ent = run.substr(i + 1, semi - i - 1);
      if (ent == "amp")
        text += '&';
      else if (ent == "lt")
        text += '<';
      else if (ent == "gt")
        text += '>';
      else if (ent == "quot")
        text += '"';
      else if (ent == "nbsp")
        text += "\xC2\xA0";
      else
        return false;
      blank = false;
      i = semi + 1;
      continue;
    }
    const std::size_t n = utf8_char(run, i);
    if (n == 0) return false;
    if (!html_space(run[i])) blank = false;
    text.append(run, i, n);
    i += n;
  }
  return !blank;
}

// The fast path: `html` is one or more <p>...</p> with text, inline tags (is_inline, properly
// nested, no <a> in <a>) and <br>, nothing between the paragraphs. libxml2 builds exactly that
// tree for it, so the walk below is html_to_text_reference's walk over it. false: not this
// shape, nothing decided.
bool paragraphs_to_text(std::string_view h, std::string& out) {
  std::string text;
  std::string_view open[16];
  std::size_t depth = 0;
  bool in_p = false;
  std::size_t i = 0;
  while (i < h.size()) {
    if (h[i] != '<') {
      if (!in_p) return false;
      const std::size_t lt = h.find('<', i);
      if (lt == std::string_view::npos) return false;
      if (!read_text(h.substr(i, lt - i), text)) return false;
      append_text(out, text, false);
      i = lt;
      continue;
    }
    std::string_view name;
    bool closing = false, self_closing = false;
    if (!read_tag(h, i, name, closing, self_closing)) return false;
    if (name == "p") {
      if (self_closing || closing != in_p || depth != 0) return false;
      in_p = !closing;
      end_line(out);
    } else if (!in_p) {
      return false;
    } else if (name == "br") {
      if (closing) return false;
      while (!out.empty() && out.back() == ' ') out.pop_back();
      out += '\n';
    } else if (is_inline(name)) {
      if (self_closing) return false;
      if (closing) {
        if (depth == 0 || open[depth - 1] != name) return false;
        --depth;
      } else {
        if (depth == std::size(open)) return false;
        if (name == "a")
          for (std::size_t k = 0; k < depth; ++k)
            if (open[k] == "a") return false;
        open[depth++] = name;
      }
    } else {
      return false;
    }
  }
  return !in_p && !out.empty();
}

}  // namespace

std::string html_to_text(std::string_view html) {
  if (html.empty()) return {};
  std::string out;
  if (html.size() <= 1024 * 1024 && paragraphs_to_text(html, out)) return finish_text(out);
  return html_to_text_reference(html);
}

std::string html_to_text_reference(std::string_view html) {
  if (html.empty()) return {};
  if (html.size() > static_cast<std::size_t>(INT32_MAX)) return {};
  // XML_PARSE_HUGE lifts libxml2's nesting cap of 256, past which it drops the rest of the
  // document: text wrapped in 300 <div>s would otherwise vanish from what imcap scans. The
  // parser and the walk below are iterative and the input is already size-bounded.
  const int options = static_cast<int>(HTML_PARSE_NOERROR) |
                      static_cast<int>(HTML_PARSE_NOWARNING) | static_cast<int>(HTML_PARSE_NONET) |
                      static_cast<int>(XML_PARSE_HUGE);
  htmlDocPtr doc =
      htmlReadMemory(html.data(), static_cast<int>(html.size()), nullptr, "UTF-8", options);
  if (doc == nullptr) return {};
  std::string out;
  xmlNodePtr root = xmlDocGetRootElement(doc);
  // Iterative walk (no recursion): down to the first child, across to siblings, back up to the
  // parent's sibling. libxml2 bounds the tree depth itself.
  xmlNodePtr n = root;
  int pre_depth = 0;
  while (n != nullptr) {
    const std::string_view name =
        n->name != nullptr ? std::string_view(reinterpret_cast<const char*>(n->name)) : "";
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
      if (n->content != nullptr)
        append_text(out, reinterpret_cast<const char*>(n->content), pre_depth > 0);
    } else if (n->type == XML_ELEMENT_NODE) {
      if (name == "br") {
        while (!out.empty() && out.back() == ' ') out.pop_back();
        out += '\n';
      }
      if (is_block(name)) end_line(out);
      if (name == "pre") ++pre_depth;
      if (n->children != nullptr && name != "script" && name != "style") {
        n = n->children;
        continue;
      }
      if (name == "pre") --pre_depth;
      if (is_block(name)) end_line(out);
    }
    // Next node: sibling, or climb until an ancestor has one, closing blocks on the way.
    while (n != nullptr && n->next == nullptr) {
      n = n->parent;
      if (n == nullptr || n == reinterpret_cast<xmlNodePtr>(doc)) {
        n = nullptr;
        break;
      }
      const std::string_view pname =
          n->name != nullptr ? std::string_view(reinterpret_cast<const char*>(n->name)) : "";
      if (n->type == XML_ELEMENT_NODE) {
        if (pname == "pre") --pre_depth;
        if (is_block(pname)) end_line(out);
      }
      if (n == root) {
        n = nullptr;
        break;
      }
    }
    if (n != nullptr) n = n->next;
  }
  xmlFreeDoc(doc);
  return finish_text(out);
}

// ---- classification ----

std::size_t split_path(std::string_view path, std::span<std::string_view> segments) noexcept {
  std::size_t n = 0;
  while (!path.empty()) {
    std::size_t slash = path.find('/');
    std::string_view seg = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    if (seg.empty()) continue;
    if (n == segments.size()) return n + 1;
    segments[n++] = seg;
  }
  return n;
}

// ---- session users ----

party learned_or_proxy(const exchange& x, std::string_view app, const std::string& key) {
  if (x.sessions != nullptr && !key.empty()) {
    if (auto rec = x.sessions->get(std::string(app) + ":user:" + key)) {
      content::json_arena v_arena;
      boost::json::value v(v_arena.storage());
      if (!content::parse_json(*rec, x.limits, v))
        return {wire::json_str(v, "/id"), wire::json_str(v, "/name"), identity_source::learned};
    }
  }
  return wire::proxy_party(x);
}

void learn_user(const exchange& x, std::string_view app, const std::string& key,
                std::string_view id, std::string_view name) {
  if (x.sessions == nullptr || key.empty() || id.empty()) return;
  boost::json::object rec;
  rec["id"] = id;
  rec["name"] = name;
  x.sessions->put(std::string(app) + ":user:" + key, boost::json::serialize(rec));
}

decode_error rewrite_at(std::string& body, const location& at, std::string_view replacement) {
  return rewrite_layers(body, at.path, replacement, limits{});
}

// ---- rewrite ----

std::optional<std::string> multipart_type_from_body(std::string_view body) {
  std::string b = content::multipart_boundary_of(body);
  if (b.empty()) return std::nullopt;
  return "multipart/form-data; boundary=\"" + b + "\"";
}

namespace {

bool parse_range(std::string_view key, std::size_t size, std::size_t& off, std::size_t& len) {
  std::size_t colon = key.find(':');
  if (colon == std::string_view::npos) return false;
  if (!parse_int(key.substr(0, colon), off) || !parse_int(key.substr(colon + 1), len)) return false;
  return off <= size && len <= size - off;
}

// Reads the value below `path` in `value` (the read-only twin of content::rewrite_path, with
// the same layer semantics, plus byte ranges).
decode_error descend(std::string& value, std::span<const layer> path, const limits& lim,
                     std::string& out, std::size_t depth) {
  if (path.empty()) {
    out = value;
    return {};
  }
  if (depth > lim.max_depth) return {errc::too_deep, "read: too many layers"};
  const layer& l = path.front();
  std::span<const layer> rest = path.subspan(1);
  switch (l.kind) {
    case layer_kind::json: {
      content::json_arena doc_arena;
      boost::json::value doc(doc_arena.storage());
      if (auto e = content::parse_json(value, lim, doc)) return e;
      std::error_code ec;
      const boost::json::value* v = doc.find_pointer(l.key, ec);
      if (v == nullptr) return {errc::malformed_json, "read: no JSON value at " + l.key};
      if (!v->is_string()) return {errc::malformed_json, "read: not a string at " + l.key};
      std::string inner(v->get_string());
      return descend(inner, rest, lim, out, depth + 1);
    }
    case layer_kind::json_string: {
      content::json_arena doc_arena;
      boost::json::value doc(doc_arena.storage());
      if (auto e = content::parse_json(value, lim, doc)) return e;
      if (!doc.is_string()) return {errc::malformed_json, "read: value is not a JSON string"};
      std::string inner(doc.get_string());
      return descend(inner, rest, lim, out, depth + 1);
    }
    case layer_kind::form: {
      std::vector<content::form_field> fields;
      if (auto e = content::parse_form(value, lim, fields)) return e;
      std::string_view name = l.key;
      std::size_t nth = 0;
      if (content::form_value(fields, name) == nullptr) {
        std::size_t hash = name.rfind('#');
        if (hash != std::string_view::npos && parse_int(name.substr(hash + 1), nth))
          name = name.substr(0, hash);
      }
      for (auto& f : fields) {
        if (f.name != name || nth-- != 0) continue;
        return descend(f.value, rest, lim, out, depth + 1);
      }
      return {errc::malformed_form, "read: no form field " + l.key};
    }
    case layer_kind::multipart: {
      auto type = multipart_type_from_body(value);
      if (!type) return {errc::malformed_multipart, "read: body has no leading boundary"};
      std::vector<content::multipart_part> parts;
      if (auto e = content::parse_multipart(*type, value, lim, parts)) return e;
      std::size_t index = 0;
      if (!parse_int(std::string_view(l.key), index) || index >= parts.size())
        return {errc::malformed_multipart, "read: no part " + l.key};
      return descend(parts[index].body, rest, lim, out, depth + 1);
    }
    case layer_kind::base64: {
      std::string decoded;
      auto alphabet =
          l.key == "url" ? content::base64_alphabet::url_safe : content::base64_alphabet::standard;
      if (auto e = content::base64_decode(value, alphabet, lim, decoded)) return e;
      return descend(decoded, rest, lim, out, depth + 1);
    }
    case layer_kind::bytes: {
      std::size_t off = 0, len = 0;
      if (!parse_range(l.key, value.size(), off, len))
        return {errc::malformed_frame, "read: byte range " + l.key + " outside the value"};
      std::string inner = value.substr(off, len);
      return descend(inner, rest, lim, out, depth + 1);
    }
    case layer_kind::frame:
    case layer_kind::xml:
      break;
  }
  return {errc::malformed_frame, "read: layer kind not used by REST decoders"};
}

}  // namespace

decode_error rewrite_layers(std::string& body, std::span<const layer> path,
                            std::string_view replacement, const limits& lim) {
  if (path.empty() || path.front().kind != layer_kind::bytes)
    return content::rewrite_path(body, path, replacement, lim);
  // A raw upload body: the byte range, then whatever layers lie inside it.
  std::size_t off = 0, len = 0;
  if (!parse_range(path.front().key, body.size(), off, len))
    return {errc::malformed_frame, "rewrite: byte range " + path.front().key + " outside the body"};
  std::string inner = body.substr(off, len);
  if (path.size() == 1) {
    inner.assign(replacement.data(), replacement.size());
  } else if (auto e = content::rewrite_path(inner, path.subspan(1), replacement, lim)) {
    return e;
  }
  body.replace(off, len, inner);
  return {};
}

decode_error read_layers(std::string_view body, std::span<const layer> path, const limits& lim,
                         std::string& out) {
  std::string copy(body);
  return descend(copy, path, lim, out, 0);
}

}  // namespace imcap::modules::rest
