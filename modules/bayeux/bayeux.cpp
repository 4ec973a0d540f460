#include "modules/bayeux/bayeux.hpp"

#include <algorithm>

#include <boost/json.hpp>

#include "modules/content/form.hpp"
#include "modules/content/json.hpp"
#include "modules/content/rewrite.hpp"
#include "modules/polling/common.hpp"
#include "modules/replies.hpp"
#include "modules/wire.hpp"

namespace imcap::modules::bayeux {

namespace json = boost::json;
using polling::with_layer;

namespace {

chat_event new_event(const exchange& x, direction d) {
  chat_event e;
  e.app = "cometd";
  e.transport = std::string(bayeux_decoder.name);
  e.direction = d;
  if (d == direction::outbound) e.sender = wire::proxy_party(x);
  return e;
}

// One Bayeux message; `ptr` locates it inside the JSON document at `base`.
void decode_message(const exchange& x, direction d, const json::value& m, const location& base,
                    const std::string& ptr, std::vector<chat_event>& out) {
  const auto* o = m.if_object();
  if (!o) return;
  const std::string channel = content::string_at(m, "/channel").value_or("");
  if (channel.empty() || channel.rfind("/meta/", 0) == 0) return;
  const json::value* data = o->if_contains("data");
  if (!data) return;  // a publish acknowledgement
  const auto shape = polling::read_chat_shape(*data);
  if (!shape.has_content()) return;
  chat_event e = new_event(x, d);
  polling::apply_shape(shape, base, e, ptr + "/data");
  // The channel is the conversation; a recipient-like field in data does not change that.
  e.conversation_id = channel;
  if (auto id = content::id_at(m, "/id")) {
    if (d == direction::outbound)
      e.client_msg_id = *id;
    else
      e.server_msg_id = *id;
  }
  if (auto client = content::string_at(m, "/clientId")) e.session_key = wire::short_digest(*client);
  if (channel.rfind("/service/", 0) == 0) e.attributes.emplace_back("service", "true");
  out.push_back(std::move(e));
}

decode_error decode_document(const exchange& x, direction d, std::string_view text,
                             const location& base, std::vector<chat_event>& out) {
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (auto err = content::parse_json(text, x.limits, v)) return err;
  if (const auto* a = v.if_array()) {
    if (a->size() > x.limits.max_parts)
      return {errc::too_many_parts,
              "bayeux: more than " + std::to_string(x.limits.max_parts) + " messages"};
    for (std::size_t i = 0; i < a->size(); ++i) {
      if (!(*a)[i].is_object())
        return {errc::malformed_json, "bayeux: message " + std::to_string(i) + " is not an object"};
      decode_message(x, d, (*a)[i], base, "/" + std::to_string(i), out);
    }
    return {};
  }
  if (v.is_object()) {
    decode_message(x, d, v, base, "", out);
    return {};
  }
  return {errc::malformed_json, "bayeux: body is neither a message nor an array of messages"};
}

}  // namespace

bool classify(const request_head& head) noexcept {
  if (head.method != "POST" && head.method != "GET") return false;
  const std::string_view p = head.path;
  const bool endpoint = p.find("/cometd") != std::string_view::npos ||
                        wire::iends_with(p, "/faye") || wire::iends_with(p, "/bayeux");
  if (!endpoint) return false;
  // callback-polling GETs carry the messages in the query.
  return head.method == "POST" || polling::query_has(head.query, "message");
}

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  const auto& head = x.request.head;
  if (head.method == "GET") {
    // The query cannot be rewritten through the body: no location.
    auto q = head.query_param("message");
    if (!q) return {};
    std::vector<chat_event> found;
    auto err = decode_document(x, direction::outbound, *q, {}, found);
    for (auto& e : found) {
      e.text_at = {};
      for (auto& a : e.attachments) a.at = {};
      e.attributes.emplace_back("callback_polling", "true");
      out.push_back(std::move(e));
    }
    return err;
  }
  if (x.request.body.empty()) return {errc::truncated, "bayeux: empty request body"};
  if (head.media_type() == "application/x-www-form-urlencoded") {
    std::vector<content::form_field> fields;
    if (auto err = content::parse_form(x.request.body, x.limits, fields)) return err;
    std::size_t nth = 0;
    bool any = false;
    for (const auto& f : fields) {
      if (f.name != "message") continue;
      any = true;
      const std::string key = nth == 0 ? "message" : "message#" + std::to_string(nth);
      ++nth;
      if (auto err = decode_document(x, direction::outbound, f.value,
                                     with_layer({}, layer_kind::form, key), out))
        return err;
    }
    if (!any) return {errc::malformed_form, "bayeux: form without a message field"};
    return {};
  }
  return decode_document(x, direction::outbound, x.request.body, {}, out);
}

