#pragma once
// Bayeux / CometD long polling (descriptor "bayeux"). One endpoint (/cometd, /cometd/<ver>,
// /faye, /bayeux) takes a JSON array of messages (or one object), or the form field message=
// (possibly repeated), or for callback-polling a GET with ?message=..&jsonp=.. . /meta/*
// messages (handshake, connect, subscribe...) carry no chat; a publish to any other channel is
// a message whose conversation is the channel and whose text, sender and ids come from `data`
// (the CometD chat demo's data.user / data.chat, or the other common shapes). Responses deliver
// other clients' publishes the same way (inbound). session_key: digest of clientId.
// Locations: [json "/0/data/chat"], [form "message", json ...] ("message#1" for the second
// field of that name).

#include <string>
#include <string_view>
#include <vector>

#include "modules/decoder.hpp"

namespace imcap::modules::bayeux {

extern const decoder bayeux_decoder;

bool classify(const request_head& head) noexcept;
decode_error decode_request(const exchange& x, std::vector<chat_event>& out);
decode_error decode_response(const exchange& x, std::vector<chat_event>& out);
decode_error rewrite(std::string& body, const location& at, std::string_view replacement);

// Replies (modules/README.md, "Replies"). session_of: the clientId digest of a callback-polling
// GET; session_of_exchange: the same for POSTed batches. render_block: every message answered
// {"channel","successful":false,"id","error":"403::<text>"}. strip: removes one message from
// the batch. inject_notice: appends a delivery {"channel","data":{"user":"imcap","chat"}}.
std::string session_of(const request_head& head);
std::string session_of_exchange(const exchange& x);
http_reply render_block(const exchange& x, const chat_event& blocked, const notice& n);
decode_error strip(std::string& body, const location& at);
decode_error inject_notice(std::string& body, const exchange& x, const notice& n);

}  // namespace imcap::modules::bayeux
