#pragma once
// Helpers shared by the REST chat decoders (teams/, slack/, discord/, googlechat/, webex/):
// session keys derived from credentials, time stamps, HTML reduced to text, host/path matching
// for classification, and the layered rewrite every REST descriptor uses.
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

// ---- credentials and identity ----

// A session key from a credential (token, cookie): the first 16 hex digits of its SHA-256.
// Never the credential itself, so events and logs can carry it. Empty for an empty secret.
std::string session_key_of(std::string_view secret);

// The credential in Authorization: the token after a "Bearer " / "Bot " scheme, else the whole
// value. nullopt when there is no Authorization field or it is empty.
std::optional<std::string> authorization_secret(const header_fields& headers);

// A cookie's value from the Cookie header(s), or nullopt.
std::optional<std::string> cookie_value(const header_fields& headers, std::string_view name);

// The proxy's user as a party (source proxy), or a party with source unknown when the proxy
// gave no identity.
party proxy_party(const exchange& x);

// ---- time ----

// Seconds since the Unix epoch (and optional decimal fraction digits, e.g. "000247") as
// RFC 3339 UTC: "2017-08-22T21:05:56.000247Z". Empty when out of range (years 1970..9999).
std::string unix_to_rfc3339(std::int64_t seconds, std::string_view fraction = {});

// "1503435956.000247" (Slack ts) or "1503435956" as RFC 3339 UTC; empty when not a number.
std::string decimal_seconds_to_rfc3339(std::string_view ts);

// An RFC 3339 / ISO 8601 time with any offset ("2017-07-11T17:27:07.299000+00:00") rewritten
// to UTC with a "Z"; empty when it does not parse.
std::string normalize_rfc3339(std::string_view t);

// ---- text ----

// HTML as chat services send it, reduced to plain text with libxml2's HTML parser: entities
// decoded, tags dropped, <br> and block elements (p, div, li, tr, h1-h6, blockquote, pre) end a
// line, runs of white space collapse to one space outside <pre>, no-break spaces become spaces.
std::string html_to_text(std::string_view html);

// ---- classification ----

// host is `domain` or a subdomain of it.
bool host_is(std::string_view host, std::string_view domain) noexcept;

// Splits a path into its '/'-separated segments (empty segments kept out). At most `max`
// segments are stored; returns the number of segments, or max + 1 when there were more.
std::size_t split_path(std::string_view path, std::span<std::string_view> segments) noexcept;

// ---- JSON ----

// The string at `pointer`, or "" when absent or not a string.
std::string json_str(const boost::json::value& v, std::string_view pointer);
// pointer + "/" + escaped key; pointer + "/" + index.
std::string json_child(std::string_view pointer, std::string_view key);
std::string json_child(std::string_view pointer, std::size_t index);

// ---- rewrite ----

// Replaces the value at `path` inside `body` with `replacement`: content::rewrite_path for the
// body-format layers (json, json_string, form, multipart, base64), plus a leading bytes layer
// ("offset:length", a raw upload body) which that function leaves to the transports. On error
// `body` is left as it was.
decode_error rewrite_layers(std::string& body, std::span<const layer> path,
                            std::string_view replacement, const limits& lim);

// Reads the value at `path` (the inverse of rewrite_layers), for tests and for descriptors that
// need the current value before rewriting.
decode_error read_layers(std::string_view body, std::span<const layer> path, const limits& lim,
                         std::string& out);

// The multipart Content-Type value that matches a body's framing ("multipart/form-data;
// boundary=..."), taken from the first boundary line. nullopt when the body does not start
// with a boundary line.
std::optional<std::string> multipart_type_from_body(std::string_view body);

}  // namespace imcap::modules::rest
