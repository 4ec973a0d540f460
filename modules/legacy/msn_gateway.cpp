// MSN Messenger HTTP gateway decoder. Command syntax and MSG payloads as documented from MSNP8
// captures (hypothetic.org http_connections / messages pages, the msnp-wiki MSG page;
// im-transports §4.1). All of it [obs]: the service is gone, revival servers speak it.

#include "modules/legacy/msn_gateway.hpp"

#include <boost/json.hpp>
#include <boost/url/decode_view.hpp>
#include <boost/url/pct_string_view.hpp>

#include "modules/content/json.hpp"
#include "modules/replies.hpp"
#include "modules/session.hpp"
#include "modules/wire.hpp"

namespace imcap::modules::msn {

namespace json = boost::json;

namespace {

constexpr std::string_view app_id = "msn";
// A switchboard holds a handful of people; more is not a conversation we can follow.
constexpr std::size_t max_roster = 64;

struct command {
  std::size_t line_offset = 0;  // where the command line starts in the body
  std::string_view line;        // without CRLF
  std::vector<std::string_view> args;
  bool has_payload = false;
  std::size_t payload_offset = 0;  // in the body
  std::size_t payload_length = 0;
};

// Commands whose last argument is the byte count of a payload that follows the line (MSNP8
// through MSNP18, both directions).
bool payload_command(std::string_view name) noexcept {
  for (std::string_view c : {"MSG", "QRY", "UUX", "UBX", "ADL", "RML", "FQY", "NOT", "GCF", "IPG",
                             "UUN", "UBN", "UUM", "UBM", "SDG", "NFY", "PUT", "DEL", "PAG"})
    if (name == c) return true;
  return false;
}

bool command_name(std::string_view s) noexcept {
  if (s.size() != 3) return false;
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

std::vector<std::string_view> tokens(std::string_view line) {
  std::vector<std::string_view> out;
  while (!line.empty()) {
    const std::size_t sp = line.find(' ');
    if (sp != 0) out.push_back(line.substr(0, sp));
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp + 1);
  }
  return out;
}

// Splits the body into commands. Commands before an error are kept in `out`.
decode_error split_commands(std::string_view body, const limits& lim, std::vector<command>& out) {
  std::size_t pos = 0;
  while (pos < body.size()) {
    if (out.size() >= lim.max_parts)
      return {errc::too_many_parts,
              "msn: more than " + std::to_string(lim.max_parts) + " commands in one body"};
    const std::size_t eol = body.find("\r\n", pos);
    if (eol == std::string_view::npos)
      return {errc::truncated, "msn: command " + std::to_string(out.size()) + " has no CRLF"};
    command c;
    c.line_offset = pos;
    c.line = body.substr(pos, eol - pos);
    c.args = tokens(c.line);
    if (c.args.empty() || !command_name(c.args[0]))
      return {errc::malformed_frame,
              "msn: command " + std::to_string(out.size()) + " is not an MSNP command"};
    pos = eol + 2;
    if (payload_command(c.args[0])) {
      const auto n = c.args.size() >= 2 ? wire::to_u64(c.args.back()) : std::nullopt;
      if (!n)
        return {errc::malformed_frame, "msn: " + std::string(c.args[0]) + " (command " +
                                           std::to_string(out.size()) + ") without a length"};
      if (*n > body.size() - pos)
        return {errc::truncated, "msn: " + std::string(c.args[0]) + " payload of " +
                                     std::to_string(*n) + " bytes, " +
                                     std::to_string(body.size() - pos) + " left"};
      c.has_payload = true;
      c.payload_offset = pos;
      c.payload_length = static_cast<std::size_t>(*n);
      pos += c.payload_length;
    }
    out.push_back(std::move(c));
  }
  return {};
}

std::string pct_decode(std::string_view s) {
  auto r = boost::urls::make_pct_string_view(s);
  if (!r) return std::string(s);
  const auto dv = **r;
  return std::string(dv.begin(), dv.end());
}

// MIME payload of an MSG: its headers and where the body starts (relative to the payload).
struct mime {
  std::vector<std::pair<std::string_view, std::string_view>> headers;
  std::size_t body_offset = 0;
  bool complete = false;

