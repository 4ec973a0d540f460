#pragma once
// Microsoft Teams / Skype chat service ("chatsvc") and its media store (AMS).
//
// Endpoints (host checks first, then the path; nothing else of these hosts is claimed):
// - POST .../v1/users/ME/conversations/{id}/messages        outbound message (JSON envelope)
// - PUT  .../v1/users/ME/conversations/{id}/messages/{mid}  outbound edit of message mid
// - GET  .../v1/users/ME/conversations/{id}/messages        history: inbound in the response
// - POST .../v1/users/ME/endpoints/{ep}/subscriptions/{n}/poll   inbound `eventMessages`
//   where "..." is /api/chatsvc/{region} on teams.microsoft.com, teams.cloud.microsoft and
//   teams.live.com, and nothing on *.msg.teams.microsoft.com and *.gateway.messenger.live.com;
// - POST {geo}-api.asm.skype.com/v1/objects (also *.asyncgw.teams.microsoft.com): AMS object
//   metadata; the response's id is remembered with the file name and conversation;
// - PUT  .../v1/objects/{id}/content/{view}: the bytes of an inline image or file (upload
//   event with sha256; a later message's `amsreferences` entry picks the digest up).
//
// Event fields: conversation from the URL (";messageid=<root>" becomes attribute reply_to),
// sender from `from` + `imdisplayname` (source body), recipients = the peer of a 1:1 chat
// ("19:<a>_<b>@unq.gbl.spaces") and every person in `properties.mentions`, text from
// `content` (HTML kept in html for RichText), attachments from `properties.files` (a JSON
// string) and `amsreferences`, client id `clientmessageid`, server id `id`, time `composetime`.
// Typing indicators and other control messages (messagetype Control/*, Event/*, ...) give no
// event. Session key: digest of the Authorization / Authentication / X-Skypetoken credential.
//
// Rewrite: json pointer (a second json layer for values inside the `properties` strings) or the
// byte range of an AMS upload. The replacement is inserted as given: for RichText content, pass
// HTML.

#include "modules/decoder.hpp"

namespace imcap::modules {

extern const decoder teams_chatsvc_decoder;

}  // namespace imcap::modules
