#include "modules/discord/discord.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include <boost/json.hpp>

#include "modules/content/json.hpp"
#include "modules/content/multipart.hpp"
#include "modules/replies.hpp"
#include "modules/rest/rest.hpp"
#include "modules/session.hpp"
#include "modules/wire.hpp"

namespace imcap::modules {
namespace {

namespace json = boost::json;
using wire::json_str;
using wire::pointer_join;

constexpr std::string_view k_app = "discord";
constexpr std::string_view k_name = "discord";

enum class endpoint : std::uint8_t {
  none,     // not ours
  send,     // POST channels/{id}/messages
  edit,     // PATCH channels/{id}/messages/{mid}
  history,  // GET channels/{id}/messages
};

struct route {
  endpoint kind = endpoint::none;
  std::string_view channel;
  std::string_view message_id;
};

bool all_digits(std::string_view s) noexcept {
  return !s.empty() && s.size() <= 20 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

route route_of(const request_head& head) noexcept {
  route r;
  if (!wire::host_under(head.host, "discord.com") && !wire::host_under(head.host, "discordapp.com"))
    return r;
  if (head.host.starts_with("cdn.") || head.host.starts_with("media.")) return r;
  std::array<std::string_view, 8> seg{};
  std::size_t n = rest::split_path(head.path, seg);
  if (n > seg.size() || n < 4 || seg[0] != "api") return r;
  std::size_t i = 1;
  if (seg[1].size() >= 2 && seg[1][0] == 'v' && all_digits(seg[1].substr(1))) i = 2;
  if (n - i < 3 || seg[i] != "channels" || !all_digits(seg[i + 1]) || seg[i + 2] != "messages")
    return r;
  r.channel = seg[i + 1];
  const std::size_t left = n - i;
  if (left == 3 && head.method == "POST") r.kind = endpoint::send;
  if (left == 3 && head.method == "GET") r.kind = endpoint::history;
  if (left == 4 && head.method == "PATCH" && all_digits(seg[i + 3])) {
    r.kind = endpoint::edit;
    r.message_id = seg[i + 3];
  }
  return r;
}

bool classify(const request_head& head) noexcept {
  return route_of(head).kind != endpoint::none;
}

chat_event base_event(direction dir, std::string key) {
  return wire::new_event(k_app, k_name, dir, std::move(key));
}

std::string author_name(const json::value& m) {
  std::string name = json_str(m, "/author/global_name");
  if (name.empty()) name = json_str(m, "/author/username");
  return name;
}

// Fields of a message JSON object (send payload or history entry) at `ptr` inside `doc`;
// `prefix` locates `doc` inside the body.
void message_fields(const json::value& doc, const std::string& ptr, const location& prefix,
                    chat_event& e) {
  const std::string content_ptr = pointer_join(ptr, "content");
  if (const json::value* c = content::at_pointer(doc, content_ptr); c && c->is_string()) {
    e.text = std::string(c->get_string());
    e.text_at = prefix;
    e.text_at.path.push_back({layer_kind::json, content_ptr});
  }
  if (auto nonce = content::id_at(doc, pointer_join(ptr, "nonce"))) e.client_msg_id = *nonce;
  if (auto ref = content::id_at(doc, ptr + "/message_reference/message_id"))
    e.attributes.emplace_back("reply_to", *ref);
  if (const json::value* tts = content::at_pointer(doc, pointer_join(ptr, "tts"));
      tts && tts->is_bool() && tts->get_bool())
    e.attributes.emplace_back("tts", "true");
}

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  const route r = route_of(x.request.head);
  if (r.kind != endpoint::send && r.kind != endpoint::edit) return {};
  const http_request& req = x.request;
  chat_event e = base_event(direction::outbound, wire::authorization_digest(req.head.headers));
  e.conversation_id = std::string(r.channel);
  e.sender = rest::learned_or_proxy(x, "discord", e.session_key);
  if (r.kind == endpoint::edit) {
    e.server_msg_id = std::string(r.message_id);
    e.attributes.emplace_back("edit_of", e.server_msg_id);
  }

  json::value payload;
  location prefix;
  std::vector<content::multipart_part> parts;
  if (req.head.media_type() == "multipart/form-data") {
    auto ct = req.head.headers.get("content-type");
    if (auto err = content::parse_multipart(ct.value_or(""), req.body, x.limits, parts)) return err;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (parts[i].name != "payload_json" || parts[i].has_filename) continue;
      if (auto err = content::parse_json(parts[i].body, x.limits, payload)) return err;
      prefix.path.push_back({layer_kind::multipart, std::to_string(i)});
      break;
    }
    if (prefix.empty()) {
      // Legacy form: top-level fields.
      for (std::size_t i = 0; i < parts.size(); ++i) {
        const auto& p = parts[i];
        if (p.has_filename) continue;
        if (p.name == "content") {
          e.text = p.body;
          e.text_at.path = {{layer_kind::multipart, std::to_string(i)}};
        } else if (p.name == "nonce") {
          e.client_msg_id = p.body;
        } else if (p.name == "tts" && p.body == "true") {
          e.attributes.emplace_back("tts", "true");
        }
      }
    }
  } else {
    if (req.body.empty()) return {errc::malformed_json, "discord: empty message body"};
    if (auto err = content::parse_json(req.body, x.limits, payload)) return err;
  }
  if (!payload.is_null()) {
    if (!payload.is_object()) return {errc::malformed_json, "discord: payload is not an object"};
    message_fields(payload, "", prefix, e);
  }

