// Rocket.Chat REST decoder. Field names from the developer.rocket.chat reference pages for
// chat.sendMessage, chat.postMessage, chat.update, rooms.upload, rooms.media and
// rooms.mediaConfirm, and the message object (_id, rid, msg, ts, u, tmid, file) of the
// history endpoints (im-transports §3.5).

#include "modules/rocketchat/rocketchat_rest.hpp"

#include <boost/json.hpp>

#include "modules/content/json.hpp"
#include "modules/content/multipart.hpp"
#include "modules/content/rewrite.hpp"
#include "modules/replies.hpp"
#include "modules/session.hpp"
#include "modules/wire.hpp"

namespace imcap::modules::rocketchat {

namespace json = boost::json;

namespace {

using wire::str;

constexpr std::string_view app_id = "rocketchat";
constexpr std::string_view api = "/api/v1/";

enum class endpoint : std::uint8_t {
  none,           // not a Rocket.Chat REST chat endpoint
  send_message,   // POST chat.sendMessage {"message":{...}}
  post_message,   // POST chat.postMessage {"roomId"|"channel","text"}
  update,         // POST chat.update {"roomId","msgId","text"} (edit)
  upload,         // POST rooms.upload/{rid} multipart (message created at once)
  media,          // POST rooms.media/{rid} multipart (file only)
  media_confirm,  // POST rooms.mediaConfirm/{rid}/{fileId} JSON (posts the message)
  history,        // GET channels.history | groups.history | im.history | dm.history
  me,             // GET me
};

endpoint endpoint_of(const request_head& h) noexcept {
  if (!wire::starts_with(h.path, api)) return endpoint::none;
  const std::string_view rest = std::string_view(h.path).substr(api.size());
  if (h.method == "POST") {
    if (rest == "chat.sendMessage") return endpoint::send_message;
    if (rest == "chat.postMessage") return endpoint::post_message;
    if (rest == "chat.update") return endpoint::update;
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash + 1 == rest.size()) return endpoint::none;
    const std::string_view op = rest.substr(0, slash);
    const std::string_view args = rest.substr(slash + 1);
    const std::size_t inner = args.find('/');
    if (op == "rooms.upload" && inner == std::string_view::npos) return endpoint::upload;
    if (op == "rooms.media" && inner == std::string_view::npos) return endpoint::media;
    if (op == "rooms.mediaConfirm" && inner != std::string_view::npos && inner > 0 &&
        inner + 1 < args.size() && args.find('/', inner + 1) == std::string_view::npos)
      return endpoint::media_confirm;
    return endpoint::none;
  }
  if (h.method == "GET") {
    if (rest == "channels.history" || rest == "groups.history" || rest == "im.history" ||
        rest == "dm.history")
      return endpoint::history;
    // "me" is a common REST name: only with Rocket.Chat's own auth header or cookie.
    if (rest == "me" && (h.headers.get("x-auth-token") || wire::cookie(h.headers, "rc_token")))
      return endpoint::me;
  }
  return endpoint::none;
}

std::string session_key_of(const request_head& h) {
  if (auto t = h.headers.get("x-auth-token"); t && !t->empty()) return wire::short_digest(*t);
  if (auto c = wire::cookie(h.headers, "rc_token")) return wire::short_digest(*c);
  return {};
}

std::string user_key(const std::string& sk) {
  return "rocketchat:user:" + sk;
}
std::string file_key(std::string_view id) {
  return "rocketchat:file:" + std::string(id);
}
std::string media_key(const std::string& sk, std::string_view rid) {
  return "rocketchat:media:" + sk + ":" + std::string(rid);
}

// The room id segment after "<op>/".
std::string_view room_of(const request_head& h, std::string_view op) {
  return wire::path_segment(h.path, std::string(api) + std::string(op) + "/", 0);
}

party sender_of(const exchange& x, const std::string& sk) {
  if (x.sessions != nullptr && !sk.empty()) {
    if (auto v = x.sessions->get(user_key(sk))) {
      content::json_arena u_arena;
      json::value u(u_arena.storage());
      if (!content::parse_json(*v, x.limits, u))
        return party{str(u, "_id"), str(u, "username"), identity_source::learned};
    }
  }
  if (auto id = x.request.head.headers.get("x-user-id"); id && !id->empty())
    return party{std::string(*id), {}, identity_source::body};
  return wire::proxy_party(x);
}

void learn_user(const exchange& x, const std::string& sk, const json::value& u) {
  if (x.sessions == nullptr || sk.empty() || str(u, "_id").empty()) return;
  json::object o;
  o["_id"] = str(u, "_id");
  o["username"] = str(u, "username");
  x.sessions->put(user_key(sk), json::serialize(o));
}

chat_event base_event(direction d, const std::string& sk) {
  return wire::new_event(app_id, descriptor.name, d, sk);
}

// Sets text and text_at from the string at `pointer`, when present and not empty.
void take_text(const json::value& v, const std::string& pointer, chat_event& e) {
  if (const auto* t = content::at_pointer(v, pointer);
      t != nullptr && t->is_string() && !t->get_string().empty()) {
    e.text = std::string(t->get_string());
    e.text_at.path.push_back({layer_kind::json, pointer});
  }
}

decode_error decode_json_send(const exchange& x, endpoint ep, std::vector<chat_event>& out) {
  const auto& h = x.request.head;
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (auto err = content::parse_json(x.request.body, x.limits, v)) return err;
  if (!v.is_object()) return {errc::malformed_json, "rocketchat: body is not an object"};
  const std::string sk = session_key_of(h);
  chat_event e = base_event(direction::outbound, sk);
  e.sender = sender_of(x, sk);
  switch (ep) {
    case endpoint::send_message: {
      const auto* m = content::at_pointer(v, "/message");
      if (m == nullptr || !m->is_object())
        return {errc::malformed_json, "rocketchat: chat.sendMessage without message object"};
      e.conversation_id = str(*m, "rid");
      // End-to-end encrypted rooms send t = "e2e" and ciphertext in msg: metadata only.
      if (str(*m, "t") == "e2e")
        e.encrypted = true;
      else
        take_text(v, "/message/msg", e);
      e.client_msg_id = str(*m, "_id");
      if (auto t = str(*m, "tmid"); !t.empty()) e.attributes.emplace_back("thread_id", t);
      if (auto a = str(*m, "alias"); !a.empty()) e.attributes.emplace_back("alias", a);
      break;
    }
    case endpoint::post_message: {
      e.conversation_id = str(v, "roomId");
      const std::string channel = str(v, "channel");
      if (e.conversation_id.empty()) e.conversation_id = channel;
      // "@user" addresses a direct message; "#room" a channel.
      if (channel.size() > 1 && channel.front() == '@')
        e.recipients.push_back(party{channel.substr(1), {}, identity_source::body});
      take_text(v, "/text", e);
      if (auto a = str(v, "alias"); !a.empty()) e.attributes.emplace_back("alias", a);
      break;
    }
    case endpoint::update: {
      e.conversation_id = str(v, "roomId");
      take_text(v, "/text", e);
      e.attributes.emplace_back("edit_of", str(v, "msgId"));
      break;
    }
    case endpoint::media_confirm: {
      e.conversation_id = std::string(room_of(h, "rooms.mediaConfirm"));
      take_text(v, "/msg", e);
      if (auto d = str(v, "description"); !d.empty()) e.attributes.emplace_back("description", d);
      if (auto t = str(v, "tmid"); !t.empty()) e.attributes.emplace_back("thread_id", t);
      attachment a;
      a.ref = std::string(wire::path_segment(h.path, "/api/v1/rooms.mediaConfirm/", 1));
      if (x.sessions != nullptr)
        if (auto rec = x.sessions->get(file_key(a.ref)))
          wire::apply_file_record(a, *rec, x.limits, true);
      e.attachments.push_back(std::move(a));
      break;
    }
    default:
      return {};
  }
  out.push_back(std::move(e));
  return {};
}

// rooms.upload (message with file) and rooms.media (file only, confirmed later).
decode_error decode_multipart(const exchange& x, endpoint ep, std::vector<chat_event>& out) {
  const auto& h = x.request.head;
  std::vector<content::multipart_part> parts;
  if (auto err = content::parse_multipart(h.headers.get("content-type").value_or(""),
                                          x.request.body, x.limits, parts))
    return err;
  const std::string sk = session_key_of(h);
  const std::string rid(room_of(h, ep == endpoint::upload ? "rooms.upload" : "rooms.media"));
  chat_event e = base_event(direction::outbound, sk);
  e.kind = ep == endpoint::upload ? event_kind::message : event_kind::upload;
  e.sender = sender_of(x, sk);
  e.conversation_id = rid;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    if (p.name == "file") {
      attachment a = wire::attachment_of_part(p, i);
      e.attachments.push_back(std::move(a));
    } else if (p.name == "msg") {
      e.text = p.body;
      e.text_at.path.push_back({layer_kind::multipart, std::to_string(i)});
    } else if (p.name == "description") {
      e.attributes.emplace_back("description", p.body);
    } else if (p.name == "tmid") {
      e.attributes.emplace_back("thread_id", p.body);
    }
  }
  if (e.attachments.empty())
    return {errc::malformed_multipart, "rocketchat: upload without a 'file' part"};
  if (ep == endpoint::media && x.sessions != nullptr)
    x.sessions->put(media_key(sk, rid), wire::file_record(e.attachments.front(), true));
  out.push_back(std::move(e));
  return {};
}

