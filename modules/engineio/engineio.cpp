#include "modules/engineio/engineio.hpp"

#include <boost/json.hpp>

#include "modules/content/base64.hpp"
#include "modules/content/form.hpp"
#include "modules/content/json.hpp"
#include "modules/polling/common.hpp"
#include "modules/replies.hpp"
#include "modules/session.hpp"
#include "modules/wire.hpp"

namespace imcap::modules::engineio {

namespace json = boost::json;
using polling::with_layer;
using wire::pointer_join;

namespace {

constexpr char record_separator = '\x1e';
constexpr std::size_t max_length_digits = 10;  // a v3 length beyond 10 digits is not a body
constexpr std::string_view jsonp_head = "___eio[";

}  // namespace

bool classify(const request_head& head) noexcept {
  // Engine.IO always names its protocol revision and transport in the query; the path is an
  // app choice (/socket.io/ by default). Two substring checks, no allocation.
  if (head.method != "GET" && head.method != "POST") return false;
  return polling::query_has(head.query, "EIO") &&
         head.query.find("transport=polling") != std::string::npos;
}

payload_format sniff_format(std::string_view body) noexcept {
  if (!body.empty() && (body[0] == '\x00' || body[0] == '\x01')) return payload_format::v3_binary;
  std::size_t i = 0;
  while (i < body.size() && i <= max_length_digits && body[i] >= '0' && body[i] <= '9') ++i;
  if (i > 0 && i < body.size() && body[i] == ':') return payload_format::v3_text;
  return payload_format::v4;
}

decode_error parse_payload(std::string_view body, payload_format f, const limits& lim,
                           std::vector<packet>& out) {
  auto push = [&](packet p) -> decode_error {
    if (out.size() >= lim.max_parts)
      return {errc::too_many_parts,
              "engine.io: more than " + std::to_string(lim.max_parts) + " packets in one payload"};
    out.push_back(std::move(p));
    return {};
  };
  if (body.empty()) return {};
  switch (f) {
    case payload_format::v4: {
      std::size_t pos = 0;
      for (std::size_t n = 0;; ++n) {
        const std::size_t sep = body.find(record_separator, pos);
        const std::string_view item =
            body.substr(pos, sep == std::string_view::npos ? std::string_view::npos : sep - pos);
        if (item.empty())
          return {errc::malformed_frame, "engine.io v4: empty packet " + std::to_string(n)};
        packet p;
        if (item[0] == 'b') {
          p.binary = true;
          if (auto err = content::base64_decode(item.substr(1), content::base64_alphabet::standard,
                                                lim, p.data))
            return {errc::malformed_base64,
                    "engine.io v4: binary packet " + std::to_string(n) + ": " + err.detail};
        } else {
          p.data = std::string(item);
        }
        if (auto err = push(std::move(p))) return err;
        if (sep == std::string_view::npos) break;
        pos = sep + 1;
      }
      return {};
    }
    case payload_format::v3_text: {
      std::size_t pos = 0;
      for (std::size_t n = 0; pos < body.size(); ++n) {
        std::size_t units = 0;
        std::size_t digits = 0;
        while (pos + digits < body.size() && body[pos + digits] >= '0' &&
               body[pos + digits] <= '9') {
          if (digits == max_length_digits)
            return {errc::malformed_frame, "engine.io v3: length prefix too long"};
          units = units * 10 + static_cast<std::size_t>(body[pos + digits] - '0');
          ++digits;
        }
        if (pos + digits >= body.size())
          return {errc::truncated,
                  "engine.io v3: record " + std::to_string(n) + " ends inside its length prefix"};
        if (digits == 0 || body[pos + digits] != ':')
          return {errc::malformed_frame,
                  "engine.io v3: record " + std::to_string(n) + " has no <length>: prefix"};
        if (units == 0)
          return {errc::malformed_frame,
                  "engine.io v3: record " + std::to_string(n) + " has length 0"};
        pos += digits + 1;
        const auto bytes = polling::utf8_prefix_for_utf16(body.substr(pos), units);
        if (!bytes)
          return {errc::truncated, "engine.io v3: record " + std::to_string(n) + " claims " +
                                       std::to_string(units) +
                                       " UTF-16 units but the payload ends first"};
        const std::string_view item = body.substr(pos, *bytes);
        pos += *bytes;
        packet p;
        if (item[0] == 'b') {
          // Base64 binary in text mode carries the Engine.IO type digit first ("b4...").
          if (item.size() < 2 || item[1] != '4')
            return {errc::malformed_frame,
                    "engine.io v3: binary record " + std::to_string(n) + " is not a message"};
          p.binary = true;
          if (auto err = content::base64_decode(item.substr(2), content::base64_alphabet::standard,
                                                lim, p.data))
            return {errc::malformed_base64,
                    "engine.io v3: binary record " + std::to_string(n) + ": " + err.detail};
        } else {
          p.data = std::string(item);
        }
        if (auto err = push(std::move(p))) return err;
      }
      return {};
    }
    case payload_format::v3_binary: {
      std::size_t pos = 0;
      for (std::size_t n = 0; pos < body.size(); ++n) {
        const auto kind = static_cast<unsigned char>(body[pos]);
        if (kind > 1)
          return {errc::malformed_frame, "engine.io v3 binary: record " + std::to_string(n) +
                                             " starts with byte " + std::to_string(kind)};
        ++pos;
        std::size_t len = 0;
        std::size_t digits = 0;
        while (true) {
          if (pos >= body.size())
            return {errc::truncated,
                    "engine.io v3 binary: record " + std::to_string(n) + " ends inside its length"};
          const auto d = static_cast<unsigned char>(body[pos++]);
          if (d == 0xFF) break;
          if (d > 9 || digits == max_length_digits)
            return {errc::malformed_frame,
                    "engine.io v3 binary: bad length digit in record " + std::to_string(n)};
          len = len * 10 + d;
          ++digits;
        }
        if (digits == 0 || len == 0)
          return {errc::malformed_frame,
                  "engine.io v3 binary: record " + std::to_string(n) + " has no length"};
        if (len > body.size() - pos)
          return {errc::truncated, "engine.io v3 binary: record " + std::to_string(n) + " claims " +
                                       std::to_string(len) + " bytes, " +
                                       std::to_string(body.size() - pos) + " left"};
        const std::string_view item = body.substr(pos, len);
        pos += len;
        packet p;
        if (kind == 1) {
          if (item[0] != '\x04')
            return {errc::malformed_frame, "engine.io v3 binary: binary record " +
                                               std::to_string(n) + " is not a message"};
          p.binary = true;
          p.data = std::string(item.substr(1));
        } else {
          p.data = std::string(item);
        }
        if (auto err = push(std::move(p))) return err;
      }
      return {};
    }
  }
  return {};
}

std::string serialize_payload(const std::vector<packet>& packets, payload_format f) {
  std::string out;
  auto digit_bytes = [&](std::size_t len) {
    for (char c : std::to_string(len)) out.push_back(static_cast<char>(c - '0'));
  };
  for (std::size_t i = 0; i < packets.size(); ++i) {
    const packet& p = packets[i];
    switch (f) {
      case payload_format::v4:
        if (i > 0) out.push_back(record_separator);
        if (p.binary) {
          out += 'b';
          out += content::base64_encode(p.data, content::base64_alphabet::standard);
        } else {
          out += p.data;
        }
        break;
      case payload_format::v3_text: {
        const std::string item =
            p.binary ? "b4" + content::base64_encode(p.data, content::base64_alphabet::standard)
                     : p.data;
        out += std::to_string(polling::utf16_length(item));
        out += ':';
        out += item;
        break;
      }
      case payload_format::v3_binary:
        if (p.binary) {
          out.push_back('\x01');
          digit_bytes(p.data.size() + 1);
          out.push_back('\xff');
          out.push_back('\x04');
        } else {
          out.push_back('\x00');
          digit_bytes(p.data.size());
          out.push_back('\xff');
        }
        out += p.data;
        break;
    }
  }
  return out;
}

decode_error parse_sio_header(std::string_view text, sio_header& out) {
  out = sio_header{};
  if (text.empty() || text[0] < '0' || text[0] > '6')
    return {errc::malformed_frame, "socket.io: packet type is not 0-6"};
  out.type = text[0] - '0';
  std::size_t i = 1;
  if (out.type == 5 || out.type == 6) {
    const std::size_t dash = text.find('-', i);
    if (dash == std::string_view::npos || dash == i || dash - i > 6)
      return {errc::malformed_frame, "socket.io: binary packet without <n>- attachment count"};
    for (std::size_t k = i; k < dash; ++k) {
      if (text[k] < '0' || text[k] > '9')
        return {errc::malformed_frame, "socket.io: bad attachment count"};
      out.attachments = out.attachments * 10 + static_cast<std::size_t>(text[k] - '0');
    }
    i = dash + 1;
  }
  if (i < text.size() && text[i] == '/') {
    const std::size_t comma = text.find(',', i);
    if (comma == std::string_view::npos) {
      out.nsp = std::string(text.substr(i));
      out.json_offset = text.size();
      return {};
    }
    out.nsp = std::string(text.substr(i, comma - i));
    i = comma + 1;
  }
  const std::size_t ack_start = i;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9' && i - ack_start < 20) ++i;
  out.ack_id = std::string(text.substr(ack_start, i - ack_start));
  out.json_offset = i;
  return {};
}

namespace {

// JSONP request bodies escape newlines inside the payload as the two characters "\n" and a
// literal backslash-n as "\\n"; the Engine.IO server turns them back into a newline and a
// backslash-n.
std::string jsonp_unescape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      if (s[i + 1] == 'n') {
        out.push_back('\n');
        ++i;
        continue;
      }
      if (s[i + 1] == '\\' && i + 2 < s.size() && s[i + 2] == 'n') {
        out.append("\\n");  // an escaped literal backslash-n stays backslash-n
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

std::string jsonp_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\n') {
      out.append("\\n");
    } else if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == 'n') {
      out.append("\\\\n");
      ++i;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// ___eio[3]("...");  ->  the callback index and the payload string.
decode_error parse_jsonp_response(std::string_view body, const limits& lim, std::string& index,
                                  std::string& payload) {
  const std::size_t close = body.find("](");
  if (body.substr(0, jsonp_head.size()) != jsonp_head || close == std::string_view::npos)
    return {errc::malformed_frame, "engine.io jsonp: response is not ___eio[n](...)"};
  index = std::string(body.substr(jsonp_head.size(), close - jsonp_head.size()));
  std::string_view rest = body.substr(close + 2);
  while (!rest.empty() && (rest.back() == '\n' || rest.back() == '\r' || rest.back() == ' '))
    rest.remove_suffix(1);
  if (!rest.empty() && rest.back() == ';') rest.remove_suffix(1);
  if (rest.empty() || rest.back() != ')')
    return {errc::truncated, "engine.io jsonp: response does not end with ')'"};
  rest.remove_suffix(1);
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (auto err = content::parse_json(rest, lim, v)) return err;
  if (!v.is_string()) return {errc::malformed_frame, "engine.io jsonp: argument is not a string"};
  payload = std::string(v.as_string());
  return {};
}

struct pending_binary {
  std::size_t need = 0;  // attachments announced
  std::size_t got = 0;   // attachments received so far
  std::string event;
  std::string conversation;
  std::string client_msg_id;
  std::string ref_base;
  std::vector<std::string> names;
  std::vector<std::string> types;
  std::optional<std::size_t> local_event;  // index into `out` when the header was in this body
  bool discard = false;  // binaries of an acknowledgement: consumed, not chat content
};

std::string store_key(std::string_view session_key, direction d) {
  return std::string("socketio:bin:") + (d == direction::outbound ? "out:" : "in:") +
         std::string(session_key);
}

std::string save_pending(const pending_binary& p) {
  json::object o;
  o["need"] = p.need;
  o["got"] = p.got;
  o["event"] = p.event;
  o["conversation"] = p.conversation;
  o["client_msg_id"] = p.client_msg_id;
  o["ref"] = p.ref_base;
  json::array names, types;
  for (const auto& n : p.names) names.emplace_back(n);
  for (const auto& t : p.types) types.emplace_back(t);
  o["names"] = std::move(names);
  o["discard"] = p.discard;
  o["types"] = std::move(types);
  return json::serialize(o);
}

std::optional<pending_binary> load_pending(std::string_view text, const limits& lim) {
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (content::parse_json(text, lim, v) || !v.is_object()) return std::nullopt;
  pending_binary p;
  const auto& o = v.as_object();
  auto num = [&](std::string_view k) -> std::size_t {
    const auto* x = o.if_contains(k);
    if (x && x->is_uint64()) return static_cast<std::size_t>(x->get_uint64());
    if (x && x->is_int64() && x->get_int64() >= 0) return static_cast<std::size_t>(x->get_int64());
    return 0;
  };
  p.need = num("need");
  p.got = num("got");
  p.event = content::string_at(v, "/event").value_or("");
  p.conversation = content::string_at(v, "/conversation").value_or("");
  p.client_msg_id = content::string_at(v, "/client_msg_id").value_or("");
  p.ref_base = content::string_at(v, "/ref").value_or("");
  if (const auto* a = o.if_contains("names"); a && a->is_array())
    for (const auto& n : a->as_array()) p.names.emplace_back(n.is_string() ? n.as_string() : "");
  if (const auto* a = o.if_contains("types"); a && a->is_array())
    for (const auto& n : a->as_array()) p.types.emplace_back(n.is_string() ? n.as_string() : "");
  if (const auto* d = o.if_contains("discard"); d && d->is_bool()) p.discard = d->get_bool();
  if (p.need == 0 || p.got >= p.need || p.need > lim.max_parts) return std::nullopt;
  return p;
}

// Placeholders {"_placeholder":true,"num":k} anywhere in the arguments, with the file name and
// media type found beside them (same object) or in the first object argument.
void find_placeholders(const json::value& v, const json::object* parent, std::size_t depth,
                       std::vector<std::pair<std::size_t, const json::object*>>& out) {
  if (depth > 8 || out.size() > 256) return;
  if (const auto* o = v.if_object()) {
    if (const auto* ph = o->if_contains("_placeholder"); ph && ph->is_bool() && ph->get_bool()) {
      const auto* num = o->if_contains("num");
      if (num && num->is_int64() && num->get_int64() >= 0)
        out.emplace_back(static_cast<std::size_t>(num->get_int64()), parent);
      return;
    }
    for (const auto& kv : *o) find_placeholders(kv.value(), o, depth + 1, out);
  } else if (const auto* a = v.if_array()) {
    for (const auto& item : *a) find_placeholders(item, parent, depth + 1, out);
  }
}

std::string meta_field(const json::object* o, std::initializer_list<std::string_view> keys) {
  if (!o) return {};
  for (auto k : keys)
    if (const auto* v = o->if_contains(k); v && v->is_string()) return std::string(v->as_string());
  return {};
}

struct body_context {
  const exchange& x;
  direction dir;
  bool socketio = true;  // false for plain Engine.IO (/engine.io/ path): messages are app text
  std::string eio;
  std::string session_key;
  location base;  // outer layers (JSONP form field), empty otherwise
};

chat_event new_event(const body_context& c) {
  chat_event e;
  e.app = std::string(socketio_decoder.app);
  e.transport = std::string(socketio_decoder.name);
  e.direction = c.dir;
  e.session_key = c.session_key;
  if (c.dir == direction::outbound) {
    // A user named in this session's CONNECT auth, else the proxy's user; a sender named in
    // the event itself (body) overrides both later.
    std::optional<std::string> learned;
    if (c.x.sessions && !c.session_key.empty())
      learned = c.x.sessions->get("socketio:user:" + c.session_key);
    if (learned && !learned->empty())
      e.sender = party{*learned, {}, identity_source::learned};
    else
      e.sender = wire::proxy_party(c.x);
  }
  return e;
}

decode_error decode_payload(body_context& c, std::string_view payload, payload_format fmt,
                            std::vector<chat_event>& out) {
  std::vector<packet> packets;
  const decode_error parse_err = parse_payload(payload, fmt, c.x.limits, packets);
  // Packets parsed before a framing error are still decoded: nothing seen is lost.

  std::optional<pending_binary> pending;
  const bool can_store = c.x.sessions != nullptr && !c.session_key.empty();
  if (can_store)
    if (auto saved = c.x.sessions->get(store_key(c.session_key, c.dir)))
      pending = load_pending(*saved, c.x.limits);
  constexpr std::size_t none = static_cast<std::size_t>(-1);
  std::size_t carry_event = none;  // upload event for binaries of an earlier request

  for (std::size_t i = 0; i < packets.size(); ++i) {
    const packet& p = packets[i];
    const location frame_at = with_layer(c.base, layer_kind::frame, std::to_string(i));
    if (p.binary && pending && pending->discard) {
      if (++pending->got >= pending->need) pending.reset();
      continue;
    }
    if (p.binary) {
      attachment a;
      a.bytes = p.data;
      a.size = p.data.size();
      a.sha256 = sha256_hex(p.data);
      a.at = frame_at;
      if (!pending) {
        // A binary message nobody announced (plain Engine.IO, or the header was lost).
        chat_event e = new_event(c);
        e.kind = event_kind::upload;
        e.attachments.push_back(std::move(a));
        e.attributes.emplace_back("eio", c.eio);
        out.push_back(std::move(e));
        continue;
      }
      const std::size_t k = pending->got++;
      a.ref = pending->ref_base + "#" + std::to_string(k);
      if (k < pending->names.size()) a.name = pending->names[k];
      if (k < pending->types.size()) a.media_type = pending->types[k];
      if (pending->local_event) {
        // Header in this body: fill the placeholder attachment in place.
        auto& atts = out[*pending->local_event].attachments;
        for (auto& slot : atts)
          if (slot.ref == a.ref) {
            slot.bytes = std::move(a.bytes);
            slot.size = a.size;
            slot.sha256 = std::move(a.sha256);
            slot.at = std::move(a.at);
          }
      } else {
        // Header in an earlier request of this session: the bytes arrive as an upload event
        // carrying the same reference, so the archive joins them to that message.
        if (carry_event == none) {
          chat_event e = new_event(c);
          e.kind = event_kind::upload;
          e.conversation_id = pending->conversation;
          e.client_msg_id = pending->client_msg_id;
          e.attributes.emplace_back("event", pending->event);
          e.attributes.emplace_back("eio", c.eio);
          e.attributes.emplace_back("completes", pending->ref_base);
          out.push_back(std::move(e));
          carry_event = out.size() - 1;
        }
        out[carry_event].attachments.push_back(std::move(a));
      }
      if (pending->got >= pending->need) pending.reset();
      continue;
    }
    if (pending) pending.reset();  // text before all attachments arrived: the server drops it
    carry_event = none;
    const char type = p.data[0];
    if (type < '0' || type > '6')
      return {errc::malformed_frame, "engine.io: packet " + std::to_string(i) +
                                         " has unknown type '" + std::string(1, type) + "'"};
    if (type == '0') {
      // open: {"sid":...}; it names the session a handshake response belongs to.
      content::json_arena v_arena;
      json::value v(v_arena.storage());
      if (!content::parse_json(std::string_view(p.data).substr(1), c.x.limits, v))
        if (auto sid = content::string_at(v, "/sid"); sid && c.session_key.empty())
          c.session_key = wire::short_digest(*sid);
      continue;
    }
    if (type != '4') continue;  // close, ping, pong, upgrade, noop

    const std::string_view msg = std::string_view(p.data).substr(1);
    if (!c.socketio) {
      // Plain Engine.IO: the message is the app's own text (often JSON).
      chat_event e = new_event(c);
      content::json_arena v_arena;
      json::value v(v_arena.storage());
      if (!msg.empty() && (msg[0] == '{' || msg[0] == '[') &&
          !content::parse_json(msg, c.x.limits, v)) {
        const auto shape = polling::read_chat_shape(v);
        if (!shape.has_content()) continue;
        polling::apply_shape(shape, frame_at, e);
      } else {
        if (msg.empty()) continue;
        e.text = std::string(msg);
        // The frame's content is the message text itself: no inner layer.
        e.text_at = frame_at;
      }
      e.attributes.emplace_back("eio", c.eio);
      out.push_back(std::move(e));
      continue;
    }

    sio_header h;
    if (auto err = parse_sio_header(msg, h))
      return {err.code, "packet " + std::to_string(i) + ": " + err.detail};
    const std::string_view body_json = msg.substr(h.json_offset);
    if (h.type == 1 || h.type == 3 || h.type == 4) continue;  // disconnect, ack, connect error
    if (h.attachments > c.x.limits.max_parts)
      return {errc::too_many_parts, "socket.io packet " + std::to_string(i) + " announces " +
                                        std::to_string(h.attachments) + " binary attachments"};
    content::json_arena v_arena;
    json::value v(v_arena.storage());
    if (!body_json.empty())
      if (auto err = content::parse_json(body_json, c.x.limits, v))
        return {err.code, "socket.io packet " + std::to_string(i) + ": " + err.detail};
    if (h.type == 0) {
      // CONNECT: the client's auth object may name the user.
      if (const auto* o = v.if_object(); o && c.dir == direction::outbound) {
        chat_event e = new_event(c);
        const std::string user = meta_field(o, {"username", "user", "userId", "user_id", "name"});
        if (user.empty()) continue;
        e.kind = event_kind::identity;
        e.sender = party{user, {}, identity_source::body};
        if (h.nsp != "/") e.attributes.emplace_back("namespace", h.nsp);
        if (c.x.sessions && !c.session_key.empty())
          c.x.sessions->put("socketio:user:" + c.session_key, user);
        out.push_back(std::move(e));
      }
      continue;
    }
    // EVENT (2) / BINARY_EVENT (5); BINARY_ACK (6) only announces binaries to skip.
    const auto* args = v.if_array();
    if (h.type == 6) {
      if (h.attachments > 0) {
        pending_binary skip;
        skip.need = h.attachments;
        skip.discard = true;
        pending = std::move(skip);
      }
      continue;
    }
    if (!args || args->empty() || !(*args)[0].is_string())
      return {errc::malformed_frame,
              "socket.io packet " + std::to_string(i) + ": event without a name"};
    chat_event e = new_event(c);
    std::vector<std::string> leading;
    const auto shape = polling::read_chat_shape(v, 1, &leading);
    const location json_base = frame_at;
    polling::apply_shape(shape, json_base, e);
    e.attributes.emplace_back("event", std::string((*args)[0].as_string()));
    e.attributes.emplace_back("eio", c.eio);
    if (h.nsp != "/") e.attributes.emplace_back("namespace", h.nsp);
    if (!h.ack_id.empty()) e.attributes.emplace_back("ack_id", h.ack_id);
    for (std::size_t k = 0; k < leading.size(); ++k) e.attributes.emplace_back("arg", leading[k]);

    std::vector<std::pair<std::size_t, const json::object*>> placeholders;
    if (h.type == 5) find_placeholders(v, nullptr, 0, placeholders);
    if (!shape.has_content() && placeholders.empty()) continue;
    if (h.type == 5 && h.attachments > 0) {
      pending_binary pb;
      pb.need = h.attachments;
      pb.event = std::string((*args)[0].as_string());
      pb.conversation = e.conversation_id;
      pb.client_msg_id = e.client_msg_id;
      // A reference the later upload event repeats: session, packet position and ack id.
      pb.ref_base = "socketio:" + (c.session_key.empty() ? std::string("-") : c.session_key) + ":" +
                    pb.event + (h.ack_id.empty() ? "" : ":" + h.ack_id);
      const json::object* first_obj = nullptr;
      for (std::size_t k = 1; k < args->size() && !first_obj; ++k)
        first_obj = (*args)[k].if_object();
      pb.names.resize(h.attachments);
      pb.types.resize(h.attachments);
      for (const auto& [num, parent] : placeholders) {
        if (num >= h.attachments) continue;
        std::string name = meta_field(parent, {"name", "filename", "fileName", "file_name"});
        if (name.empty())
          name = meta_field(first_obj, {"name", "filename", "fileName", "file_name"});
        std::string mtype = meta_field(parent, {"type", "mimeType", "mime", "contentType"});
        if (mtype.empty())
          mtype = meta_field(first_obj, {"type", "mimeType", "mime", "contentType"});
        pb.names[num] = std::move(name);
        pb.types[num] = std::move(mtype);
      }
      for (std::size_t k = 0; k < h.attachments; ++k) {
        attachment a;
        a.name = pb.names[k];
        a.media_type = pb.types[k];
        a.ref = pb.ref_base + "#" + std::to_string(k);
        e.attachments.push_back(std::move(a));
      }
      out.push_back(std::move(e));
      pb.local_event = out.size() - 1;
      pending = std::move(pb);
      continue;
    }
    out.push_back(std::move(e));
  }

  if (pending && pending->local_event) {
    // Still waiting: say so on the event; the rest comes in a later request.
    out[*pending->local_event].attributes.emplace_back(
        "binary_pending", std::to_string(pending->need - pending->got));
  }
  if (can_store) {
    const std::string key = store_key(c.session_key, c.dir);
    if (pending) {
      pending->local_event.reset();
      c.x.sessions->put(key, save_pending(*pending));
    } else {
      c.x.sessions->erase(key);
    }
  }
  return parse_err;
}

body_context make_context(const exchange& x, direction d) {
  body_context c{x, d, true, {}, {}, {}};
  const auto& head = x.request.head;
  c.eio = head.query_param("EIO").value_or("4");
  c.socketio = head.path.find("/engine.io") == std::string::npos;
  if (auto sid = head.query_param("sid")) c.session_key = wire::short_digest(*sid);
  return c;
}

payload_format format_for(const body_context& c, std::string_view media_type,
                          std::string_view body) {
  if (c.eio == "3" || c.eio == "2") {
    if (media_type == "application/octet-stream") return payload_format::v3_binary;
    return sniff_format(body) == payload_format::v3_binary ? payload_format::v3_binary
                                                           : payload_format::v3_text;
  }
  return payload_format::v4;
}

}  // namespace

namespace {

// The Socket.IO event name this session uses for chat, learned from the events decoded in it
// (either direction), so a notice arrives where the app's UI listens.
std::string event_key(std::string_view session_key) {
  return "socketio:event:" + std::string(session_key);
}

void learn_event_name(const exchange& x, const std::vector<chat_event>& out, std::size_t from) {
  if (x.sessions == nullptr) return;
  for (std::size_t i = from; i < out.size(); ++i) {
    if (out[i].kind != event_kind::message || out[i].session_key.empty()) continue;
    if (auto ev = out[i].attribute("event"); ev && !ev->empty())
      x.sessions->put(event_key(out[i].session_key), std::string(*ev));
  }
}

}  // namespace

namespace {

decode_error decode_request_body(const exchange& x, std::vector<chat_event>& out) {
  if (x.request.head.method != "POST" || x.request.body.empty()) return {};
  body_context c = make_context(x, direction::outbound);
  const auto& head = x.request.head;
  if (polling::query_has(head.query, "j")) {
    std::vector<content::form_field> fields;
    if (auto err = content::parse_form(x.request.body, x.limits, fields)) return err;
    const std::string* d = content::form_value(fields, "d");
    if (!d) return {errc::malformed_form, "engine.io jsonp: no d= field"};
    c.base = with_layer({}, layer_kind::form, "d");
    const std::string payload = jsonp_unescape(*d);
    return decode_payload(c, payload, c.eio == "4" ? payload_format::v4 : payload_format::v3_text,
                          out);
  }
  return decode_payload(c, x.request.body, format_for(c, head.media_type(), x.request.body), out);
}

decode_error decode_response_body(const exchange& x, std::vector<chat_event>& out) {
  if (!x.response || x.response->body.empty()) return {};
  const std::string& body = x.response->body;
  // A POST is answered "ok": nothing to read.
  if (x.request.head.method == "POST" && body == "ok") return {};
  body_context c = make_context(x, direction::inbound);
  if (std::string_view(body).substr(0, jsonp_head.size()) == jsonp_head) {
    std::string index, payload;
    if (auto err = parse_jsonp_response(body, x.limits, index, payload)) return err;
    return decode_payload(c, payload, c.eio == "4" ? payload_format::v4 : payload_format::v3_text,
                          out);
  }
  return decode_payload(c, body, format_for(c, x.response->media_type(), body), out);
}

decode_error rewrite_payload(std::string& payload, std::string_view key,
                             const polling::inner_rewrite& inner) {
  const payload_format fmt = sniff_format(payload);
  std::vector<packet> packets;
  const limits lim{};
  if (auto err = parse_payload(payload, fmt, lim, packets)) return err;
  std::size_t index = 0;
  for (char ch : key) {
    if (ch < '0' || ch > '9' || index > lim.max_parts)
      return {errc::malformed_frame, "rewrite: bad packet index " + std::string(key)};
    index = index * 10 + static_cast<std::size_t>(ch - '0');
  }
  if (key.empty() || index >= packets.size() || packets[index].binary)
    return {errc::malformed_frame, "rewrite: no text packet " + std::string(key)};
  std::string& text = packets[index].data;
  if (text.size() >= 2 && text[0] == '4' && text[1] >= '0' && text[1] <= '6' &&
      (text[1] == '2' || text[1] == '5')) {
    // Socket.IO event: the frame's content is its JSON part.
    sio_header h;
    if (auto err = parse_sio_header(std::string_view(text).substr(1), h)) return err;
    const std::size_t json_at = 1 + h.json_offset;
    std::string json_part = text.substr(json_at);
    if (auto err = inner(json_part)) return err;
    text = text.substr(0, json_at) + json_part;
  } else if (!text.empty() && text[0] == '4') {
    std::string msg = text.substr(1);
    if (auto err = inner(msg)) return err;
    text = "4" + msg;
  } else {
    return {errc::malformed_frame, "rewrite: packet " + std::string(key) + " is not a message"};
  }
  payload = serialize_payload(packets, fmt);
  return {};
}

}  // namespace

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  const std::size_t before = out.size();
  decode_error err = decode_request_body(x, out);
  learn_event_name(x, out, before);
  return err;
}

