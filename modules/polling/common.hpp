#pragma once
// What only the long-polling decoders (Engine.IO/Socket.IO, SignalR, SockJS/DDP, BOSH, Zulip,
// Bayeux) share: timestamps in chat JSON, UTF-16 lengths, the generic "chat shape" reader for
// app-defined JSON payloads, and the layered rewrite that descends through form / JSON /
// JSON-in-string layers and hands transport framing back to the decoder. Session keys, RFC 3339
// times, the proxy party and JSON pointers are in modules/wire.hpp.
// Pure functions, no state, safe from any thread.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "modules/errors.hpp"
#include "modules/event.hpp"
#include "modules/http.hpp"

namespace imcap::modules::polling {

// A timestamp in the shapes chat JSON uses: epoch seconds or milliseconds (number or digit
// string; values above 1e11 are taken as milliseconds), an EJSON {"$date": ms}, or an RFC 3339
// / ISO 8601 UTC string (kept as sent when it already ends in Z). Empty when not a time.
std::string timestamp_from(const boost::json::value& v);

// Length of UTF-8 text in UTF-16 code units (what JavaScript's String.length counts): code
// points above U+FFFF count 2. Invalid bytes count 1 each (as a replacement character would).
std::size_t utf16_length(std::string_view utf8) noexcept;

// The longest prefix of `utf8` that is exactly `units` UTF-16 code units long, in bytes;
// nullopt when the text is shorter or the boundary splits a surrogate pair.
std::optional<std::size_t> utf8_prefix_for_utf16(std::string_view utf8, std::size_t units) noexcept;

// True when the raw query string has a parameter `name` (exact, case-sensitive), cheaply.
bool query_has(std::string_view query, std::string_view name) noexcept;

// The chat-relevant content found in an app-defined JSON value (Socket.IO event arguments,
// SignalR hub arguments, SockJS strings, Bayeux data). Pointers are RFC 6901, relative to the
// value the reader was given.
struct chat_shape {
  std::string text;
  std::string text_pointer;   // where `text` sits
  bool text_guessed = false;  // no known text field: the longest other string was taken
  std::string conversation;
  std::vector<std::string> recipients;
  party sender;  // source body when found
  std::string id;
  std::string timestamp;
  std::vector<attachment> attachments;  // references (name, type, size, ref); no bytes

  bool has_content() const noexcept { return !text.empty() || !attachments.empty(); }
};

// Reads an object, or an argument list (array): string arguments (the last one is the text,
// an earlier one is kept in `leading_strings`), objects with text/message/msg/body/content/chat
// fields, room/channel/rid/conversation fields, from/sender/user/author, to/recipient(s),
// id/_id/nonce, ts/timestamp/time/createdAt, file/files/attachment(s). Depth is bounded.
// `first` skips leading array elements (the Socket.IO event name).
chat_shape read_chat_shape(const boost::json::value& v, std::size_t first = 0,
                           std::vector<std::string>* leading_strings = nullptr);

// Fills the common event fields from a shape (text, text_at = base + json(prefix + pointer),
// conversation, recipients, sender when found, id as client or server id by direction,
// timestamp, attachments located the same way). `pointer_prefix` locates the value the shape
// was read from inside the JSON document the base points at ("/A" for SignalR arguments).
void apply_shape(const chat_shape& s, const location& base, chat_event& e,
                 std::string_view pointer_prefix = {});

// Rewrites the value at `at` inside `body`, starting at layer `index`. A frame layer is handed
// to `frame` (which gets the body, the frame key and a callback to rewrite the frame's content
// with the remaining layers); json and form layers above a frame are descended here; below the
// last frame the shared content::rewrite_path does the work. A json layer followed by more
// layers means "this string holds the next document" (content/rewrite.hpp).
using inner_rewrite = std::function<decode_error(std::string& content)>;
using frame_rewrite =
    std::function<decode_error(std::string& body, std::string_view key, const inner_rewrite&)>;
decode_error rewrite_layers(std::string& body, const location& at, std::size_t index,
                            std::string_view replacement, const frame_rewrite& frame);

// Location helpers.
location with_layer(location base, layer_kind kind, std::string key);

}  // namespace imcap::modules::polling
