#pragma once
// Output escaping for the reviewer UI. Every string from the archive was typed by someone
// outside our control, so every one of them reaches a page through one of these functions.
//
// html(): for HTML text and for double- or single-quoted attribute values. Escapes & < > " '
// and replaces what is not well-formed UTF-8, NUL and the C0/C1 control characters other than
// tab, LF and CR with U+FFFD, so no byte sequence can end a tag, an attribute or a comment, or
// confuse a browser's charset handling.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

// A byte range of a text to highlight (a rule hit), with the label shown on hover.
struct marked_range {
  std::uint64_t begin = 0, end = 0;  // [begin, end) in bytes
  std::string label;
};

// `text` as HTML with every range wrapped in <mark title="labels">. Ranges are clamped to the
// text and widened to whole UTF-8 characters; the text is cut at every range boundary and each
// segment escaped with html() on its own, so no range can split a character or an escape;
// overlapping ranges give segments labelled with every range covering them. Empty and
// reversed ranges are ignored.
std::string mark_ranges(std::string_view text, const std::vector<marked_range>& ranges);

// The largest position <= pos that does not split a UTF-8 sequence in s (pos clamped to size).
std::size_t utf8_floor(std::string_view s, std::size_t pos) noexcept;

}  // namespace imcap::quarantine