decode_error decode_response(const exchange& x, std::vector<chat_event>& out) {
  const std::size_t before = out.size();
  decode_error err = decode_response_body(x, out);
  learn_event_name(x, out, before);
  return err;
}

decode_error rewrite(std::string& body, const location& at, std::string_view replacement) {
  const bool jsonp_form = !at.path.empty() && at.path[0].kind == layer_kind::form;
  const polling::frame_rewrite frame = [jsonp_form](std::string& content, std::string_view key,
                                                    const polling::inner_rewrite& inner) {
    if (jsonp_form) {
      std::string payload = jsonp_unescape(content);
      if (auto err = rewrite_payload(payload, key, inner)) return err;
      content = jsonp_escape(payload);
      return decode_error{};
    }
    if (std::string_view(content).substr(0, jsonp_head.size()) == jsonp_head) {
      std::string index, payload;
      if (auto err = parse_jsonp_response(content, limits{}, index, payload)) return err;
      if (auto err = rewrite_payload(payload, key, inner)) return err;
      content =
          std::string(jsonp_head) + index + "](" + json::serialize(json::string(payload)) + ");";
      return decode_error{};
    }
    return rewrite_payload(content, key, inner);
  };
  std::string copy = body;
  if (auto err = polling::rewrite_layers(copy, at, 0, replacement, frame)) return err;
  body = std::move(copy);
  return {};
}

