#pragma once
// Telegram Bot API (https://core.telegram.org/bots/api): a bot token in the URL path
// (`/bot<id>:<secret>/<method>`) and parameters as JSON, form, multipart or query string. A
// favourite data-exfiltration channel: scripts post files and text to a chat with one request.
//
// Outbound: sendMessage, editMessageText, editMessageCaption, sendDocument / sendPhoto /
// sendVideo / sendAudio / sendVoice / sendAnimation / sendVideoNote / sendSticker (the file as a
// multipart part, an `attach://<part>` reference, or a file_id / URL), sendMediaGroup (one event
// per item). Inbound: getUpdates responses (message, edited_message, channel_post,
// edited_channel_post); getMe responses give an identity event for the bot.
//
// The token is a credential: it never appears in an event or an error. The session key is
// "tg:" + the first 16 hex digits of its SHA-256; the bot's numeric id (the token's prefix) is
// the sender of outbound and the recipient of inbound messages.

#include "modules/decoder.hpp"

namespace imcap::modules::telegram {

extern const decoder bot_decoder;  // "telegram-bot"

}  // namespace imcap::modules::telegram