// One message object of a history answer as an inbound event.
void message_event(const json::value& m, const std::string& base, const std::string& sk,
                   std::vector<chat_event>& out) {
  if (!m.is_object()) return;
  // Typed messages ("uj" user joined, "rm" removed, ...) are room events, not chat content;
  // "e2e" is an end-to-end encrypted message.
  const std::string type = str(m, "t");
  if (!type.empty() && type != "e2e") return;
  chat_event e = base_event(direction::inbound, sk);
  e.conversation_id = str(m, "rid");
  e.server_msg_id = str(m, "_id");
  if (const auto* u = content::at_pointer(m, "/u"); u != nullptr)
    e.sender = party{str(*u, "_id"), str(*u, "username"), identity_source::body};
  if (type == "e2e") {
    e.encrypted = true;  // ciphertext only: metadata, no text
  } else {
    take_text(m, "/msg", e);
    if (!e.text_at.empty()) e.text_at.path.front().key = base + "/msg";
  }
  if (const auto* ts = content::at_pointer(m, "/ts"); ts != nullptr) {
    if (ts->is_string())
      e.timestamp = std::string(ts->get_string());  // already ISO 8601 UTC ("...Z")
    else if (auto ms = wire::int_at(*ts, "/$date"))
      e.timestamp = wire::rfc3339_from_unix_ms(*ms);
  }
  if (auto t = str(m, "tmid"); !t.empty()) e.attributes.emplace_back("thread_id", t);
  if (const auto* f = content::at_pointer(m, "/file"); f != nullptr && f->is_object()) {
    attachment a;
    a.ref = str(*f, "_id");
    a.name = str(*f, "name");
    a.media_type = str(*f, "type");
    e.attachments.push_back(std::move(a));
  }
  out.push_back(std::move(e));
}

