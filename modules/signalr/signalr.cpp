#include "modules/signalr/signalr.hpp"

#include <boost/json.hpp>

#include "modules/content/form.hpp"
#include "modules/content/json.hpp"
#include "modules/polling/common.hpp"
#include "modules/replies.hpp"
#include "modules/session.hpp"
#include "modules/wire.hpp"

namespace imcap::modules::signalr {

namespace json = boost::json;
using polling::with_layer;

namespace {

constexpr char record_separator = '\x1e';

bool path_ends_with_any(std::string_view path,
                        std::initializer_list<std::string_view> suffixes) noexcept {
  for (auto s : suffixes)
    if (wire::iends_with(path, s)) return true;
  return false;
}

chat_event new_event(const decoder& d, const exchange& x, direction dir,
                     const std::string& session_key) {
  chat_event e;
  e.app = std::string(d.app);
  e.transport = std::string(d.name);
  e.direction = dir;
  e.session_key = session_key;
  if (dir == direction::outbound) e.sender = wire::proxy_party(x);
  return e;
}

// Hub arguments -> event fields. The chat samples of both SignalR generations send
// (user, message); a leading string argument names the sender as the app sees it.
bool fill_from_arguments(const json::value& args, const location& base,
                         std::string_view pointer_prefix, chat_event& e) {
  std::vector<std::string> leading;
  const auto shape = polling::read_chat_shape(args, 0, &leading);
  if (!shape.has_content()) return false;
  polling::apply_shape(shape, base, e, pointer_prefix);
  if (!leading.empty() && shape.sender.id.empty()) {
    if (e.direction == direction::outbound && e.sender.source == identity_source::proxy) {
      // The proxy's user is who sent it; the name the app typed is kept beside it.
      e.sender.display_name = leading.front();
    } else {
      e.sender.id = leading.front();
      e.sender.source = identity_source::body;
    }
  }
  return true;
}

// Where the session's client receives chat (classic "hub\nmethod", Core the target), learned
// from inbound invocations so an injected notice reaches the app's own handler.
std::string receive_key(std::string_view session_key) {
  return "signalr:receive:" + std::string(session_key);
}

std::string session_from_query(const exchange& x, std::string_view key) {
  if (auto tok = x.request.head.query_param(key)) return wire::short_digest(*tok);
  return {};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Classic

bool classify_classic(const request_head& head) noexcept {
  if (head.method != "POST" && head.method != "GET") return false;
  return polling::query_has(head.query, "connectionToken") &&
         polling::query_has(head.query, "transport") &&
         path_ends_with_any(head.path, {"/send", "/poll", "/connect", "/reconnect"});
}

decode_error decode_classic_request(const exchange& x, std::vector<chat_event>& out) {
  const auto& head = x.request.head;
  if (!wire::iends_with(head.path, "/send") || x.request.body.empty()) return {};
  std::vector<content::form_field> fields;
  if (auto err = content::parse_form(x.request.body, x.limits, fields)) return err;
  const std::string* data = content::form_value(fields, "data");
  if (!data) return {errc::malformed_form, "signalr /send: no data= field"};
  const std::string session_key = session_from_query(x, "connectionToken");
  const location base = with_layer({}, layer_kind::form, "data");
  chat_event e = new_event(classic_decoder, x, direction::outbound, session_key);

  content::json_arena v_arena;
  json::value v(v_arena.storage());
  const decode_error jerr = content::parse_json(*data, x.limits, v);
  if (jerr) {
    // A persistent connection (no hubs) may send any string; JSON-looking data must parse.
    if (!data->empty() && (data->front() == '{' || data->front() == '[')) return jerr;
    if (data->empty()) return {};
    e.text = *data;
    e.text_at = base;
    out.push_back(std::move(e));
    return {};
  }
  const auto* o = v.if_object();
  if (o && o->contains("H") && o->contains("M")) {
    const auto hub = content::string_at(v, "/H");
    const auto method = content::string_at(v, "/M");
    if (!hub || !method) return {errc::malformed_json, "signalr /send: H and M must be strings"};
    const json::value* args = o->if_contains("A");
    if (args && !args->is_array())
      return {errc::malformed_json, "signalr /send: A must be an array"};
    if (!args || !fill_from_arguments(*args, base, "/A", e)) return {};
    e.attributes.emplace_back("hub", *hub);
    e.attributes.emplace_back("method", *method);
    if (auto id = content::id_at(v, "/I")) e.client_msg_id = *id;
    out.push_back(std::move(e));
    return {};
  }
  const auto shape = polling::read_chat_shape(v);
  if (!shape.has_content()) return {};
  polling::apply_shape(shape, base, e);
  out.push_back(std::move(e));
  return {};
}

decode_error decode_classic_response(const exchange& x, std::vector<chat_event>& out) {
  if (!x.response || x.response->body.empty()) return {};
  if (wire::iends_with(x.request.head.path, "/send")) return {};  // {"I":..,"R":..} only
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (auto err = content::parse_json(x.response->body, x.limits, v)) return err;
  const auto* o = v.if_object();
  if (!o) return {errc::malformed_json, "signalr poll: response is not an object"};
  const json::value* messages = o->if_contains("M");
  if (!messages) return {};
  const auto* list = messages->if_array();
  if (!list) return {errc::malformed_json, "signalr poll: M is not an array"};
  if (list->size() > x.limits.max_parts)
    return {errc::too_many_parts,
            "signalr poll: more than " + std::to_string(x.limits.max_parts) + " messages"};
  const std::string session_key = session_from_query(x, "connectionToken");
  const std::string cursor = content::string_at(v, "/C").value_or("");
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json::value& m = (*list)[i];
    chat_event e = new_event(classic_decoder, x, direction::inbound, session_key);
    const std::string prefix = "/M/" + std::to_string(i);
    const auto* mo = m.if_object();
    if (mo && mo->contains("H") && mo->contains("M")) {
      const json::value* args = mo->if_contains("A");
      if (!args || !args->is_array()) continue;
      if (!fill_from_arguments(*args, {}, prefix + "/A", e)) continue;
      e.attributes.emplace_back("hub", content::string_at(m, "/H").value_or(""));
      e.attributes.emplace_back("method", content::string_at(m, "/M").value_or(""));
      if (x.sessions != nullptr && !session_key.empty())
        x.sessions->put(receive_key(session_key), content::string_at(m, "/H").value_or("") + "\n" +
                                                      content::string_at(m, "/M").value_or(""));
    } else {
      const auto shape = polling::read_chat_shape(m);
      if (!shape.has_content()) continue;
      polling::apply_shape(shape, {}, e, prefix);
    }
    if (!cursor.empty()) e.attributes.emplace_back("cursor", cursor);
    out.push_back(std::move(e));
  }
  return {};
}

decode_error rewrite_classic(std::string& body, const location& at, std::string_view replacement) {
  std::string copy = body;
  if (auto err = polling::rewrite_layers(copy, at, 0, replacement, nullptr)) return err;
  body = std::move(copy);
  return {};
}

// ---------------------------------------------------------------------------------------------
// ASP.NET Core

bool classify_core(const request_head& head) noexcept {
  // The id query key alone is far too common; every SignalR client since ASP.NET Core 5 names
  // itself in X-SignalR-User-Agent, and negotiate carries negotiateVersion.
  if (wire::iends_with(head.path, "/negotiate") &&
      polling::query_has(head.query, "negotiateVersion"))
    return true;
  return head.headers.get("X-SignalR-User-Agent").has_value() &&
         (polling::query_has(head.query, "id") || wire::iends_with(head.path, "/negotiate"));
}

decode_error split_records(std::string_view body, const limits& lim,
                           std::vector<std::string_view>& out) {
  std::size_t pos = 0;
  while (pos < body.size()) {
    const std::size_t sep = body.find(record_separator, pos);
    if (sep == std::string_view::npos)
      return {errc::truncated,
              "signalr: record " + std::to_string(out.size()) + " is not terminated by 0x1E"};
    if (out.size() >= lim.max_parts)
      return {errc::too_many_parts,
              "signalr: more than " + std::to_string(lim.max_parts) + " records"};
    out.push_back(body.substr(pos, sep - pos));
    pos = sep + 1;
  }
  return {};
}

namespace {

decode_error decode_core_body(const exchange& x, std::string_view body, direction dir,
                              std::vector<chat_event>& out) {
  std::vector<std::string_view> records;
  const decode_error split_err = split_records(body, x.limits, records);
  const std::string session_key = session_from_query(x, "id");
  for (std::size_t i = 0; i < records.size(); ++i) {
    content::json_arena v_arena;
    json::value v(v_arena.storage());
    if (auto err = content::parse_json(records[i], x.limits, v))
      return {err.code, "signalr record " + std::to_string(i) + ": " + err.detail};
    const auto* o = v.if_object();
    if (!o)
      return {errc::malformed_json, "signalr record " + std::to_string(i) + " is not an object"};
    const json::value* type = o->if_contains("type");
    if (!type) continue;  // handshake request {"protocol":..} or response {} / {"error":..}
    if (!type->is_int64())
      return {errc::malformed_json, "signalr record " + std::to_string(i) + ": type not a number"};
    const auto t = type->get_int64();
    const location base = with_layer({}, layer_kind::frame, std::to_string(i));
    chat_event e = new_event(core_decoder, x, dir, session_key);
    if (t == 1 || t == 4) {  // Invocation, StreamInvocation
      const auto target = content::string_at(v, "/target");
      const json::value* args = o->if_contains("arguments");
      if (!target || !args || !args->is_array())
        return {errc::malformed_json,
                "signalr record " + std::to_string(i) + ": invocation without target/arguments"};
      if (!fill_from_arguments(*args, base, "/arguments", e)) continue;
      e.attributes.emplace_back("target", *target);
      if (dir == direction::inbound && x.sessions != nullptr && !session_key.empty())
        x.sessions->put(receive_key(session_key), *target);
      if (auto id = content::id_at(v, "/invocationId")) {
        e.attributes.emplace_back("invocation_id", *id);
        if (dir == direction::outbound) e.client_msg_id = *id;
      }
      out.push_back(std::move(e));
    } else if (t == 2) {  // StreamItem: an upload stream's element
      const json::value* item = o->if_contains("item");
      if (!item) continue;
      const auto shape = polling::read_chat_shape(*item);
      if (!shape.has_content()) continue;
      polling::apply_shape(shape, base, e, "/item");
      if (auto id = content::id_at(v, "/invocationId"))
        e.attributes.emplace_back("invocation_id", *id);
      e.attributes.emplace_back("stream_item", "true");
      out.push_back(std::move(e));
    }
    // 3 Completion, 5 CancelInvocation, 6 Ping, 7 Close, 8 Ack, 9 Sequence: no chat content.
  }
  return split_err;
}

}  // namespace

decode_error decode_core_request(const exchange& x, std::vector<chat_event>& out) {
  const auto& head = x.request.head;
  if (head.method != "POST" || wire::iends_with(head.path, "/negotiate")) return {};
  // The MessagePack hub protocol is binary (application/octet-stream): not read here.
  if (head.media_type() == "application/octet-stream") return {};
  return decode_core_body(x, x.request.body, direction::outbound, out);
}

decode_error decode_core_response(const exchange& x, std::vector<chat_event>& out) {
  if (!x.response || x.response->body.empty()) return {};
  const auto& head = x.request.head;
  if (head.method != "GET" || wire::iends_with(head.path, "/negotiate")) return {};
  if (x.response->media_type() == "application/octet-stream") return {};
  return decode_core_body(x, x.response->body, direction::inbound, out);
}

decode_error rewrite_core(std::string& body, const location& at, std::string_view replacement) {
  const polling::frame_rewrite frame = [](std::string& content, std::string_view key,
                                          const polling::inner_rewrite& inner) -> decode_error {
    std::vector<std::string_view> records;
    if (auto err = split_records(content, limits{}, records)) return err;
    std::size_t index = 0;
    for (char ch : key) {
      if (ch < '0' || ch > '9' || index > records.size())
        return {errc::malformed_frame, "rewrite: bad record index " + std::string(key)};
      index = index * 10 + static_cast<std::size_t>(ch - '0');
    }
    if (key.empty() || index >= records.size())
      return {errc::malformed_frame, "rewrite: no record " + std::string(key)};
    std::string rebuilt;
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (i == index) {
        std::string rec(records[i]);
        if (auto err = inner(rec)) return err;
        rebuilt += rec;
      } else {
        rebuilt += records[i];
      }
      rebuilt += record_separator;
    }
    content = std::move(rebuilt);
    return {};
  };
  std::string copy = body;
  if (auto err = polling::rewrite_layers(copy, at, 0, replacement, frame)) return err;
  body = std::move(copy);
  return {};
}

// ---------------------------------------------------------------------------------------------
// Replies

std::string session_of_classic(const request_head& head) {
  if (auto tok = head.query_param("connectionToken")) return wire::short_digest(*tok);
  return {};
}

std::string session_of_core(const request_head& head) {
  if (wire::iends_with(head.path, "/negotiate")) return {};
  if (auto tok = head.query_param("id")) return wire::short_digest(*tok);
  return {};
}

http_reply render_block_classic(const exchange&, const chat_event& blocked, const notice& n) {
  // The hub response to the /send: an error E rejects the invocation's promise with that text,
  // and the connection stays up.
  json::object o;
  o["I"] = blocked.client_msg_id.empty() ? std::string("0") : blocked.client_msg_id;
  o["E"] = replies::text_of(n);
  return replies::json_reply(200, o);
}

http_reply render_block_core(const exchange&, const chat_event&, const notice&) {
  // What an accepted POST gets (200, empty body). A non-200 other than 409 stops the
  // connection; the error reaches the client through inject_notice (a Completion for
  // notice::reply_to and a chat invocation).
  return replies::body_reply(200, "text/plain", "");
}

decode_error strip_core(std::string& body, const location& at) {
  const auto key = replies::first_key(at, layer_kind::frame);
  if (!key || at.path.front().kind != layer_kind::frame)
    return {errc::malformed_frame, "strip: location does not start at a record"};
  std::vector<std::string_view> records;
  if (auto err = split_records(body, limits{}, records)) return err;
  const auto index = replies::frame_index(*key);
  if (!index || *index >= records.size())
    return {errc::malformed_frame, "strip: no record " + std::string(*key)};
  std::string rebuilt;
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (i == *index) continue;
    rebuilt += records[i];
    rebuilt += record_separator;
  }
  // A ping rather than an empty body, which the server would take as a malformed send.
  if (rebuilt.empty()) rebuilt = std::string("{\"type\":6}") + record_separator;
  body = std::move(rebuilt);
  return {};
}

