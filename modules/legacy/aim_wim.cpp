// AIM/ICQ WIM decoder. Parameter and event names from the archived developer.aim.com
// reference and aimapi-core example, and open-oscar-server's webapi handlers and event types
// (im-transports §4.3).

#include "modules/legacy/aim_wim.hpp"

#include <boost/json.hpp>
#include <pugixml.hpp>

#include "modules/content/form.hpp"
#include "modules/content/json.hpp"
#include "modules/content/rewrite.hpp"
#include "modules/content/xml.hpp"
#include "modules/replies.hpp"
#include "modules/session.hpp"
#include "modules/wire.hpp"

namespace imcap::modules::aim {

namespace json = boost::json;

namespace {

using wire::str;

constexpr std::string_view app_id = "aim";

enum class endpoint : std::uint8_t {
  none,           // not a WIM endpoint we decode
  send_im,        // .../im/sendIM
  fetch_events,   // .../aim/fetchEvents (long poll)
  start_session,  // .../aim/startSession (identity)
};

endpoint endpoint_of(const request_head& h) noexcept {
  if (wire::ends_with(h.path, "/im/sendIM")) return endpoint::send_im;
  if (wire::ends_with(h.path, "/aim/fetchEvents")) return endpoint::fetch_events;
  if (wire::ends_with(h.path, "/aim/startSession")) return endpoint::start_session;
  return endpoint::none;
}

std::string user_key(const std::string& sk) {
  return "aim:user:" + sk;
}

// A request parameter: the form body first (sendIM may POST it), then the query.
struct params {
  std::vector<content::form_field> form;
  const request_head* head = nullptr;