namespace {

decode_error strip_payload(std::string& payload, std::string_view key) {
  const payload_format fmt = sniff_format(payload);
  std::vector<packet> packets;
  if (auto err = parse_payload(payload, fmt, limits{}, packets)) return err;
  const auto index = replies::frame_index(key);
  if (!index || *index >= packets.size() || packets[*index].binary)
    return {errc::malformed_frame, "strip: no text packet " + std::string(key)};
  // A binary event (45N- / 46N-) takes its N binary packets with it.
  std::size_t count = 1;
  const std::string& text = packets[*index].data;
  if (text.size() >= 2 && text[0] == '4' && (text[1] == '5' || text[1] == '6')) {
    sio_header h;
    if (auto err = parse_sio_header(std::string_view(text).substr(1), h)) return err;
    for (std::size_t k = 0;
         k < h.attachments && *index + count < packets.size() && packets[*index + count].binary;
         ++k)
      ++count;
  }
  packets.erase(packets.begin() + static_cast<std::ptrdiff_t>(*index),
                packets.begin() + static_cast<std::ptrdiff_t>(*index + count));
  // Nothing left: a harmless packet, so the server still answers "ok" (pong in v4, where the
  // server pings; ping in v3, where the client does).
  if (packets.empty()) packets.push_back(packet{false, fmt == payload_format::v4 ? "3" : "2"});
  payload = serialize_payload(packets, fmt);
  return {};
}

}  // namespace

