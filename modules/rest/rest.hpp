#pragma once
// Helpers only the REST chat decoders (teams/, slack/, discord/, googlechat/, webex/) use: HTML
// reduced to text, path splitting for classification, and the layered rewrite every REST
// descriptor uses. Session keys, times, cookies and JSON pointers are in modules/wire.hpp.
//
// Nothing here keeps state; every function is safe to call from several threads at once.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "modules/errors.hpp"
#include "modules/event.hpp"
#include "modules/http.hpp"

namespace imcap::modules::rest {

// ---- text ----

// HTML as chat services send it, reduced to plain text with libxml2's HTML parser: entities
// decoded, tags dropped, <br> and block elements (p, div, li, tr, h1-h6, blockquote, pre) end a
// line, runs of white space collapse to one space outside <pre>, no-break spaces become spaces.
// The common shape (a sequence of <p> paragraphs holding text, a few inline tags and <br>, as
// Teams and Zulip send) is walked by hand without building a libxml2 tree; anything else goes
// to libxml2. Both give the same text (test/modules/formats_test.cpp compares them).
std::string html_to_text(std::string_view html);

// The same, always through libxml2 (the reference the fast path is tested against).
std::string html_to_text_reference(std::string_view html);

// ---- classification ----

// Splits a path into its '/'-separated segments (empty segments kept out). At most `max`
// segments are stored; returns the number of segments, or max + 1 when there were more.
std::size_t split_path(std::string_view path, std::span<std::string_view> segments) noexcept;

// ---- session users ----

// The chat user a REST session's credential belongs to, as learned from an earlier answer and
// kept in the session store under "<app>:user:<key>" as {"id", "name"}; else the proxy's user
// (wire::proxy_party). Unparsable records count as absent.
party learned_or_proxy(const exchange& x, std::string_view app, const std::string& key);

// Remembers `id` / `name` as the user of session `key` (see learned_or_proxy). Nothing happens
// without a session store, a key or an id.
void learn_user(const exchange& x, std::string_view app, const std::string& key,
                std::string_view id, std::string_view name);

// ---- rewrite ----

// Replaces the value at `path` inside `body` with `replacement`: content::rewrite_path for the
// body-format layers (json, json_string, form, multipart, base64), plus a leading bytes layer
// ("offset:length", a raw upload body) which that function leaves to the transports. On error
// `body` is left as it was.
decode_error rewrite_layers(std::string& body, std::span<const layer> path,
                            std::string_view replacement, const limits& lim);

// decoder::rewrite for the REST descriptors: rewrite_layers along `at` with default limits.
decode_error rewrite_at(std::string& body, const location& at, std::string_view replacement);

// Reads the value at `path` (the inverse of rewrite_layers), for tests and for descriptors that
// need the current value before rewriting.
decode_error read_layers(std::string_view body, std::span<const layer> path, const limits& lim,
                         std::string& out);

// The multipart Content-Type value that matches a body's framing ("multipart/form-data;
// boundary=..."), taken from the first boundary line. nullopt when the body does not start
// with a boundary line.
std::optional<std::string> multipart_type_from_body(std::string_view body);

}  // namespace imcap::modules::rest
