#pragma once
// Google Chat REST API (chat.googleapis.com), messages and attachment uploads only:
// - POST        /v1/spaces/{space}/messages            outbound message (JSON)
// - PATCH / PUT /v1/spaces/{space}/messages/{message}  outbound edit
// - GET         /v1/spaces/{space}/messages            list: inbound in the response
// - POST        /upload/v1/spaces/{space}/attachments:upload   media upload (uploadType=multipart:
//   multipart/related with a JSON metadata part {"filename"} and the media part; or raw bytes)
// Spaces, members, reactions and the chat.google.com web client (PBLite) are not claimed.
//
// Conversation = "spaces/{space}"; client id = the `messageId` query parameter; thread key /
// name as attributes; `privateMessageViewer` is the recipient; attachments reference the
// upload's attachmentUploadToken, whose digest is remembered from the upload (response names
// the token). Sender = learned from an earlier create's response (`sender`), else the proxy
// user; inbound sender = `sender`. Session key: digest of the bearer token. Rewrite: JSON
// pointer (multipart part for upload bytes).

#include "modules/decoder.hpp"

namespace imcap::modules {

extern const decoder google_chat_decoder;

}  // namespace imcap::modules
