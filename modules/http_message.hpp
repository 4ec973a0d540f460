#pragma once
// Raw HTTP/1.1 messages (as files on disk, or as bytes a test or fuzzer has) turned into what
// the decoders take: the request head and bodies with framing (Content-Length, chunked, or
// to-EOF for responses) and content codings undone. Boost.Beast's parser does the HTTP work;
// it stays inside http_message.cpp.
//
// Errors: the HTTP message itself -> malformed_http with the reason (bad start line, header
// section over 64 KiB, body over limits::max_decoded_bytes, body shorter than declared, bytes
// after the message); content codings -> the error decode_content gives.

#include <string_view>

#include "modules/errors.hpp"
#include "modules/http.hpp"

namespace imcap::modules {

// Largest header section accepted (request line or status line plus fields).
inline constexpr std::size_t max_header_bytes = 64 * 1024;

// Parses one complete request. A request with neither Content-Length nor chunked framing has
// no body; bytes after the message are an error.
decode_error parse_http_request(std::string_view raw, const limits& lim, http_request& out);

// Parses one complete response (read to the end of `raw` when it has no length).
decode_error parse_http_response(std::string_view raw, const limits& lim, http_response& out);

}  // namespace imcap::modules
