// Matrix client-server decoder. Field names from matrix-org/matrix-spec: room_send.yaml,
// content-repo.yaml, sync.yaml, the m.room.message msgtypes and m.room.encrypted
// (im-transports §3.3).

#include "modules/matrix/matrix.hpp"

#include <boost/json.hpp>

#include "modules/content/json.hpp"
#include "modules/replies.hpp"
#include "modules/session.hpp"
#include "modules/wire.hpp"

namespace imcap::modules::matrix {

namespace json = boost::json;

namespace {

using wire::str;

constexpr std::string_view app_id = "matrix";

enum class endpoint : std::uint8_t {
  none,        // not a Matrix endpoint we decode
  send,        // PUT .../rooms/{roomId}/send/{eventType}/{txnId}
  upload,      // POST media upload (server assigns the mxc:// URI)
  upload_put,  // PUT .../upload/{serverName}/{mediaId} (URI created beforehand)
  sync,        // GET .../sync (long poll, inbound)
  messages,    // GET .../rooms/{roomId}/messages (history, inbound)
  whoami,      // GET .../account/whoami (identity)
  login,       // POST .../login (identity; the request body holds a password: not decoded)
};

// "/_matrix/client/r0/" or "/_matrix/client/v3/": the rest of the path, else empty.
std::string_view client_rest(std::string_view path) noexcept {
  for (std::string_view p : {"/_matrix/client/v3/", "/_matrix/client/r0/"})
    if (wire::starts_with(path, p)) return path.substr(p.size());
  return {};
}

std::string_view media_rest(std::string_view path) noexcept {
  for (std::string_view p : {"/_matrix/media/v3/", "/_matrix/media/r0/"})
    if (wire::starts_with(path, p)) return path.substr(p.size());
  return {};
}

// Segments of `rest` split on '/', at most `max` of them; false when there are more.
bool split(std::string_view rest, std::string_view (&out)[5], std::size_t& n) noexcept {
  n = 0;
  while (true) {
    if (n == 5) return false;
    const std::size_t slash = rest.find('/');
    out[n++] = rest.substr(0, slash);
    if (slash == std::string_view::npos) return true;
    rest.remove_prefix(slash + 1);
  }
}

endpoint endpoint_of(const request_head& h) noexcept {
  const std::string_view path = h.path;
  if (!path.starts_with("/_matrix/")) return endpoint::none;  // every endpoint below is there
  if (const auto m = media_rest(path); !m.empty()) {
    if (h.method == "POST" && m == "upload") return endpoint::upload;
    std::string_view seg[5];
    std::size_t n = 0;
    if (h.method == "PUT" && split(m, seg, n) && n == 3 && seg[0] == "upload" && !seg[1].empty() &&
        !seg[2].empty())
      return endpoint::upload_put;
    return endpoint::none;
  }
  if (h.method == "POST" && path == "/_matrix/client/v1/media/upload") return endpoint::upload;
  const auto rest = client_rest(path);
  if (rest.empty()) return endpoint::none;
  if (h.method == "GET" && rest == "sync") return endpoint::sync;
  if (h.method == "GET" && rest == "account/whoami") return endpoint::whoami;
  if (h.method == "POST" && rest == "login") return endpoint::login;
  std::string_view seg[5];
  std::size_t n = 0;
  if (!split(rest, seg, n) || seg[0] != "rooms" || n < 3 || seg[1].empty()) return endpoint::none;
  if (h.method == "PUT" && n == 5 && seg[2] == "send" && !seg[3].empty() && !seg[4].empty())
    return endpoint::send;
  if (h.method == "GET" && n == 3 && seg[2] == "messages") return endpoint::messages;
  return endpoint::none;
}

std::string_view room_of(const request_head& h) noexcept {
  return wire::path_segment(client_rest(h.path), "rooms/", 0);
}

std::string session_key_of(const request_head& h) {
  if (auto b = wire::bearer_token(h.headers)) return wire::short_digest(*b);
  if (auto q = h.query_param("access_token")) return wire::short_digest(*q);
  return {};
}

std::string user_key(const std::string& sk) {
  return "matrix:user:" + sk;
}
std::string media_key(std::string_view mxc) {
  return "matrix:media:" + std::string(mxc);
}
std::string pending_key(const std::string& sk, std::string_view name, std::string_view size) {
  return "matrix:pending:" + sk + ":" + std::string(size) + ":" + std::string(name);
}

party sender_of(const exchange& x, const std::string& sk) {
  if (x.sessions != nullptr && !sk.empty())
    if (auto u = x.sessions->get(user_key(sk))) return party{*u, {}, identity_source::learned};
  return wire::proxy_party(x);
}

chat_event base_event(direction d, const std::string& sk) {
  return wire::new_event(app_id, descriptor.name, d, sk);
}

bool is_file_msgtype(std::string_view t) noexcept {
  return t == "m.file" || t == "m.image" || t == "m.video" || t == "m.audio";
}

// Fills `e` from an event's `content`, found at JSON pointer `base` ("" for a send body).
// Returns false when the event type carries nothing we report.
bool fill_content(const exchange& x, std::string_view type, const json::value& c,
                  const std::string& base, chat_event& e) {
  if (!c.is_object()) return false;
  if (type == "m.room.encrypted") {
    e.encrypted = true;
    if (auto a = str(c, "algorithm"); !a.empty()) e.attributes.emplace_back("algorithm", a);
    if (auto d = str(c, "device_id"); !d.empty()) e.attributes.emplace_back("device_id", d);
    return true;
  }
  if (type != "m.room.message" && type != "m.sticker") return false;
  const std::string msgtype = type == "m.sticker" ? "m.image" : str(c, "msgtype");
  if (msgtype != "m.text" && !msgtype.empty()) e.attributes.emplace_back("msgtype", msgtype);
  const std::string body = str(c, "body");
  if (is_file_msgtype(msgtype)) {
    attachment a;
    const std::string filename = str(c, "filename");
    a.name = filename.empty() ? body : filename;
    a.media_type = content::string_at(c, "/info/mimetype").value_or("");
    if (auto s = wire::int_at(c, "/info/size"); s && *s >= 0)
      a.size = static_cast<std::uint64_t>(*s);
    if (auto url = content::string_at(c, "/url")) {
      a.ref = *url;
      a.at.path.push_back({layer_kind::json, base + "/url"});
    } else if (auto eurl = content::string_at(c, "/file/url")) {
      // Encrypted attachment: the key travels in the (possibly encrypted) event itself.
      a.ref = *eurl;
      a.at.path.push_back({layer_kind::json, base + "/file/url"});
      e.attributes.emplace_back("encrypted_file", "true");
    }
    if (x.sessions != nullptr && !a.ref.empty())
      if (auto rec = x.sessions->get(media_key(a.ref))) wire::apply_file_record(a, *rec, x.limits);
    e.attachments.push_back(std::move(a));
    // Since Matrix 1.10 a body different from filename is the caption.
    if (!filename.empty() && body != filename) {
      e.text = body;
      e.text_at.path.push_back({layer_kind::json, base + "/body"});
    }
  } else if (!body.empty() || c.get_object().contains("body")) {
    e.text = body;
    e.text_at.path.push_back({layer_kind::json, base + "/body"});
    if (str(c, "format") == "org.matrix.custom.html") e.html = str(c, "formatted_body");
    if (msgtype == "m.location")
      if (auto g = str(c, "geo_uri"); !g.empty()) e.attributes.emplace_back("geo_uri", g);
  }
  if (const auto* rel = content::at_pointer(c, "/m.relates_to"); rel != nullptr) {
    const std::string rel_type = str(*rel, "rel_type");
    const std::string target = str(*rel, "event_id");
    if (rel_type == "m.replace") e.attributes.emplace_back("edit_of", target);
    if (rel_type == "m.thread") e.attributes.emplace_back("thread_root", target);
    if (auto r = content::string_at(*rel, "/m.in_reply_to/event_id"))
      e.attributes.emplace_back("reply_to", *r);
  }
  return true;
}

decode_error decode_send(const exchange& x, std::vector<chat_event>& out) {
  const auto& h = x.request.head;
  const std::string_view rest = client_rest(h.path);
  const std::string_view type = wire::path_segment(rest, "rooms/", 2);
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (auto err = content::parse_json(x.request.body, x.limits, v)) return err;
  if (!v.is_object()) return {errc::malformed_json, "matrix: event content is not an object"};
  const std::string sk = session_key_of(h);
  chat_event e = base_event(direction::outbound, sk);
  e.sender = sender_of(x, sk);
  e.conversation_id = std::string(room_of(h));
  e.client_msg_id = std::string(wire::path_segment(rest, "rooms/", 3));
  if (!fill_content(x, type, v, "", e)) return {};
  out.push_back(std::move(e));
  return {};
}

decode_error decode_upload(const exchange& x, bool with_uri, std::vector<chat_event>& out) {
  const auto& h = x.request.head;
  const std::string sk = session_key_of(h);
  chat_event e = base_event(direction::outbound, sk);
  e.kind = event_kind::upload;
  e.sender = sender_of(x, sk);
  attachment a;
  a.name = h.query_param("filename").value_or("");
  a.media_type = h.media_type();
  a.size = x.request.body.size();
  a.sha256 = sha256_hex(x.request.body);
  a.bytes = x.request.body;
  if (with_uri) {
    const std::string_view m = media_rest(h.path);
    a.ref = "mxc://" + std::string(wire::path_segment(m, "upload/", 0)) + "/" +
            std::string(wire::path_segment(m, "upload/", 1));
    if (x.sessions != nullptr) x.sessions->put(media_key(a.ref), wire::file_record(a));
  } else if (x.sessions != nullptr) {
    x.sessions->put(pending_key(sk, a.name, std::to_string(x.request.body.size())),
                    wire::file_record(a));
  }
  e.attachments.push_back(std::move(a));
  out.push_back(std::move(e));
  return {};
}

// One timeline event (sync, messages) as an inbound chat event.
void timeline_event(const exchange& x, const json::value& ev, std::string_view room,
                    const std::string& base, const std::string& sk, std::vector<chat_event>& out) {
  if (!ev.is_object()) return;
  const auto* c = content::at_pointer(ev, "/content");
  if (c == nullptr) return;
  chat_event e = base_event(direction::inbound, sk);
  e.conversation_id = room.empty() ? str(ev, "room_id") : std::string(room);
  e.sender = party{str(ev, "sender"), {}, identity_source::body};
  e.server_msg_id = str(ev, "event_id");
  if (auto ts = wire::int_at(ev, "/origin_server_ts"))
    e.timestamp = wire::rfc3339_from_unix_ms(*ts);
  // Our own sends come back with the transaction id we saw outbound.
  if (auto txn = content::string_at(ev, "/unsigned/transaction_id")) e.client_msg_id = *txn;
  if (!fill_content(x, str(ev, "type"), *c, base + "/content", e)) return;
  out.push_back(std::move(e));
}

decode_error decode_sync(const exchange& x, const json::value& v, std::vector<chat_event>& out) {
  const auto* join = content::at_pointer(v, "/rooms/join");
  if (join == nullptr) return {};
  if (!join->is_object()) return {errc::malformed_json, "matrix: rooms.join is not an object"};
  const std::string sk = session_key_of(x.request.head);
  std::size_t seen = 0;
  for (const auto& [room, data] : join->get_object()) {
    const auto* events = content::at_pointer(data, "/timeline/events");
    if (events == nullptr || !events->is_array()) continue;
    const std::string base = "/rooms/join/" + content::pointer_escape(room) + "/timeline/events/";
    const auto& arr = events->get_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      if (++seen > x.limits.max_parts)
        return {errc::too_many_parts,
                "matrix: sync with more than " + std::to_string(x.limits.max_parts) + " events"};
      timeline_event(x, arr[i], room, base + std::to_string(i), sk, out);
    }
  }
  return {};
}

decode_error decode_messages(const exchange& x, const json::value& v,
                             std::vector<chat_event>& out) {
  const auto* chunk = content::at_pointer(v, "/chunk");
  if (chunk == nullptr || !chunk->is_array())
    return {errc::malformed_json, "matrix: messages answer without chunk"};
  const std::string sk = session_key_of(x.request.head);
  const std::string room(room_of(x.request.head));
  const auto& arr = chunk->get_array();
  for (std::size_t i = 0; i < arr.size(); ++i) {
    if (i >= x.limits.max_parts)
      return {errc::too_many_parts,
              "matrix: more than " + std::to_string(x.limits.max_parts) + " events"};
    timeline_event(x, arr[i], room, "/chunk/" + std::to_string(i), sk, out);
  }
  return {};
}

decode_error decode_identity(const exchange& x, const json::value& v, bool login,
                             std::vector<chat_event>& out) {
  const std::string user = str(v, "user_id");
  if (user.empty()) return {errc::malformed_json, "matrix: identity answer without user_id"};
  // A login answer carries the token later requests use: key the session by it.
  const std::string sk =
      login ? wire::short_digest(str(v, "access_token")) : session_key_of(x.request.head);
  chat_event e = base_event(direction::inbound, sk);
  e.kind = event_kind::identity;
  e.sender = party{user, {}, identity_source::body};
  if (auto d = str(v, "device_id"); !d.empty()) e.attributes.emplace_back("device_id", d);
  if (x.sessions != nullptr && !sk.empty()) x.sessions->put(user_key(sk), user);
  out.push_back(std::move(e));
  return {};
}

}  // namespace

