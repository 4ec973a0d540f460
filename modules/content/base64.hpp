#pragma once
// Base64 through libsodium (standard and URL-safe alphabets, padding optional, whitespace
// ignored where RFC 2045 allows it).

#include <cstdint>
#include <string>
#include <string_view>

#include "modules/errors.hpp"

namespace imcap::modules::content {

enum class base64_alphabet : std::uint8_t {
  standard,  // RFC 4648 §4 (+ and /)
  url_safe,  // RFC 4648 §5 (- and _)
};

decode_error base64_decode(std::string_view text, base64_alphabet alphabet, const limits& lim,
                           std::string& out);
std::string base64_encode(std::string_view bytes, base64_alphabet alphabet);

}  // namespace imcap::modules::content
