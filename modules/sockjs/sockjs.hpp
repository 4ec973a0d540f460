#pragma once
// SockJS (descriptor "sockjs") with Meteor DDP on top, and Rocket.Chat's DDP-over-REST
// method.call (descriptor "rocketchat-methodcall", app "rocketchat").
//
// SockJS URLs are <prefix>/<server_id>/<session_id>/<transport>; the server id is the three
// random digits every SockJS client picks. xhr_send / jsonp_send bodies (outbound) are JSON
// arrays of strings; xhr, xhr_streaming, eventsource and jsonp responses (inbound) carry frames
// o, h, a[...strings...], c[code,"reason"], one per line (eventsource: "data: " lines).
// Each string is one app message: DDP JSON (Meteor, Rocket.Chat), other JSON (common chat
// shapes), a STOMP SEND/MESSAGE frame (Spring), or plain text.
//
// DDP: {"msg":"method","method":"sendMessage","params":[{"rid","msg","_id","tmid"}]} outbound,
// {"msg":"changed","collection":"stream-room-messages","fields":{"args":[message...]}} inbound,
// a login "result" ({"id","token"}) teaches the session's user id (session store, learned).
//
// Locations, outermost first (a json layer followed by another means the string holds JSON):
// outbound [json "/<i>", json "/params/0/msg"] (jsonp_send adds an outer [form "d"]); inbound
// [frame "<line>", json "/<i>", json "/fields/args/0/msg"]; method.call [json "/message",
// json "/params/0/msg"].
// session_key: digest of the SockJS session id, or of X-Auth-Token for method.call.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "modules/decoder.hpp"

namespace imcap::modules::sockjs {

extern const decoder sockjs_decoder;
extern const decoder methodcall_decoder;

bool classify_sockjs(const request_head& head) noexcept;
bool classify_methodcall(const request_head& head) noexcept;

// One SockJS frame inside a response body: where its text starts and how long it is (the
// frame letter included, line ending and "data: " prefix excluded).
struct frame_span {
  std::size_t offset = 0;
  std::size_t length = 0;
};
// Splits an xhr / xhr_streaming (newline-terminated frames, optional h...h prelude) or
// eventsource ("data: <frame>\r\n\r\n") body into frames. Errors: malformed_frame (unknown
// frame letter), too_many_parts.
decode_error split_frames(std::string_view body, const limits& lim, std::vector<frame_span>& out);

decode_error decode_request(const exchange& x, std::vector<chat_event>& out);
decode_error decode_response(const exchange& x, std::vector<chat_event>& out);
decode_error rewrite(std::string& body, const location& at, std::string_view replacement);

decode_error decode_methodcall_request(const exchange& x, std::vector<chat_event>& out);
decode_error decode_methodcall_response(const exchange& x, std::vector<chat_event>& out);
decode_error rewrite_methodcall(std::string& body, const location& at,
                                std::string_view replacement);

// Replies (modules/README.md, "Replies"). session_of: digest of the SockJS session id (path) /
// X-Auth-Token (method.call). SockJS render_block: the accepted-send answer (204; jsonp_send
// 200 "ok"), the notice follows by injection. strip: removes one message string from an
// xhr_send / jsonp_send array ("[]" when none is left). inject_notice: appends message strings
// to the poll answer's a[...] frame (or adds one): DDP sessions get a method result error for
// notice::reply_to and a stream-room-messages "changed" from imcap; others a JSON chat object.
// method.call render_block: {"message":"<DDP result with a Meteor.Error>","success":true}.
std::string session_of(const request_head& head);
http_reply render_block(const exchange& x, const chat_event& blocked, const notice& n);
decode_error strip(std::string& body, const location& at);
decode_error inject_notice(std::string& body, const exchange& x, const notice& n);
std::string session_of_methodcall(const request_head& head);
http_reply render_block_methodcall(const exchange& x, const chat_event& blocked, const notice& n);

}  // namespace imcap::modules::sockjs
