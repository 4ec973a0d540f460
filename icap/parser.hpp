#pragma once
// Incremental push parser for ICAP/1.0 requests.
//
// Contract: feed bytes with parse(); each call consumes a prefix of its input and reports what
// happened. The parser copies what it must keep (heads) and never keeps a pointer into the
// input after returning. A body piece is reported as a view into the caller's input, valid
// until the caller reuses that memory. Untrusted input never throws: errors come back as
// values, with the ICAP status the server should answer.
//
// Thread-safety: none; one parser per connection.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "icap/message.hpp"

namespace imcap::icap {

// Why a request was rejected. Every enumerator maps to one ICAP status (error_status()).
enum class parse_error : std::uint8_t {
  none,
  bad_request_line,      // 400: not "METHOD SP URI SP VERSION"
  unknown_method,        // 501: a method ICAP/1.0 does not define
  bad_version,           // 505: not ICAP/1.0
  bad_uri,               // 400: URI is not an icap:// URI or absolute path
  bad_header,            // 400: a header line without a colon, or with a bad name
  header_too_large,      // 400: ICAP header block over limits.max_icap_header_bytes
  missing_encapsulated,  // 400: REQMOD/RESPMOD without an Encapsulated header
  bad_encapsulated,      // 400: Encapsulated entries malformed, out of order, or illegal
  http_head_too_large,   // 400: encapsulated HTTP heads over limits.max_http_header_bytes
  bad_http_head,         // 400: an encapsulated HTTP head is not a well-formed head
  bad_preview,           // 400: Preview header is not a number
  bad_chunk_size,        // 400: a chunk-size line is not hex, or overflows
  chunk_line_too_long,   // 400: a chunk-size line over limits.max_chunk_line_bytes
  bad_chunk_terminator,  // 400: chunk data not followed by CRLF
  bad_trailer,           // 400: malformed trailer section after the last chunk
  preview_too_long,      // 400: more preview bytes than the Preview header announced
};

// ICAP status code for an error (400, 501 or 505).
int error_status(parse_error e) noexcept;
// Short human-readable reason, used in the response and the log.
std::string_view error_reason(parse_error e) noexcept;

// What the caller does next after a parse() call.
enum class parse_status : std::uint8_t {
  incomplete,    // all input consumed; feed more bytes
  head_done,     // request() holds the ICAP head and HTTP heads; call parse() for the body
  body,          // `data` is a piece of the encapsulated body; call parse() with the rest
  preview_done,  // preview ended without ieof: answer 100/204/a reply; after 100 call
                 // continue_after_preview() and keep parsing the rest of the body
  done,          // request complete (last chunk, ieof, or no body); reset() before the next
  error,         // `error` says why; the connection cannot be resynchronised: answer, close
};

// The service path of an ICAP request URI ("icap://host:1344/imcap?mode=x" -> "/imcap"; an
// empty path is "/"), or nullopt when the URI is malformed or its scheme is not icap/icaps.
// The common shapes are split directly; everything else goes through Boost.URL.
std::optional<std::string_view> icap_uri_service(std::string_view uri);
// The same answer, always through Boost.URL: the definition the fast split is tested against.
std::optional<std::string_view> icap_uri_service_reference(std::string_view uri);

struct parse_result {
  parse_status status = parse_status::incomplete;
  std::size_t consumed = 0;  // bytes of the input used by this call
  std::string_view data;     // for status::body: the body bytes (points into the input)
};

struct parser_limits {
  std::size_t max_icap_header_bytes = 65536;
  std::size_t max_http_header_bytes = 131072;
  std::size_t max_chunk_line_bytes = 4096;
};

class request_parser {
 public:
  explicit request_parser(parser_limits limits = {}) : limits_(limits) {
    spare_heads_.reserve(2);  // reset() refills it without allocating
  }

  parse_result parse(std::string_view input);

  // After preview_done and a 100 Continue: the rest of the body follows as more chunks.
  void continue_after_preview() noexcept;
  // Forget the current request; ready for the next one on the same connection.
  void reset() noexcept;
  void set_limits(parser_limits limits) noexcept { limits_ = limits; }

  const icap::request& request() const noexcept { return request_; }
  icap::request& request() noexcept { return request_; }
  parse_error error() const noexcept { return error_; }
  // True once the last chunk carried the ieof extension (the preview was the whole body).
  bool ieof() const noexcept { return ieof_; }
  // True while the body being parsed is the preview (before preview_done / done).
  bool in_preview() const noexcept { return in_preview_; }
  // Bytes of encapsulated body reported so far (preview included).
  std::uint64_t body_bytes() const noexcept { return body_bytes_; }
  // Bytes of the request received so far, framing included (for the access log).
  std::uint64_t wire_bytes() const noexcept { return wire_bytes_; }
  // Trailer fields received after the last chunk (RFC draft-rousskov-icap-trailers).
  const header_list& trailers() const noexcept { return trailers_; }

 private:
  enum class state : std::uint8_t {
    icap_head,
    http_heads,
    chunk_size,
    chunk_data,
    chunk_data_crlf,
    trailer,
    after_preview,
    complete,
    failed
  };

  parse_result fail(parse_error e, std::size_t consumed);
  parse_result parse_icap_head(std::string_view input);
  parse_result parse_http_heads(std::string_view input);
  parse_result parse_chunk_size(std::string_view input);
  parse_result parse_trailer(std::string_view input);
  parse_error finish_icap_head(std::string_view head);
  parse_error finish_http_heads();
  parse_result finish_last_chunk(std::size_t consumed);

  parser_limits limits_;
  state state_ = state::icap_head;
  parse_error error_ = parse_error::none;
  icap::request request_;
  // HTTP heads of earlier requests on this connection, kept so the next request's heads reuse
  // their strings' storage instead of allocating anew (reset() returns them here).
  std::vector<http_head> spare_heads_;
  std::string buf_;            // partial head / chunk line / trailer line being accumulated
  std::size_t scan_from_ = 0;  // where to resume looking for a terminator in buf_
  std::uint64_t chunk_left_ = 0;
  std::uint64_t body_bytes_ = 0;
  std::uint64_t wire_bytes_ = 0;
  bool ieof_ = false;
  bool in_preview_ = false;
  header_list trailers_;
};

}  // namespace imcap::icap
