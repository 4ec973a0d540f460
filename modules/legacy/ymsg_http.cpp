// YMSG over HTTP decoder. Header layout from libyahoo2's ymsg-9.txt and the wiki.nina.chat
// packet-structure page, HTTP use from jymsg9's doc2.txt, service and key numbers as libpurple
// and Wireshark's packet-ymsg.c use them (im-transports §4.2; all [obs]).

#include "modules/legacy/ymsg_http.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>

#include <iconv.h>

#include "modules/replies.hpp"
#include "modules/wire.hpp"

namespace imcap::modules::ymsg {

namespace {

constexpr std::string_view app_id = "yahoo-messenger";
constexpr std::size_t header_size = 20;
constexpr std::uint16_t service_message = 6;        // MESSAGE
constexpr std::uint16_t service_conference = 0x1d;  // CONFMSG
constexpr std::uint16_t service_chat_room = 0xa8;   // COMMENT (chat rooms)
constexpr std::string_view separator = "\xC0\x80";

struct field {
  std::string_view key;
  std::string_view value;
  std::size_t value_offset = 0;  // relative to the packet payload
};

struct packet {
  std::size_t offset = 0;  // of the header in the body
  std::uint16_t service = 0;
  std::uint32_t status = 0;
  std::uint32_t session = 0;
  std::size_t length = 0;  // payload bytes
  std::vector<field> fields;
};

std::uint16_t be16(std::string_view s, std::size_t at) noexcept {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(s[at]) << 8) |
                                    static_cast<unsigned char>(s[at + 1]));
}

std::uint32_t be32(std::string_view s, std::size_t at) noexcept {
  return (static_cast<std::uint32_t>(be16(s, at)) << 16) | be16(s, at + 2);
}

// Splits the body into packets and their fields. Packets before an error are kept.
decode_error split_packets(std::string_view body, const limits& lim, std::vector<packet>& out) {
  std::size_t pos = 0;
  std::size_t fields = 0;
  while (pos < body.size()) {
    if (body.size() - pos < header_size)
      return {errc::truncated,
              "ymsg: " + std::to_string(body.size() - pos) + " bytes left, a header needs 20"};
    if (body.substr(pos, 4) != "YMSG")
      return {errc::malformed_frame,
              "ymsg: packet " + std::to_string(out.size()) + " does not start with YMSG"};
    packet p;
    p.offset = pos;
    p.length = be16(body, pos + 8);
    p.service = be16(body, pos + 10);
    p.status = be32(body, pos + 12);
    p.session = be32(body, pos + 16);
    if (p.length > body.size() - pos - header_size)
      return {errc::truncated, "ymsg: packet " + std::to_string(out.size()) + " announces " +
                                   std::to_string(p.length) + " payload bytes, " +
                                   std::to_string(body.size() - pos - header_size) + " left"};
    const std::string_view payload = body.substr(pos + header_size, p.length);
    std::size_t at = 0;
    while (at < payload.size()) {
      if (++fields > lim.max_parts)
        return {errc::too_many_parts,
                "ymsg: more than " + std::to_string(lim.max_parts) + " fields"};
      const std::size_t k_end = payload.find(separator, at);
      const std::size_t v_start = k_end == std::string_view::npos ? k_end : k_end + 2;
      const std::size_t v_end =
          v_start == std::string_view::npos ? v_start : payload.find(separator, v_start);
      if (v_end == std::string_view::npos)
        return {errc::malformed_frame, "ymsg: packet " + std::to_string(out.size()) +
                                           " has a field without its 0xC0 0x80 separators"};
      p.fields.push_back(
          field{payload.substr(at, k_end - at), payload.substr(v_start, v_end - v_start), v_start});
      at = v_end + 2;
    }
    pos += header_size + p.length;
    out.push_back(std::move(p));
  }
  return {};
}

