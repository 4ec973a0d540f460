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

inline constexpr decoder descriptor{
    .name = "aim-wim",
    .app = "aim",
    .family = "legacy",
    .classify = &classify,
    .decode_request = &decode_request,
    .decode_response = &decode_response,
    .rewrite = &rewrite,
};

}  // namespace imcap::modules::aim