  std::string_view get(std::string_view name) const noexcept {
    for (const auto& [k, v] : headers)
      if (ascii_iequals(k, name)) return v;
    return {};
  }
};

mime parse_mime(std::string_view payload) {
  mime m;
  const std::size_t end = payload.find("\r\n\r\n");
  const std::string_view head = payload.substr(0, end);
  m.complete = end != std::string_view::npos;
  m.body_offset = m.complete ? end + 4 : payload.size();
  std::size_t pos = 0;
  while (pos <= head.size()) {
    const std::size_t eol = head.find("\r\n", pos);
    const std::string_view line = head.substr(pos, eol == std::string_view::npos ? eol : eol - pos);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string_view v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
      m.headers.emplace_back(line.substr(0, colon), v);
    }
    if (eol == std::string_view::npos) break;
    pos = eol + 2;
  }
  return m;
}

std::string media_type_of(std::string_view content_type) {
  std::string t(content_type.substr(0, content_type.find(';')));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  for (auto& ch : t)
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch + 32);
  return t;
}

// --- session state ------------------------------------------------------------------------

struct state {
  std::string key;                  // stable session key (digest of the first SessionID seen)
  std::string user;                 // our handle (USR)
  std::string name;                 // our friendly name
  std::vector<std::string> roster;  // other switchboard participants
};

std::string state_key(std::string_view sid) {
  return "msn:sid:" + std::string(sid);
}

state load_state(const exchange& x, std::string_view sid) {
  state s;
  if (x.sessions == nullptr || sid.empty()) return s;
  const auto v = x.sessions->get(state_key(sid));
  if (!v) return s;
  content::json_arena j_arena;
  json::value j(j_arena.storage());
  if (content::parse_json(*v, x.limits, j)) return s;
  s.key = wire::str(j, "key");
  s.user = wire::str(j, "user");
  s.name = wire::str(j, "name");
  if (const auto* r = content::at_pointer(j, "/roster"); r != nullptr && r->is_array())
    for (const auto& h : r->get_array())
      if (h.is_string() && s.roster.size() < max_roster) s.roster.emplace_back(h.get_string());
  return s;
}

void save_state(const exchange& x, std::string_view sid, const state& s) {
  if (x.sessions == nullptr || sid.empty()) return;
  json::object o;
  o["key"] = s.key;
  o["user"] = s.user;
  o["name"] = s.name;
  json::array r;
  for (const auto& h : s.roster) r.emplace_back(h);
  o["roster"] = std::move(r);
  x.sessions->put(state_key(sid), json::serialize(o));
}

void roster_add(state& s, std::string_view handle) {
  if (handle.empty() || handle == s.user) return;
  for (const auto& h : s.roster)
    if (h == handle) return;
  if (s.roster.size() < max_roster) s.roster.emplace_back(handle);
}

void roster_remove(state& s, std::string_view handle) {
  std::erase_if(s.roster, [&](const std::string& h) { return h == handle; });
}

std::string_view first_handle(const command& c, std::size_t from) {
  for (std::size_t i = from; i < c.args.size(); ++i)
    if (c.args[i].find('@') != std::string_view::npos) return c.args[i];
  return {};
}

// The gateway's answer header: "SessionID=954547325.13160; GW-IP=207.46.110.18".
std::string answer_session_id(const http_response& r) {
  const auto v = r.headers.get("x-msn-messenger");
  if (!v) return {};
  std::string_view rest = *v;
  while (!rest.empty()) {
    const std::size_t semi = rest.find(';');
    std::string_view item = rest.substr(0, semi);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    if (wire::starts_with(item, "SessionID=")) return std::string(item.substr(10));
    if (semi == std::string_view::npos) break;
    rest.remove_prefix(semi + 1);
  }
  return {};
}

// --- events -------------------------------------------------------------------------------