// Charset conversion through the C library's iconv. nullopt when the input is not valid in
// `from` or iconv cannot convert.
std::optional<std::string> convert(const char* to, const char* from, std::string_view in) {
  iconv_t cd = iconv_open(to, from);
  if (cd == reinterpret_cast<iconv_t>(static_cast<std::intptr_t>(-1))) return std::nullopt;
  std::string out(in.size() * 2 + 16, '\0');
  char* src = const_cast<char*>(in.data());
  std::size_t src_left = in.size();
  std::size_t done = 0;
  bool ok = true;
  // Each round either consumes input or doubles the output room; bounded by input size.
  for (int round = 0; round < 64; ++round) {
    char* dst = out.data() + done;
    std::size_t dst_left = out.size() - done;
    const std::size_t r = iconv(cd, &src, &src_left, &dst, &dst_left);
    done = out.size() - dst_left;
    if (r != static_cast<std::size_t>(-1)) break;
    if (errno != E2BIG) {
      ok = false;
      break;
    }
    out.resize(out.size() * 2);
  }
  iconv_close(cd);
  if (!ok || src_left != 0) return std::nullopt;
  out.resize(done);
  return out;
}

bool utf8_packet(const packet& p) noexcept {
  for (const auto& f : p.fields)
    if (f.key == "97" && f.value == "1") return true;
  return false;
}

// One message inside a MESSAGE packet: the last value of each key before it repeats.
struct group {
  const field* from = nullptr;  // key 1 or 4
  const field* to = nullptr;    // key 5
  const field* text = nullptr;  // key 14
  const field* time = nullptr;  // key 15
  const field* utf8 = nullptr;  // key 97
};

std::vector<group> message_groups(const packet& p) {
  std::vector<group> out;
  group g;
  auto slot = [&g](std::string_view key) -> const field** {
    if (key == "1" || key == "4") return &g.from;
    if (key == "5") return &g.to;
    if (key == "14") return &g.text;
    if (key == "15") return &g.time;
    if (key == "97") return &g.utf8;
    return nullptr;
  };
  for (const auto& f : p.fields) {
    const field** s = slot(f.key);
    if (s == nullptr) continue;
    if (*s != nullptr) {  // a key repeats: the next message starts
      if (g.text != nullptr) out.push_back(g);
      g = group{};
      s = slot(f.key);
    }
    *s = &f;
  }
  if (g.text != nullptr) out.push_back(g);
  return out;
}

// One chat event from the fields a service names.
struct message_fields {
  const field* from = nullptr;
  const field* text = nullptr;
  const field* time = nullptr;
  const field* utf8 = nullptr;
  std::string conversation;
  std::vector<std::string_view> recipients;
};

void emit(const packet& p, std::size_t index, direction d, const exchange& x,
          const message_fields& m, std::vector<chat_event>& out) {
  char sid[9];
  std::snprintf(sid, sizeof sid, "%08x", static_cast<unsigned>(p.session));
  chat_event e;
  e.app = app_id;
  e.transport = descriptor.name;
  e.direction = d;
  e.session_key = p.session == 0 ? std::string{} : wire::short_digest(sid);
  if (m.from != nullptr)
    e.sender = party{std::string(m.from->value), {}, identity_source::body};
  else if (d == direction::outbound && !x.proxy_user.empty())
    e.sender = wire::proxy_party(x);
  for (auto r : m.recipients)
    e.recipients.push_back(party{std::string(r), {}, identity_source::body});
  e.conversation_id = m.conversation;
  const bool utf8 = m.utf8 != nullptr ? m.utf8->value == "1" : utf8_packet(p);
  if (utf8) {
    e.text = std::string(m.text->value);
  } else {
    e.text = convert("UTF-8", "ISO-8859-1", m.text->value).value_or(std::string(m.text->value));
    e.attributes.emplace_back("charset", "ISO-8859-1");
  }
  e.text_at.path = {{layer_kind::frame, std::to_string(index)},
                    {layer_kind::bytes, std::to_string(m.text->value_offset) + ":" +
                                            std::to_string(m.text->value.size())}};
  if (m.time != nullptr)
    if (auto t = wire::to_i64(m.time->value)) e.timestamp = wire::rfc3339_from_unix_s(*t);
  char status[12];
  std::snprintf(status, sizeof status, "0x%08x", static_cast<unsigned>(p.status));
  e.attributes.emplace_back("status", status);
  if (p.service != service_message) {
    char service[8];
    std::snprintf(service, sizeof service, "0x%02x", static_cast<unsigned>(p.service));
    e.attributes.emplace_back("service", service);
  }
  out.push_back(std::move(e));
}

