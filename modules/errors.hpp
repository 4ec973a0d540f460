#pragma once
// Decode errors: values, never exceptions, on the data path. Every error is counted by code
// (error_count), so an admin sees which limit or format failure is happening and how often.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace imcap::modules {

enum class errc : std::uint8_t {
  ok = 0,                // no error
  malformed_http,        // the HTTP message itself (start line, headers, framing) is broken
  malformed_json,        // JSON syntax error
  malformed_form,        // application/x-www-form-urlencoded syntax error (bad % escape)
  malformed_multipart,   // multipart/form-data framing broken (no boundary, unterminated part)
  malformed_xml,         // XML not well-formed
  malformed_frame,       // transport framing broken (Engine.IO length, SockJS frame, MSNP ...)
  malformed_base64,      // base64 that does not decode
  malformed_encoding,    // corrupt gzip/deflate/br/zstd stream
  unsupported_encoding,  // a Content-Encoding we do not know
  too_large,             // decoded size over limits::max_decoded_bytes
  ratio_exceeded,        // decompression ratio over limits::max_ratio (zip bomb)
  too_deep,              // nesting over limits::max_depth (JSON, XML, layered encodings)
  too_many_parts,        // over limits::max_parts (multipart parts, form fields, frames)
  truncated,             // the body ends in the middle of a structure
};
inline constexpr std::size_t errc_count = 15;

std::string_view to_string(errc e) noexcept;

// A decode failure: the code, and a precise human reason ("multipart: part 3 has no
// Content-Disposition"). Constructing one with a code other than ok counts it.
struct decode_error {
  errc code = errc::ok;
  std::string detail;

  decode_error() = default;
  decode_error(errc c, std::string d);

  explicit operator bool() const noexcept { return code != errc::ok; }
  // "<code>: <detail>"
  std::string message() const;
};

// How many errors of this code were created since start (thread-safe, relaxed).
std::uint64_t error_count(errc e) noexcept;

// Hard limits on every decoding stage. The defaults suit chat traffic; the pipeline takes them
// from its configuration.
struct limits {
  std::size_t max_decoded_bytes = 64u << 20;  // after undoing content codings, per body
  std::size_t max_ratio = 200;                // decoded bytes / encoded bytes, per coding stage
  std::size_t max_depth = 64;                 // JSON/XML nesting and stacked layers
  std::size_t max_parts = 1024;               // multipart parts, form fields, transport frames
  std::size_t max_codings = 4;                // stacked Content-Encoding entries
};

}  // namespace imcap::modules