  std::optional<std::string> get(std::string_view name) const {
    if (const std::string* v = content::form_value(form, name)) return *v;
    return head->query_param(name);
  }
  bool in_form(std::string_view name) const { return content::form_value(form, name) != nullptr; }
};

// Text of an HTML-ish message: markup that parses (wrapped in one root) gives its character
// data with entities decoded; anything else is kept as sent.
void set_text(std::string_view message, const limits& lim, chat_event& e) {
  const bool markup = message.find('<') != std::string_view::npos;
  if (markup) e.html = std::string(message);
  if (!markup && message.find('&') == std::string_view::npos) {
    e.text = std::string(message);
    return;
  }
  pugi::xml_document doc;
  std::string wrapped = "<m>";
  wrapped += message;
  wrapped += "</m>";
  if (content::parse_xml(wrapped, lim, doc)) {
    e.text = std::string(message);
    return;
  }
  struct collect : pugi::xml_tree_walker {
    std::string text;
    bool for_each(pugi::xml_node& n) override {
      if (n.type() == pugi::node_pcdata || n.type() == pugi::node_cdata) text += n.value();
      return true;
    }
  } walker;
  doc.traverse(walker);
  e.text = std::move(walker.text);
}

chat_event base_event(direction d, const std::string& sk) {
  chat_event e;
  e.app = app_id;
  e.transport = descriptor.name;
  e.direction = d;
  e.session_key = sk;
  return e;
}

party learned_user(const exchange& x, const std::string& sk) {
  if (x.sessions != nullptr && !sk.empty()) {
    if (auto v = x.sessions->get(user_key(sk))) {
      content::json_arena u_arena;
      json::value u(u_arena.storage());
      if (!content::parse_json(*v, x.limits, u))
        return party{str(u, "aimId"), str(u, "displayId"), identity_source::learned};
    }
  }
  return {};
}

void learn_user(const exchange& x, const std::string& sk, const json::value& info) {
  if (x.sessions == nullptr || sk.empty() || str(info, "aimId").empty()) return;
  json::object o;
  o["aimId"] = str(info, "aimId");
  o["displayId"] = str(info, "displayId");
  x.sessions->put(user_key(sk), json::serialize(o));
}

decode_error decode_send(const exchange& x, std::vector<chat_event>& out) {
  const auto& h = x.request.head;
  params p;
  p.head = &h;
  if (h.media_type() == "application/x-www-form-urlencoded")
    if (auto err = content::parse_form(x.request.body, x.limits, p.form)) return err;
  const std::string sk = wire::short_digest(p.get("aimsid").value_or(""));
  chat_event e = base_event(direction::outbound, sk);
  e.sender = learned_user(x, sk);
  if (e.sender.id.empty() && !x.proxy_user.empty()) e.sender = wire::proxy_party(x);
  const std::string to = p.get("t").value_or("");
  if (!to.empty()) {
    e.recipients.push_back(party{to, {}, identity_source::body});
    e.conversation_id = to;
  }
  const auto message = p.get("message");
  if (!message) return {errc::malformed_form, "aim: sendIM without a message parameter"};
  set_text(*message, x.limits, e);
  // Only the form body can be rewritten; a message in the query is reported as is.
  if (p.in_form("message")) e.text_at.path.push_back({layer_kind::form, "message"});
  e.client_msg_id = p.get("r").value_or("");
  if (p.get("autoResponse").value_or("") == "1" || p.get("autoResponse").value_or("") == "true")
    e.attributes.emplace_back("auto_response", "true");
  if (p.get("offlineIM").value_or("") == "1" || p.get("offlineIM").value_or("") == "true")
    e.attributes.emplace_back("offline", "true");
  out.push_back(std::move(e));
  return {};
}

// JSON answer text, unwrapped from "callback({...});" when the request asked for JSONP.
std::string_view answer_json(const exchange& x) {
  std::string_view body = x.response->body;
  const auto cb = x.request.head.query_param("c");
  if (!cb || cb->empty()) return body;
  while (!body.empty() && (body.front() == ' ' || body.front() == '\n')) body.remove_prefix(1);
  if (!wire::starts_with(body, *cb)) return body;
  const std::size_t open = body.find('(');
  const std::size_t close = body.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return body;
  return body.substr(open + 1, close - open - 1);
}

void im_event(const exchange& x, const json::value& ev, std::size_t i, const std::string& sk,
              bool jsonp, std::vector<chat_event>& out) {
  const auto* data = content::at_pointer(ev, "/eventData");
  if (data == nullptr) return;
  chat_event e = base_event(direction::inbound, sk);
  const auto* src = content::at_pointer(*data, "/source");
  if (src != nullptr)
    e.sender = party{str(*src, "aimId"), str(*src, "displayId"), identity_source::body};
  e.conversation_id = e.sender.id;
  const party me = learned_user(x, sk);
  if (!me.id.empty()) e.recipients.push_back(me);
  const std::string message = str(*data, "message");
  set_text(message, x.limits, e);
  if (!jsonp)
    e.text_at.path.push_back(
        {layer_kind::json, "/response/data/events/" + std::to_string(i) + "/eventData/message"});
  if (auto ts = wire::int_at(*data, "/timestamp")) e.timestamp = wire::rfc3339_from_unix_s(*ts);
  if (auto id = content::id_at(*data, "/msgId")) e.server_msg_id = *id;
  if (auto a = wire::int_at(*data, "/autoresponse"); a && *a != 0)
    e.attributes.emplace_back("auto_response", "true");
  out.push_back(std::move(e));
}

void identity_event(const exchange& x, const json::value& info, const std::string& sk,
                    std::vector<chat_event>& out) {
  if (str(info, "aimId").empty()) return;
  chat_event e = base_event(direction::inbound, sk);
  e.kind = event_kind::identity;
  e.sender = party{str(info, "aimId"), str(info, "displayId"), identity_source::body};
  learn_user(x, sk, info);
  out.push_back(std::move(e));
}

}  // namespace

bool classify(const request_head& head) noexcept {
  return endpoint_of(head) != endpoint::none;
}

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  if (endpoint_of(x.request.head) != endpoint::send_im) return {};
  return decode_send(x, out);
}