std::string session_of(const request_head& head) {
  if (auto sid = head.query_param("sid")) return wire::short_digest(*sid);
  return {};
}

http_reply render_block(const exchange&, const chat_event&, const notice&) {
  // What the server answers an accepted POST. Any error status makes the client drop the
  // transport and reconnect; the notice reaches the chat through inject_notice instead.
  return replies::body_reply(200, "text/plain; charset=UTF-8", "ok");
}

decode_error strip(std::string& body, const location& at) {
  if (at.path.empty()) return {errc::malformed_frame, "strip: empty location"};
  if (at.path[0].kind == layer_kind::form) {
    // JSONP: d=<escaped payload>.
    if (at.path.size() < 2 || at.path[1].kind != layer_kind::frame)
      return {errc::malformed_frame, "strip: no packet below the form field"};
    std::vector<content::form_field> fields;
    if (auto err = content::parse_form(body, limits{}, fields)) return err;
    for (auto& f : fields) {
      if (f.name != at.path[0].key) continue;
      std::string payload = jsonp_unescape(f.value);
      if (auto err = strip_payload(payload, at.path[1].key)) return err;
      f.value = jsonp_escape(payload);
      body = content::serialize_form(fields);
      return {};
    }
    return {errc::malformed_form, "strip: no form field " + at.path[0].key};
  }
  if (at.path[0].kind != layer_kind::frame)
    return {errc::malformed_frame, "strip: location does not start at a packet"};
  std::string copy = body;
  if (auto err = strip_payload(copy, at.path[0].key)) return err;
  body = std::move(copy);
  return {};
}

