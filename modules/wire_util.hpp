#pragma once
// Small helpers the Mattermost, Rocket.Chat, Matrix, legacy and app decoders share: session
// keys that never expose a token, RFC 3339 times from epoch counts, cookie and bearer lookup,
// small parsers for ids, indexes and byte ranges.
// Pure functions, no state, safe from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "modules/event.hpp"
#include "modules/http.hpp"

namespace imcap::modules::wire {

// The first 16 hex digits of SHA-256(secret): a stable session key that is not the token.
// Empty input gives an empty key.
std::string short_digest(std::string_view secret);

// RFC 3339 UTC from milliseconds / seconds since the Unix epoch ("2024-01-05T10:00:00.123Z";
// the fraction only when non-zero). Empty when out of the years 1970..9999.
std::string rfc3339_from_unix_ms(std::int64_t ms);
std::string rfc3339_from_unix_s(std::int64_t s);

// The value of cookie `name` in the request's Cookie header(s).
std::optional<std::string_view> cookie(const header_fields& headers, std::string_view name);

// The token of an "Authorization: Bearer <token>" header.
std::optional<std::string_view> bearer_token(const header_fields& headers);

// ASCII case-insensitive helpers for classifiers.
bool iequals(std::string_view a, std::string_view b) noexcept;
bool starts_with(std::string_view s, std::string_view prefix) noexcept;
bool ends_with(std::string_view s, std::string_view suffix) noexcept;
// `host` equals `domain` or is a subdomain of it ("a.b.example.com" under "example.com").
bool host_under(std::string_view host, std::string_view domain) noexcept;

// Splits "a/b/c" after `prefix`: the segment at `index` (0-based), or empty.
std::string_view path_segment(std::string_view path, std::string_view prefix,
                              std::size_t index) noexcept;

}  // namespace imcap::modules::wire

namespace imcap::modules::wire {

// Parses a decimal index ("0", "12"); nullopt for anything else.
std::optional<std::size_t> parse_index(std::string_view s) noexcept;

// An "offset:length" byte range (layer_kind::bytes key); false when malformed.
bool parse_range(std::string_view s, std::size_t& offset, std::size_t& length) noexcept;

// Whole decimal numbers (optional leading '-' for the signed one); nullopt for anything else.
std::optional<std::uint64_t> to_u64(std::string_view s) noexcept;
std::optional<std::int64_t> to_i64(std::string_view s) noexcept;

// The string member `key` of object `v`; empty when absent or not a string.
std::string str(const boost::json::value& v, std::string_view key);
// The integer at `pointer` (JSON integer, integral double, or decimal string).
std::optional<std::int64_t> int_at(const boost::json::value& v, std::string_view pointer);

}  // namespace imcap::modules::wire
