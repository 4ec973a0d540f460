#pragma once
// XMPP over BOSH (XEP-0124/0206, descriptor "bosh") and the XEP-0363 HTTP upload PUT that goes
// with it (descriptor "xmpp-upload").
//
// BOSH: every request is a POST of one <body xmlns='http://jabber.org/protocol/httpbind'
// rid sid> wrapping zero or more stanzas (jabber:client, often without its xmlns); responses
// wrap what the server delivers. Messages become events (type groupchat: the conversation is
// the room, the sender the occupant's nick), the <bind> result in a response teaches the
// session's JID (session store "bosh:jid:<session>", used as the learned sender of later
// sends), and an upload slot request / result (urn:xmpp:http:upload:0) becomes an upload event
// whose put URL is remembered ("bosh:slot:<host><path>") for the PUT that follows.
// Locations: [xml "/body/message[2]/body"] (element names, 1-based index among siblings of the
// same name); rewrite replaces that element's text (dropping the message's XHTML-IM copy) and
// serialises the document again.
//
// xmpp-upload: classification sees only the request head and has no session access, so it
// cannot ask whether a PUT goes to a remembered slot. It accepts PUTs whose path has the shape
// the common XEP-0363 servers give their slots (Prosody mod_http_upload /upload/<id>/<name>,
// mod_http_file_share /file_share/<id>/<name>, ejabberd /upload/<hash>/<id>/<name>, Openfire
// /httpfileupload/<id>/<name>) or that go to an upload.* / share.* host; decode then looks the
// URL up among the remembered slots to name the uploader and the later GET URL. An unknown URL
// is still an upload event (the bytes are scanned) with slot_known=false.

#include <string>
#include <string_view>
#include <vector>

#include "modules/decoder.hpp"

namespace imcap::modules::bosh {

extern const decoder bosh_decoder;
extern const decoder upload_decoder;

bool classify_bosh(const request_head& head) noexcept;
bool classify_upload(const request_head& head) noexcept;

decode_error decode_request(const exchange& x, std::vector<chat_event>& out);
decode_error decode_response(const exchange& x, std::vector<chat_event>& out);
decode_error rewrite(std::string& body, const location& at, std::string_view replacement);

decode_error decode_upload(const exchange& x, std::vector<chat_event>& out);

// Replies (modules/README.md, "Replies"). The session (sid digest) is in the body:
// session_of_exchange. render_block: <body type='terminate' condition='policy-violation'/>
// (a refused request loses its rid and the session with it). strip: removes one stanza from a
// request <body/>. inject_notice: appends, inside a response <body/>, a policy-violation error
// for notice::reply_to and a chat / groupchat message from <conversation>/imcap.
// xmpp-upload render_block: 403 to the PUT.
std::string session_of_exchange(const exchange& x);
http_reply render_block(const exchange& x, const chat_event& blocked, const notice& n);
decode_error strip(std::string& body, const location& at);
decode_error inject_notice(std::string& body, const exchange& x, const notice& n);
http_reply render_block_upload(const exchange& x, const chat_event& blocked, const notice& n);

}  // namespace imcap::modules::bosh
