#pragma once
// The generic half of a rewrite: descends through the layers of a location that are plain
// body formats (json, json_string, form, multipart, base64), replaces the value at the end,
// and re-encodes every layer on the way out. Transport framings (frame, xml, bytes) are the
// descriptor's own business: a decoder whose paths contain them handles those layers itself
// and may call this for the rest.
//
// Layer keys, as decoders write them:
// - json:        RFC 6901 pointer; the last layer must point at a string. When more layers
//                follow, the value at the pointer must be a string whose content they describe.
// - json_string: key unused; the current value is a JSON document that is one string literal.
// - form:        a field name (first field of that name), or "name#n" for the n-th (0-based)
//                field of that name when no field is literally called "name#n".
// - multipart:   the part index in decimal; the boundary is read from the body's first line.
// - base64:      key "url" for the URL-safe alphabet, anything else for the standard one.

#include <span>
#include <string>
#include <string_view>

#include "modules/errors.hpp"
#include "modules/event.hpp"

namespace imcap::modules::content {

// Replaces the value at `path` inside `body` with `replacement`. On error `body` is unchanged.
decode_error rewrite_path(std::string& body, std::span<const layer> path,
                          std::string_view replacement, const limits& lim);

// The boundary of a multipart body, read from its first delimiter line ("--boundary"), for
// rewrites that no longer have the Content-Type. Empty when the body does not start with one.
std::string multipart_boundary_of(std::string_view body);

}  // namespace imcap::modules::content
