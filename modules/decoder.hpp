#pragma once
// A decoder descriptor: everything imcap knows about one chat transport, declared as data.
// Descriptors are listed in one explicit table (modules/registry.cpp) and validated at start-up;
// nothing registers itself.
//
// Contract for every function pointer:
// - classify sees only the request head (what an ICAP preview gives) and must not allocate
//   more than a few strings; it is called for every proxied request.
// - decode_request / decode_response append events to `out` and return an error value for a
//   malformed or over-limit body (events appended before the error are kept: what was decoded
//   is not lost). They never throw and keep no pointer into the exchange after returning.
// - rewrite replaces the value at `at` (a location this decoder produced) with `replacement`
//   inside `body` (content codings undone) and re-encodes every layer, so the framing stays
//   valid; it returns an error and leaves `body` untouched when it cannot.
// - session_of (or session_of_exchange), render_block, strip and inject_notice are how the
//   pipeline answers in the client's own protocol (see modules/README.md, "Replies"; shared
//   helpers and notice::reply_to's source in modules/replies.hpp). Each may be null: then the
//   pipeline falls back (no session: notices are recorded only; no render_block: a generic 403
//   with a JSON or HTML body; no strip: the whole request is blocked; no inject_notice: the
//   transport cannot show a notice in the chat and the warning is only recorded).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "modules/errors.hpp"
#include "modules/event.hpp"
#include "modules/http.hpp"

namespace imcap::modules {

// What the user's chat client is told: a block, a warning (coaching), a redaction, or the
// "conversations are archived" disclaimer. `text` is plain UTF-8 chosen by policy (the rule's
// message or a configured default); renderers escape it for their format.
struct notice {
  enum class kind : std::uint8_t {
    block,       // the message was not delivered
    warn,        // the message went through; the user is coached
    redact,      // the message went through with parts removed
    disclaimer,  // conversations are archived (sent once per period per user pair)
  };
  kind what = kind::block;
  std::string text;
  std::string conversation_id;  // where the notice belongs, when known (the blocked message's)
  std::string id;               // unique id for the notice message (e.g. "imcap-<tx>-<n>")
  std::string timestamp;        // RFC 3339 UTC, the pipeline's clock
  // The call the client is still waiting on, when the blocked message was one (SignalR Core
  // invocationId, DDP method id, Socket.IO ack id): set it with replies::call_id_of(blocked)
  // (modules/replies.hpp). inject_notice then also answers that call with an error, so the client's
  // promise or method callback fails with the text instead of waiting forever. Empty: no call to
  // answer.
  std::string reply_to;
};

// An HTTP response built by imcap itself (request satisfaction): the protocol's error shape
// for a blocked request. Content-Length is added by the pipeline; CORS headers too, when the
// request came cross-origin.
struct http_reply {
  int status = 403;
  std::string reason = "Forbidden";
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. {"Content-Type", "..."}
  std::string body;
};

struct decoder {
  std::string_view name;    // unique, lowercase, e.g. "slack-web"; also chat_event::transport
  std::string_view app;     // app id, e.g. "slack"
  std::string_view family;  // source folder, e.g. "slack"
  bool (*classify)(const request_head& head) noexcept = nullptr;
  // Outbound content in the request body (REQMOD). Null when the transport sends nothing.
  decode_error (*decode_request)(const exchange& x, std::vector<chat_event>& out) = nullptr;
  // Inbound content (and learned identities) in the response body (RESPMOD). Null if none.
  decode_error (*decode_response)(const exchange& x, std::vector<chat_event>& out) = nullptr;
  // Null when the transport's bodies cannot be rewritten (then policy can only block).
  decode_error (*rewrite)(std::string& body, const location& at,
                          std::string_view replacement) = nullptr;

  // The session key of any request of this transport (poll or send), equal to the
  // chat_event::session_key its decoders produce; empty when the request names no session.
  // Sees the head only (polls are answered in RESPMOD, where only the request head matters).
  std::string (*session_of)(const request_head& head) = nullptr;
  // The same key when the head alone does not give it: from the request body (BOSH sid,
  // Bayeux clientId) or from the session store (the MSN gateway hands out a new SessionID in
  // every answer; the store maps it to the session's stable key). `x.response` may be null
  // (REQMOD). In RESPMOD Squid sends no request body, so for body-keyed transports a pipeline
  // that injects into a poll's answer must remember the REQMOD key per transaction (e.g. by
  // Squid's %master_xaction sent with adaptation_meta). Null when session_of says it all.
  std::string (*session_of_exchange)(const exchange& x) = nullptr;
  // The reply the client gets instead of the origin's when the outbound request carrying
  // `blocked` is refused: the protocol's own error shape (Slack ok:false, Matrix M_FORBIDDEN,
  // Teams 403 JSON, Bayeux 403::, MSN NAK, ...), so the client shows an error and neither
  // hangs nor reconnects in a loop.
  http_reply (*render_block)(const exchange& x, const chat_event& blocked,
                             const notice& n) = nullptr;
  // Polling transports that batch several messages in one request body: removes the frame
  // or stanza holding `at` (an event's text_at) and leaves the rest valid, so the other
  // messages still go out. Error (body untouched) when it cannot.
  decode_error (*strip)(std::string& body, const location& at) = nullptr;
  // Adds `n` as a message from "imcap" into a poll / sync response body (content codings
  // undone) so the client shows it in the conversation; the body stays valid for the client
  // (lengths, framing, acknowledgements). `x.response` is the response being changed.
  decode_error (*inject_notice)(std::string& body, const exchange& x, const notice& n) = nullptr;
};

}  // namespace imcap::modules
