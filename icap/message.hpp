#pragma once
// ICAP/1.0 message model (RFC 3507): what the parser produces and the server and services read.
// Plain values, no I/O, no pointers into network buffers: a request outlives the bytes it came
// from.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace imcap::icap {

enum class method : std::uint8_t {
  options,  // OPTIONS: the proxy asks what a service supports
  reqmod,   // REQMOD: adapt an HTTP request before it goes to the origin
  respmod,  // RESPMOD: adapt an HTTP response before it goes to the client
};

std::string_view to_string(method m) noexcept;

// Header fields in arrival order. Lookups are case-insensitive; names keep their spelling.
class header_list {
 public:
  struct field {
    std::string name;
    std::string value;
  };

  void add(std::string name, std::string value);
  // Appends " " + `more` to the last field's value (header line folding).
  void append_to_last(std::string_view more);
  // First value of `name`, if present.
  std::optional<std::string_view> get(std::string_view name) const noexcept;
  // True when a comma-separated list header (e.g. `Allow: 204, trailers`) contains `token`
  // (case-insensitive), in any of its occurrences.
  bool has_token(std::string_view name, std::string_view token) const noexcept;
  const std::vector<field>& fields() const noexcept { return fields_; }
  bool empty() const noexcept { return fields_.empty(); }
  // Removes every field, keeping the list's storage for the next message on the connection.
  void clear() noexcept { fields_.clear(); }

 private:
  std::vector<field> fields_;
};

// One encapsulated HTTP head (request or response), kept byte for byte as received so that an
// unmodified message can be echoed exactly, plus the parsed start line and fields.
struct http_head {
  std::string raw;         // start line + fields + empty line, exactly as received
  std::string start_line;  // without CRLF
  header_list fields;

  // For a request head: method, target; for a response head: status code (0 if malformed).
  std::string_view request_method() const noexcept;
  std::string_view request_target() const noexcept;
  int response_status() const noexcept;
};

// Which part the ICAP body (the chunked section after the heads) belongs to, from the last
// entry of the Encapsulated header.
enum class body_part : std::uint8_t {
  none,      // null-body: no ICAP body follows
  req_body,  // the encapsulated HTTP request's body
  res_body,  // the encapsulated HTTP response's body
  opt_body,  // an OPTIONS body (read and ignored)
};

// The parsed Encapsulated header (RFC 3507 §4.4.1).
struct encapsulation {
  std::optional<std::size_t> req_hdr;  // offset of the HTTP request head
  std::optional<std::size_t> res_hdr;  // offset of the HTTP response head
  body_part body = body_part::none;
  std::size_t body_offset = 0;  // where the heads end and the chunked body (if any) starts
};

// A complete ICAP request head with its encapsulated HTTP heads.
struct request {
  icap::method method = icap::method::options;
  std::string uri;      // as sent, e.g. icap://127.0.0.1:1344/echo?mode=x
  std::string service;  // the URI's path, e.g. /echo
  header_list headers;
  encapsulation encapsulated;
  std::optional<http_head> http_request;
  std::optional<http_head> http_response;
  std::optional<std::size_t> preview;  // Preview: n, when the client sends a preview
  bool allow_204 = false;              // Allow: 204 (204 is acceptable outside the preview)
  bool allow_206 = false;       // Allow: 206 (partial content, draft-icap-ext-partial-content)
  bool allow_trailers = false;  // Allow: trailers (the client accepts ICAP trailers)

  bool has_body() const noexcept { return encapsulated.body != body_part::none; }
};

}  // namespace imcap::icap
