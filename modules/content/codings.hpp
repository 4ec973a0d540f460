#pragma once
// HTTP content codings (RFC 9110 §8.4): undo them before decoding, re-apply them after a
// rewrite. gzip (multi-member, x-gzip), deflate (zlib wrapper, falling back to raw deflate),
// br, zstd, identity; stacked lists are undone right to left. zlib, brotli and zstd do the
// work; this file only drives them within limits.
//
// Every output is bounded by limits::max_decoded_bytes and, per stage, by limits::max_ratio
// times the stage's input: a decompression bomb stops at the limit with too_large or
// ratio_exceeded after bounded work and memory.

#include <string>
#include <string_view>

#include "modules/errors.hpp"

namespace imcap::modules::content {

// Undoes a Content-Encoding header value ("gzip", "gzip, br", "" for none) on `body`, writing
// the identity bytes to `out`.
decode_error decode_content(std::string_view content_encoding, std::string_view body,
                            const limits& lim, std::string& out);

// Applies a Content-Encoding header value to `body` (for rewritten messages). Unknown codings
// give unsupported_encoding.
decode_error encode_content(std::string_view content_encoding, std::string_view body,
                            std::string& out);

}  // namespace imcap::modules::content
