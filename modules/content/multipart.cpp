#include "modules/content/multipart.hpp"

#include <boost/url/pct_string_view.hpp>

#include "modules/content/base64.hpp"

namespace imcap::modules::content {

namespace {

constexpr std::string_view crlf = "\r\n";

bool is_space(char c) noexcept {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 8187 ext-value: charset'language'percent-encoded. UTF-8 is taken as is, ISO-8859-1 is
// widened to UTF-8; anything else is refused.
bool decode_ext_value(std::string_view v, std::string& out) {
  auto q1 = v.find('\'');
  if (q1 == std::string_view::npos) return false;
  auto q2 = v.find('\'', q1 + 1);
  if (q2 == std::string_view::npos) return false;
  std::string charset(v.substr(0, q1));
  for (auto& c : charset) c = static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  auto pct = boost::urls::make_pct_string_view(v.substr(q2 + 1));
  if (!pct) return false;
  std::string raw = pct->decode();
  if (charset == "utf-8") {
    out = std::move(raw);
    return true;
  }
  if (charset == "iso-8859-1") {
    out.clear();
    for (char ch : raw) {
      auto u = static_cast<unsigned char>(ch);
      if (u < 0x80) {
        out += ch;
      } else {
        out += static_cast<char>(0xC0 | (u >> 6));
        out += static_cast<char>(0x80 | (u & 0x3F));
      }
    }
    return true;
  }
  return false;
}

decode_error part_error(errc code, std::size_t index, std::string what) {
  return {code, "multipart: part " + std::to_string(index + 1) + " " + std::move(what)};
}

}  // namespace

decode_error parse_multipart(std::string_view content_type, std::string_view body,
                             const limits& lim, std::vector<multipart_part>& out) {
  out.clear();
  auto boundary = header_param(content_type, "boundary");
  if (!boundary || boundary->empty())
    return {errc::malformed_multipart, "multipart: Content-Type has no boundary parameter"};
  if (boundary->size() > 70)
    return {errc::malformed_multipart, "multipart: boundary longer than 70 characters"};
  if (body.size() > lim.max_decoded_bytes)
    return {errc::too_large, "multipart: body of " + std::to_string(body.size()) + " bytes over " +
                                 std::to_string(lim.max_decoded_bytes)};
  bool form_data = header_token(content_type) == "multipart/form-data";

  const std::string dash = "--" + *boundary;
  const std::string delim = "\r\n" + dash;
  // The first delimiter starts the body or follows a preamble line.
  std::size_t pos;
  if (body.substr(0, dash.size()) == dash) {
    pos = dash.size();
  } else {
    auto f = body.find(delim);
    if (f == std::string_view::npos)
      return {errc::malformed_multipart,
              "multipart: boundary \"" + *boundary + "\" never appears in the body"};
    pos = f + delim.size();
  }

  // pos is just after a delimiter. Each iteration consumes one part and moves pos past the
  // next delimiter, so the loop ends.
  for (std::size_t index = 0;; ++index) {
    if (body.substr(pos, 2) == "--") return {};  // close delimiter; the epilogue is ignored
    while (pos < body.size() && is_space(body[pos])) ++pos;  // transport padding
    if (pos >= body.size())
      return {errc::truncated, "multipart: body ends after a boundary without the closing \"--\""};
    if (body.substr(pos, 2) != crlf)
      return part_error(errc::malformed_multipart, index,
                        "boundary line is followed by text instead of CRLF");
    pos += 2;
    if (out.size() >= lim.max_parts)
      return {errc::too_many_parts,
              "multipart: more than " + std::to_string(lim.max_parts) + " parts"};

    multipart_part part;
    // Header fields, one per line, until an empty line.
    for (;;) {
      auto eol = body.find(crlf, pos);
      if (eol == std::string_view::npos)
        return part_error(errc::truncated, index, "headers are cut off");
      auto line = body.substr(pos, eol - pos);
      pos = eol + 2;
      if (line.empty()) break;
      auto colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0)
        return part_error(errc::malformed_multipart, index,
                          "has a header line without a name and ':'");
      if (part.headers.fields().size() >= lim.max_parts)
        return part_error(errc::too_many_parts, index, "has too many header lines");
      part.headers.add(std::string(trim(line.substr(0, colon))),
                       std::string(trim(line.substr(colon + 1))));
    }
    auto end = body.find(delim, pos);
    if (end == std::string_view::npos)
      return part_error(errc::truncated, index, "has no closing boundary");
    part.body_offset = pos;
    part.body_length = end - pos;
    auto raw = body.substr(pos, end - pos);
    pos = end + delim.size();

    auto cd = part.headers.get("Content-Disposition");
    if (cd) {
      part.name = header_param(*cd, "name").value_or("");
      auto ext = header_param(*cd, "filename*");
      auto plain = header_param(*cd, "filename");
      if (ext) {
        if (!decode_ext_value(*ext, part.filename))
          return part_error(errc::malformed_multipart, index,
                            "has a filename* that is not charset''percent-encoded UTF-8");
        part.has_filename = true;
      } else if (plain) {
        part.filename = *plain;
        part.has_filename = true;
      }
    } else if (form_data) {
      return part_error(errc::malformed_multipart, index, "has no Content-Disposition");
    }
    auto ct = part.headers.get("Content-Type");
    part.media_type = ct ? header_token(*ct) : std::string("text/plain");
    auto cte = part.headers.get("Content-Transfer-Encoding");
    if (cte && header_token(*cte) == "base64") {
      if (auto e = base64_decode(raw, base64_alphabet::standard, lim, part.body))
        return part_error(e.code, index, "base64 body: " + e.detail);
    } else {
      part.body = std::string(raw);
    }
    out.push_back(std::move(part));
  }
}

const multipart_part* find_part(const std::vector<multipart_part>& parts, std::string_view name) {
  for (const auto& p : parts) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

decode_error replace_part_body(std::string& body, const std::vector<multipart_part>& parts,
                               std::size_t index, std::string_view new_body) {
  if (index >= parts.size())
    return {errc::malformed_multipart, "multipart: no part " + std::to_string(index + 1)};
  const auto& p = parts[index];
  if (p.body_offset > body.size() || p.body_length > body.size() - p.body_offset)
    return {errc::malformed_multipart,
            "multipart: part " + std::to_string(index + 1) + " lies outside this body"};
  // The delimiter that closes the part: the replacement must not contain it, or the parts
  // after it would shift.
  std::string_view after(body);
  after.remove_prefix(p.body_offset + p.body_length);
  if (after.substr(0, 4) != "\r\n--")
    return {errc::malformed_multipart,
            "multipart: part " + std::to_string(index + 1) + " is not followed by its boundary"};
  auto line_end = after.find_first_of("\r\n \t", 4);
  std::string delim(after.substr(0, line_end));
  // After the last part comes the close delimiter "--boundary--": drop its closing dashes.
  if (index + 1 == parts.size() && delim.size() > 6) delim.resize(delim.size() - 2);
  std::string encoded;
  auto cte = p.headers.get("Content-Transfer-Encoding");
  if (cte && header_token(*cte) == "base64") {
    encoded = base64_encode(new_body, base64_alphabet::standard);
    new_body = encoded;
  }
  if (new_body.find(delim) != std::string_view::npos ||
      new_body.find(std::string_view(delim).substr(2)) == 0)
    return {errc::malformed_multipart, "multipart: the replacement contains the boundary"};
  body.replace(p.body_offset, p.body_length, new_body);
  return {};
}

}  // namespace imcap::modules::content