decode_error decode_response(const exchange& x, std::vector<chat_event>& out) {
  if (!x.response || x.response->body.empty()) return {};
  std::string_view body = x.response->body;
  // callback-polling answers cb([...]); strip the call.
  if (!body.empty() && body.front() != '[' && body.front() != '{') {
    const std::size_t open = body.find('(');
    const std::size_t close = body.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open)
      return {errc::malformed_json, "bayeux: response is neither JSON nor a callback"};
    std::vector<chat_event> found;
    auto err =
        decode_document(x, direction::inbound, body.substr(open + 1, close - open - 1), {}, found);
    for (auto& e : found) {
      e.text_at = {};
      out.push_back(std::move(e));
    }
    return err;
  }
  return decode_document(x, direction::inbound, body, {}, out);
}

decode_error rewrite(std::string& body, const location& at, std::string_view replacement) {
  return content::rewrite_path(body, at.path, replacement, limits{});
}

// ---------------------------------------------------------------------------------------------
// Replies

namespace {

// The clientId of the first message that has one, as a session key.
std::string client_key(std::string_view document) {
  json::value v;
  if (replies::parse(document, v)) return {};
  const json::value* first = &v;
  if (const auto* a = v.if_array()) {
    for (const auto& m : *a)
      if (auto c = content::string_at(m, "/clientId")) return wire::short_digest(*c);
    return {};
  }
  if (auto c = content::string_at(*first, "/clientId")) return wire::short_digest(*c);
  return {};
}

// The Bayeux messages of a request (JSON body, message= form fields, or the callback-polling
// query), flattened.
std::vector<json::value> request_messages(const http_request& r) {
  std::vector<std::string> docs;
  if (r.head.method == "GET") {
    if (auto q = r.head.query_param("message")) docs.push_back(*q);
  } else if (r.head.media_type() == "application/x-www-form-urlencoded") {
    std::vector<content::form_field> fields;
    if (!content::parse_form(r.body, limits{}, fields))
      for (auto& f : fields)
        if (f.name == "message") docs.push_back(std::move(f.value));
  } else {
    docs.push_back(r.body);
  }
  std::vector<json::value> out;
  for (const auto& d : docs) {
    json::value v;
    if (replies::parse(d, v)) continue;
    if (auto* a = v.if_array())
      for (auto& m : *a) out.push_back(std::move(m));
    else if (v.is_object())
      out.push_back(std::move(v));
  }
  return out;
}

decode_error strip_document(std::string& text, std::string_view pointer, bool& emptied) {
  json::value v;
  if (auto err = replies::parse(text, v)) return err;
  emptied = false;
  if (v.is_object()) {  // a single message: the whole document goes
    emptied = true;
    return {};
  }
  if (!v.is_array()) return {errc::malformed_json, "strip: not a Bayeux message array"};
  if (pointer.size() < 2 || pointer[0] != '/')
    return {errc::malformed_json, "strip: no message index in " + std::string(pointer)};
  pointer.remove_prefix(1);
  const auto index = replies::frame_index(pointer.substr(0, pointer.find('/')));
  auto& a = v.as_array();
  if (!index || *index >= a.size())
    return {errc::malformed_json, "strip: no message " + std::string(pointer)};
  a.erase(a.begin() + static_cast<std::ptrdiff_t>(*index));
  emptied = a.empty();
  text = json::serialize(v);
  return {};
}

}  // namespace

std::string session_of(const request_head& head) {
  if (head.method != "GET") return {};
  if (auto q = head.query_param("message")) return client_key(*q);
  return {};
}

std::string session_of_exchange(const exchange& x) {
  std::vector<json::value> msgs = request_messages(x.request);
  for (const auto& m : msgs)
    if (auto c = content::string_at(m, "/clientId")) return wire::short_digest(*c);
  return {};
}

// Every message of the refused request is answered unsuccessful with a 403::<text> error
// (Bayeux's code:args:message), echoing its channel and id, so each publish callback fails
// with the text. A batch that also carries /meta/connect or /meta/handshake should be stripped
// instead (the failed connect would make the client handshake again).
http_reply render_block(const exchange& x, const chat_event& blocked, const notice& n) {
  json::array replies_out;
  for (const auto& m : request_messages(x.request)) {
    json::object r;
    r["channel"] = content::string_at(m, "/channel").value_or("");
    r["successful"] = false;
    if (auto id = content::id_at(m, "/id")) r["id"] = *id;
    r["error"] = "403::" + replies::text_of(n);
    replies_out.emplace_back(std::move(r));
  }
  if (replies_out.empty()) {
    json::object r;
    r["channel"] = blocked.conversation_id;
    r["successful"] = false;
    if (!blocked.client_msg_id.empty()) r["id"] = blocked.client_msg_id;
    r["error"] = "403::" + replies::text_of(n);
    replies_out.emplace_back(std::move(r));
  }
  if (x.request.head.method == "GET") {
    const std::string cb = x.request.head.query_param("jsonp").value_or("jsonp");
    return replies::body_reply(200, "text/javascript; charset=utf-8",
                               cb + "(" + json::serialize(replies_out) + ");");
  }
  return replies::json_reply(200, replies_out);
}

