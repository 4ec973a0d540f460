#pragma once
// SignalR long polling, both generations.
//
// "signalr-classic" (ASP.NET SignalR 2.x, jQuery client): sends are
// `POST .../send?transport=longPolling&connectionToken=...` with the form field
// data={"H":hub,"M":method,"A":[args],"I":id}; poll, connect and reconnect responses carry
// {"C":cursor,"M":[{"H","M","A"}...]}. Classified by the connectionToken and transport query
// keys on a /send, /poll, /connect or /reconnect path. Locations: [form "data", json "/A/1"]
// outbound, [json "/M/0/A/1"] inbound.
//
// "signalr-core" (ASP.NET Core SignalR, long polling + JSON hub protocol): `POST /hub?id=<token>`
// and `GET /hub?id=<token>` bodies are 0x1E-terminated JSON records; invocations are
// {"type":1,"target":..,"arguments":[..],"invocationId":..}; the first POST is the handshake
// {"protocol":"json","version":1}. Classified by the X-SignalR-User-Agent header every client
// since 5.0 sends (plus an id query key), or a negotiate call. MessagePack bodies are not read.
// Locations: [frame "<record index>", json "/arguments/1"].
//
// The hub arguments are app-defined; the common chat samples send (user, message): with two or
// more string arguments the first is taken as the sender's name and the last as the text.
// session_key: the connection token's digest.

#include <string>
#include <string_view>
#include <vector>

#include "modules/decoder.hpp"

namespace imcap::modules::signalr {

extern const decoder classic_decoder;
extern const decoder core_decoder;

bool classify_classic(const request_head& head) noexcept;
bool classify_core(const request_head& head) noexcept;

// Splits a JSON hub protocol body into its 0x1E-terminated records. A body not ending in 0x1E
// gives truncated (the records before it are returned); more than max_parts gives
// too_many_parts.
decode_error split_records(std::string_view body, const limits& lim,
                           std::vector<std::string_view>& out);

decode_error decode_classic_request(const exchange& x, std::vector<chat_event>& out);
decode_error decode_classic_response(const exchange& x, std::vector<chat_event>& out);
decode_error rewrite_classic(std::string& body, const location& at, std::string_view replacement);

decode_error decode_core_request(const exchange& x, std::vector<chat_event>& out);
decode_error decode_core_response(const exchange& x, std::vector<chat_event>& out);
decode_error rewrite_core(std::string& body, const location& at, std::string_view replacement);

// Replies (modules/README.md, "Replies"). session_of: digest of connectionToken (classic) or id
// (Core). Classic render_block: 200 {"I":<invocation>,"E":text} (the promise rejects, the
// connection stays). Core render_block: 200 empty (an accepted POST). strip_core removes one
// record (a ping is left when none remains). inject_notice appends a hub invocation
// ["imcap", text] to the poll answer (classic: to M; Core: a record, after a Completion error
// for notice::reply_to), to the receive method learned for the session.
std::string session_of_classic(const request_head& head);
std::string session_of_core(const request_head& head);
http_reply render_block_classic(const exchange& x, const chat_event& blocked, const notice& n);
http_reply render_block_core(const exchange& x, const chat_event& blocked, const notice& n);
decode_error strip_core(std::string& body, const location& at);
decode_error inject_notice_classic(std::string& body, const exchange& x, const notice& n);
decode_error inject_notice_core(std::string& body, const exchange& x, const notice& n);

}  // namespace imcap::modules::signalr
