#pragma once
// The normalised chat event: what every decoder produces, whatever the transport. Documented
// field by field in modules/README.md; the pipeline scans, judges and archives these records,
// and `imcapctl decode` prints them as JSON lines (to_json).
//
// Plain values: an event owns all its strings and keeps no pointer into the body it came from.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/fwd.hpp>

namespace imcap::modules {

enum class direction : std::uint8_t {
  outbound,  // from the user behind the proxy towards the chat service (REQMOD bodies, mostly)
  inbound,   // from the chat service to the user (RESPMOD bodies: polls, history, sync)
};

enum class event_kind : std::uint8_t {
  message,   // a chat message: text and/or attachments, possibly a reply or an edit
  upload,    // file bytes or an upload slot not (yet) bound to a message
  identity,  // a login, bind or `me` answer that ties a session to a chat user
  app,       // app seen, content not decodable (E2E, greynet, calls): policy acts on the app
};

enum class identity_source : std::uint8_t {
  unknown,  // nobody said who this is
  body,     // the message body names the party
  proxy,    // the proxy's authenticated user (X-Authenticated-User / X-Client-Username)
  learned,  // an earlier response in the same session (login, bind, `me`)
};

std::string_view to_string(direction d) noexcept;
std::string_view to_string(event_kind k) noexcept;
std::string_view to_string(identity_source s) noexcept;

struct party {
  std::string id;            // the service's id for the user or room (as text, exactly)
  std::string display_name;  // when the protocol carries one
  identity_source source = identity_source::unknown;
};

// One layer on the way from the (content-decoded) HTTP body to a value. A rewrite descends
// through the same layers, replaces the value, and re-encodes each layer on the way out, so the
// framing stays valid.
enum class layer_kind : std::uint8_t {
  json,         // key: RFC 6901 JSON pointer into a JSON document, e.g. "/content"
  json_string,  // the value is a string holding another JSON document (double encoding)
  form,         // key: name of an application/x-www-form-urlencoded field ("#n" = nth of dupes)
  multipart,    // key: part index as decimal text; the value is that part's body
  frame,        // key: frame index in the transport's framing (Engine.IO packet, SockJS frame,
                //      \x1e record, MSNP command); the descriptor's rewrite knows the framing
  xml,          // key: element path, e.g. "/body/message[2]/body"; value is the text content
  base64,       // the value is base64 text; the layer below works on the decoded bytes
  bytes,        // key: "offset:length" byte range inside the current value (legacy binary)
};

std::string_view to_string(layer_kind k) noexcept;

struct layer {
  layer_kind kind = layer_kind::json;
  std::string key;

  friend bool operator==(const layer&, const layer&) = default;
};

// Where a value sits, outermost layer first. Empty path: not rewritable.
struct location {
  std::vector<layer> path;

  bool empty() const noexcept { return path.empty(); }
  friend bool operator==(const location&, const location&) = default;
};

// "kind:key kind:key ...", e.g. "form:payload_json json:/content" (for logs and messages).
std::string to_string(const location& at);

struct attachment {
  std::string name;                   // file name as the user gave it (UTF-8)
  std::string media_type;             // declared media type; true type is the scanner's job
  std::optional<std::uint64_t> size;  // bytes, when known (declared or counted)
  std::string sha256;                 // lowercase hex of the bytes, when the bytes were seen
  std::string bytes;                  // the content, when this body carries it (within limits)
  std::string ref;                    // id or URL tying it to an upload seen in another request
                                      // (Slack file id, mxc:// URI, AMS object URL, upload slot)
  location at;                        // where the content (or the reference) sits
};

struct chat_event {
  event_kind kind = event_kind::message;
  std::string app;        // app id, e.g. "teams", "slack", "discord", "kazaa"
  std::string transport;  // decoder name, e.g. "teams-chatsvc", "socketio"
  modules::direction direction = direction::outbound;
  std::string session_key;      // ties requests of one client session (sid, token digest, ...)
  std::string conversation_id;  // channel, chat, room, thread root, or peer for 1:1 protocols
  party sender;
  std::vector<party> recipients;
  std::string text;  // plain text (UTF-8); HTML reduced to text when the protocol sends HTML
  std::string html;  // the HTML as sent, when the protocol sends HTML
  location text_at;  // where `text` (or `html`) sits in the body
  std::vector<attachment> attachments;
  std::string client_msg_id;  // id the client chose (dedupe, nonce, clientmessageid)
  std::string server_msg_id;  // id the service assigned (ts, event_id, message id)
  std::string timestamp;      // RFC 3339 UTC when the protocol carries a time, else empty
  bool encrypted = false;     // content unreadable (end-to-end encrypted): metadata only
  // Transport extras worth keeping, e.g. {"thread_ts", "..."}, {"edit_of", "..."},
  // {"upload_url", "..."}, {"bound_jid", "..."}. Names are lowercase snake_case.
  std::vector<std::pair<std::string, std::string>> attributes;

  // First attribute value with this name, if any.
  std::optional<std::string_view> attribute(std::string_view name) const noexcept;
};

// The JSON form printed by `imcapctl decode` and compared by the fixture tests. Empty strings,
// empty lists and unknown values are left out; attachment bytes are not printed (size and
// sha256 are).
boost::json::object to_json(const chat_event& e);

// Lowercase hex SHA-256 of `bytes`.
std::string sha256_hex(std::string_view bytes);

}  // namespace imcap::modules
