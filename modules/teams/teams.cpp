#include "modules/teams/teams.hpp"

#include <array>
#include <charconv>

#include <boost/json.hpp>

#include "modules/content/json.hpp"
#include "modules/replies.hpp"
#include "modules/rest/rest.hpp"
#include "modules/session.hpp"
#include "modules/wire.hpp"

namespace imcap::modules {
namespace {

namespace json = boost::json;
using wire::json_str;
using wire::pointer_join;

constexpr std::string_view k_app = "teams";
constexpr std::string_view k_name = "teams-chatsvc";

enum class endpoint : std::uint8_t {
  none,         // not ours
  send,         // POST conversations/{id}/messages
  edit,         // PUT conversations/{id}/messages/{mid}
  history,      // GET conversations/{id}/messages
  poll,         // POST endpoints/{ep}/subscriptions/{n}/poll
  ams_create,   // POST /v1/objects
  ams_content,  // PUT /v1/objects/{id}/content/{view}
};

struct route {
  endpoint kind = endpoint::none;
  std::string_view conversation;  // as in the path (percent-decoded), may carry ;messageid=
  std::string_view message_id;    // edit target
  std::string_view object_id;     // AMS object
  std::string_view view;          // AMS view name (imgpsh, original, ...)
};

bool is_chatsvc_web_host(std::string_view h) noexcept {
  return h == "teams.microsoft.com" || h == "teams.cloud.microsoft" || h == "teams.live.com";
}

bool is_chatsvc_direct_host(std::string_view h) noexcept {
  return wire::host_under(h, "msg.teams.microsoft.com") ||
         wire::host_under(h, "gateway.messenger.live.com");
}

bool is_ams_host(std::string_view h) noexcept {
  return wire::host_under(h, "asm.skype.com") || wire::host_under(h, "asyncgw.teams.microsoft.com");
}

route route_of(const request_head& head) noexcept {
  route r;
  // Host first: it rules out almost every request before the path is split.
  const bool ams = is_ams_host(head.host);
  const bool web = !ams && is_chatsvc_web_host(head.host);
  if (!ams && !web && !is_chatsvc_direct_host(head.host)) return r;
  std::array<std::string_view, 12> seg{};
  std::size_t n = rest::split_path(head.path, seg);
  if (n > seg.size()) return r;
  const std::string_view m = head.method;
  if (ams) {
    if (n == 2 && seg[0] == "v1" && seg[1] == "objects" && m == "POST") {
      r.kind = endpoint::ams_create;
    } else if (n == 5 && seg[0] == "v1" && seg[1] == "objects" && seg[3] == "content" &&
               m == "PUT") {
      r.kind = endpoint::ams_content;
      r.object_id = seg[2];
      r.view = seg[4];
    }
    return r;
  }
  std::size_t i = 0;
  if (web) {
    if (n < 3 || seg[0] != "api" || seg[1] != "chatsvc") return r;
    i = 3;  // skip the region
  }
  // v1/users/ME/...
  if (n < i + 4 || seg[i] != "v1" || seg[i + 1] != "users" || seg[i + 2] != "ME") return r;
  i += 3;
  const std::size_t left = n - i;
  if (seg[i] == "conversations" && left >= 3 && seg[i + 2] == "messages") {
    if (left == 3 && m == "POST") r.kind = endpoint::send;
    if (left == 3 && m == "GET") r.kind = endpoint::history;
    if (left == 4 && m == "PUT") {
      r.kind = endpoint::edit;
      r.message_id = seg[i + 3];
    }
    r.conversation = seg[i + 1];
  } else if (seg[i] == "endpoints" && left == 5 && seg[i + 2] == "subscriptions" &&
             seg[i + 4] == "poll" && m == "POST") {
    r.kind = endpoint::poll;
  }
  return r;
}

bool classify(const request_head& head) noexcept {
  return route_of(head).kind != endpoint::none;
}

std::string session_key(const request_head& head) {
  if (auto s = wire::authorization_secret(head.headers)) return wire::short_digest(*s);
  if (auto v = head.headers.get("authentication")) return wire::short_digest(*v);
  if (auto v = head.headers.get("x-skypetoken")) return wire::short_digest(*v);
  return {};
}

// "https://host/v1/users/ME/contacts/8:orgid:..." -> "8:orgid:..."; plain ids unchanged.
std::string after_last(std::string_view s, std::string_view marker) {
  std::size_t p = s.rfind(marker);
  if (p == std::string_view::npos) return std::string(s);
  return std::string(s.substr(p + marker.size()));
}

bool is_chat_messagetype(std::string_view t) noexcept {
  return t == "Text" || t == "RichText" || t.starts_with("RichText/");
}

// A value that chatsvc sends either as a JSON string holding JSON or as the JSON itself.
struct embedded {
  json::value doc;
  bool as_string = false;  // the value was a string; locations need a second json layer
  bool present = false;
};

embedded embedded_json(const json::value& m, std::string_view pointer, const limits& lim,
                       decode_error& err) {
  embedded out;
  const json::value* v = content::at_pointer(m, pointer);
  if (v == nullptr || v->is_null()) return out;
  if (v->is_string()) {
    if (v->get_string().empty()) return out;
    if (auto e = content::parse_json(std::string_view(v->get_string()), lim, out.doc)) {
      if (!err) err = {e.code, "teams: " + std::string(pointer) + ": " + e.detail};
      return out;
    }
    out.as_string = true;
  } else {
    out.doc = *v;
  }
  out.present = out.doc.is_array();
  return out;
}

// A value inside an embedded document: the outer json layer yields the string's content, the
// next json layer points into it.
location embedded_location(std::string_view outer, const embedded& e, std::string inner) {
  location at;
  if (e.as_string) {
    at.path.push_back({layer_kind::json, std::string(outer)});
    at.path.push_back({layer_kind::json, std::move(inner)});
  } else {
    at.path.push_back({layer_kind::json, std::string(outer) + inner});
  }
  return at;
}

void add_recipient(chat_event& e, party p) {
  if (p.id.empty()) return;
  for (const auto& r : e.recipients)
    if (r.id == p.id) return;
  e.recipients.push_back(std::move(p));
}

// What an earlier AMS upload told us about object `id` (name, type, size, digest).
void fill_from_ams(const exchange& x, attachment& a) {
  if (x.sessions == nullptr) return;
  auto rec = x.sessions->get("teams:ams:" + a.ref);
  if (!rec) return;
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (content::parse_json(*rec, x.limits, v)) return;
  if (a.name.empty()) a.name = json_str(v, "/name");
  if (a.media_type.empty()) a.media_type = json_str(v, "/media_type");
  a.sha256 = json_str(v, "/sha256");
  if (auto s = content::id_at(v, "/size")) {
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), n);
    if (ec == std::errc{} && p == s->data() + s->size()) a.size = n;
  }
}