namespace {

std::string learned(const exchange& x, const std::string& session_key) {
  if (x.sessions == nullptr || session_key.empty()) return {};
  return x.sessions->get(receive_key(session_key)).value_or("");
}

// The hub a classic connection joined: connectionData=[{"name":"chathub"}].
std::string classic_hub(const request_head& head) {
  json::value v;
  if (auto data = head.query_param("connectionData"); data && !replies::parse(*data, v))
    if (auto name = content::string_at(v, "/0/name")) return *name;
  return "chathub";
}

}  // namespace

// A client hub invocation {"H","M","A":["imcap", text]} appended to the poll answer's M list
// (the chat samples' (user, message) shape), to the hub and method this session received chat
// on (learned), else the joined hub's "broadcastMessage". The cursor C is left alone.
decode_error inject_notice_classic(std::string& body, const exchange& x, const notice& n) {
  if (wire::iends_with(x.request.head.path, "/send"))
    return {errc::malformed_frame, "signalr: notices go into poll answers only"};
  json::value v;
  if (auto err = replies::parse(body, v)) return err;
  if (!v.is_object()) return {errc::malformed_json, "signalr poll: answer is not an object"};
  std::string hub = classic_hub(x.request.head), method = "broadcastMessage";
  if (const std::string l = learned(x, session_of_classic(x.request.head)); !l.empty()) {
    const std::size_t nl = l.find('\n');
    if (nl != std::string::npos && nl > 0 && nl + 1 < l.size()) {
      hub = l.substr(0, nl);
      method = l.substr(nl + 1);
    }
  }
  json::value& m = v.as_object()["M"];
  if (m.is_null()) m = json::array{};
  if (!m.is_array()) return {errc::malformed_json, "signalr poll: M is not an array"};
  json::object inv;
  inv["H"] = hub;
  inv["M"] = method;
  inv["A"] = json::array{json::string(replies::sender), json::string(replies::text_of(n))};
  m.as_array().emplace_back(std::move(inv));
  body = json::serialize(v);
  return {};
}

