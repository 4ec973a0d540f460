#pragma once
// The HTTP side of one exchange as the decoders see it: request head (all that an ICAP preview
// guarantees), bodies with their content codings already undone, and the proxy's identity.
// Independent of icap/: the pipeline (and `imcapctl decode`) fills these from what it has.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "modules/errors.hpp"

namespace imcap::modules {

class session_store;

// Header fields in arrival order; lookups are case-insensitive.
class header_fields {
 public:
  struct field {
    std::string name;
    std::string value;
  };
  void add(std::string name, std::string value);
  void reserve(std::size_t n);  // room for n fields (one allocation when the count is known)
  // Refilling in place: resize to the new count, then set each field. The strings already
  // held keep their storage, so a list refilled per request stops allocating once warm.
  void resize(std::size_t n);
  void set(std::size_t i, std::string_view name, std::string_view value);
  std::optional<std::string_view> get(std::string_view name) const noexcept;
  const std::vector<field>& fields() const noexcept { return fields_; }

 private:
  std::vector<field> fields_;
};

// The request line and headers: enough to classify (no body needed).
struct request_head {
  std::string method;  // "POST"
  std::string target;  // as sent: absolute-form (proxy) or origin-form
  std::string host;    // lowercase, no port: from an absolute target, else the Host header
  std::string path;    // percent-decoded path, e.g. "/api/chat.postMessage"
  std::string query;   // raw query without '?', still percent-encoded
  header_fields headers;

  // Builds the head from a request line's method and target plus the header fields: resolves
  // host (absolute target first, then Host), splits path and query (Boost.URL).
  // Simple targets and Host values (no percent-escapes, plain host[:port]: most traffic) are
  // split by hand, the rest by Boost.URL; both give the same fields (test/modules/
  // classify_fast_test.cpp checks it against make_reference).
  static request_head make(std::string method, std::string target, header_fields headers);
  // The same, always through Boost.URL: the reference the fast path is tested against.
  static request_head make_reference(std::string method, std::string target, header_fields headers);
  // make() into this head, whose `headers` are already filled: the same fields, with the
  // strings' storage reused (the pipeline classifies every request through one head per
  // thread, so non-chat traffic allocates nothing here).
  void remake(std::string_view method, std::string_view target);

  // The Content-Type media type, lowercase, without parameters ("application/json").
  std::string media_type() const;
  // A parameter of Content-Type (e.g. "boundary", "charset"), unquoted.
  std::optional<std::string> content_type_param(std::string_view name) const;
  // A decoded query parameter (first occurrence).
  std::optional<std::string> query_param(std::string_view name) const;
};

// A parameter of a header value shaped `token; name=value; name="quoted \\" value"`
// (Content-Type, Content-Disposition): names compared case-insensitively, quoted strings
// unescaped. nullopt when absent.
std::optional<std::string> header_param(std::string_view header_value, std::string_view name);

// The first `;`-separated element of a header value, trimmed and lowercased
// ("Multipart/Form-Data; boundary=x" -> "multipart/form-data").
std::string header_token(std::string_view header_value);

// ASCII case-insensitive equality.
bool ascii_iequals(std::string_view a, std::string_view b) noexcept;

struct http_request {
  request_head head;
  std::string body;  // content codings undone (identity bytes)
};

struct http_response {
  int status = 0;
  header_fields headers;
  std::string body;  // content codings undone

  std::string media_type() const;
};

// Everything a decoder may use for one HTTP exchange. The response is absent in REQMOD.
struct exchange {
  const http_request& request;
  const http_response* response = nullptr;
  std::string_view proxy_user;  // decoded proxy identity, empty when unknown
  std::string_view client_ip;
  session_store* sessions = nullptr;  // cross-request state; may be null (stateless decode)
  const modules::limits& limits;
};

}  // namespace imcap::modules
