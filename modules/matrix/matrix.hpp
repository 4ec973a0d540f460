#pragma once
// Matrix client-server API (im-transports §3.3): room sends
// (PUT /_matrix/client/{r0,v3}/rooms/{roomId}/send/{eventType}/{txnId}), media uploads
// (POST /_matrix/media/{r0,v3}/upload, PUT .../upload/{server}/{mediaId},
// POST /_matrix/client/v1/media/upload), /sync and /rooms/{roomId}/messages (inbound),
// /account/whoami and /login (identity).
//
// m.room.encrypted (Megolm) cannot be read: it gives a metadata-only event (encrypted = true,
// sender, room, ids, algorithm; no text).
//
// Session key: the access token (Authorization: Bearer, or ?access_token=), digested.
// Correlation through exchange.sessions ("matrix:..."): an upload remembers its bytes' hash, the
// response's content_uri binds them, a later m.file/m.image with that mxc:// URL resolves them.

#include "modules/decoder.hpp"

namespace imcap::modules::matrix {

bool classify(const request_head& head) noexcept;
decode_error decode_request(const exchange& x, std::vector<chat_event>& out);
decode_error decode_response(const exchange& x, std::vector<chat_event>& out);
// JSON pointers. Rewriting a message's "/body" also drops its "formatted_body" (and that of
// "m.new_content" for edits), so clients show the rewritten plain text and not the old HTML.
decode_error rewrite(std::string& body, const location& at, std::string_view replacement);

// Replies (modules/README.md, "Replies"): the session is the access token's digest; a block is
// 403 M_FORBIDDEN; a notice is an m.notice event in the room's /sync timeline.
std::string session_of(const request_head& head);
http_reply render_block(const exchange& x, const chat_event& blocked, const notice& n);
decode_error inject_notice(std::string& body, const exchange& x, const notice& n);

inline constexpr decoder descriptor{
    .name = "matrix",
    .app = "matrix",
    .family = "matrix",
    .classify = &classify,
    .decode_request = &decode_request,
    .decode_response = &decode_response,
    .rewrite = &rewrite,
    .session_of = &session_of,
    .render_block = &render_block,
    // strip: null (one event per PUT).
    .inject_notice = &inject_notice,
};

}  // namespace imcap::modules::matrix
