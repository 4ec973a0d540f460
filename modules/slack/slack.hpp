#pragma once
// Slack Web API (slack.com/api/<method>, <workspace>.slack.com, <org>.enterprise.slack.com) and
// the upload URLs on files.slack.com.
//
// Methods claimed (any other method of these hosts is not chat and is left alone):
// - chat.postMessage, chat.postEphemeral, chat.scheduleMessage, chat.meMessage, chat.update:
//   outbound message; arguments as form, JSON or multipart (web client: token in the body);
//   text from `text`, else flattened from `blocks` rich_text (form/multipart: a JSON string);
//   text of legacy `attachments` (pretext, title, text, fields) as attribute attachments_text;
// - files.getUploadURLExternal: the response's upload_url -> file_id is remembered (upload
//   event for the slot);
// - POST files.slack.com/upload/...: the bytes (raw or multipart), upload event carrying the
//   file id learned above;
// - files.completeUploadExternal: message binding the file ids to channel_id with
//   initial_comment; digests of uploads seen earlier are attached;
// - files.upload (legacy): multipart `file` or `content` with `channels`, `initial_comment`;
// - conversations.history / conversations.replies: inbound messages in the response;
// - auth.test: identity event; the user id then names the sender of later sends in the same
//   session (a chat.postMessage response teaches the same).
//
// Session key: digest of the token (Authorization bearer, or the `token` argument, or the `d`
// cookie). Rewrite: form field / JSON pointer / multipart part; when text_at names a whole
// `blocks` document (what Slack displays), the rewrite replaces it by one rich_text block
// holding the replacement and sets a non-empty `text` argument (the notification fallback) to
// it too.

#include "modules/decoder.hpp"

namespace imcap::modules {

extern const decoder slack_web_decoder;

}  // namespace imcap::modules