// An MSG command as a chat event (nothing for typing notices, P2P data and other control
// payloads).
void msg_event(std::string_view body, const command& c, std::size_t index, direction d,
               const state& s, const exchange& x, std::vector<chat_event>& out) {
  if (c.args.size() < 4) return;
  const std::string_view payload = body.substr(c.payload_offset, c.payload_length);
  const mime m = parse_mime(payload);
  const std::string type = media_type_of(m.get("Content-Type"));
  chat_event e;
  e.app = app_id;
  e.transport = descriptor.name;
  e.direction = d;
  e.session_key = s.key;
  if (d == direction::outbound) {
    if (!s.user.empty())
      e.sender = party{s.user, s.name, identity_source::learned};
    else if (!x.proxy_user.empty())
      e.sender = wire::proxy_party(x);
    for (const auto& h : s.roster) e.recipients.push_back(party{h, {}, identity_source::learned});
    e.client_msg_id = std::string(c.args[1]);
    e.attributes.emplace_back("ack_mode", std::string(c.args[2]));
  } else {
    e.sender = party{std::string(c.args[1]), pct_decode(c.args[2]), identity_source::body};
    if (!s.user.empty()) e.recipients.push_back(party{s.user, s.name, identity_source::learned});
  }
  // One-to-one: the peer names the conversation; a group switchboard lists everyone else.
  if (d == direction::inbound && s.roster.empty()) {
    e.conversation_id = std::string(c.args[1]);
  } else {
    for (const auto& h : s.roster) {
      if (!e.conversation_id.empty()) e.conversation_id += ',';
      e.conversation_id += h;
    }
  }
  const layer frame{layer_kind::frame, std::to_string(index)};
  if (type == "text/plain") {
    if (!m.complete) return;
    e.text = std::string(payload.substr(m.body_offset));
    e.text_at.path = {frame,
                      {layer_kind::bytes, std::to_string(m.body_offset) + ":" +
                                              std::to_string(payload.size() - m.body_offset)}};
    if (auto f = m.get("X-MMS-IM-Format"); !f.empty()) e.attributes.emplace_back("format", f);
    out.push_back(std::move(e));
    return;
  }
  // An invitation lists its fields as header-like lines in the MIME body.
  const mime inv =
      type == "text/x-msmsgsinvite" ? parse_mime(payload.substr(m.body_offset)) : mime{};
  if (type == "text/x-msmsgsinvite" && inv.get("Invitation-Command") == "INVITE" &&
      !inv.get("Application-File").empty()) {
    attachment a;
    a.name = inv.get("Application-File");
    a.size = wire::to_u64(inv.get("Application-FileSize"));
    a.ref = "msn-invite:" + std::string(inv.get("Invitation-Cookie"));
    e.attachments.push_back(std::move(a));
    if (auto n = inv.get("Application-Name"); !n.empty())
      e.attributes.emplace_back("application", n);
    out.push_back(std::move(e));
  }
}

}  // namespace

bool classify(const request_head& head) noexcept {
  return head.method == "POST" && ascii_iequals(head.path, "/gateway/gateway.dll");
}

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  const auto& h = x.request.head;
  const std::string sid = h.query_param("SessionID").value_or("");
  state s = load_state(x, sid);
  if (s.key.empty()) s.key = wire::short_digest(sid);
  std::vector<command> cmds;
  const decode_error err = split_commands(x.request.body, x.limits, cmds);
  for (std::size_t i = 0; i < cmds.size(); ++i) {
    const command& c = cmds[i];
    const std::string_view name = c.args[0];
    if (name == "USR") {
      // Switchboard "USR trid handle ticket"; notification server "USR trid TWN I handle".
      if (auto handle = first_handle(c, 2); !handle.empty()) s.user = handle;
    } else if (name == "CAL" && c.args.size() >= 3) {
      roster_add(s, c.args[2]);
    } else if (name == "MSG" && c.has_payload) {
      msg_event(x.request.body, c, i, direction::outbound, s, x, out);
    }
  }
  save_state(x, sid, s);
  return err;
}

decode_error decode_response(const exchange& x, std::vector<chat_event>& out) {
  if (x.response == nullptr || x.response->status != 200) return {};
  const std::string old_sid = x.request.head.query_param("SessionID").value_or("");
  const std::string new_sid = answer_session_id(*x.response);
  state s = load_state(x, old_sid);
  if (s.key.empty()) s.key = wire::short_digest(old_sid.empty() ? new_sid : old_sid);
  std::vector<command> cmds;
  const decode_error err = split_commands(x.response->body, x.limits, cmds);
  for (std::size_t i = 0; i < cmds.size(); ++i) {
    const command& c = cmds[i];
    const std::string_view name = c.args[0];
    if (name == "USR" && c.args.size() >= 4 && c.args[2] == "OK") {
      // "USR trid OK handle friendly-name" (switchboard and MSNP8 notification server alike).
      s.user = c.args[3];
      if (c.args.size() >= 5) s.name = pct_decode(c.args[4]);
    } else if (name == "JOI" && c.args.size() >= 2) {
      roster_add(s, c.args[1]);
    } else if (name == "IRO" && c.args.size() >= 5) {
      roster_add(s, c.args[4]);
    } else if (name == "BYE" && c.args.size() >= 2) {
      roster_remove(s, c.args[1]);
    } else if (name == "MSG" && c.has_payload) {
      msg_event(x.response->body, c, i, direction::inbound, s, x, out);
    }
  }
  save_state(x, old_sid, s);
  save_state(x, new_sid, s);
  return err;
}

