// YMSG over HTTP decoder. Header layout from libyahoo2's ymsg-9.txt and the wiki.nina.chat
// packet-structure page, HTTP use from jymsg9's doc2.txt, service and key numbers as libpurple
// and Wireshark's packet-ymsg.c use them (im-transports §4.2; all [obs]).

#include "modules/legacy/ymsg_http.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdio>

#include <iconv.h>

#include "modules/wire_util.hpp"

namespace imcap::modules::ymsg {

namespace {

constexpr std::string_view app_id = "yahoo-messenger";
constexpr std::size_t header_size = 20;
constexpr std::uint16_t service_message = 6;
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
      return {errc::truncated, "ymsg: " + std::to_string(body.size() - pos) +
                                   " bytes left, a header needs 20"};
    if (body.substr(pos, 4) != "YMSG")
      return {errc::malformed_frame, "ymsg: packet " + std::to_string(out.size()) +
                                         " does not start with YMSG"};
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
      p.fields.push_back(field{payload.substr(at, k_end - at),
                               payload.substr(v_start, v_end - v_start), v_start});
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

void packet_events(const packet& p, std::size_t index, direction d, const exchange& x,
                   std::vector<chat_event>& out) {
  if (p.service != service_message) return;
  char sid[9];
  std::snprintf(sid, sizeof sid, "%08x", static_cast<unsigned>(p.session));
  for (const group& g : message_groups(p)) {
    chat_event e;
    e.app = app_id;
    e.transport = descriptor.name;
    e.direction = d;
    e.session_key = p.session == 0 ? std::string{} : wire::short_digest(sid);
    if (g.from != nullptr)
      e.sender = party{std::string(g.from->value), {}, identity_source::body};
    else if (d == direction::outbound && !x.proxy_user.empty())
      e.sender = party{std::string(x.proxy_user), {}, identity_source::proxy};
    if (g.to != nullptr) e.recipients.push_back(party{std::string(g.to->value), {}, identity_source::body});
    e.conversation_id = d == direction::outbound ? (g.to ? std::string(g.to->value) : std::string{})
                                                 : e.sender.id;
    const bool utf8 = g.utf8 != nullptr ? g.utf8->value == "1" : utf8_packet(p);
    if (utf8) {
      e.text = std::string(g.text->value);
    } else {
      e.text = convert("UTF-8", "ISO-8859-1", g.text->value).value_or(std::string(g.text->value));
      e.attributes.emplace_back("charset", "ISO-8859-1");
    }
    e.text_at.path = {{layer_kind::frame, std::to_string(index)},
                      {layer_kind::bytes, std::to_string(g.text->value_offset) + ":" +
                                              std::to_string(g.text->value.size())}};
    if (g.time != nullptr)
      if (auto t = wire::to_i64(g.time->value)) e.timestamp = wire::rfc3339_from_unix_s(*t);
    char status[12];
    std::snprintf(status, sizeof status, "0x%08x", static_cast<unsigned>(p.status));
    e.attributes.emplace_back("status", status);
    out.push_back(std::move(e));
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
  return head.method == "POST" && head.path == "/notify" && wire::host_under(head.host, "yahoo.com");
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

}  // namespace imcap::modules::ymsg