  // Declared attachments (payload "attachments": [{id, filename, description, uploaded_filename}]).
  const json::array* declared = nullptr;
  if (const json::value* a = content::at_pointer(payload, "/attachments"); a && a->is_array())
    declared = &a->get_array();
  auto declared_for = [&](std::string_view id) -> const json::value* {
    if (declared == nullptr) return nullptr;
    for (const auto& d : *declared)
      if (auto did = content::id_at(d, "/id"); did && *did == id) return &d;
    return nullptr;
  };

  std::vector<std::string> bound;  // attachment ids matched to a file part
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    if (!p.has_filename) continue;
    attachment a = wire::attachment_of_part(p, i);
    // files[n] pairs with attachments[] entry id n.
    if (p.name.starts_with("files[") && p.name.ends_with("]")) {
      std::string id = p.name.substr(6, p.name.size() - 7);
      if (const json::value* d = declared_for(id)) {
        if (std::string fn = json_str(*d, "/filename"); !fn.empty()) a.name = fn;
        bound.push_back(id);
      }
    }
    e.attachments.push_back(std::move(a));
  }
  // Attachments declared without a file part: pre-uploaded (uploaded_filename) or kept ones.
  if (declared != nullptr) {
    for (std::size_t i = 0; i < declared->size(); ++i) {
      const json::value& d = (*declared)[i];
      auto id = content::id_at(d, "/id");
      if (id && std::find(bound.begin(), bound.end(), *id) != bound.end()) continue;
      attachment a;
      a.name = json_str(d, "/filename");
      a.ref = json_str(d, "/uploaded_filename");
      if (a.ref.empty() && id) a.ref = *id;
      a.at = prefix;
      a.at.path.push_back(
          {layer_kind::json,
           "/attachments/" + std::to_string(i) +
               (json_str(d, "/uploaded_filename").empty() ? "/id" : "/uploaded_filename")});
      e.attachments.push_back(std::move(a));
    }
  }
  out.push_back(std::move(e));
  return {};
}

chat_event inbound_message(const json::value& doc, const std::string& ptr, const std::string& key) {
  const json::value& m = *content::at_pointer(doc, ptr);
  chat_event e = base_event(direction::inbound, key);
  e.conversation_id = content::id_at(m, "/channel_id").value_or("");
  e.sender = {content::id_at(m, "/author/id").value_or(""), author_name(m), identity_source::body};
  if (e.sender.id.empty()) e.sender.source = identity_source::unknown;
  message_fields(doc, ptr, location{}, e);
  e.server_msg_id = content::id_at(m, "/id").value_or("");
  e.timestamp = wire::normalize_rfc3339(json_str(m, "/timestamp"));
  if (std::string edited = json_str(m, "/edited_timestamp"); !edited.empty())
    e.attributes.emplace_back("edited_at", wire::normalize_rfc3339(edited));
  if (const json::value* atts = content::at_pointer(m, "/attachments"); atts && atts->is_array()) {
    for (std::size_t j = 0; j < atts->get_array().size(); ++j) {
      const json::value& a_json = atts->get_array()[j];
      attachment a;
      a.name = json_str(a_json, "/filename");
      a.media_type = json_str(a_json, "/content_type");
      if (auto s = content::id_at(a_json, "/size")) {
        std::uint64_t v = 0;
        auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
        if (ec == std::errc{} && p == s->data() + s->size()) a.size = v;
      }
      a.ref = json_str(a_json, "/url");
      a.at.path.push_back({layer_kind::json, ptr + "/attachments/" + std::to_string(j) + "/url"});
      e.attachments.push_back(std::move(a));
    }
  }
  return e;
}

decode_error decode_response(const exchange& x, std::vector<chat_event>& out) {
  if (!wire::success_with_body(x)) return {};
  const route r = route_of(x.request.head);
  if (r.kind == endpoint::none) return {};
  const http_response& res = *x.response;
  content::json_arena doc_arena;
  json::value doc(doc_arena.storage());
  if (auto err = content::parse_json(res.body, x.limits, doc)) return err;
  const std::string key = wire::authorization_digest(x.request.head.headers);
  if (r.kind == endpoint::send || r.kind == endpoint::edit) {
    // The stored message names its author: the token's owner.
    if (auto id = content::id_at(doc, "/author/id"))
      rest::learn_user(x, "discord", key, *id, author_name(doc));
    return {};
  }
  if (!doc.is_array()) return {errc::malformed_json, "discord: history response is not an array"};
  for (std::size_t i = 0; i < doc.get_array().size(); ++i) {
    if (!doc.get_array()[i].is_object()) continue;
    out.push_back(inbound_message(doc, "/" + std::to_string(i), key));
  }
  return {};
}

}  // namespace

namespace {

std::string session_of(const request_head& head) {
  return wire::authorization_digest(head.headers);
}

// Discord's error JSON: {"message", "code"}; 50013 is "Missing Permissions". The client shows
// the message red with "failed to send".
http_reply render_block(const exchange&, const chat_event&, const notice& n) {
  json::object o;
  o["message"] = replies::text_of(n);
  o["code"] = 50013;
  return replies::json_reply(403, o);
}

}  // namespace

const decoder discord_decoder{
    .name = k_name,
    .app = k_app,
    .family = "discord",
    .classify = classify,
    .decode_request = decode_request,
    .decode_response = decode_response,
    .rewrite = rest::rewrite_at,
    .session_of = session_of,
    .render_block = render_block,
    // strip / inject_notice: null. One message per request, and inbound delivery is the gateway
    // WebSocket (invisible to ICAP): there is no poll to carry a notice.
};

}  // namespace imcap::modules
