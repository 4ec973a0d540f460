#pragma once
// Yahoo! Messenger YMSG over HTTP (im-transports §4.2): every client packet is POSTed to
// http.pager.yahoo.com/notify; the answer carries zero or more server packets.
//
// Framing: a 20-byte big-endian header ("YMSG", version, vendor id, payload length, service,
// status, session id) and a payload of "key 0xC0 0x80 value 0xC0 0x80" pairs. Service 6
// (MESSAGE) is a chat message: keys 1 (our id, outbound) or 4 (sender, inbound), 5 (recipient),
// 14 (text), 15 (time, seconds), 97 = 1 when the text is UTF-8 (else Latin-1, converted to
// UTF-8 here). One packet may carry several messages (offline delivery repeats 4/5/14/15).
//
// Locations: frame <packet index> / bytes <offset:length> of the value inside the packet
// payload. A rewrite splices the value, re-encodes it in the packet's charset (Latin-1 unless
// 97 = 1) and recomputes the payload length.

#include "modules/decoder.hpp"

namespace imcap::modules::ymsg {

bool classify(const request_head& head) noexcept;
decode_error decode_request(const exchange& x, std::vector<chat_event>& out);
decode_error decode_response(const exchange& x, std::vector<chat_event>& out);
decode_error rewrite(std::string& body, const location& at, std::string_view replacement);

// Replies (modules/README.md, "Replies"). session_of_exchange: the header session id of the
// request's (else the answer's) packets, as emit() keys it. render_block: 200 with a MESSAGE
// packet from "imcap" carrying the notice. inject_notice: the same packet appended to an answer.
std::string session_of_exchange(const exchange& x);
http_reply render_block(const exchange& x, const chat_event& blocked, const notice& n);
decode_error inject_notice(std::string& body, const exchange& x, const notice& n);

inline constexpr decoder descriptor{
    .name = "ymsg-http",
    .app = "yahoo-messenger",
    .family = "legacy",
    .classify = &classify,
    .decode_request = &decode_request,
    .decode_response = &decode_response,
    .rewrite = &rewrite,
    // session_of: null. The session id is in the packet header (body), never the HTTP head.
    .session_of_exchange = &session_of_exchange,
    .render_block = &render_block,
    // strip: null. A client POSTs one packet per request (jymsg9 doc2.txt): render_block
    // answers the whole request.
    .inject_notice = &inject_notice,
};

}  // namespace imcap::modules::ymsg
