#include "modules/sockjs/sockjs.hpp"

#include <algorithm>

#include <array>

#include <boost/json.hpp>

#include "modules/content/form.hpp"
#include "modules/content/json.hpp"
#include "modules/polling/common.hpp"
#include "modules/replies.hpp"
#include "modules/session.hpp"
#include "modules/wire.hpp"

namespace imcap::modules::sockjs {

namespace json = boost::json;
using polling::with_layer;
using wire::pointer_join;

namespace {

constexpr std::array<std::string_view, 7> transports{
    "xhr", "xhr_send", "xhr_streaming", "eventsource", "jsonp", "jsonp_send", "htmlfile"};

struct sockjs_path {
  std::string_view server;
  std::string_view session;
  std::string_view transport;
};

std::optional<sockjs_path> parse_path(std::string_view path) noexcept {
  const std::size_t p3 = path.rfind('/');
  if (p3 == std::string_view::npos || p3 == 0) return std::nullopt;
  // The transport name first: it rules out nearly every path before more is split.
  const std::string_view last = path.substr(p3 + 1);
  if (std::find(transports.begin(), transports.end(), last) == transports.end())
    return std::nullopt;
  const std::size_t p2 = path.rfind('/', p3 - 1);
  if (p2 == std::string_view::npos || p2 == 0) return std::nullopt;
  const std::size_t p1 = path.rfind('/', p2 - 1);
  if (p1 == std::string_view::npos) return std::nullopt;
  sockjs_path sp{path.substr(p1 + 1, p2 - p1 - 1), path.substr(p2 + 1, p3 - p2 - 1),
                 path.substr(p3 + 1)};
  // Server ids are the client's random digits; session ids are any string without dots.
  if (sp.server.empty() || sp.server.size() > 8 || sp.session.empty() ||
      sp.session.find('.') != std::string_view::npos)
    return std::nullopt;
  for (char c : sp.server)
    if (c < '0' || c > '9') return std::nullopt;
  return sp;
}

struct context {
  const exchange& x;
  const decoder& d;
  direction dir;
  std::string session_key;
  std::string user_key;  // session-store key of the learned DDP user, empty when stateless
};

// Marks a SockJS session as DDP (Meteor, Rocket.Chat) for the notice shape (inject_notice).
std::string ddp_key(std::string_view session_key) {
  return "sockjs:ddp:" + std::string(session_key);
}

chat_event new_event(const context& c, std::string_view app) {
  chat_event e;
  e.app = std::string(app);
  e.transport = std::string(c.d.name);
  e.direction = c.dir;
  e.session_key = c.session_key;
  if (c.dir == direction::outbound) {
    std::optional<std::string> learned;
    if (c.x.sessions && !c.user_key.empty()) learned = c.x.sessions->get(c.user_key);
    if (learned && !learned->empty()) {
      e.sender.id = *learned;
      e.sender.source = identity_source::learned;
    } else if (auto uid = c.x.request.head.headers.get("X-User-Id"); uid && !uid->empty()) {
      // Rocket.Chat REST names the account in X-User-Id (next to its auth token).
      e.sender.id = std::string(*uid);
      e.sender.source = identity_source::body;
    } else {
      e.sender = wire::proxy_party(c.x);
    }
  }
  return e;
}

std::string str(const json::object& o, std::string_view k) {
  if (const auto* v = o.if_contains(k)) {
    if (v->is_string()) return std::string(v->as_string());
    if (v->is_int64()) return std::to_string(v->get_int64());
  }
  return {};
}

void add_rc_file(const json::value& v, const std::string& ptr, const location& doc_at,
                 chat_event& e) {
  const auto* f = v.if_object();
  if (!f) return;
  attachment a;
  a.name = str(*f, "name");
  if (a.name.empty()) a.name = str(*f, "title");
  a.media_type = str(*f, "type");
  if (a.media_type.empty()) a.media_type = str(*f, "image_type");
  if (a.media_type == "file") a.media_type.clear();  // attachment kind, not a media type
  a.ref = str(*f, "_id");
  if (a.ref.empty()) a.ref = str(*f, "title_link");
  if (const auto* sz = f->if_contains("size"); sz && sz->is_int64() && sz->get_int64() >= 0)
    a.size = static_cast<std::uint64_t>(sz->get_int64());
  a.at = with_layer(doc_at, layer_kind::json, ptr);
  if (!a.name.empty() || !a.ref.empty()) e.attachments.push_back(std::move(a));
}

// A Rocket.Chat message object (sendMessage params, stream-room-messages args, history).
bool fill_rc_message(const json::object& m, const location& doc_at, const std::string& ptr,
                     chat_event& e) {
  const std::string text = str(m, "msg");
  if (!text.empty()) {
    e.text = text;
    e.text_at = with_layer(doc_at, layer_kind::json, ptr + "/msg");
  }
  e.conversation_id = str(m, "rid");
  if (const std::string id = str(m, "_id"); !id.empty()) {
    if (e.direction == direction::outbound)
      e.client_msg_id = id;
    else
      e.server_msg_id = id;
  }
  if (const std::string tmid = str(m, "tmid"); !tmid.empty())
    e.attributes.emplace_back("thread_id", tmid);
  if (const auto* u = m.if_contains("u"); u && u->is_object()) {
    const auto& uo = u->as_object();
    e.sender.id = str(uo, "username");
    if (e.sender.id.empty()) e.sender.id = str(uo, "_id");
    e.sender.display_name = str(uo, "name");
    if (!e.sender.id.empty()) e.sender.source = identity_source::body;
    if (const std::string uid = str(uo, "_id"); !uid.empty() && uid != e.sender.id)
      e.attributes.emplace_back("sender_user_id", uid);
  }
  if (const auto* ts = m.if_contains("ts")) e.timestamp = polling::timestamp_from(*ts);
  if (const auto* files = m.if_contains("files"); files && files->is_array()) {
    const auto& fa = files->as_array();
    for (std::size_t i = 0; i < fa.size() && i < 64; ++i)
      add_rc_file(fa[i], ptr + "/files/" + std::to_string(i), doc_at, e);
  } else if (const auto* file = m.if_contains("file")) {
    add_rc_file(*file, ptr + "/file", doc_at, e);
  } else if (const auto* atts = m.if_contains("attachments"); atts && atts->is_array()) {
    const auto& aa = atts->as_array();
    for (std::size_t i = 0; i < aa.size() && i < 64; ++i)
      add_rc_file(aa[i], ptr + "/attachments/" + std::to_string(i), doc_at, e);
  }
  return !e.text.empty() || !e.attachments.empty();
}

// A DDP message (already parsed); doc_at locates the DDP JSON document.
void decode_ddp(context& c, const json::value& v, const location& doc_at,
                std::vector<chat_event>& out) {
  const auto& o = v.as_object();
  const std::string msg = str(o, "msg");
  if ((msg == "connect" || msg == "method") && c.dir == direction::outbound &&
      &c.d == &sockjs_decoder && c.x.sessions != nullptr && !c.session_key.empty())
    c.x.sessions->put(ddp_key(c.session_key), "1");
  if (msg == "method" && c.dir == direction::outbound) {
    const std::string method = str(o, "method");
    const json::value* params = o.if_contains("params");
    if (!params || !params->is_array()) return;
    const auto& pa = params->as_array();
    const bool rc_send = (method == "sendMessage" || method == "updateMessage") && !pa.empty() &&
                         pa[0].is_object() && pa[0].as_object().contains("rid");
    chat_event e = new_event(c, rc_send ? "rocketchat" : "meteor");
    if (rc_send) {
      if (!fill_rc_message(pa[0].as_object(), doc_at, "/params/0", e)) return;
      if (method == "updateMessage") e.attributes.emplace_back("edit_of", e.client_msg_id);
    } else {
      // Other methods: only object parameters with a known text field count. Bare string
      // parameters are room ids, cursors and names far more often than chat text.
      bool found = false;
      for (std::size_t i = 0; i < pa.size() && i < 16 && !found; ++i) {
        if (!pa[i].is_object()) continue;
        const auto shape = polling::read_chat_shape(pa[i]);
        if (!shape.has_content() || shape.text_guessed) continue;
        polling::apply_shape(shape, doc_at, e, "/params/" + std::to_string(i));
        found = true;
      }
      if (!found) return;
    }
    e.attributes.emplace_back("ddp_method", method);
    if (const std::string id = str(o, "id"); !id.empty()) e.attributes.emplace_back("ddp_id", id);
    out.push_back(std::move(e));
    return;
  }
  if ((msg == "changed" || msg == "added") && c.dir == direction::inbound) {
    const std::string collection = str(o, "collection");
    const json::value* fields = o.if_contains("fields");
    if (!fields || !fields->is_object()) return;
    if (collection == "stream-room-messages") {
      const json::value* args = fields->as_object().if_contains("args");
      if (!args || !args->is_array()) return;
      const auto& aa = args->as_array();
      for (std::size_t i = 0; i < aa.size() && i < 256; ++i) {
        if (!aa[i].is_object()) continue;
        chat_event e = new_event(c, "rocketchat");
        if (!fill_rc_message(aa[i].as_object(), doc_at, "/fields/args/" + std::to_string(i), e))
          continue;
        e.attributes.emplace_back("ddp_collection", collection);
        out.push_back(std::move(e));
      }
      return;
    }
    const auto shape = polling::read_chat_shape(*fields);
    if (!shape.has_content() || shape.text_guessed) return;
    chat_event e = new_event(c, "meteor");
    polling::apply_shape(shape, doc_at, e, "/fields");
    e.attributes.emplace_back("ddp_collection", collection);
    out.push_back(std::move(e));
    return;
  }
  if (msg == "result" && c.dir == direction::inbound) {
    const json::value* result = o.if_contains("result");
    const auto* r = result ? result->if_object() : nullptr;
    if (!r) return;
    if (r->contains("token") && r->contains("id")) {
      // A login answer: the session's user from now on (the token itself is never kept).
      chat_event e = new_event(c, "meteor");
      e.kind = event_kind::identity;
      e.sender.id = str(*r, "id");
      e.sender.source = identity_source::body;
      if (e.sender.id.empty()) return;
      if (c.x.sessions && !c.user_key.empty()) c.x.sessions->put(c.user_key, e.sender.id);
      out.push_back(std::move(e));
      return;
    }
    if (const auto* msgs = r->if_contains("messages"); msgs && msgs->is_array()) {
      // loadHistory and friends: the room's earlier messages.
      const auto& ma = msgs->as_array();
      for (std::size_t i = 0; i < ma.size() && i < 1024; ++i) {
        if (!ma[i].is_object()) continue;
        chat_event e = new_event(c, "rocketchat");
        if (!fill_rc_message(ma[i].as_object(), doc_at, "/result/messages/" + std::to_string(i), e))
          continue;
        e.attributes.emplace_back("history", "true");
        out.push_back(std::move(e));
      }
    }
  }
}

// A STOMP frame (Spring's SockJS messaging): COMMAND\nheader:value...\n\nbody\0.
bool decode_stomp(context& c, std::string_view s, std::vector<chat_event>& out) {
  const std::size_t nl = s.find('\n');
  if (nl == std::string_view::npos) return false;
  std::string_view command = s.substr(0, nl);
  if (!command.empty() && command.back() == '\r') command.remove_suffix(1);
  if (command != "SEND" && command != "MESSAGE")
    return command == "CONNECT" || command == "SUBSCRIBE" || command == "CONNECTED";
  std::size_t pos = nl + 1;
  std::string destination;
  for (int n = 0; n < 64 && pos < s.size(); ++n) {
    std::size_t end = s.find('\n', pos);
    if (end == std::string_view::npos) return false;
    std::string_view line = s.substr(pos, end - pos);
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    if (line.substr(0, 12) == "destination:") destination = std::string(line.substr(12));
  }
  std::string_view body = s.substr(std::min(pos, s.size()));
  if (const std::size_t nul = body.find('\0'); nul != std::string_view::npos)
    body = body.substr(0, nul);
  chat_event e = new_event(c, "stomp");
  e.conversation_id = destination;
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (!body.empty() && body[0] == '{' && !content::parse_json(body, c.x.limits, v)) {
    const auto shape = polling::read_chat_shape(v);
    if (shape.has_content()) {
      e.text = shape.text;
      if (!shape.sender.id.empty()) e.sender = shape.sender;
      if (!shape.conversation.empty() && e.conversation_id.empty())
        e.conversation_id = shape.conversation;
    }
  } else {
    e.text = std::string(body);
  }
  // The STOMP body's position inside the string is not a layer a rewrite knows: no text_at.
  e.attributes.emplace_back("stomp_command", std::string(command));
  if (!e.text.empty()) out.push_back(std::move(e));
  return true;
}

// One SockJS message string. msg_at locates the string value.
decode_error decode_message(context& c, const std::string& s, const location& msg_at,
                            std::vector<chat_event>& out) {
  if (s.empty()) return {};
  if (s[0] == '{' || s[0] == '[') {
    content::json_arena v_arena;
    json::value v(v_arena.storage());
    if (auto err = content::parse_json(s, c.x.limits, v)) return err;
    // The string holds a JSON document: the next json layer points into it.
    const location& doc_at = msg_at;
    if (v.is_object() && v.as_object().contains("msg") && v.as_object().at("msg").is_string() &&
        !v.as_object().contains("text")) {
      const std::string m = str(v.as_object(), "msg");
      static constexpr std::array<std::string_view, 14> ddp{
          "connect", "connected", "failed",  "ping",    "pong",  "sub",    "unsub",
          "nosub",   "added",     "changed", "removed", "ready", "method", "result"};
      bool is_ddp = m == "updated" || m == "addedBefore" || m == "movedBefore";
      for (auto k : ddp)
        if (m == k) is_ddp = true;
      if (is_ddp) {
        decode_ddp(c, v, doc_at, out);
        return {};
      }
    }
    const auto shape = polling::read_chat_shape(v);
    if (!shape.has_content()) return {};
    chat_event e = new_event(c, c.d.app);
    polling::apply_shape(shape, doc_at, e);
    out.push_back(std::move(e));
    return {};
  }
  if (decode_stomp(c, s, out)) return {};
  chat_event e = new_event(c, c.d.app);
  e.text = s;
  e.text_at = msg_at;
  out.push_back(std::move(e));
  return {};
}

// A JSON array of strings (xhr_send body, a[...] frame content).
decode_error decode_message_array(context& c, std::string_view text, const location& base,
                                  std::vector<chat_event>& out) {
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (auto err = content::parse_json(text, c.x.limits, v)) return err;
  const auto* a = v.if_array();
  if (!a) return {errc::malformed_frame, "sockjs: messages are not a JSON array"};
  if (a->size() > c.x.limits.max_parts)
    return {errc::too_many_parts,
            "sockjs: more than " + std::to_string(c.x.limits.max_parts) + " messages"};
  for (std::size_t i = 0; i < a->size(); ++i) {
    if (!(*a)[i].is_string())
      return {errc::malformed_frame, "sockjs: message " + std::to_string(i) + " is not a string"};
    const location msg_at = with_layer(base, layer_kind::json, "/" + std::to_string(i));
    if (auto err = decode_message(c, std::string((*a)[i].as_string()), msg_at, out))
      return {err.code, "sockjs message " + std::to_string(i) + ": " + err.detail};
  }
  return {};
}

context make_context(const exchange& x, direction dir) {
  context c{x, sockjs_decoder, dir, {}, {}};
  if (auto sp = parse_path(x.request.head.path)) {
    c.session_key = wire::short_digest(sp->session);
    if (!c.session_key.empty()) c.user_key = "sockjs:user:" + c.session_key;
  }
  return c;
}

// jsonp responses: callback("<frame>");  -> the frame text.
std::optional<std::pair<std::string, std::string>> split_jsonp(std::string_view body,
                                                               const limits& lim) {
  const std::size_t open = body.find('(');
  const std::size_t close = body.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return std::nullopt;
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (content::parse_json(body.substr(open + 1, close - open - 1), lim, v) || !v.is_string())
    return std::nullopt;
  return std::make_pair(std::string(body.substr(0, open)), std::string(v.as_string()));
}

bool is_jsonp_response(std::string_view body) noexcept {
  // xhr frames start with a frame letter; eventsource with a blank line or "data:"; a jsonp
  // response with the callback name (a JavaScript identifier path) and '('.
  if (body.empty()) return false;
  const std::size_t open = body.find('(');
  if (open == std::string_view::npos || open == 0 || open > 256) return false;
  for (std::size_t i = 0; i < open; ++i) {
    const char ch = body[i];
    const bool ident = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                       (ch >= '0' && ch <= '9') || ch == '_' || ch == '$' || ch == '.' ||
                       ch == '[' || ch == ']';
    if (!ident) return false;
  }
  return body.size() < 2 || body[0] != 'a' || body[1] != '[';
}

}  // namespace

bool classify_sockjs(const request_head& head) noexcept {
  if (head.method != "POST" && head.method != "GET") return false;
  return parse_path(head.path).has_value();
}

decode_error split_frames(std::string_view body, const limits& lim, std::vector<frame_span>& out) {
  auto add = [&](std::size_t off, std::size_t len) -> decode_error {
    if (len == 0) return {};
    const char letter = body[off];
    if (letter != 'o' && letter != 'h' && letter != 'a' && letter != 'c')
      return {errc::malformed_frame, "sockjs: frame " + std::to_string(out.size()) +
                                         " starts with '" + std::string(1, letter) + "'"};
    if (out.size() >= lim.max_parts)
      return {errc::too_many_parts,
              "sockjs: more than " + std::to_string(lim.max_parts) + " frames"};
    out.push_back({off, len});
    return {};
  };
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t end = body.find('\n', pos);
    if (end == std::string_view::npos) end = body.size();
    std::size_t len = end - pos;
    if (len > 0 && body[pos + len - 1] == '\r') --len;
    std::string_view line = body.substr(pos, len);
    std::size_t off = pos;
    if (line.substr(0, 5) == "data:") {
      // eventsource: "data: <frame>"
      off += 5;
      line.remove_prefix(5);
      if (!line.empty() && line[0] == ' ') {
        ++off;
        line.remove_prefix(1);
      }
    }
    // xhr_streaming starts with a 2048-byte "hhh...h" prelude: a run of heartbeats, one frame.
    if (line.size() > 1 && line.find_first_not_of('h') == std::string_view::npos) {
      // prelude: skip
    } else if (auto err = add(off, line.size())) {
      return err;
    }
    pos = end + 1;
  }
  return {};
}

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  const auto sp = parse_path(x.request.head.path);
  if (!sp || x.request.head.method != "POST") return {};
  if (sp->transport != "xhr_send" && sp->transport != "jsonp_send") return {};
  context c = make_context(x, direction::outbound);
  const std::string& body = x.request.body;
  if (body.empty()) return {errc::truncated, "sockjs: payload expected"};
  if (sp->transport == "jsonp_send" &&
      x.request.head.media_type() == "application/x-www-form-urlencoded") {
    std::vector<content::form_field> fields;
    if (auto err = content::parse_form(body, x.limits, fields)) return err;
    const std::string* d = content::form_value(fields, "d");
    if (!d) return {errc::malformed_form, "sockjs jsonp_send: no d= field"};
    return decode_message_array(c, *d, with_layer({}, layer_kind::form, "d"), out);
  }
  return decode_message_array(c, body, {}, out);
}

