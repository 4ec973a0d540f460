#pragma once
// Export forms of archived events for e-discovery: EML (RFC 5322 + MIME, one message per
// conversation) and pretty-printed JSON. Used by `imcapctl archive show/export` and available to
// the reviewer UI.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "archive/archive.hpp"

namespace imcap::archive {

// Returns an attachment's bytes by sha256 (store::attachment_content), or nullopt.
using content_lookup = std::function<std::optional<std::string>(std::string_view sha256)>;

// One conversation as an RFC 5322 message with CRLF line ends: From (the first sender), To (the
// other participants), Subject, Date (the first event), Message-ID (stable per conversation),
// X-Imcap-* headers; a multipart/mixed body whose first part is text/plain with one line per
// event ("2026-11-23T10:00:00Z Alice (U1): text") and then each stored attachment as a base64
// part. `events` must be non-empty and in time order. Header values are encoded (RFC 2047 /
// RFC 2231) so chat content can never inject headers or MIME boundaries.
std::string conversation_eml(const std::vector<event_record>& events, const content_lookup& get);

// `json` (one JSON value) re-printed with two-space indentation.
std::string pretty_json(std::string_view json);

// RFC 3339 UTC with microseconds when non-zero: "2026-11-23T10:00:00Z", "...00.250000Z".
std::string rfc3339(std::int64_t us);

// Parses "YYYY-MM-DD" (midnight UTC) or RFC 3339 ("YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM)") to
// UTC microseconds. `end_of_day`: a bare date means the start of the next day (for --to).
std::optional<std::int64_t> parse_time(std::string_view text, bool end_of_day = false);

}  // namespace imcap::archive