decode_error decode_response(const exchange& x, std::vector<chat_event>& out) {
  if (x.response == nullptr || x.response->status != 200 || x.response->body.empty()) return {};
  const endpoint ep = endpoint_of(x.request.head);
  if (ep != endpoint::fetch_events && ep != endpoint::start_session) return {};
  const std::string_view text = answer_json(x);
  const bool jsonp = text.size() != x.response->body.size();
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (auto err = content::parse_json(text, x.limits, v)) return err;
  if (wire::int_at(v, "/response/statusCode").value_or(0) != 200) return {};
  const auto* data = content::at_pointer(v, "/response/data");
  if (data == nullptr) return {errc::malformed_json, "aim: answer without response.data"};
  if (ep == endpoint::start_session) {
    // The session id is new here: key the session by the aimsid the answer hands out.
    const std::string sk = wire::short_digest(str(*data, "aimsid"));
    if (const auto* info = content::at_pointer(*data, "/myInfo")) identity_event(x, *info, sk, out);
    return {};
  }
  const std::string sk = wire::short_digest(x.request.head.query_param("aimsid").value_or(""));
  const auto* events = content::at_pointer(*data, "/events");
  if (events == nullptr) return {};
  if (!events->is_array()) return {errc::malformed_json, "aim: events is not an array"};
  const auto& arr = events->get_array();
  for (std::size_t i = 0; i < arr.size(); ++i) {
    if (i >= x.limits.max_parts)
      return {errc::too_many_parts,
              "aim: more than " + std::to_string(x.limits.max_parts) + " events"};
    const std::string type = str(arr[i], "type");
    if (type == "im") im_event(x, arr[i], i, sk, jsonp, out);
    if (type == "myInfo")
      if (const auto* info = content::at_pointer(arr[i], "/eventData"))
        identity_event(x, *info, sk, out);
  }
  return {};
}

decode_error rewrite(std::string& body, const location& at, std::string_view replacement) {
  return content::rewrite_path(body, at.path, replacement, limits{});
}

// --- replies --------------------------------------------------------------------------------

std::string session_of(const request_head& head) {
  if (endpoint_of(head) == endpoint::start_session) return {};  // the answer names it
  return wire::short_digest(head.query_param("aimsid").value_or(""));
}

// The WIM envelope with a non-200 statusCode and the text in statusText, which aimapi clients
// display (im-transports §4.3). 403 is our choice: the archived status table was not
// retrieved, so the exact code the old clients expected is unverified. JSONP when asked (c=).
http_reply render_block(const exchange& x, const chat_event&, const notice& n) {
  json::object r;
  r["statusCode"] = 403;
  r["statusText"] = replies::text_of(n);
  if (auto id = x.request.head.query_param("r")) r["requestId"] = *id;
  const json::object env{{"response", std::move(r)}};
  if (auto cb = x.request.head.query_param("c"); cb && !cb->empty())
    return replies::body_reply(200, "text/javascript; charset=utf-8",
                               *cb + "(" + json::serialize(env) + ");");
  return replies::json_reply(200, env);
}

// An "im" event from imcap appended to a fetchEvents answer's events (message as escaped
// character data, which WIM clients render as HTML). fetchBaseURL and the seqNum are left as
// they are, so the next fetch continues where the server meant it to.
decode_error inject_notice(std::string& body, const exchange& x, const notice& n) {
  if (endpoint_of(x.request.head) != endpoint::fetch_events)
    return {errc::malformed_frame, "aim: notices go into fetchEvents answers only"};
  // JSONP (c=callback): the JSON between the call's parentheses.
  std::size_t offset = 0, length = body.size();
  if (auto cb = x.request.head.query_param("c"); cb && !cb->empty()) {
    const std::size_t open = body.find('(');
    const std::size_t close = body.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open)
      return {errc::malformed_json, "aim: JSONP answer without (...)"};
    offset = open + 1;
    length = close - open - 1;
  }
  json::value v;
  if (auto err = replies::parse(std::string_view(body).substr(offset, length), v)) return err;
  std::error_code ec;
  json::value* data = v.find_pointer("/response/data", ec);
  if (data == nullptr || !data->is_object())
    return {errc::malformed_json, "aim: answer without response.data"};
  json::value& events = data->as_object()["events"];
  if (events.is_null()) events = json::array{};
  if (!events.is_array()) return {errc::malformed_json, "aim: events is not an array"};
  json::object ed;
  ed["source"] = json::object{{"aimId", replies::sender}, {"displayId", replies::sender}};
  ed["message"] = replies::xml_escape(replies::text_of(n));
  ed["timestamp"] = replies::notice_ms(n) / 1000;
  ed["autoresponse"] = 0;
  ed["msgId"] = replies::id_of(n);
  events.as_array().emplace_back(json::object{{"type", "im"}, {"eventData", std::move(ed)}});
  body.replace(offset, length, json::serialize(v));
  return {};
}

}  // namespace imcap::modules::aim