decode_error rewrite(std::string& body, const location& at, std::string_view replacement) {
  if (at.path.size() != 2 || at.path[0].kind != layer_kind::frame ||
      at.path[1].kind != layer_kind::bytes)
    return {errc::malformed_frame, "msn: rewrite expects frame/bytes"};
  const auto index = wire::parse_index(at.path[0].key);
  const std::string& range = at.path[1].key;
  std::size_t off = 0;
  std::size_t len = 0;
  if (!index || !wire::parse_range(range, off, len))
    return {errc::malformed_frame, "msn: bad rewrite location"};
  std::vector<command> cmds;
  if (auto err = split_commands(body, limits{}, cmds)) return err;
  if (*index >= cmds.size() || !cmds[*index].has_payload)
    return {errc::malformed_frame, "msn: no payload command " + at.path[0].key};
  const command& c = cmds[*index];
  if (off > c.payload_length || len > c.payload_length - off)
    return {errc::malformed_frame, "msn: range " + range + " outside the payload"};
  const std::string_view payload =
      std::string_view(body).substr(c.payload_offset, c.payload_length);
  std::string new_payload(payload.substr(0, off));
  new_payload += replacement;
  new_payload += payload.substr(off + len);
  // The line keeps every argument but the last, which becomes the new byte count.
  const std::string_view count = c.args.back();
  const std::size_t count_at = static_cast<std::size_t>(count.data() - c.line.data());
  std::string out = body.substr(0, c.line_offset);
  out += c.line.substr(0, count_at);
  out += std::to_string(new_payload.size());
  out += c.line.substr(count_at + count.size());
  out += "\r\n";
  out += new_payload;
  out += std::string_view(body).substr(c.payload_offset + c.payload_length);
  body = std::move(out);
  return {};
}

// --- replies --------------------------------------------------------------------------------

std::string session_of_exchange(const exchange& x) {
  const std::string sid = x.request.head.query_param("SessionID").value_or("");
  if (sid.empty())
    return x.response != nullptr ? wire::short_digest(answer_session_id(*x.response))
                                 : std::string();
  const state s = load_state(x, sid);
  return s.key.empty() ? wire::short_digest(sid) : s.key;
}

// "NAK <trid>" for the refused MSG (ack modes A and N ask for it; the client shows "message
// could not be delivered"), in a gateway answer with the current SessionID echoed.
http_reply render_block(const exchange& x, const chat_event& blocked, const notice&) {
  const std::string trid = blocked.client_msg_id.empty() ? "0" : blocked.client_msg_id;
  http_reply r = replies::body_reply(200, "application/x-msn-messenger", "NAK " + trid + "\r\n");
  const std::string sid = x.request.head.query_param("SessionID").value_or("");
  if (!sid.empty())
    r.headers.emplace_back("X-MSN-Messenger",
                           "SessionID=" + sid + "; GW-IP=" + x.request.head.host);
  return r;
}

// Removes the command at the location's frame (line and payload) from a send body.
decode_error strip(std::string& body, const location& at) {
  if (at.path.empty() || at.path[0].kind != layer_kind::frame)
    return {errc::malformed_frame, "strip: location does not start at a command"};
  std::vector<command> cmds;
  if (auto err = split_commands(body, limits{}, cmds)) return err;
  const auto index = replies::frame_index(at.path[0].key);
  if (!index || *index >= cmds.size())
    return {errc::malformed_frame, "strip: no command " + at.path[0].key};
  const command& c = cmds[*index];
  const std::size_t end =
      c.has_payload ? c.payload_offset + c.payload_length : c.line_offset + c.line.size() + 2;
  body.erase(c.line_offset, end - c.line_offset);
  return {};
}

// "MSG imcap imcap <bytes>" with a text/plain MIME payload appended to a poll answer: the
// switchboard shows it in the conversation this gateway session carries.
decode_error inject_notice(std::string& body, const exchange&, const notice& n) {
  std::vector<command> cmds;
  if (auto err = split_commands(body, limits{}, cmds)) return err;
  const std::string payload =
      "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n" + replies::text_of(n);
  body += "MSG " + std::string(replies::sender) + " " + std::string(replies::sender) + " " +
          std::to_string(payload.size()) + "\r\n" + payload;
  return {};
}

}  // namespace imcap::modules::msn