// Conference (0x1d: 1 or 3 sender, 53 each member, 57 room, 14 text) and chat room
// (0xa8: 1 or 109 sender, 104 room, 117 text) messages: one message per packet.
void room_event(const packet& p, std::size_t index, direction d, const exchange& x,
                std::vector<chat_event>& out) {
  const bool conf = p.service == service_conference;
  message_fields m;
  for (const auto& f : p.fields) {
    if (f.key == "1" || f.key == (conf ? "3" : "109")) m.from = &f;
    if (f.key == (conf ? "14" : "117")) m.text = &f;
    if (f.key == (conf ? "57" : "104")) m.conversation = std::string(f.value);
    if (f.key == "97") m.utf8 = &f;
    if (conf && f.key == "53" && m.recipients.size() < 256) m.recipients.push_back(f.value);
  }
  if (m.text != nullptr) emit(p, index, d, x, m, out);
}

void packet_events(const packet& p, std::size_t index, direction d, const exchange& x,
                   std::vector<chat_event>& out) {
  if (p.service == service_conference || p.service == service_chat_room) {
    room_event(p, index, d, x, out);
    return;
  }
  if (p.service != service_message) return;
  for (const group& g : message_groups(p)) {
    message_fields m;
    m.from = g.from;
    m.text = g.text;
    m.time = g.time;
    m.utf8 = g.utf8;
    if (g.to != nullptr) m.recipients.push_back(g.to->value);
    // One-to-one: the peer names the conversation.
    const field* peer = d == direction::outbound ? g.to : g.from;
    if (peer != nullptr) m.conversation = std::string(peer->value);
    emit(p, index, d, x, m, out);
  }
}

decode_error decode_body(std::string_view body, direction d, const exchange& x,
                         std::vector<chat_event>& out) {
  std::vector<packet> packets;
  const decode_error err = split_packets(body, x.limits, packets);
  for (std::size_t i = 0; i < packets.size(); ++i) packet_events(packets[i], i, d, x, out);
  return err;
}

}  // namespace

bool classify(const request_head& head) noexcept {
  return head.method == "POST" && head.path == "/notify" &&
         wire::host_under(head.host, "yahoo.com");
}

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  return decode_body(x.request.body, direction::outbound, x, out);
}

decode_error decode_response(const exchange& x, std::vector<chat_event>& out) {
  if (x.response == nullptr || x.response->status != 200) return {};
  return decode_body(x.response->body, direction::inbound, x, out);
}

decode_error rewrite(std::string& body, const location& at, std::string_view replacement) {
  if (at.path.size() != 2 || at.path[0].kind != layer_kind::frame ||
      at.path[1].kind != layer_kind::bytes)
    return {errc::malformed_frame, "ymsg: rewrite expects frame/bytes"};
  const auto index = wire::parse_index(at.path[0].key);
  const std::string& range = at.path[1].key;
  std::size_t off = 0;
  std::size_t len = 0;
  if (!index || !wire::parse_range(range, off, len))
    return {errc::malformed_frame, "ymsg: bad rewrite location"};
  std::vector<packet> packets;
  if (auto err = split_packets(body, limits{}, packets)) return err;
  if (*index >= packets.size()) return {errc::malformed_frame, "ymsg: no packet " + at.path[0].key};
  const packet& p = packets[*index];
  if (off > p.length || len > p.length - off)
    return {errc::malformed_frame, "ymsg: range " + range + " outside the payload"};
  std::string value(replacement);
  if (!utf8_packet(p)) {
    auto latin1 = convert("ISO-8859-1//TRANSLIT", "UTF-8", replacement);
    if (!latin1) return {errc::malformed_frame, "ymsg: replacement is not valid UTF-8"};
    value = std::move(*latin1);
  }
  if (value.find(separator) != std::string::npos)
    return {errc::malformed_frame, "ymsg: replacement contains the field separator"};
  const std::size_t new_length = p.length - len + value.size();
  if (new_length > 0xFFFF) return {errc::too_large, "ymsg: packet payload over 65535 bytes"};
  const std::size_t start = p.offset + header_size + off;
  std::string out = body.substr(0, start);
  out += value;
  out += std::string_view(body).substr(start + len);
  out[p.offset + 8] = static_cast<char>((new_length >> 8) & 0xFF);
  out[p.offset + 9] = static_cast<char>(new_length & 0xFF);
  body = std::move(out);
  return {};
}