// One chatsvc message object at `ptr` (send body, poll resource or history entry) into `e`.
// Returns false when it is not a chat message (typing, control, call events). A JSON string
// inside the message (properties.files, mentions) that does not parse sets `err`; the rest of
// the message is still filled in.
bool message_event(const exchange& x, const json::value& doc, const std::string& ptr, chat_event& e,
                   decode_error& err) {
  const json::value* m = content::at_pointer(doc, ptr);
  if (m == nullptr || !m->is_object()) return false;
  const std::string type = json_str(*m, "/messagetype");
  if (!is_chat_messagetype(type)) return false;

  e.kind = event_kind::message;
  e.app = k_app;
  e.transport = k_name;
  if (e.conversation_id.empty()) {
    std::string conv = json_str(*m, "/conversationid");
    if (conv.empty()) conv = after_last(json_str(*m, "/conversationLink"), "/conversations/");
    std::size_t semi = conv.find(";messageid=");
    if (semi != std::string::npos) {
      e.attributes.emplace_back("reply_to", conv.substr(semi + 11));
      conv.resize(semi);
    }
    e.conversation_id = std::move(conv);
  }
  std::string from = json_str(*m, "/from");
  if (from.empty()) from = json_str(*m, "/fromUserId");
  if (!from.empty()) {
    e.sender.id = after_last(from, "/contacts/");
    e.sender.display_name = json_str(*m, "/imdisplayname");
    e.sender.source = identity_source::body;
  } else if (e.direction == direction::outbound) {
    e.sender = wire::proxy_party(x);
  }

  // 1:1 chat: the id names both parties; the one who is not the sender receives.
  const std::string_view conv = e.conversation_id;
  if (conv.starts_with("19:") && conv.ends_with("@unq.gbl.spaces") && !e.sender.id.empty()) {
    std::string_view pair = conv.substr(3, conv.size() - 3 - 15);
    std::size_t us = pair.find('_');
    std::string_view self = std::string_view(e.sender.id).substr(e.sender.id.rfind(':') + 1);
    if (us != std::string_view::npos) {
      std::string_view a = pair.substr(0, us), b = pair.substr(us + 1);
      std::string_view peer = a == self ? b : (b == self ? a : std::string_view{});
      if (!peer.empty())
        add_recipient(e, {"8:orgid:" + std::string(peer), "", identity_source::body});
    }
  } else if (conv == "48:notes" && !e.sender.id.empty()) {
    add_recipient(e, {e.sender.id, e.sender.display_name, identity_source::body});
  }

  // Text: HTML for RichText, plain for Text.
  const std::string content_ptr = pointer_join(ptr, "content");
  std::string content = json_str(doc, content_ptr);
  if (type == "Text") {
    e.text = std::move(content);
  } else {
    e.text = rest::html_to_text(content);
    e.html = std::move(content);
  }
  if (content::at_pointer(doc, content_ptr) != nullptr)
    e.text_at.path.push_back({layer_kind::json, content_ptr});

  // Mentions: a JSON string (or array) of {mri, displayName, mentionType}.
  const std::string props = pointer_join(ptr, "properties");
  embedded mentions = embedded_json(doc, pointer_join(props, "mentions"), x.limits, err);
  if (mentions.present) {
    for (const auto& item : mentions.doc.get_array()) {
      if (!item.is_object()) continue;
      const std::string mri = json_str(item, "/mri");
      if (mri.empty()) continue;
      e.attributes.emplace_back("mention", mri);
      add_recipient(e, {mri, json_str(item, "/displayName"), identity_source::body});
    }
  }

  // Files shared from OneDrive/SharePoint: properties.files.
  const std::string files_ptr = pointer_join(props, "files");
  embedded files = embedded_json(doc, files_ptr, x.limits, err);
  if (files.present) {
    const auto& arr = files.doc.get_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      if (!arr[i].is_object()) continue;
      attachment a;
      a.name = json_str(arr[i], "/fileName");
      if (a.name.empty()) a.name = json_str(arr[i], "/title");
      std::string field = "objectUrl";
      a.ref = json_str(arr[i], "/objectUrl");
      if (a.ref.empty()) {
        a.ref = json_str(arr[i], "/fileInfo/fileUrl");
        field = "fileInfo/fileUrl";
      }
      if (a.ref.empty()) {
        a.ref = json_str(arr[i], "/id");
        field = "id";
      }
      if (!a.ref.empty())
        a.at = embedded_location(files_ptr, files, "/" + std::to_string(i) + "/" + field);
      e.attachments.push_back(std::move(a));
    }
  }

  // Inline images and files in AMS.
  const std::string ams_ptr = pointer_join(ptr, "amsreferences");
  if (const json::value* ams = content::at_pointer(doc, ams_ptr); ams && ams->is_array()) {
    const auto& arr = ams->get_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      if (!arr[i].is_string()) continue;
      attachment a;
      a.ref = std::string(arr[i].get_string());
      a.at.path.push_back({layer_kind::json, pointer_join(ams_ptr, i)});
      fill_from_ams(x, a);
      e.attachments.push_back(std::move(a));
    }
  }

  e.client_msg_id = json_str(*m, "/clientmessageid");
  if (auto id = content::id_at(*m, "/id"); id && *id != "-1" && !id->empty()) e.server_msg_id = *id;
  std::string when = json_str(*m, "/composetime");
  if (when.empty()) when = json_str(*m, "/originalarrivaltime");
  e.timestamp = wire::normalize_rfc3339(when);

  e.attributes.emplace_back("messagetype", type);
  for (std::string_view key : {"subject", "importance"}) {
    std::string v = json_str(doc, pointer_join(props, key));
    if (!v.empty()) e.attributes.emplace_back(std::string(key), std::move(v));
  }
  return true;
}