// Removes the message the location points into from the JSON array (or the message= form
// field holding it; a field with a single message goes whole). An emptied batch is "[]".
decode_error strip(std::string& body, const location& at) {
  if (at.path.empty()) return {errc::malformed_frame, "strip: empty location"};
  if (at.path[0].kind == layer_kind::form) {
    if (at.path.size() < 2 || at.path[1].kind != layer_kind::json)
      return {errc::malformed_frame, "strip: no message below the form field"};
    std::vector<content::form_field> fields;
    if (auto err = content::parse_form(body, limits{}, fields)) return err;
    // "message" or "message#n": the n-th field of that name.
    std::string name = at.path[0].key;
    std::size_t nth = 0;
    if (const std::size_t hash = name.find('#'); hash != std::string::npos) {
      const auto n = replies::frame_index(std::string_view(name).substr(hash + 1));
      if (!n) return {errc::malformed_form, "strip: bad field key " + name};
      nth = *n;
      name.resize(hash);
    }
    std::size_t seen = 0;
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      if (it->name != name || seen++ != nth) continue;
      bool emptied = false;
      if (auto err = strip_document(it->value, at.path[1].key, emptied)) return err;
      if (emptied) it->value = "[]";
      if (emptied && std::count_if(fields.begin(), fields.end(),
                                   [&](const auto& f) { return f.name == name; }) > 1)
        fields.erase(it);
      body = content::serialize_form(fields);
      return {};
    }
    return {errc::malformed_form, "strip: no form field " + at.path[0].key};
  }
  if (at.path[0].kind != layer_kind::json)
    return {errc::malformed_frame, "strip: location does not start in the JSON body"};
  std::string copy = body;
  bool emptied = false;
  if (auto err = strip_document(copy, at.path[0].key, emptied)) return err;
  body = emptied ? std::string("[]") : std::move(copy);
  return {};
}

// A delivery {"channel":<conversation>,"data":{"user":"imcap","chat":text},"id"} appended to
// the answer's message array (callback-polling cb([...]) too), in the CometD chat demo's data
// shape. The conversation must be a channel ("/chat/room42").
decode_error inject_notice(std::string& body, const exchange&, const notice& n) {
  if (n.conversation_id.empty() || n.conversation_id.front() != '/' ||
      n.conversation_id.rfind("/meta/", 0) == 0)
    return {errc::malformed_frame, "bayeux: the notice names no channel"};
  std::string_view doc = body;
  std::string head, tail;
  if (!doc.empty() && doc.front() != '[' && doc.front() != '{') {
    const std::size_t open = doc.find('(');
    const std::size_t close = doc.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open)
      return {errc::malformed_json, "bayeux: response is neither JSON nor a callback"};
    head = std::string(doc.substr(0, open + 1));
    tail = std::string(doc.substr(close));
    doc = doc.substr(open + 1, close - open - 1);
  }
  json::value v;
  if (auto err = replies::parse(doc, v)) return err;
  if (v.is_object()) v = json::array{std::move(v)};
  if (!v.is_array()) return {errc::malformed_json, "bayeux: answer is not a message array"};
  json::object m;
  m["channel"] = n.conversation_id;
  m["data"] = json::object{{"user", replies::sender}, {"chat", replies::text_of(n)}};
  m["id"] = replies::id_of(n);
  v.as_array().emplace_back(std::move(m));
  body = head + json::serialize(v) + tail;
  return {};
}

const decoder bayeux_decoder{
    .name = "bayeux",
    .app = "cometd",
    .family = "bayeux",
    .classify = &classify,
    .decode_request = &decode_request,
    .decode_response = &decode_response,
    .rewrite = &rewrite,
    // session_of gives the clientId only for callback-polling GETs (in the query); POSTed
    // batches carry it in the body: session_of_exchange.
    .session_of = &session_of,
    .session_of_exchange = &session_of_exchange,
    .render_block = &render_block,
    .strip = &strip,
    .inject_notice = &inject_notice,
};

}  // namespace imcap::modules::bayeux
