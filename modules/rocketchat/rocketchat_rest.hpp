#pragma once
// Rocket.Chat REST API (im-transports §3.5): chat.sendMessage, chat.postMessage, chat.update
// (edit), the legacy one-step rooms.upload/{rid}, the two-step rooms.media/{rid} +
// rooms.mediaConfirm/{rid}/{fileId}, channel/group/DM history (inbound) and /me (identity;
// only with X-Auth-Token or the rc_token cookie, as "me" is a common REST name). /login is
// not classified: the name is too common to read bodies for.
// The DDP-over-REST endpoint /api/v1/method.call belongs to the DDP decoder, not this one.
//
// Session key: X-Auth-Token (or the rc_token cookie), digested. Sender: the user learned from
// /me or an earlier send response for the session, else X-User-Id, else the proxy user.
// Correlation through exchange.sessions ("rocketchat:..."): rooms.media remembers the file per
// room, its response binds the server's file id, mediaConfirm resolves it.

#include "modules/decoder.hpp"

namespace imcap::modules::rocketchat {

bool classify(const request_head& head) noexcept;
decode_error decode_request(const exchange& x, std::vector<chat_event>& out);
decode_error decode_response(const exchange& x, std::vector<chat_event>& out);
// JSON pointers (msg/text) and multipart parts (msg, description, file bytes).
decode_error rewrite(std::string& body, const location& at, std::string_view replacement);

// Replies (modules/README.md, "Replies"): the session is the X-Auth-Token / rc_token digest; a
// block is 400 {"success":false,"error":...,"errorType":"error-action-not-allowed"}.
std::string session_of(const request_head& head);
http_reply render_block(const exchange& x, const chat_event& blocked, const notice& n);

inline constexpr decoder descriptor{
    .name = "rocketchat-rest",
    .app = "rocketchat",
    .family = "rocketchat",
    .classify = &classify,
    .decode_request = &decode_request,
    .decode_response = &decode_response,
    .rewrite = &rewrite,
    .session_of = &session_of,
    .render_block = &render_block,
    // strip / inject_notice: null. One message per request; live delivery is DDP (the sockjs
    // decoder injects there), REST history would store a notice as a real message.
};

}  // namespace imcap::modules::rocketchat