// Records appended to a GET poll answer: a Completion {"type":3,"invocationId","error"} when
// the notice answers a call (notice::reply_to), then an Invocation {"type":1,"target",
// "arguments":["imcap", text]} to the target this session received chat on (learned), else
// "ReceiveMessage" (the ASP.NET Core chat sample's).
decode_error inject_notice_core(std::string& body, const exchange& x, const notice& n) {
  if (x.request.head.method != "GET")
    return {errc::malformed_frame, "signalr: notices go into GET poll answers only"};
  if (!body.empty()) {
    std::vector<std::string_view> records;
    if (auto err = split_records(body, limits{}, records)) return err;
  }
  std::string target = learned(x, session_of_core(x.request.head));
  if (target.empty()) target = "ReceiveMessage";
  std::string out = body;
  if (!n.reply_to.empty()) {
    json::object done;
    done["type"] = 3;
    done["invocationId"] = n.reply_to;
    done["error"] = replies::text_of(n);
    out += json::serialize(done);
    out += record_separator;
  }
  json::object inv;
  inv["type"] = 1;
  inv["target"] = target;
  inv["arguments"] = json::array{json::string(replies::sender), json::string(replies::text_of(n))};
  out += json::serialize(inv);
  out += record_separator;
  body = std::move(out);
  return {};
}

const decoder classic_decoder{
    .name = "signalr-classic",
    .app = "signalr",
    .family = "signalr",
    .classify = &classify_classic,
    .decode_request = &decode_classic_request,
    .decode_response = &decode_classic_response,
    .rewrite = &rewrite_classic,
    .session_of = &session_of_classic,
    .render_block = &render_block_classic,
    // strip: null. jQuery SignalR sends one invocation per /send; the whole request is
    // answered by render_block, which keeps the connection.
    .inject_notice = &inject_notice_classic,
};

const decoder core_decoder{
    .name = "signalr-core",
    .app = "signalr",
    .family = "signalr",
    .classify = &classify_core,
    .decode_request = &decode_core_request,
    .decode_response = &decode_core_response,
    .rewrite = &rewrite_core,
    .session_of = &session_of_core,
    .render_block = &render_block_core,
    .strip = &strip_core,
    .inject_notice = &inject_notice_core,
};

}  // namespace imcap::modules::signalr
