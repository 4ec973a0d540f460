#include "modules/bosh/bosh.hpp"

#include <sstream>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "modules/content/json.hpp"
#include "modules/content/xml.hpp"
#include "modules/polling/common.hpp"
#include "modules/replies.hpp"
#include "modules/session.hpp"
#include "modules/wire.hpp"

namespace imcap::modules::bosh {

namespace json = boost::json;
using content::local_name;
using content::namespace_of;
using polling::with_layer;

namespace {

constexpr std::string_view httpbind_ns = "http://jabber.org/protocol/httpbind";
constexpr std::string_view client_ns = "jabber:client";
constexpr std::string_view bind_ns = "urn:ietf:params:xml:ns:xmpp-bind";
constexpr std::string_view upload_ns = "urn:xmpp:http:upload:0";
constexpr std::string_view upload_ns_legacy = "urn:xmpp:http:upload";
constexpr std::string_view xhtml_im_ns = "http://jabber.org/protocol/xhtml-im";
constexpr std::string_view oob_ns = "jabber:x:oob";
constexpr std::string_view delay_ns = "urn:xmpp:delay";

// Stanzas may omit xmlns='jabber:client' (XEP-0206 §2): they then sit in the httpbind default
// namespace of the wrapper and still mean jabber:client.
bool stanza_ns(const pugi::xml_node& n) {
  const std::string ns = namespace_of(n);
  return ns.empty() || ns == client_ns || ns == httpbind_ns;
}

pugi::xml_node child_ns(const pugi::xml_node& parent, std::string_view name, std::string_view ns) {
  for (pugi::xml_node c = parent.first_child(); c; c = c.next_sibling()) {
    if (c.type() != pugi::node_element || local_name(c) != name) continue;
    if (ns.empty() ? stanza_ns(c) : namespace_of(c) == ns) return c;
  }
  return {};
}

std::string bare(std::string_view jid) {
  return std::string(jid.substr(0, jid.find('/')));
}

std::string resource(std::string_view jid) {
  const std::size_t slash = jid.find('/');
  return slash == std::string_view::npos ? std::string() : std::string(jid.substr(slash + 1));
}

std::string inner_xml(const pugi::xml_node& n) {
  std::ostringstream os;
  for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling())
    c.print(os, "", pugi::format_raw);
  return os.str();
}

// "host/path" of an absolute URL (path percent-decoded), the key both the slot answer and the
// PUT request can produce.
std::string slot_key(std::string_view url) {
  auto u = boost::urls::parse_uri(url);
  if (!u) return {};
  std::string host(u->encoded_host());
  for (auto& c : host)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return "bosh:slot:" + host + std::string(u->path());
}

std::string last_segment(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

// Groupchat rooms seen in sends ("bosh:room:<bare jid>"), so a notice for a room goes out as
// an occupant message and a notice for a person as a chat message (inject_notice).
std::string room_key(std::string_view jid) {
  return "bosh:room:" + std::string(jid);
}

struct context {
  const exchange& x;
  direction dir;
  std::string session_key;
};

chat_event new_event(const context& c) {
  chat_event e;
  e.app = "xmpp";
  e.transport = std::string(bosh_decoder.name);
  e.direction = c.dir;
  e.session_key = c.session_key;
  return e;
}

std::optional<std::string> learned_jid(const context& c) {
  if (!c.x.sessions || c.session_key.empty()) return std::nullopt;
  return c.x.sessions->get("bosh:jid:" + c.session_key);
}

void decode_message(const context& c, const pugi::xml_node& m, const std::string& path,
                    std::vector<chat_event>& out) {
  const std::string type = m.attribute("type").value();
  if (type == "error") return;
  const std::string to = m.attribute("to").value();
  const std::string from = m.attribute("from").value();
  chat_event e = new_event(c);
  const pugi::xml_node body = child_ns(m, "body", {});
  if (body) {
    e.text = body.child_value();
    e.text_at.path.push_back(layer{layer_kind::xml, path + "/body"});
  }
  if (const pugi::xml_node html = child_ns(m, "html", xhtml_im_ns)) {
    if (const pugi::xml_node hb = child_ns(html, "body", "http://www.w3.org/1999/xhtml"))
      e.html = inner_xml(hb);
  }
  for (pugi::xml_node xo = m.first_child(); xo; xo = xo.next_sibling()) {
    if (xo.type() != pugi::node_element || local_name(xo) != "x" || namespace_of(xo) != oob_ns)
      continue;
    attachment a;
    for (pugi::xml_node u = xo.first_child(); u; u = u.next_sibling())
      if (u.type() == pugi::node_element && local_name(u) == "url") a.ref = u.child_value();
    if (a.ref.empty()) continue;
    if (auto url = boost::urls::parse_uri(a.ref)) a.name = last_segment(url->path());
    a.at.path.push_back(layer{layer_kind::xml, path + "/x/url"});
    e.attachments.push_back(std::move(a));
  }
  if (e.text.empty() && e.attachments.empty()) return;  // chat states, receipts, markers

  if (!to.empty()) e.recipients.push_back(party{to, {}, identity_source::body});
  if (c.dir == direction::outbound) {
    if (!from.empty()) {
      e.sender = party{from, {}, identity_source::body};
    } else if (auto jid = learned_jid(c)) {
      e.sender = party{*jid, {}, identity_source::learned};
    } else {
      e.sender = wire::proxy_party(c.x);
    }
    e.conversation_id = bare(to);
    e.client_msg_id = m.attribute("id").value();
    if (type == "groupchat" && c.x.sessions) c.x.sessions->put(room_key(e.conversation_id), "1");
  } else {
    e.sender.id = from;
    e.sender.source = from.empty() ? identity_source::unknown : identity_source::body;
    if (type == "groupchat") e.sender.display_name = resource(from);
    e.conversation_id = bare(from);
    e.server_msg_id = m.attribute("id").value();
    // XEP-0203 stamps are XEP-0082 date-times; only UTC ("...Z") ones are RFC 3339 UTC as is.
    if (const pugi::xml_node d = child_ns(m, "delay", delay_ns))
      e.timestamp =
          polling::timestamp_from(json::value(json::string(d.attribute("stamp").value())));
  }
  if (type == "groupchat") {
    e.attributes.emplace_back("groupchat", "true");
  }
  if (!type.empty()) e.attributes.emplace_back("type", type);
  out.push_back(std::move(e));
}

void decode_iq(const context& c, const pugi::xml_node& iq, std::vector<chat_event>& out) {
  const std::string type = iq.attribute("type").value();
  const std::string id = iq.attribute("id").value();
  if (c.dir == direction::outbound && type == "get") {
    // Upload slot request: attributes (upload:0) or child elements (the older namespace).
    pugi::xml_node req = child_ns(iq, "request", upload_ns);
    bool legacy = false;
    if (!req) {
      req = child_ns(iq, "request", upload_ns_legacy);
      legacy = static_cast<bool>(req);
    }
    if (!req) return;
    attachment a;
    std::string size;
    if (legacy) {
      a.name = req.child("filename").child_value();
      size = req.child("size").child_value();
      a.media_type = req.child("content-type").child_value();
    } else {
      a.name = req.attribute("filename").value();
      size = req.attribute("size").value();
      a.media_type = req.attribute("content-type").value();
    }
    if (!size.empty() && size.size() < 19 &&
        size.find_first_not_of("0123456789") == std::string::npos)
      a.size = std::stoull(size);
    chat_event e = new_event(c);
    e.kind = event_kind::upload;
    if (auto jid = learned_jid(c))
      e.sender = party{*jid, {}, identity_source::learned};
    else
      e.sender = wire::proxy_party(c.x);
    e.attributes.emplace_back("upload_service", iq.attribute("to").value());
    e.attributes.emplace_back("slot_request_id", id);
    if (c.x.sessions && !c.session_key.empty()) {
      json::object o;
      o["name"] = a.name;
      o["type"] = a.media_type;
      o["size"] = size;
      c.x.sessions->put("bosh:slotreq:" + c.session_key + ":" + id, json::serialize(o));
    }
    e.attachments.push_back(std::move(a));
    out.push_back(std::move(e));
    return;
  }
  if (c.dir != direction::inbound || type != "result") return;
  if (const pugi::xml_node bind = child_ns(iq, "bind", bind_ns)) {
    const std::string jid = bind.child("jid").child_value();
    if (jid.empty()) return;
    if (c.x.sessions && !c.session_key.empty()) c.x.sessions->put("bosh:jid:" + c.session_key, jid);
    chat_event e = new_event(c);
    e.kind = event_kind::identity;
    e.sender = party{jid, {}, identity_source::body};
    e.attributes.emplace_back("bound_jid", jid);
    out.push_back(std::move(e));
    return;
  }
  pugi::xml_node slot = child_ns(iq, "slot", upload_ns);
  if (!slot) slot = child_ns(iq, "slot", upload_ns_legacy);
  if (!slot) return;
  const pugi::xml_node put = slot.child("put");
  const pugi::xml_node get = slot.child("get");
  std::string put_url = put.attribute("url").value();
  std::string get_url = get.attribute("url").value();
  if (put_url.empty()) put_url = put.child_value();  // older namespace: URL as text
  if (get_url.empty()) get_url = get.child_value();
  if (put_url.empty()) return;
  attachment a;
  a.ref = get_url.empty() ? put_url : get_url;
  if (auto url = boost::urls::parse_uri(put_url)) a.name = last_segment(url->path());
  if (c.x.sessions && !c.session_key.empty()) {
    const std::string req_key = "bosh:slotreq:" + c.session_key + ":" + iq.attribute("id").value();
    if (auto saved = c.x.sessions->get(req_key)) {
      content::json_arena v_arena;
      json::value v(v_arena.storage());
      if (!content::parse_json(*saved, c.x.limits, v)) {
        if (auto n = content::string_at(v, "/name"); n && !n->empty()) a.name = *n;
        if (auto t = content::string_at(v, "/type"); t && !t->empty()) a.media_type = *t;
        if (auto s = content::string_at(v, "/size");
            s && !s->empty() && s->size() < 19 &&
            s->find_first_not_of("0123456789") == std::string::npos)
          a.size = std::stoull(*s);
      }
      c.x.sessions->erase(req_key);
    }
    json::object o;
    o["get"] = get_url;
    o["name"] = a.name;
    o["type"] = a.media_type;
    o["jid"] = learned_jid(c).value_or("");
    o["session"] = c.session_key;
    if (const std::string key = slot_key(put_url); !key.empty())
      c.x.sessions->put(key, json::serialize(o));
  }
  chat_event e = new_event(c);
  e.kind = event_kind::upload;
  if (auto jid = learned_jid(c)) e.sender = party{*jid, {}, identity_source::learned};
  e.attributes.emplace_back("put_url", put_url);
  if (!get_url.empty()) e.attributes.emplace_back("get_url", get_url);
  e.attributes.emplace_back("slot_request_id", iq.attribute("id").value());
  e.attachments.push_back(std::move(a));
  out.push_back(std::move(e));
}

decode_error decode_body(context& c, std::string_view text, std::vector<chat_event>& out) {
  pugi::xml_document doc;
  if (auto err = content::parse_xml(text, c.x.limits, doc)) return err;
  const pugi::xml_node root = doc.document_element();
  if (!root || local_name(root) != "body" || namespace_of(root) != httpbind_ns)
    return {errc::malformed_frame, "bosh: the document is not a httpbind <body/>"};
  if (const std::string sid = root.attribute("sid").value(); !sid.empty())
    c.session_key = wire::short_digest(sid);
  std::size_t stanzas = 0;
  std::vector<std::pair<std::string, std::size_t>> seen;  // element name -> count so far
  for (pugi::xml_node n = root.first_child(); n; n = n.next_sibling()) {
    if (n.type() != pugi::node_element) continue;
    if (++stanzas > c.x.limits.max_parts)
      return {errc::too_many_parts,
              "bosh: more than " + std::to_string(c.x.limits.max_parts) + " stanzas"};
    const std::string name(local_name(n));
    std::size_t index = 1;
    bool found = false;
    for (auto& [k, count] : seen)
      if (k == name) {
        index = ++count;
        found = true;
      }
    if (!found) seen.emplace_back(name, 1);
    if (!stanza_ns(n)) continue;
    const std::string path = "/body/" + name + "[" + std::to_string(index) + "]";
    if (name == "message")
      decode_message(c, n, path, out);
    else if (name == "iq")
      decode_iq(c, n, out);
  }
  return {};
}

}  // namespace

bool classify_bosh(const request_head& head) noexcept {
  if (head.method != "POST") return false;
  const std::string_view p = head.path;
  // Every accepted ending ends in one of these letters: one look rules out most paths.
  if (p.empty() || std::string_view("dDpPhH/").find(p.back()) == std::string_view::npos)
    return false;
  return wire::iends_with(p, "/http-bind") || wire::iends_with(p, "/http-bind/") ||
         wire::iends_with(p, "/http-bind.php") || wire::iends_with(p, "/bosh") ||
         wire::iends_with(p, "/bosh/") || wire::iends_with(p, "/xmpp-httpbind");
}

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  if (x.request.body.empty()) return {errc::truncated, "bosh: empty request body"};
  context c{x, direction::outbound, {}};
  return decode_body(c, x.request.body, out);
}

