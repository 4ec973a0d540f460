#include "modules/errors.hpp"

namespace imcap::modules {

namespace {

// One counter per code; ok (index 0) is never incremented.
std::array<std::atomic<std::uint64_t>, errc_count>& counters() noexcept {
  static std::array<std::atomic<std::uint64_t>, errc_count> c{};
  return c;
}

}  // namespace

std::string_view to_string(errc e) noexcept {
  switch (e) {
    case errc::ok:
      return "ok";
    case errc::malformed_http:
      return "malformed_http";
    case errc::malformed_json:
      return "malformed_json";
    case errc::malformed_form:
      return "malformed_form";
    case errc::malformed_multipart:
      return "malformed_multipart";
    case errc::malformed_xml:
      return "malformed_xml";
    case errc::malformed_frame:
      return "malformed_frame";
    case errc::malformed_base64:
      return "malformed_base64";
    case errc::malformed_encoding:
      return "malformed_encoding";
    case errc::unsupported_encoding:
      return "unsupported_encoding";
    case errc::too_large:
      return "too_large";
    case errc::ratio_exceeded:
      return "ratio_exceeded";
    case errc::too_deep:
      return "too_deep";
    case errc::too_many_parts:
      return "too_many_parts";
    case errc::truncated:
      return "truncated";
  }
  return "unknown";
}

decode_error::decode_error(errc c, std::string d) : code(c), detail(std::move(d)) {
  auto i = static_cast<std::size_t>(c);
  if (c != errc::ok && i < errc_count) counters()[i].fetch_add(1, std::memory_order_relaxed);
}

std::string decode_error::message() const {
  std::string m(to_string(code));
  m += ": ";
  m += detail;
  return m;
}

std::uint64_t error_count(errc e) noexcept {
  auto i = static_cast<std::size_t>(e);
  if (i >= errc_count) return 0;
  return counters()[i].load(std::memory_order_relaxed);
}

}  // namespace imcap::modules