decode_error decode_response(const exchange& x, std::vector<chat_event>& out) {
  if (!x.response || x.response->body.empty()) return {};
  const auto sp = parse_path(x.request.head.path);
  if (!sp || sp->transport == "xhr_send" || sp->transport == "jsonp_send" ||
      sp->transport == "htmlfile")
    return {};
  context c = make_context(x, direction::inbound);
  std::string_view body = x.response->body;
  std::string unwrapped;
  if (sp->transport == "jsonp" || is_jsonp_response(body)) {
    auto parts = split_jsonp(body, x.limits);
    if (!parts) return {errc::malformed_frame, "sockjs jsonp: response is not callback(\"...\")"};
    unwrapped = std::move(parts->second);
    body = unwrapped;
  }
  std::vector<frame_span> frames;
  const decode_error split_err = split_frames(body, x.limits, frames);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    const std::string_view f = body.substr(frames[i].offset, frames[i].length);
    if (f[0] != 'a') continue;  // open, heartbeat, close
    const location base = with_layer({}, layer_kind::frame, std::to_string(i));
    if (auto err = decode_message_array(c, f.substr(1), base, out))
      return {err.code, "frame " + std::to_string(i) + ": " + err.detail};
  }
  return split_err;
}

namespace {

decode_error rewrite_frames(std::string& body, std::string_view key,
                            const polling::inner_rewrite& inner) {
  std::vector<frame_span> frames;
  if (auto err = split_frames(body, limits{}, frames)) return err;
  std::size_t index = 0;
  for (char ch : key) {
    if (ch < '0' || ch > '9' || index > frames.size())
      return {errc::malformed_frame, "rewrite: bad frame index " + std::string(key)};
    index = index * 10 + static_cast<std::size_t>(ch - '0');
  }
  if (key.empty() || index >= frames.size())
    return {errc::malformed_frame, "rewrite: no frame " + std::string(key)};
  const frame_span f = frames[index];
  if (body[f.offset] != 'a')
    return {errc::malformed_frame, "rewrite: frame " + std::string(key) + " carries no messages"};
  std::string array = body.substr(f.offset + 1, f.length - 1);
  if (auto err = inner(array)) return err;
  body.replace(f.offset + 1, f.length - 1, array);
  return {};
}

}  // namespace