bool classify(const request_head& head) noexcept {
  return endpoint_of(head) != endpoint::none;
}

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  switch (endpoint_of(x.request.head)) {
    case endpoint::send:
      return decode_send(x, out);
    case endpoint::upload:
      return decode_upload(x, false, out);
    case endpoint::upload_put:
      return decode_upload(x, true, out);
    default:
      return {};
  }
}

decode_error decode_response(const exchange& x, std::vector<chat_event>& out) {
  if (!wire::success_with_body(x)) return {};
  const endpoint ep = endpoint_of(x.request.head);
  if (ep == endpoint::none || ep == endpoint::send || ep == endpoint::upload_put) return {};
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (auto err = content::parse_json(x.response->body, x.limits, v)) return err;
  switch (ep) {
    case endpoint::upload: {
      // {"content_uri":"mxc://..."}: bind the URI to the bytes the request carried.
      const std::string uri = str(v, "content_uri");
      if (uri.empty() || x.sessions == nullptr) return {};
      const auto& h = x.request.head;
      const std::string sk = session_key_of(h);
      const std::string name = h.query_param("filename").value_or("");
      const std::string size(h.headers.get("content-length").value_or(""));
      attachment a;
      a.name = name;
      a.media_type = h.media_type();
      if (auto rec = x.sessions->get(pending_key(sk, name, size))) {
        wire::apply_file_record(a, *rec, x.limits);
        x.sessions->erase(pending_key(sk, name, size));
      }
      x.sessions->put(media_key(uri), wire::file_record(a));
      return {};
    }
    case endpoint::sync:
      return decode_sync(x, v, out);
    case endpoint::messages:
      return decode_messages(x, v, out);
    case endpoint::whoami:
      return decode_identity(x, v, false, out);
    case endpoint::login:
      return decode_identity(x, v, true, out);
    default:
      return {};
  }
}

