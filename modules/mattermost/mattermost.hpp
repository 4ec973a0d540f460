#pragma once
// Mattermost API v4 (im-transports §3.4): posts sent by the web client or bots, post edits,
// file uploads (multipart `files` + `channel_id` + `client_ids`, or one raw body with
// ?channel_id=&filename=), channel and thread history (inbound), and users/me (identity).
//
// Correlation through exchange.sessions (keys "mattermost:..."):
// - an upload request remembers each file (name, type, size, sha256) under its client id;
// - the upload response binds the server's file ids to them, so a later post's file_ids
//   resolve to names and hashes;
// - users/me binds the session (MMAUTHTOKEN cookie or bearer token, digested) to the user.

#include "modules/decoder.hpp"

namespace imcap::modules::mattermost {

bool classify(const request_head& head) noexcept;
decode_error decode_request(const exchange& x, std::vector<chat_event>& out);
decode_error decode_response(const exchange& x, std::vector<chat_event>& out);
// JSON pointers (post message) and multipart parts (uploaded file bytes).
decode_error rewrite(std::string& body, const location& at, std::string_view replacement);

// Replies (modules/README.md, "Replies"): the session is the MMAUTHTOKEN / bearer digest; a block
// is 403 with Mattermost's AppError JSON.
std::string session_of(const request_head& head);
http_reply render_block(const exchange& x, const chat_event& blocked, const notice& n);

inline constexpr decoder descriptor{
    .name = "mattermost",
    .app = "mattermost",
    .family = "mattermost",
    .classify = &classify,
    .decode_request = &decode_request,
    .decode_response = &decode_response,
    .rewrite = &rewrite,
    .session_of = &session_of,
    .render_block = &render_block,
    // strip / inject_notice: null. One post per request; live delivery is the WebSocket
    // (invisible to ICAP), history answers are stored by the client as real posts.
};

}  // namespace imcap::modules::mattermost
