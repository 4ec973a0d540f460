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

}  // namespace imcap::modules::bayeux