// --- replies --------------------------------------------------------------------------------

namespace {

// The first non-zero header session id in a body, as the key emit() gives it.
std::string body_session(std::string_view body) {
  std::vector<packet> packets;
  split_packets(body, limits{}, packets);  // packets before an error are enough
  for (const auto& p : packets) {
    if (p.session == 0) continue;
    char sid[9];
    std::snprintf(sid, sizeof sid, "%08x", static_cast<unsigned>(p.session));
    return wire::short_digest(sid);
  }
  return {};
}

void put16(std::string& s, std::size_t v) {
  s.push_back(static_cast<char>((v >> 8) & 0xff));
  s.push_back(static_cast<char>(v & 0xff));
}

void put32(std::string& s, std::uint32_t v) {
  put16(s, (v >> 16) & 0xffff);
  put16(s, v & 0xffff);
}

// A MESSAGE (0x06) packet from "imcap" to `to` with UTF-8 text, with the version and session
// id of `like` (the packet it answers or sits beside); nullopt when the text cannot be framed.
std::optional<std::string> notice_packet(std::string_view body, std::string_view to,
                                         const notice& n) {
  std::uint16_t version = 0x0f;
  std::uint32_t session = 0;
  std::vector<packet> packets;
  split_packets(body, limits{}, packets);
  if (!packets.empty()) {
    version = be16(body, packets[0].offset + 4);
    session = packets[0].session;
  }
  const std::string text = replies::text_of(n);
  if (text.find(separator) != std::string::npos) return std::nullopt;
  std::string payload;
  auto add = [&](std::string_view k, std::string_view v) {
    payload.append(k).append(separator).append(v).append(separator);
  };
  add("4", replies::sender);
  if (!to.empty()) add("5", to);
  add("14", text);
  add("97", "1");
  if (payload.size() > 0xffff) return std::nullopt;
  std::string out = "YMSG";
  put16(out, version);
  put16(out, 0);
  put16(out, payload.size());
  put16(out, service_message);
  put32(out, 1);  // status: delivered
  put32(out, session);
  return out + payload;
}

}  // namespace

std::string session_of_exchange(const exchange& x) {
  if (std::string k = body_session(x.request.body); !k.empty()) return k;
  return x.response != nullptr ? body_session(x.response->body) : std::string();
}

// 200 with a MESSAGE packet from "imcap" to the sender carrying the notice (the reference's
// "synthesized packet from system"): the client shows it as an incoming message.
http_reply render_block(const exchange& x, const chat_event& blocked, const notice& n) {
  const auto p = notice_packet(x.request.body, blocked.sender.id, n);
  return replies::body_reply(200, "application/octet-stream", p.value_or(std::string()));
}

decode_error inject_notice(std::string& body, const exchange&, const notice& n) {
  std::vector<packet> packets;
  if (auto err = split_packets(body, limits{}, packets)) return err;
  std::string to;
  for (const auto& p : packets)
    for (const auto& f : p.fields)
      if (f.key == "5" && to.empty()) to = std::string(f.value);
  const auto p = notice_packet(body, to, n);
  if (!p) return {errc::malformed_frame, "ymsg: the notice cannot be framed"};
  body += *p;
  return {};
}

}  // namespace imcap::modules::ymsg