decode_error rewrite(std::string& body, const location& at, std::string_view replacement) {
  const polling::frame_rewrite frame = [](std::string& content, std::string_view key,
                                          const polling::inner_rewrite& inner) -> decode_error {
    if (is_jsonp_response(content)) {
      auto parts = split_jsonp(content, limits{});
      if (!parts) return {errc::malformed_frame, "rewrite: bad jsonp response"};
      if (auto err = rewrite_frames(parts->second, key, inner)) return err;
      content = parts->first + "(" + json::serialize(json::string(parts->second)) + ");\r\n";
      return {};
    }
    return rewrite_frames(content, key, inner);
  };
  std::string copy = body;
  if (auto err = polling::rewrite_layers(copy, at, 0, replacement, frame)) return err;
  body = std::move(copy);
  return {};
}

// ---------------------------------------------------------------------------------------------
// Rocket.Chat method.call: DDP inside a JSON string inside a JSON body.

bool classify_methodcall(const request_head& head) noexcept {
  if (head.method != "POST") return false;
  const std::string_view p = head.path;
  return p.substr(0, 20) == "/api/v1/method.call/" || p.substr(0, 24) == "/api/v1/method.callAnon/";
}

namespace {

context methodcall_context(const exchange& x, direction dir) {
  context c{x, methodcall_decoder, dir, {}, {}};
  if (auto tok = x.request.head.headers.get("X-Auth-Token"))
    c.session_key = wire::short_digest(*tok);
  return c;
}

decode_error decode_methodcall_body(context& c, std::string_view body,
                                    std::vector<chat_event>& out) {
  content::json_arena outer_arena;
  json::value outer(outer_arena.storage());
  if (auto err = content::parse_json(body, c.x.limits, outer)) return err;
  const auto inner_text = content::string_at(outer, "/message");
  if (!inner_text) return {errc::malformed_json, "method.call: no \"message\" string"};
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (auto err = content::parse_json(*inner_text, c.x.limits, v))
    return {err.code, "method.call message: " + err.detail};
  if (!v.is_object()) return {errc::malformed_json, "method.call message is not an object"};
  const location doc_at = with_layer({}, layer_kind::json, "/message");
  decode_ddp(c, v, doc_at, out);
  return {};
}

}  // namespace