decode_error decode_response(const exchange& x, std::vector<chat_event>& out) {
  if (!x.response || x.response->body.empty()) return {};
  context c{x, direction::inbound, {}};
  // The sid of the request names the session; a session creation response carries its own.
  pugi::xml_document req;
  if (!x.request.body.empty() && !content::parse_xml(x.request.body, x.limits, req))
    if (const std::string sid = req.document_element().attribute("sid").value(); !sid.empty())
      c.session_key = wire::short_digest(sid);
  return decode_body(c, x.response->body, out);
}

decode_error rewrite(std::string& body, const location& at, std::string_view replacement) {
  if (at.path.size() != 1 || at.path[0].kind != layer_kind::xml)
    return {errc::malformed_xml, "rewrite: bosh locations are one xml layer"};
  pugi::xml_document doc;
  if (auto err = content::parse_xml(body, limits{}, doc)) return err;
  std::string_view path = at.path[0].key;
  pugi::xml_node node = doc;
  bool first = true;
  while (!path.empty()) {
    if (path[0] != '/') return {errc::malformed_xml, "rewrite: bad xml path"};
    path.remove_prefix(1);
    const std::size_t next = path.find('/');
    std::string_view step = path.substr(0, next);
    path = next == std::string_view::npos ? std::string_view() : path.substr(next);
    std::size_t index = 1;
    if (const std::size_t br = step.find('['); br != std::string_view::npos) {
      const std::string_view digits = step.substr(br + 1, step.size() - br - 2);
      if (step.back() != ']' || digits.empty() || digits.size() > 6 ||
          digits.find_first_not_of("0123456789") != std::string_view::npos)
        return {errc::malformed_xml, "rewrite: bad index in xml path"};
      index = std::stoul(std::string(digits));
      step = step.substr(0, br);
    }
    pugi::xml_node found;
    std::size_t seen = 0;
    for (pugi::xml_node ch = node.first_child(); ch; ch = ch.next_sibling()) {
      if (ch.type() != pugi::node_element || local_name(ch) != step) continue;
      // Below a stanza only the jabber:client (or inherited) element is the message text.
      if (!first && step == "body" && !stanza_ns(ch)) continue;
      if (++seen == index) {
        found = ch;
        break;
      }
    }
    if (!found) return {errc::malformed_xml, "rewrite: no element " + std::string(step)};
    node = found;
    first = false;
  }
  while (node.first_child()) node.remove_child(node.first_child());
  node.append_child(pugi::node_pcdata).set_value(std::string(replacement).c_str());
  // A message's XHTML-IM alternative would still show the old words: drop it, so clients fall
  // back to the rewritten plain body.
  if (local_name(node) == "body" && local_name(node.parent()) == "message") {
    if (pugi::xml_node html = child_ns(node.parent(), "html", xhtml_im_ns))
      node.parent().remove_child(html);
  }
  std::ostringstream os;
  doc.save(os, "", pugi::format_raw | pugi::format_no_declaration, pugi::encoding_utf8);
  body = os.str();
  return {};
}

