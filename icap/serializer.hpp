#pragma once
// Builds ICAP/1.0 responses. Pure functions over strings; no I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "icap/message.hpp"

namespace imcap::icap {

// Reason phrase for an ICAP status code ("No Content" for 204...).
std::string_view status_reason(int status) noexcept;

// The current time as an RFC 1123 date ("Mon, 23 Nov 2026 11:04:30 GMT"), cached per second.
std::string_view http_date();

// Headers every response carries besides the status line.
struct response_meta {
  std::string_view istag;  // already quoted, e.g. "\"IMCAP-1a2b\""
  bool close = false;      // add "Connection: close": the server closes after this response
  std::vector<std::pair<std::string, std::string>> extra;  // more headers, sent as given
};

// A response with no encapsulated message: 100, 204, and errors. 100 and 204 carry no
// Encapsulated header (the form Squid and c-icap expect); errors carry "null-body=0".
std::string status_response(int status, const response_meta& meta);

// What OPTIONS advertises for one service.
struct options_info {
  std::string_view methods;     // "REQMOD, RESPMOD"
  std::string_view service;     // human-readable Service text
  std::string_view service_id;  // short id, sent as Service-ID and ServiceId
  std::uint32_t max_connections;
  std::uint32_t options_ttl;
  std::uint32_t preview;
  bool allow_206;
};
std::string options_response(const options_info& info, const response_meta& meta);

// A 200 or 206 response head carrying the adapted HTTP heads. `req_head` / `res_head` are
// complete HTTP heads (ending in an empty line); `has_body` says whether a chunked body follows
// (req-body/res-body after the last head) or not (null-body).
std::string message_response(int status, const response_meta& meta,
                             std::optional<std::string_view> req_head,
                             std::optional<std::string_view> res_head, bool has_body);

// Chunk framing for response bodies.
void append_chunk_header(std::string& out, std::size_t size);  // "<hex>\r\n"
void append_chunk(std::string& out, std::string_view data);    // header + data + "\r\n"
inline constexpr std::string_view chunk_end = "\r\n";          // after chunk data
inline constexpr std::string_view last_chunk = "0\r\n\r\n";
// End of a 206 body: the client appends the original body from `offset` on.
std::string use_original_body(std::uint64_t offset);

}  // namespace imcap::icap