decode_error decode_methodcall_request(const exchange& x, std::vector<chat_event>& out) {
  if (x.request.body.empty()) return {errc::truncated, "method.call: empty body"};
  context c = methodcall_context(x, direction::outbound);
  return decode_methodcall_body(c, x.request.body, out);
}

decode_error decode_methodcall_response(const exchange& x, std::vector<chat_event>& out) {
  if (!x.response || x.response->body.empty()) return {};
  if (x.response->media_type() != "application/json") return {};
  context c = methodcall_context(x, direction::inbound);
  content::json_arena probe_arena;
  json::value probe(probe_arena.storage());
  if (auto err = content::parse_json(x.response->body, x.limits, probe)) return err;
  if (!content::string_at(probe, "/message")) return {};  // {"success":false,...}
  return decode_methodcall_body(c, x.response->body, out);
}

decode_error rewrite_methodcall(std::string& body, const location& at,
                                std::string_view replacement) {
  std::string copy = body;
  if (auto err = polling::rewrite_layers(copy, at, 0, replacement, nullptr)) return err;
  body = std::move(copy);
  return {};
}

// ---------------------------------------------------------------------------------------------
// Replies

namespace {

// Removes element `key` ("/<i>") from a JSON array of strings.
decode_error strip_array(std::string& text, std::string_view key) {
  json::value v;
  if (auto err = replies::parse(text, v)) return err;
  if (!v.is_array()) return {errc::malformed_frame, "strip: messages are not a JSON array"};
  const auto index = key.size() > 1 && key[0] == '/' ? replies::frame_index(key.substr(1))
                                                     : std::optional<std::size_t>{};
  auto& a = v.as_array();
  if (!index || *index >= a.size())
    return {errc::malformed_frame, "strip: no message " + std::string(key)};
  a.erase(a.begin() + static_cast<std::ptrdiff_t>(*index));
  text = json::serialize(v);  // "[]" when nothing is left: valid, answered 204
  return {};
}

// The DDP error shape (DDP.md "Errors") Rocket.Chat clients show as a toast.
json::object ddp_error(const notice& n) {
  json::object e;
  e["isClientSafe"] = true;
  e["error"] = "error-action-not-allowed";
  e["reason"] = replies::text_of(n);
  e["message"] = replies::text_of(n) + " [error-action-not-allowed]";
  e["errorType"] = "Meteor.Error";
  return e;
}

// The message strings a notice becomes: for DDP sessions a method result error (when the
// notice answers a call) and a stream-room-messages "changed" carrying a Rocket.Chat message
// from imcap; otherwise one JSON chat object.
std::vector<std::string> notice_messages(const notice& n, bool ddp) {
  std::vector<std::string> out;
  if (!ddp) {
    out.push_back(json::serialize(replies::chat_object(n)));
    return out;
  }
  if (!n.reply_to.empty()) {
    json::object r;
    r["msg"] = "result";
    r["id"] = n.reply_to;
    r["error"] = ddp_error(n);
    out.push_back(json::serialize(r));
  }
  json::object m;
  m["_id"] = replies::id_of(n);
  m["rid"] = n.conversation_id;
  m["msg"] = replies::text_of(n);
  m["u"] = json::object{{"_id", replies::sender}, {"username", replies::sender}};
  m["ts"] = json::object{{"$date", replies::notice_ms(n)}};
  json::object fields;
  fields["eventName"] = n.conversation_id;
  fields["args"] = json::array{std::move(m)};
  json::object changed;
  changed["msg"] = "changed";
  changed["collection"] = "stream-room-messages";
  changed["id"] = "id";
  changed["fields"] = std::move(fields);
  out.push_back(json::serialize(changed));
  return out;
}

// Adds the strings to the last a[...] frame of an xhr / xhr_streaming / eventsource body, or
// adds an a[...] frame (a lone heartbeat is replaced).
decode_error add_to_frames(std::string& body, const std::vector<std::string>& msgs,
                           bool eventsource) {
  std::vector<frame_span> frames;
  if (auto err = split_frames(body, limits{}, frames)) return err;
  for (std::size_t i = frames.size(); i-- > 0;) {
    const frame_span f = frames[i];
    if (body[f.offset] != 'a') continue;
    json::value v;
    if (auto err = replies::parse(std::string_view(body).substr(f.offset + 1, f.length - 1), v))
      return err;
    if (!v.is_array()) return {errc::malformed_frame, "sockjs: a-frame is not an array"};
    for (const auto& s : msgs) v.as_array().emplace_back(json::string(s));
    body.replace(f.offset + 1, f.length - 1, json::serialize(v));
    return {};
  }
  json::array a;
  for (const auto& s : msgs) a.emplace_back(json::string(s));
  const std::string frame = "a" + json::serialize(a);
  if (frames.size() == 1 && body[frames[0].offset] == 'h' && !eventsource) {
    body.replace(frames[0].offset, frames[0].length, frame);
    return {};
  }
  if (eventsource)
    body += "data: " + frame + "\r\n\r\n";
  else
    body += frame + "\n";
  return {};
}

}  // namespace