decode_error rewrite(std::string& body, const location& at, std::string_view replacement) {
  if (at.path.size() != 1 || at.path.front().kind != layer_kind::json)
    return {errc::malformed_frame, "matrix: rewrite expects one JSON layer"};
  const std::string& pointer = at.path.front().key;
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (auto err = content::parse_json(body, limits{}, v)) return err;
  std::error_code ec;
  json::value* target = v.find_pointer(pointer, ec);
  if (target == nullptr || !target->is_string())
    return {errc::malformed_json, "matrix: no string at " + pointer};
  *target = json::string(replacement);
  if (wire::ends_with(pointer, "/body")) {
    const std::string parent = pointer.substr(0, pointer.size() - 5);
    std::error_code ec2;
    json::value* obj = parent.empty() ? &v : v.find_pointer(parent, ec2);
    if (obj != nullptr && obj->is_object()) {
      auto& o = obj->get_object();
      o.erase("formatted_body");
      o.erase("format");
      if (auto* nc = o.if_contains("m.new_content"); nc != nullptr && nc->is_object()) {
        auto& n = nc->get_object();
        if (n.contains("body")) n["body"] = json::string(replacement);
        n.erase("formatted_body");
        n.erase("format");
      }
    }
  }
  body = json::serialize(v);
  return {};
}