decode_error parse_body(std::string_view body, const limits& lim, json::value& doc) {
  if (body.empty()) return {errc::malformed_json, "teams: empty JSON body"};
  return content::parse_json(body, lim, doc);
}

decode_error decode_ams_content(const exchange& x, const route& r, std::vector<chat_event>& out) {
  const http_request& req = x.request;
  chat_event e;
  e.kind = event_kind::upload;
  e.app = k_app;
  e.transport = k_name;
  e.direction = direction::outbound;
  e.session_key = session_key(req.head);
  e.sender = wire::proxy_party(x);
  attachment a;
  a.ref = std::string(r.object_id);
  std::string conversation;
  if (x.sessions != nullptr) {
    if (auto rec = x.sessions->get("teams:ams:" + a.ref)) {
      content::json_arena v_arena;
      json::value v(v_arena.storage());
      if (!content::parse_json(*rec, x.limits, v)) {
        a.name = json_str(v, "/name");
        conversation = json_str(v, "/conversation");
      }
    }
  }
  a.media_type = req.head.media_type();
  a.size = req.body.size();
  a.sha256 = sha256_hex(req.body);
  a.bytes = req.body;
  a.at.path.push_back({layer_kind::bytes, "0:" + std::to_string(req.body.size())});
  e.conversation_id = conversation;
  e.attributes.emplace_back("ams_view", std::string(r.view));
  if (x.sessions != nullptr) {
    // A later message's amsreferences entry picks the digest up from here.
    json::object rec;
    rec["name"] = a.name;
    rec["conversation"] = conversation;
    rec["media_type"] = a.media_type;
    rec["size"] = static_cast<std::uint64_t>(req.body.size());
    rec["sha256"] = a.sha256;
    x.sessions->put("teams:ams:" + a.ref, json::serialize(rec));
  }
  e.attachments.push_back(std::move(a));
  out.push_back(std::move(e));
  return {};
}

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  const route r = route_of(x.request.head);
  switch (r.kind) {
    case endpoint::send:
    case endpoint::edit: {
      content::json_arena doc_arena;
      json::value doc(doc_arena.storage());
      if (auto err = parse_body(x.request.body, x.limits, doc)) return err;
      if (!doc.is_object()) return {errc::malformed_json, "teams: message body is not an object"};
      chat_event e;
      e.direction = direction::outbound;
      e.session_key = session_key(x.request.head);
      std::string conv(r.conversation);
      std::size_t semi = conv.find(";messageid=");
      if (semi != std::string::npos) {
        e.attributes.emplace_back("reply_to", conv.substr(semi + 11));
        conv.resize(semi);
      }
      e.conversation_id = std::move(conv);
      decode_error err;
      if (!message_event(x, doc, "", e, err)) return err;
      if (r.kind == endpoint::edit) {
        e.attributes.emplace_back("edit_of", std::string(r.message_id));
        e.server_msg_id = std::string(r.message_id);
      }
      out.push_back(std::move(e));
      return err;
    }
    case endpoint::ams_content:
      return decode_ams_content(x, r, out);
    case endpoint::ams_create: {
      // Metadata only; the object id arrives in the response.
      content::json_arena doc_arena;
      json::value doc(doc_arena.storage());
      return parse_body(x.request.body, x.limits, doc);
    }
    case endpoint::history:
    case endpoint::poll:
    case endpoint::none:
      return {};
  }
  return {};
}

