#include "modules/content/json.hpp"

#include <cmath>

#include <boost/json.hpp>

namespace imcap::modules::content {

decode_error parse_json(std::string_view text, const limits& lim, boost::json::value& out) {
  return parse_json(text, lim, out, out.storage());
}

decode_error parse_json(std::string_view text, const limits& lim, boost::json::value& out,
                        boost::json::storage_ptr storage) {
  if (text.size() > lim.max_decoded_bytes)
    return {errc::too_large, "json: document of " + std::to_string(text.size()) + " bytes over " +
                                 std::to_string(lim.max_decoded_bytes)};
  boost::json::parse_options opt;
  opt.max_depth = lim.max_depth;
  // Boost.JSON's parser keeps its own explicit stack: a deep document fails with
  // too_deep at max_depth instead of recursing.
  // The parser's own working stack starts in this buffer: no allocation for usual documents.
  unsigned char scratch[4096];
  boost::json::stream_parser p({}, opt, scratch);
  p.reset(std::move(storage));
  boost::system::error_code ec;
  p.write(text.data(), text.size(), ec);
  if (!ec) p.finish(ec);
  if (ec) {
    if (ec == boost::json::error::too_deep)
      return {errc::too_deep, "json: nesting deeper than " + std::to_string(lim.max_depth)};
    if (ec == boost::json::error::incomplete)
      return {errc::truncated, "json: document ends early (" + ec.message() + ")"};
    return {errc::malformed_json, "json: " + ec.message()};
  }
  out = p.release();
  return {};
}

namespace {

// The usual pointer ("/a/b/0": no "~" escapes, array indexes in canonical decimal) walked with
// object lookups (hashed in large objects) instead of Boost.JSON's token-by-token compare, which
// was a fifth of the decode time on history pages. `handled` is false for anything else, which
// goes to find_pointer so the RFC 6901 corner cases keep its answers.
const boost::json::value* fast_pointer(const boost::json::value& v, std::string_view pointer,
                                       bool& handled) {
  handled = false;
  if (pointer.find('~') != std::string_view::npos) return nullptr;
  const boost::json::value* cur = &v;
  std::size_t at = 0;
  while (at < pointer.size()) {
    if (pointer[at] != '/') return nullptr;
    std::size_t end = pointer.find('/', at + 1);
    if (end == std::string_view::npos) end = pointer.size();
    const std::string_view token = pointer.substr(at + 1, end - at - 1);
    at = end;
    if (const auto* o = cur->if_object()) {
      cur = o->if_contains(token);
      if (cur == nullptr) {
        handled = true;
        return nullptr;
      }
    } else if (const auto* a = cur->if_array()) {
      if (token.empty() || token.size() > 18 || (token.size() > 1 && token[0] == '0'))
        return nullptr;
      std::size_t i = 0;
      for (char c : token) {
        if (c < '0' || c > '9') return nullptr;
        i = i * 10 + static_cast<std::size_t>(c - '0');
      }
      if (i >= a->size()) {
        handled = true;
        return nullptr;
      }
      cur = &(*a)[i];
    } else {
      return nullptr;  // a token under a scalar: find_pointer's answer
    }
  }
  handled = true;
  return cur;
}

}  // namespace

const boost::json::value* at_pointer(const boost::json::value& v, std::string_view pointer) {
  bool handled = false;
  const boost::json::value* fast = fast_pointer(v, pointer, handled);
  if (handled) return fast;
  boost::system::error_code ec;
  const boost::json::value* r = v.find_pointer(pointer, ec);
  if (ec) return nullptr;
  return r;
}

std::optional<std::string> string_at(const boost::json::value& v, std::string_view pointer) {
  const auto* p = at_pointer(v, pointer);
  if (p == nullptr || !p->is_string()) return std::nullopt;
  return std::string(p->as_string());
}

std::optional<std::string> id_at(const boost::json::value& v, std::string_view pointer) {
  const auto* p = at_pointer(v, pointer);
  if (p == nullptr) return std::nullopt;
  if (p->is_string()) return std::string(p->as_string());
  if (p->is_int64()) return std::to_string(p->as_int64());
  if (p->is_uint64()) return std::to_string(p->as_uint64());
  if (p->is_double()) {
    double d = p->as_double();
    // Integral doubles within the exactly representable range only.
    if (std::isfinite(d) && std::trunc(d) == d && std::fabs(d) <= 9007199254740992.0)
      return std::to_string(static_cast<std::int64_t>(d));
  }
  return std::nullopt;
}

std::string pointer_escape(std::string_view key) {
  std::string r;
  r.reserve(key.size());
  for (char c : key) {
    if (c == '~')
      r += "~0";
    else if (c == '/')
      r += "~1";
    else
      r += c;
  }
  return r;
}

decode_error replace_string(std::string& text, std::string_view pointer,
                            std::string_view replacement, const limits& lim) {
  boost::json::value doc;
  if (auto e = parse_json(text, lim, doc)) return e;
  boost::system::error_code ec;
  boost::json::value* target = doc.find_pointer(pointer, ec);
  if (ec || target == nullptr)
    return {errc::malformed_json, "json: no value at " + std::string(pointer)};
  if (!target->is_string())
    return {errc::malformed_json, "json: value at " + std::string(pointer) + " is not a string"};
  *target = boost::json::string(replacement);
  text = boost::json::serialize(doc);
  return {};
}

}  // namespace imcap::modules::content
