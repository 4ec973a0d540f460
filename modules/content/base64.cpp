#include "modules/content/base64.hpp"

#include <sodium.h>

namespace imcap::modules::content {

namespace {

// RFC 2045 lets line breaks (and imcap tolerates spaces) sit anywhere in base64 text.
constexpr const char* ignored_chars = " \t\r\n";

bool ignored(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

}  // namespace

decode_error base64_decode(std::string_view text, base64_alphabet alphabet, const limits& lim,
                           std::string& out) {
  out.clear();
  // Padding is optional: drop it (and whitespace around it) and decode with libsodium's
  // no-padding variant, which still rejects a length that cannot be base64.
  std::size_t pad = 0;
  while (!text.empty() && (text.back() == '=' || ignored(text.back()))) {
    if (text.back() == '=') ++pad;
    text.remove_suffix(1);
  }
  if (pad > 2) return {errc::malformed_base64, "base64: more than two padding characters"};
  std::size_t max_out = text.size() / 4 * 3 + 3;
  if (max_out > lim.max_decoded_bytes + 3)
    return {errc::too_large, "base64: " + std::to_string(text.size()) +
                                 " characters decode to more than " +
                                 std::to_string(lim.max_decoded_bytes) + " bytes"};
  int variant = alphabet == base64_alphabet::standard ? sodium_base64_VARIANT_ORIGINAL_NO_PADDING
                                                      : sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  out.resize(max_out);
  std::size_t bin_len = 0;
  const char* end = nullptr;
  int rc = sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), text.data(),
                             text.size(), ignored_chars, &bin_len, &end, variant);
  if (rc != 0 || end != text.data() + text.size()) {
    std::size_t at = end == nullptr ? 0 : static_cast<std::size_t>(end - text.data());
    out.clear();
    return {errc::malformed_base64,
            "base64: invalid " +
                std::string(alphabet == base64_alphabet::standard ? "standard" : "url-safe") +
                " text at offset " + std::to_string(at)};
  }
  out.resize(bin_len);
  if (out.size() > lim.max_decoded_bytes) {
    out.clear();
    return {errc::too_large,
            "base64: decoded size over " + std::to_string(lim.max_decoded_bytes) + " bytes"};
  }
  return {};
}

std::string base64_encode(std::string_view bytes, base64_alphabet alphabet) {
  int variant = alphabet == base64_alphabet::standard ? sodium_base64_VARIANT_ORIGINAL
                                                      : sodium_base64_VARIANT_URLSAFE;
  std::string out(sodium_base64_encoded_len(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()),
                    bytes.size(), variant);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

}  // namespace imcap::modules::content
