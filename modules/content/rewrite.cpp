#include "modules/content/rewrite.hpp"

#include <charconv>

#include <boost/json.hpp>

#include "modules/content/base64.hpp"
#include "modules/content/form.hpp"
#include "modules/content/json.hpp"
#include "modules/content/multipart.hpp"

namespace imcap::modules::content {

namespace {

bool parse_index(std::string_view s, std::size_t& out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

decode_error rewrite_at(std::string& value, std::span<const layer> path,
                        std::string_view replacement, const limits& lim);

// Boost.JSON serialises a string's bytes as they are but refuses invalid UTF-8 when parsing, so a
// string value that is not UTF-8 (a replacement cut inside a multi-byte character, a policy text
// in Latin-1) would give a body that neither the client nor our decoder reads. Checked with the
// parser the decoders use; the rewrite is refused instead (body untouched).
decode_error json_can_carry(const std::string& s) {
  boost::system::error_code ec;
  (void)boost::json::parse(boost::json::serialize(boost::json::value(boost::json::string(s))), ec);
  if (ec) return {errc::malformed_encoding, "rewrite: the new JSON string value is not UTF-8"};
  return {};
}

decode_error rewrite_json(std::string& value, const layer& l, std::span<const layer> rest,
                          std::string_view replacement, const limits& lim) {
  json_arena doc_arena;
  boost::json::value doc(doc_arena.storage());
  if (auto e = parse_json(value, lim, doc)) return e;
  boost::system::error_code ec;
  auto* target = doc.find_pointer(l.key, ec);
  if (ec || target == nullptr) return {errc::malformed_json, "rewrite: no value at " + l.key};
  if (!target->is_string())
    return {errc::malformed_json, "rewrite: value at " + l.key + " is not a string"};
  std::string inner(target->as_string());
  if (auto e = rewrite_at(inner, rest, replacement, lim)) return e;
  if (auto e = json_can_carry(inner)) return e;
  *target = boost::json::string(inner);
  value = boost::json::serialize(doc);
  return {};
}

decode_error rewrite_json_string(std::string& value, std::span<const layer> rest,
                                 std::string_view replacement, const limits& lim) {
  json_arena doc_arena;
  boost::json::value doc(doc_arena.storage());
  if (auto e = parse_json(value, lim, doc)) return e;
  if (!doc.is_string()) return {errc::malformed_json, "rewrite: value is not a JSON string"};
  std::string inner(doc.as_string());
  if (auto e = rewrite_at(inner, rest, replacement, lim)) return e;
  if (auto e = json_can_carry(inner)) return e;
  value = boost::json::serialize(boost::json::value(boost::json::string(inner)));
  return {};
}

decode_error rewrite_form(std::string& value, const layer& l, std::span<const layer> rest,
                          std::string_view replacement, const limits& lim) {
  std::vector<form_field> fields;
  if (auto e = parse_form(value, lim, fields)) return e;
  std::string_view name = l.key;
  std::size_t nth = 0;
  if (form_value(fields, name) == nullptr) {
    auto hash = name.rfind('#');
    if (hash != std::string_view::npos && parse_index(name.substr(hash + 1), nth))
      name = name.substr(0, hash);
  }
  for (auto& f : fields) {
    if (f.name != name) continue;
    if (nth-- != 0) continue;
    if (auto e = rewrite_at(f.value, rest, replacement, lim)) return e;
    value = serialize_form(fields);
    return {};
  }
  return {errc::malformed_form, "rewrite: no form field " + l.key};
}

decode_error rewrite_multipart(std::string& value, const layer& l, std::span<const layer> rest,
                               std::string_view replacement, const limits& lim) {
  std::size_t index = 0;
  if (!parse_index(l.key, index))
    return {errc::malformed_multipart, "rewrite: part index \"" + l.key + "\" is not a number"};
  auto boundary = multipart_boundary_of(value);
  if (boundary.empty())
    return {errc::malformed_multipart, "rewrite: body does not start with a boundary line"};
  std::vector<multipart_part> parts;
  if (auto e =
          parse_multipart("multipart/form-data; boundary=\"" + boundary + "\"", value, lim, parts))
    return e;
  if (index >= parts.size()) return {errc::malformed_multipart, "rewrite: no part " + l.key};
  std::string inner = parts[index].body;
  if (auto e = rewrite_at(inner, rest, replacement, lim)) return e;
  return replace_part_body(value, parts, index, inner);
}

decode_error rewrite_base64(std::string& value, const layer& l, std::span<const layer> rest,
                            std::string_view replacement, const limits& lim) {
  auto alphabet = l.key == "url" ? base64_alphabet::url_safe : base64_alphabet::standard;
  std::string inner;
  if (auto e = base64_decode(value, alphabet, lim, inner)) return e;
  if (auto e = rewrite_at(inner, rest, replacement, lim)) return e;
  value = base64_encode(inner, alphabet);
  return {};
}

decode_error rewrite_at(std::string& value, std::span<const layer> path,
                        std::string_view replacement, const limits& lim) {
  if (path.empty()) {
    value = std::string(replacement);
    return {};
  }
  const auto& l = path.front();
  auto rest = path.subspan(1);
  switch (l.kind) {
    case layer_kind::json:
      return rewrite_json(value, l, rest, replacement, lim);
    case layer_kind::json_string:
      return rewrite_json_string(value, rest, replacement, lim);
    case layer_kind::form:
      return rewrite_form(value, l, rest, replacement, lim);
    case layer_kind::multipart:
      return rewrite_multipart(value, l, rest, replacement, lim);
    case layer_kind::base64:
      return rewrite_base64(value, l, rest, replacement, lim);
    case layer_kind::frame:
    case layer_kind::xml:
    case layer_kind::bytes:
      break;
  }
  return {errc::malformed_frame, "rewrite: the " + std::string(to_string(l.kind)) +
                                     " layer belongs to the transport's own rewrite"};
}

}  // namespace

decode_error rewrite_path(std::string& body, std::span<const layer> path,
                          std::string_view replacement, const limits& lim) {
  if (path.empty()) return {errc::malformed_frame, "rewrite: empty location"};
  if (path.size() > lim.max_depth)
    return {errc::too_deep,
            "rewrite: location has more than " + std::to_string(lim.max_depth) + " layers"};
  std::string copy = body;
  if (auto e = rewrite_at(copy, path, replacement, lim)) return e;
  body = std::move(copy);
  return {};
}

std::string multipart_boundary_of(std::string_view body) {
  if (body.substr(0, 2) != "--") return {};
  auto eol = body.find_first_of("\r\n", 2);
  if (eol == std::string_view::npos) return {};
  auto b = body.substr(2, eol - 2);
  while (!b.empty() && (b.back() == ' ' || b.back() == '\t')) b.remove_suffix(1);
  if (b.empty() || b.size() > 70 || b.find('"') != std::string_view::npos) return {};
  return std::string(b);
}

}  // namespace imcap::modules::content