// ---------------------------------------------------------------------------------------------
// XEP-0363 PUT

bool classify_upload(const request_head& head) noexcept {
  if (head.method != "PUT") return false;
  const std::string_view p = head.path;
  auto segments = [&]() {
    std::size_t n = 0;
    for (char ch : p)
      if (ch == '/') ++n;
    return n;
  }();
  if (segments < 3) return false;  // /<dir>/<slot id>/<file name> at least
  for (std::string_view prefix : {"/upload/", "/file_share/", "/httpfileupload/", "/http_upload/"})
    if (p.substr(0, prefix.size()) == prefix) return true;
  const std::string_view h = head.host;
  return h.substr(0, 7) == "upload." || h.substr(0, 6) == "share." ||
         h.substr(0, 12) == "httpupload.";
}

decode_error decode_upload(const exchange& x, std::vector<chat_event>& out) {
  const auto& head = x.request.head;
  chat_event e;
  e.kind = event_kind::upload;
  e.app = "xmpp";
  e.transport = std::string(upload_decoder.name);
  e.direction = direction::outbound;
  attachment a;
  a.name = last_segment(head.path);
  a.media_type = head.media_type();
  a.bytes = x.request.body;
  a.size = x.request.body.size();
  a.sha256 = sha256_hex(x.request.body);
  a.ref = "https://" + head.host + head.path;
  bool known = false;
  if (x.sessions) {
    if (auto saved = x.sessions->get("bosh:slot:" + head.host + head.path)) {
      content::json_arena v_arena;
      json::value v(v_arena.storage());
      if (!content::parse_json(*saved, x.limits, v)) {
        known = true;
        if (auto g = content::string_at(v, "/get"); g && !g->empty()) {
          e.attributes.emplace_back("get_url", *g);
          a.ref = *g;  // what the message that shares the file will carry
        }
        if (auto n = content::string_at(v, "/name"); n && !n->empty()) a.name = *n;
        if (auto t = content::string_at(v, "/type"); t && !t->empty() && a.media_type.empty())
          a.media_type = *t;
        if (auto j = content::string_at(v, "/jid"); j && !j->empty())
          e.sender = party{*j, {}, identity_source::learned};
        if (auto s = content::string_at(v, "/session")) e.session_key = *s;
      }
    }
  }
  if (e.sender.id.empty()) e.sender = wire::proxy_party(x);
  e.attributes.emplace_back("slot_known", known ? "true" : "false");
  e.attachments.push_back(std::move(a));
  out.push_back(std::move(e));
  return {};
}

