#pragma once
// Output escaping for the reviewer UI. Every string from the archive was typed by someone
// outside our control, so every one of them reaches a page through one of these functions.
//
// html(): for HTML text and for double- or single-quoted attribute values. Escapes & < > " '
// and replaces what is not well-formed UTF-8, NUL and the C0/C1 control characters other than
// tab, LF and CR with U+FFFD, so no byte sequence can end a tag, an attribute or a comment, or
// confuse a browser's charset handling.

#include <cstddef>
#include <string>
#include <string_view>

namespace imcap::quarantine {

void append_html(std::string& out, std::string_view s);
std::string html(std::string_view s);

// Percent-encodes everything but RFC 3986 unreserved characters: for one path segment or one
// query value. The result is plain ASCII; put it through html() too when it goes in an
// attribute (the page helpers do).
std::string url_component(std::string_view s);

// A file name safe to offer for download: the last path component only (after / or \), no
// control characters, no leading dots, at most 200 bytes (cut at a UTF-8 boundary);
// "attachment" when nothing is left.
std::string safe_file_name(std::string_view name);

// The Content-Disposition value for a download of `name` (RFC 6266): `attachment`, an ASCII
// `filename="..."` fallback (non-ASCII, quotes and backslashes replaced by '_') and the exact
// safe name as `filename*=UTF-8''<percent-encoded>`. Never contains CR, LF or a quote inside
// the quoted part.
std::string content_disposition(std::string_view name);

// The largest position <= pos that does not split a UTF-8 sequence in s (pos clamped to size).
std::size_t utf8_floor(std::string_view s, std::size_t pos) noexcept;

}  // namespace imcap::quarantine