std::string session_of(const request_head& head) {
  if (auto sp = parse_path(head.path)) return wire::short_digest(sp->session);
  return {};
}

http_reply render_block(const exchange& x, const chat_event&, const notice&) {
  // What the server answers an accepted send (xhr_send 204, jsonp_send 200 "ok"): any other
  // answer makes sockjs-client close the session. The error goes out through inject_notice.
  const auto sp = parse_path(x.request.head.path);
  if (sp && sp->transport == "jsonp_send")
    return replies::body_reply(200, "text/plain; charset=UTF-8", "ok");
  return replies::body_reply(204, "text/plain; charset=UTF-8", "");
}

decode_error strip(std::string& body, const location& at) {
  if (at.path.empty()) return {errc::malformed_frame, "strip: empty location"};
  if (at.path[0].kind == layer_kind::form) {
    if (at.path.size() < 2 || at.path[1].kind != layer_kind::json)
      return {errc::malformed_frame, "strip: no message below the form field"};
    std::vector<content::form_field> fields;
    if (auto err = content::parse_form(body, limits{}, fields)) return err;
    for (auto& f : fields) {
      if (f.name != at.path[0].key) continue;
      if (auto err = strip_array(f.value, at.path[1].key)) return err;
      body = content::serialize_form(fields);
      return {};
    }
    return {errc::malformed_form, "strip: no form field " + at.path[0].key};
  }
  if (at.path[0].kind != layer_kind::json)
    return {errc::malformed_frame, "strip: location does not start at a message"};
  std::string copy = body;
  if (auto err = strip_array(copy, at.path[0].key)) return err;
  body = std::move(copy);
  return {};
}