decode_error decode_history(const exchange& x, const json::value& v, std::vector<chat_event>& out) {
  const auto* msgs = content::at_pointer(v, "/messages");
  if (msgs == nullptr || !msgs->is_array())
    return {errc::malformed_json, "rocketchat: history without messages"};
  const std::string sk = session_key_of(x.request.head);
  const auto& arr = msgs->get_array();
  for (std::size_t i = 0; i < arr.size(); ++i) {
    if (i >= x.limits.max_parts)
      return {errc::too_many_parts,
              "rocketchat: more than " + std::to_string(x.limits.max_parts) + " messages"};
    message_event(arr[i], "/messages/" + std::to_string(i), sk, out);
  }
  return {};
}

}  // namespace

bool classify(const request_head& head) noexcept {
  return endpoint_of(head) != endpoint::none;
}

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  const endpoint ep = endpoint_of(x.request.head);
  switch (ep) {
    case endpoint::send_message:
    case endpoint::post_message:
    case endpoint::update:
    case endpoint::media_confirm:
      return decode_json_send(x, ep, out);
    case endpoint::upload:
    case endpoint::media:
      return decode_multipart(x, ep, out);
    default:
      return {};
  }
}

decode_error decode_response(const exchange& x, std::vector<chat_event>& out) {
  if (!wire::success_with_body(x)) return {};
  const endpoint ep = endpoint_of(x.request.head);
  if (ep == endpoint::none) return {};
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (auto err = content::parse_json(x.response->body, x.limits, v)) return err;
  const std::string sk = session_key_of(x.request.head);
  switch (ep) {
    case endpoint::send_message:
    case endpoint::post_message:
    case endpoint::update:
    case endpoint::upload:
    case endpoint::media_confirm:
      // The stored message names its author: learn the session's user.
      if (const auto* u = content::at_pointer(v, "/message/u"); u != nullptr) learn_user(x, sk, *u);
      return {};
    case endpoint::media: {
      // {"file":{"_id","url"},"success":true}: bind the server's file id to the bytes seen.
      if (x.sessions == nullptr) return {};
      const std::string rid(room_of(x.request.head, "rooms.media"));
      const std::string id = content::string_at(v, "/file/_id").value_or("");
      if (id.empty()) return {};
      attachment a;
      if (auto rec = x.sessions->get(media_key(sk, rid))) {
        wire::apply_file_record(a, *rec, x.limits, true);
        x.sessions->erase(media_key(sk, rid));
      }
      a.ref = content::string_at(v, "/file/url").value_or("");
      x.sessions->put(file_key(id), wire::file_record(a, true));
      return {};
    }
    case endpoint::history:
      return decode_history(x, v, out);
    case endpoint::me: {
      chat_event e = base_event(direction::inbound, sk);
      e.kind = event_kind::identity;
      e.sender = party{str(v, "_id"), str(v, "username"), identity_source::body};
      if (e.sender.id.empty()) return {errc::malformed_json, "rocketchat: /me without _id"};
      if (auto n = str(v, "name"); !n.empty()) e.attributes.emplace_back("name", n);
      learn_user(x, sk, v);
      out.push_back(std::move(e));
      return {};
    }
    case endpoint::none:
      return {};
  }
  return {};
}

decode_error rewrite(std::string& body, const location& at, std::string_view replacement) {
  return content::rewrite_path(body, at.path, replacement, limits{});
}

std::string session_of(const request_head& head) {
  return session_key_of(head);
}

// Rocket.Chat REST failure: {"success":false,"error","errorType"}; the client shows a toast.
http_reply render_block(const exchange&, const chat_event&, const notice& n) {
  json::object o;
  o["success"] = false;
  o["error"] = replies::text_of(n);
  o["errorType"] = "error-action-not-allowed";
  return replies::json_reply(400, o);
}

}  // namespace imcap::modules::rocketchat
