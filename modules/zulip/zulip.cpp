#include "modules/zulip/zulip.hpp"

#include <boost/json.hpp>

#include "modules/content/base64.hpp"
#include "modules/content/form.hpp"
#include "modules/content/json.hpp"
#include "modules/content/multipart.hpp"
#include "modules/content/rewrite.hpp"
#include "modules/polling/common.hpp"
#include "modules/replies.hpp"
#include "modules/wire.hpp"

namespace imcap::modules::zulip {

namespace json = boost::json;
using polling::with_layer;

namespace {

enum class endpoint : std::uint8_t {
  none,     // not a Zulip chat endpoint
  send,     // POST messages
  edit,     // PATCH messages/<id>
  upload,   // POST user_uploads
  events,   // GET events (long poll)
  history,  // GET messages
};

// "/json/<rest>" (the web app) or "/api/v1/<rest>" -> rest. /api/v1/messages is a common
// shape elsewhere too, so the API form also needs Zulip's Basic auth or a Zulip host name.
std::optional<std::string_view> api_rest(const request_head& head) noexcept {
  const std::string_view path = head.path;
  if (path.substr(0, 6) == "/json/") return path.substr(6);
  if (path.substr(0, 8) != "/api/v1/") return std::nullopt;
  const auto auth = head.headers.get("Authorization");
  const bool basic = auth && auth->size() > 6 && ascii_iequals(auth->substr(0, 6), "basic ");
  if (!basic && head.host.find("zulip") == std::string::npos) return std::nullopt;
  return path.substr(8);
}

endpoint endpoint_of(const request_head& head) noexcept {
  const auto rest = api_rest(head);
  if (!rest) return endpoint::none;
  const std::string_view m = head.method;
  if (*rest == "messages") {
    if (m == "POST") return endpoint::send;
    if (m == "GET") return endpoint::history;
    return endpoint::none;
  }
  if (rest->substr(0, 9) == "messages/" && m == "PATCH") {
    const std::string_view id = rest->substr(9);
    if (!id.empty() && id.find_first_not_of("0123456789") == std::string_view::npos)
      return endpoint::edit;
    return endpoint::none;
  }
  if (*rest == "user_uploads" && m == "POST") return endpoint::upload;
  if (*rest == "events" && m == "GET") return endpoint::events;
  return endpoint::none;
}

chat_event new_event(direction d) {
  chat_event e;
  e.app = "zulip";
  e.transport = std::string(zulip_decoder.name);
  e.direction = d;
  return e;
}

// The API's Basic credentials are "<email>:<api key>": the email names the account.
party api_sender(const exchange& x) {
  if (auto auth = x.request.head.headers.get("Authorization")) {
    std::string_view v = *auth;
    if (v.size() > 6 && ascii_iequals(v.substr(0, 6), "basic ")) {
      std::string decoded;
      if (!content::base64_decode(v.substr(6), content::base64_alphabet::standard, x.limits,
                                  decoded)) {
        const std::size_t colon = decoded.find(':');
        if (colon != std::string::npos && colon > 0)
          return party{decoded.substr(0, colon), {}, identity_source::body};
      }
    }
  }
  return wire::proxy_party(x);
}

// Uploaded files are shared as Markdown links to /user_uploads/<realm>/<..>/<name>.
void upload_links(std::string_view text, const location& at, chat_event& e) {
  std::size_t pos = 0;
  for (int n = 0; n < 64; ++n) {
    const std::size_t start = text.find("/user_uploads/", pos);
    if (start == std::string_view::npos) return;
    std::size_t end = start;
    while (end < text.size() && text[end] != ')' && text[end] != ' ' && text[end] != '"' &&
           text[end] != '\n' && text[end] != ']')
      ++end;
    attachment a;
    a.ref = std::string(text.substr(start, end - start));
    a.name = a.ref.substr(a.ref.rfind('/') + 1);
    a.at = at;
    e.attachments.push_back(std::move(a));
    pos = end;
  }
}

std::string str(const json::value& v, std::string_view ptr) {
  if (auto s = content::string_at(v, ptr)) return *s;
  if (auto id = content::id_at(v, ptr)) return *id;
  return {};
}

// A message object of the events or messages API.
void fill_message(const json::value& m, const std::string& ptr, chat_event& e) {
  e.sender.id = str(m, "/sender_email");
  e.sender.display_name = str(m, "/sender_full_name");
  if (!e.sender.id.empty() || !e.sender.display_name.empty())
    e.sender.source = identity_source::body;
  if (const std::string sid = str(m, "/sender_id"); !sid.empty())
    e.attributes.emplace_back("sender_user_id", sid);
  const std::string content_text = str(m, "/content");
  const std::string ctype = str(m, "/content_type");
  const bool html =
      ctype.empty() ? (!content_text.empty() && content_text.front() == '<') : ctype == "text/html";
  const location at = with_layer({}, layer_kind::json, ptr + "/content");
  if (html) {
    e.html = content_text;
    e.text = html_to_text(content_text);
  } else {
    e.text = content_text;
  }
  e.text_at = at;
  upload_links(content_text, at, e);
  e.server_msg_id = str(m, "/id");
  if (const json::value* ts = content::at_pointer(m, "/timestamp"))
    e.timestamp = polling::timestamp_from(*ts);
  const std::string type = str(m, "/type");
  const std::string topic = str(m, "/subject");
  if (const json::value* dr = content::at_pointer(m, "/display_recipient")) {
    if (dr->is_string()) {
      e.conversation_id = std::string(dr->as_string());
    } else if (const auto* list = dr->if_array()) {
      std::string ids;
      for (std::size_t i = 0; i < list->size() && i < 256; ++i) {
        const std::string email = str((*list)[i], "/email");
        if (email.empty()) continue;
        if (email != e.sender.id)
          e.recipients.push_back(
              party{email, str((*list)[i], "/full_name"), identity_source::body});
        if (!ids.empty()) ids += ',';
        ids += email;
      }
      e.conversation_id = ids;
    }
  }
  if (!type.empty()) e.attributes.emplace_back("type", type);
  if (!topic.empty()) e.attributes.emplace_back("topic", topic);
}

decode_error decode_send(const exchange& x, bool edit, std::vector<chat_event>& out) {
  std::vector<content::form_field> fields;
  if (auto err = content::parse_form(x.request.body, x.limits, fields)) return err;
  const std::string* content_text = content::form_value(fields, "content");
  if (!content_text) {
    if (edit) return {};  // a topic-only move
    return {errc::malformed_form, "zulip: message without content"};
  }
  chat_event e = new_event(direction::outbound);
  e.sender = api_sender(x);
  e.text = *content_text;
  e.text_at = with_layer({}, layer_kind::form, "content");
  upload_links(*content_text, e.text_at, e);
  const std::string* type = content::form_value(fields, "type");
  const std::string* to = content::form_value(fields, "to");
  const std::string* topic = content::form_value(fields, "topic");
  if (!topic) topic = content::form_value(fields, "subject");
  if (to) {
    content::json_arena v_arena;
    json::value v(v_arena.storage());
    if (!to->empty() && to->front() == '[' && !content::parse_json(*to, x.limits, v) &&
        v.is_array()) {
      // A JSON list of user ids or emails (direct messages, or a channel id in a list).
      std::string ids;
      for (const auto& item : v.as_array()) {
        std::string id;
        if (item.is_string())
          id = std::string(item.as_string());
        else if (item.is_int64())
          id = std::to_string(item.get_int64());
        if (id.empty()) continue;
        e.recipients.push_back(party{id, {}, identity_source::body});
        if (!ids.empty()) ids += ',';
        ids += id;
      }
      e.conversation_id = ids;
    } else {
      e.conversation_id = *to;
      const bool direct = type && (*type == "private" || *type == "direct");
      if (direct) {
        std::size_t pos = 0;
        for (int n = 0; n < 256 && pos <= to->size(); ++n) {
          const std::size_t comma = to->find(',', pos);
          std::string one =
              to->substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
          if (!one.empty()) e.recipients.push_back(party{one, {}, identity_source::body});
          if (comma == std::string::npos) break;
          pos = comma + 1;
        }
      }
    }
  }
  if (type) e.attributes.emplace_back("type", *type);
  if (topic) e.attributes.emplace_back("topic", *topic);
  if (const std::string* local = content::form_value(fields, "local_id")) e.client_msg_id = *local;
  if (const std::string* q = content::form_value(fields, "queue_id"))
    e.session_key = wire::short_digest(*q);
  if (edit) {
    const std::string_view path = x.request.head.path;
    e.attributes.emplace_back("edit_of", std::string(path.substr(path.rfind('/') + 1)));
  }
  out.push_back(std::move(e));
  return {};
}

decode_error decode_upload_request(const exchange& x, std::vector<chat_event>& out) {
  const auto ctype = x.request.head.headers.get("Content-Type");
  if (!ctype) return {errc::malformed_multipart, "zulip upload: no Content-Type"};
  std::vector<content::multipart_part> parts;
  if (auto err = content::parse_multipart(*ctype, x.request.body, x.limits, parts)) return err;
  chat_event e = new_event(direction::outbound);
  e.kind = event_kind::upload;
  e.sender = api_sender(x);
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    if (!p.has_filename) continue;
    attachment a = wire::attachment_of_part(p, i);
    e.attachments.push_back(std::move(a));
  }
  if (e.attachments.empty()) return {errc::malformed_multipart, "zulip upload: no file part"};
  out.push_back(std::move(e));
  return {};
}

}  // namespace