// Appends the notice to a poll answer (xhr, xhr_streaming, eventsource, jsonp). A session that
// spoke DDP (seen in this body or remembered from its sends) gets Rocket.Chat's
// stream-room-messages shape, others a JSON chat object {"id","from":"imcap","text","room"}.
decode_error inject_notice(std::string& body, const exchange& x, const notice& n) {
  const auto sp = parse_path(x.request.head.path);
  if (!sp || sp->transport == "xhr_send" || sp->transport == "jsonp_send" ||
      sp->transport == "htmlfile")
    return {errc::malformed_frame, "sockjs: notices go into poll answers only"};
  bool ddp = false;
  const std::string sk = session_of(x.request.head);
  if (x.sessions != nullptr && !sk.empty()) ddp = x.sessions->get(ddp_key(sk)).has_value();
  if (!ddp && body.find("\\\"msg\\\":") != std::string::npos) ddp = true;
  const auto msgs = notice_messages(n, ddp);
  if (sp->transport == "jsonp" || is_jsonp_response(body)) {
    auto parts = split_jsonp(body, limits{});
    if (!parts) return {errc::malformed_frame, "sockjs jsonp: response is not callback(\"...\")"};
    if (!parts->second.empty() && parts->second[0] == 'o')
      return {errc::malformed_frame, "sockjs jsonp: an open frame; the notice waits"};
    std::string frame = parts->second;
    if (frame.empty() || frame[0] != 'a') frame = "h";
    if (auto err = add_to_frames(frame, msgs, false)) return err;
    body = parts->first + "(" + json::serialize(json::string(frame)) + ");\r\n";
    return {};
  }
  std::string copy = body;
  if (auto err = add_to_frames(copy, msgs, sp->transport == "eventsource")) return err;
  body = std::move(copy);
  return {};
}

