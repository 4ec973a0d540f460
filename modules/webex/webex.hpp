#pragma once
// Webex messaging REST API (webexapis.com, api.ciscospark.com), messages only:
// - POST /v1/messages        outbound message: JSON, or multipart with a local file in `files`
// - PUT  /v1/messages/{id}   outbound edit
// - GET  /v1/messages        list: inbound `items` in the response
// Rooms, people, memberships and the web app's encrypted conversation service are not claimed.
//
// Conversation = roomId (else the direct recipient); recipients = toPersonEmail / toPersonId;
// text = `text`, else `markdown` (html kept when sent); `parentId` becomes attribute reply_to;
// `files` URLs become attachment references, a multipart `files` part becomes attachment bytes.
// Sender = learned from an earlier create's response (personId / personEmail), else the proxy
// user; inbound sender = personId / personEmail. Session key: digest of the bearer token.
// Rewrite: replaces text, markdown and html together (JSON members or multipart parts), so no
// representation of the message keeps the old content.

#include "modules/decoder.hpp"

namespace imcap::modules {

extern const decoder webex_decoder;

}  // namespace imcap::modules