std::string session_of(const request_head& head) {
  return session_key_of(head);
}

// The spec's error shape: 403 {"errcode":"M_FORBIDDEN","error":...}. Element marks the event
// "failed to send" with a retry button and shows the error text.
http_reply render_block(const exchange&, const chat_event&, const notice& n) {
  json::object o;
  o["errcode"] = "M_FORBIDDEN";
  o["error"] = replies::text_of(n);
  return replies::json_reply(403, o);
}

// An m.notice (the msgtype meant for bots, which clients never answer automatically) from
// @imcap:<the room's server> in the room's timeline of a /sync answer. The room entry is created
// when the answer has none; next_batch is left alone, so the client's sync position does not
// move, and the event id ("$imcap-<notice id>") cannot collide with a server-made one.
decode_error inject_notice(std::string& body, const exchange& x, const notice& n) {
  if (endpoint_of(x.request.head) != endpoint::sync)
    return {errc::malformed_frame, "matrix: notices go into /sync answers only"};
  if (n.conversation_id.empty() || n.conversation_id.front() != '!')
    return {errc::malformed_frame, "matrix: the notice names no room"};
  json::value v;
  if (auto err = replies::parse(body, v)) return err;
  if (!v.is_object()) return {errc::malformed_json, "matrix: sync answer is not an object"};
  const std::size_t colon = n.conversation_id.find(':');
  const std::string server =
      colon == std::string::npos ? "imcap.invalid" : n.conversation_id.substr(colon + 1);
  json::object ev;
  ev["type"] = "m.room.message";
  ev["event_id"] = "$" + replies::id_of(n);
  ev["sender"] = "@" + std::string(replies::sender) + ":" + server;
  ev["origin_server_ts"] = replies::notice_ms(n);
  ev["content"] = json::object{{"msgtype", "m.notice"}, {"body", replies::text_of(n)}};
  // Walk (creating) rooms / join / <room> / timeline / events.
  json::object* o = &v.as_object();
  for (std::string_view key : {std::string_view("rooms"), std::string_view("join"),
                               std::string_view(n.conversation_id), std::string_view("timeline")}) {
    json::value& next = (*o)[key];
    if (next.is_null()) next = json::object{};
    if (!next.is_object())
      return {errc::malformed_json, "matrix: sync answer has a non-object " + std::string(key)};
    o = &next.as_object();
  }
  json::value& events = (*o)["events"];
  if (events.is_null()) events = json::array{};
  if (!events.is_array()) return {errc::malformed_json, "matrix: timeline.events is not a list"};
  events.as_array().emplace_back(std::move(ev));
  body = json::serialize(v);
  return {};
}

}  // namespace imcap::modules::matrix
