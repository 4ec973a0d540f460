#pragma once
// multipart/form-data (RFC 7578, RFC 2046 framing): the boundary from the Content-Type
// (quoted or not), each part's headers, its name and filename (filename*=UTF-8''... per
// RFC 8187 wins over filename), Content-Type (default text/plain) and body. A part with
// Content-Transfer-Encoding: base64 is decoded.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "modules/errors.hpp"
#include "modules/http.hpp"

namespace imcap::modules::content {

struct multipart_part {
  header_fields headers;
  std::string name;             // Content-Disposition name
  std::string filename;         // decoded file name, empty when the part is not a file
  bool has_filename = false;    // a filename parameter was present (possibly empty)
  std::string media_type;       // lowercase, default "text/plain"
  std::string body;             // transfer encoding undone
  std::size_t body_offset = 0;  // where the raw part body starts in the multipart body
  std::size_t body_length = 0;  // raw part body length
};

// `content_type` is the whole Content-Type header value (the boundary comes from it).
decode_error parse_multipart(std::string_view content_type, std::string_view body,
                             const limits& lim, std::vector<multipart_part>& out);

// First part named `name`, or nullptr.
const multipart_part* find_part(const std::vector<multipart_part>& parts, std::string_view name);

// Replaces the body of part `index` with `new_body` in `body` (raw splice between the part's
// headers and the next boundary), keeping every other byte.
decode_error replace_part_body(std::string& body, const std::vector<multipart_part>& parts,
                               std::size_t index, std::string_view new_body);

}  // namespace imcap::modules::content
