#include "modules/content/form.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/encoding_opts.hpp>
#include <boost/url/grammar/lut_chars.hpp>
#include <boost/url/pct_string_view.hpp>

namespace imcap::modules::content {

namespace {

// Percent-decodes one name or value, '+' as space; a '%' not followed by two hex digits is an
// error (Boost.URL validates the escapes).
bool decode_component(std::string_view s, std::string& out) {
  auto pct = boost::urls::make_pct_string_view(s);
  if (!pct) return false;
  boost::urls::encoding_opts opt;
  opt.space_as_plus = true;
  out = pct->decode(opt);
  return true;
}

// Characters the WHATWG application/x-www-form-urlencoded serializer leaves as they are; every
// other byte is percent-encoded (space becomes '+').
constexpr boost::urls::grammar::lut_chars form_unreserved(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789*-._");

std::string encode_component(std::string_view s) {
  boost::urls::encoding_opts opt;
  opt.space_as_plus = true;
  return boost::urls::encode(s, form_unreserved, opt);
}

}  // namespace

decode_error parse_form(std::string_view body, const limits& lim, std::vector<form_field>& out) {
  out.clear();
  std::size_t i = 0;
  std::size_t index = 0;
  // Each pass consumes one '&'-separated piece (at least one byte), so the loop ends.
  while (i < body.size()) {
    auto amp = body.find('&', i);
    if (amp == std::string_view::npos) amp = body.size();
    auto piece = body.substr(i, amp - i);
    i = amp + 1;
    ++index;
    if (piece.empty()) continue;
    if (out.size() >= lim.max_parts)
      return {errc::too_many_parts, "form: more than " + std::to_string(lim.max_parts) + " fields"};
    auto eq = piece.find('=');
    auto raw_name = piece.substr(0, eq);
    auto raw_value = eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
    form_field f;
    if (!decode_component(raw_name, f.name) || !decode_component(raw_value, f.value))
      return {errc::malformed_form,
              "form: field " + std::to_string(index) + " has a '%' not followed by two hex digits"};
    out.push_back(std::move(f));
  }
  return {};
}

const std::string* form_value(const std::vector<form_field>& fields, std::string_view name) {
  for (const auto& f : fields) {
    if (f.name == name) return &f.value;
  }
  return nullptr;
}

std::string serialize_form(const std::vector<form_field>& fields) {
  std::string r;
  for (const auto& f : fields) {
    if (!r.empty()) r += '&';
    r += encode_component(f.name);
    r += '=';
    r += encode_component(f.value);
  }
  return r;
}

}  // namespace imcap::modules::content