decode_error decode_response(const exchange& x, std::vector<chat_event>& out) {
  if (x.response == nullptr) return {};
  const route r = route_of(x.request.head);
  const http_response& res = *x.response;
  if (res.status < 200 || res.status > 299) return {};
  if (r.kind == endpoint::ams_create) {
    json::value req, doc;
    if (auto err = parse_body(res.body, x.limits, doc)) return err;
    const std::string id = json_str(doc, "/id");
    if (id.empty() || x.sessions == nullptr) return {};
    json::object rec;
    if (!content::parse_json(x.request.body, x.limits, req) && req.is_object()) {
      rec["name"] = json_str(req, "/filename");
      if (const json::value* perms = content::at_pointer(req, "/permissions");
          perms && perms->is_object() && !perms->get_object().empty())
        rec["conversation"] = perms->get_object().begin()->key();
    }
    x.sessions->put("teams:ams:" + id, json::serialize(rec));
    return {};
  }
  if (r.kind != endpoint::poll && r.kind != endpoint::history) return {};
  if (res.body.empty()) return {};  // a poll that timed out
  content::json_arena doc_arena;
  json::value doc(doc_arena.storage());
  if (auto err = parse_body(res.body, x.limits, doc)) return err;
  const std::string key = session_key(x.request.head);
  decode_error err;  // first embedded-JSON failure; every message is still decoded
  auto inbound = [&](const std::string& ptr, std::string_view conv, std::string_view when) {
    chat_event e;
    e.direction = direction::inbound;
    e.session_key = key;
    e.conversation_id = std::string(conv);
    if (!message_event(x, doc, ptr, e, err)) return;
    if (e.timestamp.empty()) e.timestamp = wire::normalize_rfc3339(when);
    out.push_back(std::move(e));
  };
  if (r.kind == endpoint::history) {
    const json::value* msgs = content::at_pointer(doc, "/messages");
    if (msgs == nullptr || !msgs->is_array())
      return {errc::malformed_json, "teams: history response has no messages array"};
    std::string conv(r.conversation);
    if (std::size_t semi = conv.find(";messageid="); semi != std::string::npos) conv.resize(semi);
    for (std::size_t i = 0; i < msgs->get_array().size(); ++i)
      inbound(pointer_join("/messages", i), conv, {});
    return err;
  }
  const json::value* events = content::at_pointer(doc, "/eventMessages");
  if (events == nullptr) return {};  // other poll answers (errorCode, ...) carry no messages
  if (!events->is_array()) return {errc::malformed_json, "teams: eventMessages is not an array"};
  for (std::size_t i = 0; i < events->get_array().size(); ++i) {
    const json::value& ev = events->get_array()[i];
    const std::string rt = json_str(ev, "/resourceType");
    if (rt != "NewMessage" && rt != "MessageUpdate") continue;
    const std::string ptr = pointer_join(pointer_join("/eventMessages", i), "resource");
    const std::size_t before = out.size();
    inbound(ptr, {}, json_str(ev, "/time"));
    if (rt == "MessageUpdate" && out.size() > before)
      out.back().attributes.emplace_back("edit_of", out.back().server_msg_id);
  }
  return err;
}

}  // namespace

