#pragma once
// Zulip (descriptor "zulip"): the web app's /json/... endpoints and the API's /api/v1/...
//   POST  messages           form: type (stream|channel|private|direct), to, topic|subject,
//                            content, local_id, queue_id -> outbound message
//   PATCH messages/<id>      form: content (edit) -> outbound message, attribute edit_of
//   POST  user_uploads       multipart file -> upload (bytes); its answer {"uri":..} -> an
//                            upload event tying the URI to the bytes' sha256
//   GET   events             long poll: {"events":[{"type":"message","message":{..}}]} inbound;
//                            update_message events are inbound edits (attribute edit_of)
//   GET   messages           history: {"messages":[..]} inbound
// Classified by path and method; the /api/v1 form also needs Basic auth or a "zulip" host
// (the shape is common elsewhere). The sender of a send is the API's Basic-auth email (/api/v1)
// or the proxy user (/json, cookie session); inbound, sender_email / sender_full_name. Rendered
// HTML content is kept in html and reduced to text. session_key: digest of queue_id. Locations:
// [form "content"], [json "/events/0/message/content"], [multipart "<part index>"].

#include <string>
#include <string_view>
#include <vector>

#include "modules/decoder.hpp"

namespace imcap::modules::zulip {

extern const decoder zulip_decoder;

bool classify(const request_head& head) noexcept;
decode_error decode_request(const exchange& x, std::vector<chat_event>& out);
decode_error decode_response(const exchange& x, std::vector<chat_event>& out);
decode_error rewrite(std::string& body, const location& at, std::string_view replacement);

// Text of an HTML fragment: tags dropped, the XML entities and numeric references decoded,
// <br> and block ends as newlines. Bounded, linear.
std::string html_to_text(std::string_view html);

}  // namespace imcap::modules::zulip