// A Socket.IO EVENT packet 42["<event>",{"id","from":"imcap","text","room","timestamp"}]
// (after an ACK 43<id>["<text>"] when the notice answers an event sent with a callback,
// notice::reply_to) appended to a GET poll payload, in the payload's own framing (v4, v3 text or
// binary, JSONP). The event name is the one the session's chat events used (learned), else
// "message". Plain Engine.IO (/engine.io/) gets a message packet with the JSON object as its text.
decode_error inject_notice(std::string& body, const exchange& x, const notice& n) {
  if (x.request.head.method != "GET")
    return {errc::malformed_frame, "engine.io: notices go into GET poll answers only"};
  body_context c = make_context(x, direction::inbound);
  std::string event = "message";
  if (x.sessions != nullptr && !c.session_key.empty())
    if (auto learned = x.sessions->get(event_key(c.session_key)); learned && !learned->empty())
      event = *learned;
  std::string text_packet;
  if (c.socketio) {
    json::array args;
    args.emplace_back(event);
    args.emplace_back(replies::chat_object(n));
    text_packet = "42" + json::serialize(args);
  } else {
    text_packet = "4" + json::serialize(replies::chat_object(n));
  }
  const bool jsonp = std::string_view(body).substr(0, jsonp_head.size()) == jsonp_head;
  std::string index, payload = body;
  if (jsonp)
    if (auto err = parse_jsonp_response(body, limits{}, index, payload)) return err;
  const payload_format fmt =
      jsonp ? (c.eio == "4" ? payload_format::v4 : payload_format::v3_text)
            : format_for(c, x.response != nullptr ? x.response->media_type() : std::string(),
                         payload);
  std::vector<packet> packets;
  if (!payload.empty())
    if (auto err = parse_payload(payload, fmt, limits{}, packets)) return err;
  if (!packets.empty() && !packets[0].binary && !packets[0].data.empty() &&
      packets[0].data[0] == '0')
    return {errc::malformed_frame, "engine.io: an open answer; the notice waits for the next poll"};
  if (!n.reply_to.empty() && c.socketio) {
    // The acknowledgement the client's callback waits for, error first: 43<id>["<text>"].
    if (n.reply_to.find_first_not_of("0123456789") != std::string::npos)
      return {errc::malformed_frame, "engine.io: the ack id is not a number"};
    packets.push_back(packet{
        false,
        "43" + n.reply_to + json::serialize(json::array{json::string(replies::text_of(n))})});
  }
  packets.push_back(packet{false, std::move(text_packet)});
  std::string out = serialize_payload(packets, fmt);
  if (jsonp)
    out = std::string(jsonp_head) + index + "](" + json::serialize(json::string(out)) + ");";
  body = std::move(out);
  return {};
}

const decoder socketio_decoder{
    .name = "socketio",
    .app = "socketio",
    .family = "engineio",
    .classify = &classify,
    .decode_request = &decode_request,
    .decode_response = &decode_response,
    .rewrite = &rewrite,
    .session_of = &session_of,
    .render_block = &render_block,
    .strip = &strip,
    .inject_notice = &inject_notice,
};

}  // namespace imcap::modules::engineio