namespace {

std::string session_of(const request_head& head) {
  return session_key(head);
}

// A NewMessage event from imcap appended to a subscriptions/0/poll answer's eventMessages
// (Skype and the older Teams clients long-poll there; new Teams uses trouter and never sees
// it). The event id is 2^52 plus the notice time in milliseconds: above the server's ids, never
// one the server will send. The content is one escaped HTML paragraph (RichText/Html).
decode_error inject_notice(std::string& body, const exchange& x, const notice& n) {
  if (route_of(x.request.head).kind != endpoint::poll)
    return {errc::malformed_frame, "teams: notices go into poll answers only"};
  if (n.conversation_id.empty())
    return {errc::malformed_frame, "teams: the notice names no conversation"};
  json::value v;
  if (auto err = replies::parse(body, v)) return err;
  if (!v.is_object()) return {errc::malformed_json, "teams: poll answer is not an object"};
  json::value& list = v.as_object()["eventMessages"];
  if (list.is_null()) list = json::array{};
  if (!list.is_array()) return {errc::malformed_json, "teams: eventMessages is not a list"};
  const std::int64_t ms = replies::notice_ms(n);
  const std::string base = "https://" + x.request.head.host + "/v1/users/ME/";
  json::object res;
  res["id"] = replies::id_of(n);
  res["type"] = "Message";
  res["messagetype"] = "RichText/Html";
  res["content"] = replies::html_paragraph(replies::text_of(n));
  res["from"] = base + "contacts/" + std::string(replies::sender);
  res["imdisplayname"] = replies::sender;
  res["conversationLink"] = base + "conversations/" + n.conversation_id;
  if (!n.timestamp.empty()) res["composetime"] = n.timestamp;
  json::object ev;
  ev["id"] = (std::int64_t{1} << 52) + (ms & ((std::int64_t{1} << 40) - 1));
  ev["type"] = "EventMessage";
  ev["resourceType"] = "NewMessage";
  ev["resource"] = std::move(res);
  list.as_array().emplace_back(std::move(ev));
  body = json::serialize(v);
  return {};
}

// chatsvc has no documented error body; the client marks the message "Failed to send" on any
// 4xx with JSON. Never 2xx: the client would show the message as sent.
http_reply render_block(const exchange&, const chat_event&, const notice& n) {
  json::object o;
  o["errorCode"] = "Forbidden";
  o["message"] = replies::text_of(n);
  return replies::json_reply(403, o);
}

}  // namespace

const decoder teams_chatsvc_decoder{
    .name = k_name,
    .app = k_app,
    .family = "teams",
    .classify = classify,
    .decode_request = decode_request,
    .decode_response = decode_response,
    .rewrite = rest::rewrite_at,
    .session_of = session_of,
    .render_block = render_block,
    // strip: null (one message per request).
    .inject_notice = inject_notice,
};

}  // namespace imcap::modules
