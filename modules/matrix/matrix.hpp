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

inline constexpr decoder descriptor{
    .name = "matrix",
    .app = "matrix",
    .family = "matrix",
    .classify = &classify,
    .decode_request = &decode_request,
    .decode_response = &decode_response,
    .rewrite = &rewrite,
};

}  // namespace imcap::modules::matrix
