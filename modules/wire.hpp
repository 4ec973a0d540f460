#pragma once
// Small helpers every chat decoder shares (REST, long-polling, Mattermost, Rocket.Chat, Matrix,
// legacy and app classifiers): session keys that never expose a token, RFC 3339 times from epoch
// counts, cookie and Authorization lookup, the proxy's user as a party, ASCII comparisons and
// host matching for classifiers, JSON pointer helpers, small parsers for ids, indexes and byte
// ranges. Family-specific helpers stay in rest/rest.hpp and polling/common.hpp.
// Pure functions, no state, safe from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "modules/content/multipart.hpp"
#include "modules/event.hpp"
#include "modules/http.hpp"

namespace imcap::modules::wire {

// ---- credentials and identity ----

// The first 16 hex digits of SHA-256(secret): a stable session key for a token, cookie, session
// id or client id that never shows the secret itself. Empty input gives an empty key.
std::string short_digest(std::string_view secret);

// The value of cookie `name` in the request's Cookie header(s) (pairs split at ';', names
// compared exactly, blanks around names and values trimmed), or nullopt.
std::optional<std::string_view> cookie(const header_fields& headers, std::string_view name);

// The token of an "Authorization: Bearer <token>" header; nullopt for any other scheme.
std::optional<std::string_view> bearer_token(const header_fields& headers);

// The credential in Authorization: the token after a "Bearer " / "Bot " scheme, else the whole
// value. nullopt when there is no Authorization field or it is empty.
std::optional<std::string> authorization_secret(const header_fields& headers);

// short_digest(authorization_secret(headers)): the session key of a REST client that
// authenticates with its Authorization field only; empty without one.
std::string authorization_digest(const header_fields& headers);

// The proxy's user as a party (source proxy), or a party with source unknown when the proxy
// gave no identity.
party proxy_party(const exchange& x);

// A new event with the fields every decoder sets first: app, transport (decoder name),
// direction, session key and kind.
chat_event new_event(std::string_view app, std::string_view transport, direction d,
                     std::string session_key = {}, event_kind kind = event_kind::message);

// A file part of a multipart body as an attachment: name, media type, bytes, size, SHA-256, and
// its location (the part at `index`, a multipart layer) relative to the body.
attachment attachment_of_part(const content::multipart_part& part, std::size_t index);

// An upload remembered in the session store so a later message can name its file: name,
// media_type, size, sha256 (and the reference as "url" when `with_ref`), as a JSON object.
std::string file_record(const attachment& a, bool with_ref = false);
// Fills the empty fields of `a` from a record file_record wrote; a damaged record is ignored.
void apply_file_record(attachment& a, std::string_view record, const limits& lim,
                       bool with_ref = false);

// The exchange has a 2xx response with a non-empty body: the answers decoders learn from.
bool success_with_body(const exchange& x) noexcept;

// ---- time ----

// RFC 3339 UTC from seconds since the Unix epoch, with optional decimal fraction digits as sent
// (e.g. "000247" -> "2017-08-22T21:05:56.000247Z"; ignored unless 1..9 digits). Empty when out
// of the years 1970..9999.
std::string rfc3339_from_unix_s(std::int64_t s, std::string_view fraction = {});
// RFC 3339 UTC from milliseconds since the Unix epoch ("2024-01-05T10:00:00.123Z"; the fraction
// only when non-zero). Empty when out of the years 1970..9999.
std::string rfc3339_from_unix_ms(std::int64_t ms);

// "1503435956.000247" (Slack ts) or "1503435956" as RFC 3339 UTC; empty when not a number.
std::string rfc3339_from_decimal_seconds(std::string_view ts);

// An RFC 3339 / ISO 8601 time with any offset ("2017-07-11T17:27:07.299000+00:00") rewritten
// to UTC with a "Z" (fraction digits kept as sent, at most 9); empty when it does not parse.
std::string normalize_rfc3339(std::string_view t);

// ---- classification ----

// Case-sensitive prefix / suffix tests, and an ASCII case-insensitive suffix test (equality is
// http.hpp's ascii_iequals).
bool starts_with(std::string_view s, std::string_view prefix) noexcept;
bool ends_with(std::string_view s, std::string_view suffix) noexcept;
bool iends_with(std::string_view s, std::string_view suffix) noexcept;
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
// The string at RFC 6901 `pointer`, or "" when absent or not a string.
std::string json_str(const boost::json::value& v, std::string_view pointer);
// A JSON pointer with one more reference token appended (a key, escaped; or an index).
std::string pointer_join(std::string_view base, std::string_view token);
std::string pointer_join(std::string_view base, std::size_t index);

}  // namespace imcap::modules::wire
