#pragma once
// Discord REST API (discord.com, discordapp.com, ptb./canary.discord.com), channel messages only:
// - POST  /api[/v{n}]/channels/{channel}/messages        outbound message
// - PATCH /api[/v{n}]/channels/{channel}/messages/{id}   outbound edit
// - GET   /api[/v{n}]/channels/{channel}/messages        history: inbound in the response
// Typing, reactions, users/@me, guild and gateway endpoints are not claimed.
//
// Bodies: JSON {content, nonce, message_reference, attachments[...]}; multipart with
// `payload_json` (JSON part) + `files[n]` parts; legacy multipart with a `content` field and
// `file` / `file1` parts. Snowflakes (64-bit ids, including a numeric nonce) are kept exact as
// text. Conversation = channel id from the path; sender = the token owner learned from an
// earlier send's response (`author`), else the proxy user; inbound sender = `author`.
// Session key: digest of the Authorization value. Rewrite: JSON pointer, or multipart part then
// JSON pointer for payload_json, or the legacy `content` part.

#include "modules/decoder.hpp"

namespace imcap::modules {

extern const decoder discord_decoder;

}  // namespace imcap::modules