std::string session_of_methodcall(const request_head& head) {
  if (auto tok = head.headers.get("X-Auth-Token")) return wire::short_digest(*tok);
  return {};
}

// method.call's envelope around a DDP method result error: the web client shows the reason.
http_reply render_block_methodcall(const exchange&, const chat_event& blocked, const notice& n) {
  json::object r;
  r["msg"] = "result";
  r["id"] = std::string(blocked.attribute("ddp_id").value_or("0"));
  r["error"] = ddp_error(n);
  json::object o;
  o["message"] = json::serialize(r);
  o["success"] = true;
  return replies::json_reply(200, o);
}

const decoder sockjs_decoder{
    .name = "sockjs",
    .app = "sockjs",
    .family = "sockjs",
    .classify = &classify_sockjs,
    .decode_request = &decode_request,
    .decode_response = &decode_response,
    .rewrite = &rewrite,
    .session_of = &session_of,
    .render_block = &render_block,
    .strip = &strip,
    .inject_notice = &inject_notice,
};

const decoder methodcall_decoder{
    .name = "rocketchat-methodcall",
    .app = "rocketchat",
    .family = "sockjs",
    .classify = &classify_methodcall,
    .decode_request = &decode_methodcall_request,
    .decode_response = &decode_methodcall_response,
    .rewrite = &rewrite_methodcall,
    .session_of = &session_of_methodcall,
    .render_block = &render_block_methodcall,
    // strip / inject_notice: null. One method call per request, answered by render_block;
    // live delivery for these clients is DDP over SockJS or WebSocket, not this endpoint.
};

}  // namespace imcap::modules::sockjs