// ---------------------------------------------------------------------------------------------
// Replies

namespace {

std::string serialize(const pugi::xml_document& doc) {
  std::ostringstream os;
  doc.save(os, "", pugi::format_raw | pugi::format_no_declaration, pugi::encoding_utf8);
  return os.str();
}

}  // namespace

std::string session_of_exchange(const exchange& x) {
  pugi::xml_document doc;
  if (content::parse_xml(x.request.body, limits{}, doc)) return {};
  return wire::short_digest(doc.document_element().attribute("sid").value());
}

http_reply render_block(const exchange&, const chat_event&, const notice&) {
  // Refusing the whole request loses its rid, after which the connection manager ends the
  // session anyway: end it now with the terminal condition meant for this (XEP-0124, HTTP 200),
  // so the client says why instead of failing on a gap. strip is the gentle way.
  pugi::xml_document doc;
  pugi::xml_node b = doc.append_child("body");
  b.append_attribute("type") = "terminate";
  b.append_attribute("condition") = "policy-violation";
  b.append_attribute("xmlns") = std::string(httpbind_ns).c_str();
  return replies::body_reply(200, "text/xml; charset=utf-8", serialize(doc));
}

// Removes the stanza the location's first step below <body/> names ("/body/message[2]/...");
// the rid, sid and the other stanzas stay. An emptied <body/> is a valid empty request.
decode_error strip(std::string& body, const location& at) {
  if (at.path.size() != 1 || at.path[0].kind != layer_kind::xml)
    return {errc::malformed_xml, "strip: bosh locations are one xml layer"};
  std::string_view path = at.path[0].key;
  if (path.substr(0, 6) != "/body/") return {errc::malformed_xml, "strip: path not below <body/>"};
  path.remove_prefix(6);
  std::string_view step = path.substr(0, path.find('/'));
  std::size_t index = 1;
  if (const std::size_t br = step.find('['); br != std::string_view::npos) {
    if (step.back() != ']') return {errc::malformed_xml, "strip: bad index in xml path"};
    const auto i = replies::frame_index(step.substr(br + 1, step.size() - br - 2));
    if (!i || *i == 0) return {errc::malformed_xml, "strip: bad index in xml path"};
    index = *i;
    step = step.substr(0, br);
  }
  pugi::xml_document doc;
  if (auto err = content::parse_xml(body, limits{}, doc)) return err;
  pugi::xml_node root = doc.document_element();
  if (!root || local_name(root) != "body" || namespace_of(root) != httpbind_ns)
    return {errc::malformed_frame, "strip: the document is not a httpbind <body/>"};
  std::size_t seen = 0;
  for (pugi::xml_node ch = root.first_child(); ch; ch = ch.next_sibling()) {
    if (ch.type() != pugi::node_element || local_name(ch) != step) continue;
    if (++seen == index) {
      root.remove_child(ch);
      body = serialize(doc);
      return {};
    }
  }
  return {errc::malformed_xml, "strip: no stanza " + std::string(step)};
}