std::string html_to_text(std::string_view html) {
  std::string out;
  out.reserve(html.size());
  for (std::size_t i = 0; i < html.size();) {
    const char c = html[i];
    if (c == '<') {
      const std::size_t close = html.find('>', i);
      if (close == std::string_view::npos) break;
      std::string_view tag = html.substr(i + 1, close - i - 1);
      const bool end_tag = !tag.empty() && tag[0] == '/';
      if (end_tag) tag.remove_prefix(1);
      const std::string_view name = tag.substr(0, tag.find_first_of(" /\t\n"));
      if (name == "br" || (end_tag && (name == "p" || name == "li" || name == "div" ||
                                       name == "blockquote" || name == "pre")))
        out.push_back('\n');
      i = close + 1;
      continue;
    }
    if (c == '&') {
      const std::size_t semi = html.find(';', i);
      if (semi != std::string_view::npos && semi - i <= 10) {
        const std::string_view ent = html.substr(i + 1, semi - i - 1);
        std::string rep;
        if (ent == "amp")
          rep = "&";
        else if (ent == "lt")
          rep = "<";
        else if (ent == "gt")
          rep = ">";
        else if (ent == "quot")
          rep = "\"";
        else if (ent == "apos" || ent == "#39" || ent == "#x27")
          rep = "'";
        else if (ent == "nbsp")
          rep = "\xc2\xa0";
        if (!rep.empty()) {
          out += rep;
          i = semi + 1;
          continue;
        }
      }
    }
    out.push_back(c);
    ++i;
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool classify(const request_head& head) noexcept {
  return endpoint_of(head) != endpoint::none;
}

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  switch (endpoint_of(x.request.head)) {
    case endpoint::send:
      return decode_send(x, false, out);
    case endpoint::edit:
      return decode_send(x, true, out);
    case endpoint::upload:
      return decode_upload_request(x, out);
    default:
      return {};
  }
}

decode_error decode_response(const exchange& x, std::vector<chat_event>& out) {
  if (!x.response || x.response->body.empty()) return {};
  const endpoint ep = endpoint_of(x.request.head);
  if (ep != endpoint::events && ep != endpoint::history && ep != endpoint::upload) return {};
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (auto err = content::parse_json(x.response->body, x.limits, v)) return err;
  if (!v.is_object()) return {errc::malformed_json, "zulip: response is not an object"};
  if (ep == endpoint::upload) {
    // {"uri": "/user_uploads/..."}: the reference later messages use, tied to the bytes.
    const std::string uri = str(v, "/uri").empty() ? str(v, "/url") : str(v, "/uri");
    if (uri.empty()) return {};
    const auto ctype = x.request.head.headers.get("Content-Type");
    std::vector<content::multipart_part> parts;
    if (!ctype || content::parse_multipart(*ctype, x.request.body, x.limits, parts)) return {};
    for (const auto& p : parts) {
      if (!p.has_filename) continue;
      chat_event e = new_event(direction::inbound);
      e.kind = event_kind::upload;
      attachment a;
      a.name = p.filename;
      a.media_type = p.media_type;
      a.size = p.body.size();
      a.sha256 = sha256_hex(p.body);
      a.ref = uri;
      a.at = with_layer({}, layer_kind::json, str(v, "/uri").empty() ? "/url" : "/uri");
      e.attachments.push_back(std::move(a));
      out.push_back(std::move(e));
      break;
    }
    return {};
  }
  std::string session_key;
  if (auto q = x.request.head.query_param("queue_id")) session_key = wire::short_digest(*q);
  const std::string list_key = ep == endpoint::events ? "events" : "messages";
  const json::value* list = v.as_object().if_contains(list_key);
  if (!list) return {};
  if (!list->is_array()) return {errc::malformed_json, "zulip: " + list_key + " is not an array"};
  const auto& a = list->as_array();
  if (a.size() > x.limits.max_parts)
    return {errc::too_many_parts,
            "zulip: more than " + std::to_string(x.limits.max_parts) + " " + list_key};
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::string ptr = "/" + list_key + "/" + std::to_string(i);
    const json::value* m = &a[i];
    if (ep == endpoint::events && str(a[i], "/type") == "update_message") {
      // An edit seen by this client: the new content (rendered when the server sent both).
      const bool rendered = content::string_at(a[i], "/rendered_content").has_value();
      const std::string field = rendered ? "/rendered_content" : "/content";
      const std::string body = str(a[i], field);
      if (body.empty()) continue;
      chat_event e = new_event(direction::inbound);
      e.session_key = session_key;
      if (rendered) {
        e.html = body;
        e.text = html_to_text(body);
      } else {
        e.text = body;
      }
      e.text_at = with_layer({}, layer_kind::json, ptr + field);
      upload_links(body, e.text_at, e);
      if (const std::string uid = str(a[i], "/user_id"); !uid.empty())
        e.sender = party{uid, {}, identity_source::body};
      e.server_msg_id = str(a[i], "/message_id");
      if (const json::value* ts = content::at_pointer(a[i], "/edit_timestamp"))
        e.timestamp = polling::timestamp_from(*ts);
      if (!e.server_msg_id.empty()) e.attributes.emplace_back("edit_of", e.server_msg_id);
      out.push_back(std::move(e));
      continue;
    }
    if (ep == endpoint::events) {
      if (str(a[i], "/type") != "message") continue;  // heartbeat, presence, typing, ...
      m = content::at_pointer(a[i], "/message");
      if (!m || !m->is_object()) continue;
      ptr += "/message";
    }
    if (!m->is_object()) continue;
    chat_event e = new_event(direction::inbound);
    e.session_key = session_key;
    fill_message(*m, ptr, e);
    if (e.text.empty() && e.attachments.empty()) continue;
    if (ep == endpoint::history) e.attributes.emplace_back("history", "true");
    out.push_back(std::move(e));
  }
  return {};
}

