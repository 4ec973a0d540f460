#pragma once
// MSN Messenger HTTP gateway (im-transports §4.1): MSNP commands POSTed to
// /gateway/gateway.dll?Action=open|poll&SessionID=..., answered with the server's commands.
//
// Framing: CRLF-terminated command lines; payload commands (MSG, QRY, UUX, NOT, ...) end in a
// byte count followed by that many payload bytes. A text/plain MSG is a chat message (MIME
// headers, blank line, UTF-8 text); a text/x-msmsgsinvite INVITE with Application-File is a
// file-transfer offer (attachment name and size, no bytes); typing notices are skipped.
//
// Session state through exchange.sessions, key "msn:sid:<SessionID>": the user (USR), the
// switchboard roster (CAL, JOI, IRO, BYE) and a stable session key. The gateway hands out a
// new SessionID in every answer (X-MSN-Messenger: SessionID=...; GW-IP=...): the state
// follows it.
//
// Locations: frame <command index> / bytes <offset:length> inside that command's payload. A
// rewrite splices the payload and recomputes the command's byte count.

#include "modules/decoder.hpp"

namespace imcap::modules::msn {

bool classify(const request_head& head) noexcept;
decode_error decode_request(const exchange& x, std::vector<chat_event>& out);
decode_error decode_response(const exchange& x, std::vector<chat_event>& out);
decode_error rewrite(std::string& body, const location& at, std::string_view replacement);

// Replies (modules/README.md, "Replies"). session_of_exchange: the stable key the session
// store keeps for the current SessionID (it changes with every answer, so the head alone
// cannot say it). render_block: "NAK <trid>" with the SessionID echoed. strip: removes one
// command. inject_notice: appends "MSG imcap imcap <n>" with a text/plain payload.
std::string session_of_exchange(const exchange& x);
http_reply render_block(const exchange& x, const chat_event& blocked, const notice& n);
decode_error strip(std::string& body, const location& at);
decode_error inject_notice(std::string& body, const exchange& x, const notice& n);

inline constexpr decoder descriptor{
    .name = "msn-gateway",
    .app = "msn",
    .family = "legacy",
    .classify = &classify,
    .decode_request = &decode_request,
    .decode_response = &decode_response,
    .rewrite = &rewrite,
    // session_of: null (see session_of_exchange).
    .session_of_exchange = &session_of_exchange,
    .render_block = &render_block,
    .strip = &strip,
    .inject_notice = &inject_notice,
};

}  // namespace imcap::modules::msn