// Appends to a response <body/>: when the notice answers a message (notice::reply_to), that
// message's error stanza (RFC 6120 policy-violation with the text), which clients show on the
// failed message; then the notice as a message from the conversation's JID with resource
// "imcap": type groupchat (occupant "imcap") for a room seen in this client's sends, else type
// chat. Clients show it in that conversation (for a 1:1 chat, under the contact's name with
// the resource "imcap": the notice text must say it comes from policy).
decode_error inject_notice(std::string& body, const exchange& x, const notice& n) {
  if (n.conversation_id.empty()) return {errc::malformed_frame, "bosh: the notice names no JID"};
  pugi::xml_document doc;
  if (auto err = content::parse_xml(body, limits{}, doc)) return err;
  pugi::xml_node root = doc.document_element();
  if (!root || local_name(root) != "body" || namespace_of(root) != httpbind_ns)
    return {errc::malformed_frame, "bosh: the answer is not a httpbind <body/>"};
  if (std::string_view(root.attribute("type").value()) == "terminate")
    return {errc::malformed_frame, "bosh: the session is ending"};
  const std::string room = bare(n.conversation_id);
  const bool groupchat = x.sessions != nullptr && x.sessions->get(room_key(room)).has_value();
  const std::string text = replies::xml_safe(replies::text_of(n));
  if (!n.reply_to.empty()) {
    pugi::xml_node m = root.append_child("message");
    m.append_attribute("xmlns") = std::string(client_ns).c_str();
    m.append_attribute("from") = room.c_str();
    m.append_attribute("type") = "error";
    m.append_attribute("id") = n.reply_to.c_str();
    pugi::xml_node e = m.append_child("error");
    e.append_attribute("type") = "modify";
    e.append_child("policy-violation").append_attribute("xmlns") =
        "urn:ietf:params:xml:ns:xmpp-stanzas";
    pugi::xml_node t = e.append_child("text");
    t.append_attribute("xmlns") = "urn:ietf:params:xml:ns:xmpp-stanzas";
    t.append_child(pugi::node_pcdata).set_value(text.c_str());
  }
  pugi::xml_node m = root.append_child("message");
  m.append_attribute("xmlns") = std::string(client_ns).c_str();
  m.append_attribute("from") = (room + "/" + std::string(replies::sender)).c_str();
  m.append_attribute("type") = groupchat ? "groupchat" : "chat";
  m.append_attribute("id") = replies::id_of(n).c_str();
  m.append_child("body").append_child(pugi::node_pcdata).set_value(text.c_str());
  body = serialize(doc);
  return {};
}

http_reply render_block_upload(const exchange&, const chat_event&, const notice& n) {
  // The upload service refuses the PUT; the client reports the failed upload.
  return replies::body_reply(403, "text/plain; charset=utf-8", replies::text_of(n));
}

const decoder bosh_decoder{
    .name = "bosh",
    .app = "xmpp",
    .family = "bosh",
    .classify = &classify_bosh,
    .decode_request = &decode_request,
    .decode_response = &decode_response,
    .rewrite = &rewrite,
    // session_of: null. The sid is in the request body (session_of_exchange), never the head.
    .session_of_exchange = &session_of_exchange,
    .render_block = &render_block,
    .strip = &strip,
    .inject_notice = &inject_notice,
};

const decoder upload_decoder{
    .name = "xmpp-upload",
    .app = "xmpp",
    .family = "bosh",
    .classify = &classify_upload,
    .decode_request = &decode_upload,
    .decode_response = nullptr,
    .rewrite = nullptr,
    // session_of: null. The PUT names no session; the slot remembered from the BOSH session
    // supplies it while decoding. strip / inject_notice: null (raw bytes, no answer body).
    .render_block = &render_block_upload,
};

}  // namespace imcap::modules::bosh
