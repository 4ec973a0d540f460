#pragma once
// AOL AIM / ICQ Web AIM API "WIM" (im-transports §4.3): im/sendIM (form body or query: t =
// recipient, message = text, HTML allowed, aimsid = session, r = request id),
// aim/fetchEvents long-poll answers (events of type "im", "myInfo") and aim/startSession
// answers (myInfo names the session's user). JSON answers, also in the JSONP form (c=callback).
//
// Session key: aimsid, digested. The user learned from startSession / myInfo is remembered
// through exchange.sessions ("aim:user:<key>") and names the sender of later sendIM requests.
// Messages with HTML keep it in `html`; `text` is the HTML's text when it parses as markup,
// else the message as sent.

#include "modules/decoder.hpp"

namespace imcap::modules::aim {

bool classify(const request_head& head) noexcept;
decode_error decode_request(const exchange& x, std::vector<chat_event>& out);
decode_error decode_response(const exchange& x, std::vector<chat_event>& out);
// Form fields (sendIM message) and JSON pointers (fetchEvents message).
decode_error rewrite(std::string& body, const location& at, std::string_view replacement);

// Replies (modules/README.md, "Replies"). session_of: digest of the aimsid query parameter.
// render_block: 200 {"response":{"statusCode":403,"statusText":<text>,"requestId"}}.
// inject_notice: an "im" event from imcap appended to a fetchEvents answer.
std::string session_of(const request_head& head);
http_reply render_block(const exchange& x, const chat_event& blocked, const notice& n);
decode_error inject_notice(std::string& body, const exchange& x, const notice& n);

inline constexpr decoder descriptor{
    .name = "aim-wim",
    .app = "aim",
    .family = "legacy",
    .classify = &classify,
    .decode_request = &decode_request,
    .decode_response = &decode_response,
    .rewrite = &rewrite,
    .session_of = &session_of,
    .render_block = &render_block,
    // strip: null (one IM per sendIM request).
    .inject_notice = &inject_notice,
};

}  // namespace imcap::modules::aim
