#pragma once
// What every decoder's reply hooks share (decoder.hpp: session_of, render_block, strip,
// inject_notice): the notice sender name, the default text, JSON error replies with the headers
// a synthesized answer needs, notice times as epoch counts, and small JSON helpers. Each
// transport's shapes live beside its decoder; the per-transport table is in modules/README.md,
// "Replies". Pure functions, no state, safe from any thread.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "modules/decoder.hpp"

namespace imcap::modules::replies {

// The sender of every notice imcap adds to a conversation (ids and display names alike).
inline constexpr std::string_view sender = "imcap";
// The text shown when policy gave none.
inline constexpr std::string_view default_text = "Blocked by corporate policy";

// The id of the call a blocked outbound event leaves waiting, for notice::reply_to: the
// "invocation_id" attribute (SignalR Core), the "ddp_id" attribute (DDP method over SockJS) or
// the "ack_id" attribute (a Socket.IO event sent with an acknowledgement callback), or a BOSH
// message's id (its error stanza names it); empty for anything else.
std::string call_id_of(const chat_event& blocked);

// The notice text, or default_text when it is empty.
std::string text_of(const notice& n);
// The notice id, or "imcap-notice" when it is empty.
std::string id_of(const notice& n);

// A reply with a JSON body (Boost.JSON serialisation, so every string is escaped) and
// `Content-Type: application/json; charset=utf-8`, `Cache-Control: no-store`.
http_reply json_reply(int status, const boost::json::value& body);
// A reply with any body and content type (also Cache-Control: no-store).
http_reply body_reply(int status, std::string_view content_type, std::string body);
// The standard reason phrase of the statuses the renderers use ("OK", "Forbidden", ...).
std::string reason_phrase(int status);

// Milliseconds since the Unix epoch of an RFC 3339 UTC time ("2026-01-05T10:00:00.123Z" or
// with an offset); nullopt when it does not parse.
std::optional<std::int64_t> unix_ms(std::string_view rfc3339);
// The notice time in milliseconds (unix_ms of n.timestamp), or 0 when it has none.
std::int64_t notice_ms(const notice& n);

// Parses a JSON body with default limits; an error value when it is not JSON.
decode_error parse(std::string_view body, boost::json::value& out);

// Index of a decimal frame key ("3"); nullopt otherwise.
std::optional<std::size_t> frame_index(std::string_view key) noexcept;
// The key of the first layer of kind `k` in `at`, or nullopt.
std::optional<std::string_view> first_key(const location& at, layer_kind k) noexcept;

// `text` with the characters XML 1.0 forbids (C0 controls other than tab, newline and carriage
// return, NUL included) replaced by U+FFFD, so it can be XML or HTML character data.
std::string xml_safe(std::string_view text);

// `text` (xml_safe) escaped as XML/HTML character data by pugixml ("a<b&c" -> "a&lt;b&amp;c").
std::string xml_escape(std::string_view text);

// `text` as one HTML paragraph, escaped by pugixml, each newline a <br/>:
// "a<b\nc" -> "<p>a&lt;b<br/>c</p>".
std::string html_paragraph(std::string_view text);

// A generic chat object the polling decoders' shape reader understands (polling/common.hpp):
// {"id", "from": "imcap", "text", "room" (when known), "timestamp" (when known)}.
boost::json::object chat_object(const notice& n);

}  // namespace imcap::modules::replies
