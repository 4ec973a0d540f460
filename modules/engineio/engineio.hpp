#pragma once
// Engine.IO / Socket.IO long polling (descriptor "socketio", app "socketio").
//
// Requests: `/socket.io/?EIO=4&transport=polling&sid=...` (any path: apps move it; the EIO and
// transport=polling query keys decide). POST bodies are what the client sends (outbound), GET
// responses what the server pushes (inbound). Payload framings:
//   v4         packets joined by 0x1E; binary packets are "b<base64>"
//   v3 text    "<len>:<packet>" records, len in UTF-16 code units; binary as "b4<base64>"
//   v3 binary  (XHR2, application/octet-stream) 0x00|0x01, length digits as bytes, 0xFF, packet
//   JSONP      request form field d=<payload> (newlines escaped as \n), response ___eio[n]("...")
// Socket.IO packets ride in Engine.IO message packets ("4"): events 42["name", args...] become
// chat events (text from the common shapes, the event name in attribute "event"); binary
// events 45N-[... {"_placeholder":true,"num":k} ...] get their N binary packets as attachments,
// also when the binary packets come in a later request of the same sid (session store).
//
// Locations: [frame "<packet index>", json "<pointer into the Socket.IO JSON payload>"], with
// an outer [form "d"] for JSONP requests. rewrite recomputes v3 length prefixes.

#include <string>
#include <string_view>
#include <vector>

#include "modules/decoder.hpp"

namespace imcap::modules::engineio {

extern const decoder socketio_decoder;

bool classify(const request_head& head) noexcept;

enum class payload_format : std::uint8_t {
  v4,         // 0x1E-separated packets, "b<base64>" binary
  v3_text,    // "<utf16 len>:<packet>" records
  v3_binary,  // XHR2 framing: 0x00|0x01, decimal digit bytes, 0xFF, packet bytes
};

struct packet {
  bool binary = false;  // binary data packet (bytes in `data`, without a type byte)
  std::string data;     // text packets: the packet text including its type digit
};

// Splits a whole payload into packets. Errors: malformed_frame (bad length, bad type byte, empty
// packet), truncated (a record runs past the end), malformed_base64, too_many_parts.
decode_error parse_payload(std::string_view body, payload_format f, const limits& lim,
                           std::vector<packet>& out);

// The inverse of parse_payload (v3 lengths recomputed).
std::string serialize_payload(const std::vector<packet>& packets, payload_format f);

// Guesses the framing of a payload from its first bytes (used by rewrite, which sees no head).
payload_format sniff_format(std::string_view body) noexcept;

// A Socket.IO packet inside an Engine.IO message: <type>[<n>-][<nsp>,][<ack id>][JSON].
struct sio_header {
  int type = 0;                 // 0 CONNECT .. 6 BINARY_ACK
  std::size_t attachments = 0;  // binary packets that follow (types 5 and 6)
  std::string nsp = "/";
  std::string ack_id;           // empty when none
  std::size_t json_offset = 0;  // where the JSON starts in the Socket.IO packet text
};
// `text` excludes the Engine.IO type digit. Errors: malformed_frame.
decode_error parse_sio_header(std::string_view text, sio_header& out);

decode_error decode_request(const exchange& x, std::vector<chat_event>& out);
decode_error decode_response(const exchange& x, std::vector<chat_event>& out);
decode_error rewrite(std::string& body, const location& at, std::string_view replacement);

// Replies (modules/README.md, "Replies"). session_of: digest of the sid query parameter.
// render_block: 200 "ok" (what an accepted POST gets: an error status makes the client reconnect).
// strip: removes the packet at the location's frame (and a binary event's attachment packets),
// in any framing, JSONP included; an emptied payload becomes one pong (v4) or ping (v3).
// inject_notice: appends 42["<event>",{"id","from":"imcap","text","room","timestamp"}] to a GET
// poll answer, with the chat event name learned for the session (session store) or "message".
std::string session_of(const request_head& head);
http_reply render_block(const exchange& x, const chat_event& blocked, const notice& n);
decode_error strip(std::string& body, const location& at);
decode_error inject_notice(std::string& body, const exchange& x, const notice& n);

}  // namespace imcap::modules::engineio
