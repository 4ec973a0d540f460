#include "icap/identity.hpp"

#include <algorithm>

#include <sodium.h>

#include "icap/text.hpp"

namespace imcap::icap {

bool decode_base64(std::string_view in, std::string& out) {
  if (in.empty() || in.size() % 4 != 0) return false;
  out.resize(in.size() / 4 * 3);
  std::size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(),
                        in.size(), nullptr, &len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != in.data() + in.size())
    return false;
  out.resize(len);
  return true;
}

namespace {

bool printable_name(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u != 0x7f;  // UTF-8 continuation bytes (>= 0x80) are allowed
  });
}

bool printable_ascii(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

// Splits "WinNT://DOMAIN/user", "LDAP://host/cn=user,ou=x", "DOMAIN\user" and "user@realm".
void split_qualified(client_identity& id) {
  std::string_view v = id.qualified;
  auto scheme_end = v.find("://");
  if (scheme_end != std::string_view::npos) {
    auto scheme = v.substr(0, scheme_end);
    auto rest = v.substr(scheme_end + 3);
    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    std::string_view name =
        slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    id.domain = std::string(authority);
    if (iequals(scheme, "LDAP") || iequals(scheme, "LDAPS")) {
      // First RDN's value: cn=alice,ou=staff -> alice
      auto first = name.substr(0, name.find(','));
      auto eq = first.find('=');
      id.user = std::string(eq == std::string_view::npos ? first : first.substr(eq + 1));
    } else {
      id.user = std::string(name.empty() ? authority : name);
      if (name.empty()) id.domain.clear();
    }
    return;
  }
  auto backslash = v.find('\\');
  if (backslash != std::string_view::npos) {
    id.domain = std::string(v.substr(0, backslash));
    id.user = std::string(v.substr(backslash + 1));
    return;
  }
  id.user = std::string(v);
}

}  // namespace

client_identity extract_identity(const header_list& headers, const identity_settings& s) {
  client_identity id;
  if (!s.client_ip_header.empty())
    if (auto ip = headers.get(s.client_ip_header)) id.client_ip = std::string(*ip);
  for (const auto& name : s.username_headers) {
    auto value = headers.get(name);
    if (!value || value->empty()) continue;
    id.header = name;
    std::string decoded;
    switch (s.encoding) {
      case username_encoding::raw:
        id.qualified = std::string(*value);
        break;
      case username_encoding::base64:
        if (decode_base64(*value, decoded) && printable_name(decoded)) {
          id.qualified = std::move(decoded);
        } else {
          id.qualified = std::string(*value);
          id.decode_failed = true;
        }
        break;
      case username_encoding::auto_detect:
        // Guessing must not turn a plain name into garbage. Values containing characters
        // base64 never has ('@', '\\', ':', space) are raw; otherwise the value is
        // decoded only when it is strict base64 (padded, length a multiple of 4) of printable
        // ASCII. A raw name that passes both tests is vanishingly rare; set encoding to raw or
        // base64 to remove the guess entirely.
        if (value->find_first_of("@\\: ") == std::string_view::npos &&
            decode_base64(*value, decoded) && printable_ascii(decoded))
          id.qualified = std::move(decoded);
        else
          id.qualified = std::string(*value);
        break;
    }
    split_qualified(id);
    break;
  }
  return id;
}

}  // namespace imcap::icap