decode_error rewrite(std::string& body, const location& at, std::string_view replacement) {
  return content::rewrite_path(body, at.path, replacement, limits{});
}

namespace {

std::string session_of(const request_head& head) {
  if (auto q = head.query_param("queue_id")) return wire::short_digest(*q);
  return {};
}

// Zulip's error JSON; the web client shows msg beside the failed message.
http_reply render_block(const exchange&, const chat_event&, const notice& n) {
  json::object o;
  o["result"] = "error";
  o["msg"] = replies::text_of(n);
  o["code"] = "BAD_REQUEST";
  return replies::json_reply(400, o);
}

// A "message" event appended to an events poll answer. Its event id is the highest id the client
// already has: the highest in this answer, else the last_event_id it acknowledged (-1 at the
// start). So the client's last_event_id does not move past an event the server has not sent,
// and the server's queue is not trimmed by it. The message id is 2^52 plus the notice time in
// milliseconds modulo 2^40: above any real message id, so it sorts last and never replaces one.
// Stream conversations get the topic "imcap"; a conversation of comma-separated e-mail
// addresses becomes a direct message with those recipients.
decode_error inject_notice(std::string& body, const exchange& x, const notice& n) {
  if (endpoint_of(x.request.head) != endpoint::events)
    return {errc::malformed_frame, "zulip: notices go into events answers only"};
  if (n.conversation_id.empty())
    return {errc::malformed_frame, "zulip: the notice names no conversation"};
  json::value v;
  if (auto err = replies::parse(body, v)) return err;
  json::array* events = nullptr;
  if (v.is_object())
    if (auto* e = v.as_object().if_contains("events"); e && e->is_array()) events = &e->as_array();
  if (events == nullptr) return {errc::malformed_json, "zulip: answer has no events list"};
  std::int64_t event_id = -1;
  if (auto q = x.request.head.query_param("last_event_id"))
    if (auto id = wire::to_i64(*q)) event_id = *id;
  bool seen = false;
  for (const auto& e : *events)
    if (auto id = wire::int_at(e, "/id"); id && (!seen || *id > event_id)) {
      event_id = *id;
      seen = true;
    }
  json::object m;
  const std::int64_t ms = replies::notice_ms(n);
  m["id"] = (std::int64_t{1} << 52) + (ms & ((std::int64_t{1} << 40) - 1));
  m["sender_email"] = replies::sender;
  m["sender_full_name"] = replies::sender;
  m["sender_id"] = 0;
  m["content"] = replies::html_paragraph(replies::text_of(n));
  m["content_type"] = "text/html";
  m["timestamp"] = ms / 1000;
  if (n.conversation_id.find('@') != std::string::npos) {
    json::array to;
    std::size_t pos = 0;
    for (int k = 0; k < 256; ++k) {
      const std::size_t comma = n.conversation_id.find(',', pos);
      to.emplace_back(json::object{
          {"email", n.conversation_id.substr(
                        pos, comma == std::string::npos ? std::string::npos : comma - pos)}});
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    m["type"] = "private";
    m["display_recipient"] = std::move(to);
    m["subject"] = "";
  } else {
    m["type"] = "stream";
    m["display_recipient"] = n.conversation_id;
    m["subject"] = replies::sender;
  }
  json::object ev;
  ev["type"] = "message";
  ev["id"] = event_id;
  ev["flags"] = json::array{};
  ev["message"] = std::move(m);
  events->emplace_back(std::move(ev));
  body = json::serialize(v);
  return {};
}

}  // namespace

const decoder zulip_decoder{
    .name = "zulip",
    .app = "zulip",
    .family = "zulip",
    .classify = &classify,
    .decode_request = &decode_request,
    .decode_response = &decode_response,
    .rewrite = &rewrite,
    .session_of = session_of,
    .render_block = render_block,
    // strip: null (one message per request).
    .inject_notice = inject_notice,
};

}  // namespace imcap::modules::zulip
