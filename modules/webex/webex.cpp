#include "modules/webex/webex.hpp"

#include <algorithm>
#include <array>

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

constexpr std::string_view k_app = "webex";
constexpr std::string_view k_name = "webex";
constexpr std::array<std::string_view, 3> k_text_fields = {"text", "markdown", "html"};

enum class endpoint : std::uint8_t {
  none,  // not ours
  send,  // POST /v1/messages
  edit,  // PUT /v1/messages/{id}
  list,  // GET /v1/messages
};

struct route {
  endpoint kind = endpoint::none;
  std::string_view message;
};

route route_of(const request_head& head) noexcept {
  route r;
  if (head.host != "webexapis.com" && head.host != "api.ciscospark.com") return r;
  std::array<std::string_view, 4> seg{};
  std::size_t n = rest::split_path(head.path, seg);
  if (n < 2 || n > 3 || seg[0] != "v1" || seg[1] != "messages") return r;
  if (n == 2 && head.method == "POST") r.kind = endpoint::send;
  if (n == 2 && head.method == "GET") r.kind = endpoint::list;
  if (n == 3 && head.method == "PUT") {
    r.kind = endpoint::edit;
    r.message = seg[2];
  }
  return r;
}

bool classify(const request_head& head) noexcept {
  return route_of(head).kind != endpoint::none;
}

chat_event base_event(direction dir, std::string key) {
  return wire::new_event(k_app, k_name, dir, std::move(key));
}

// Fields shared by JSON and multipart sends, looked up through `get` / `where`.
template <class Get, class Where>
void message_fields(Get get, Where where, chat_event& e) {
  const std::string text = get("text"), markdown = get("markdown"), html = get("html");
  if (!text.empty()) {
    e.text = text;
    e.text_at = where("text");
  } else if (!markdown.empty()) {
    e.text = markdown;
    e.text_at = where("markdown");
  } else if (!html.empty()) {
    e.text = rest::html_to_text(html);
    e.text_at = where("html");
  }
  if (!html.empty()) e.html = html;
  if (!markdown.empty() && !text.empty() && markdown != text)
    e.attributes.emplace_back("markdown", markdown);
  const std::string room = get("roomId"), email = get("toPersonEmail"), person = get("toPersonId");
  e.conversation_id = !room.empty() ? room : (!person.empty() ? person : email);
  if (!person.empty() || !email.empty())
    e.recipients.push_back({!person.empty() ? person : email, "", identity_source::body});
  if (std::string parent = get("parentId"); !parent.empty())
    e.attributes.emplace_back("reply_to", parent);
}

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  const route r = route_of(x.request.head);
  if (r.kind != endpoint::send && r.kind != endpoint::edit) return {};
  const http_request& req = x.request;
  chat_event e = base_event(direction::outbound, wire::authorization_digest(req.head.headers));
  e.sender = rest::learned_or_proxy(x, "webex", e.session_key);
  if (req.head.media_type() == "multipart/form-data") {
    std::vector<content::multipart_part> parts;
    auto ct = req.head.headers.get("content-type");
    if (auto err = content::parse_multipart(ct.value_or(""), req.body, x.limits, parts)) return err;
    auto index_of = [&](std::string_view name) -> std::size_t {
      for (std::size_t i = 0; i < parts.size(); ++i)
        if (parts[i].name == name && !parts[i].has_filename) return i;
      return parts.size();
    };
    auto get = [&](std::string_view name) {
      std::size_t i = index_of(name);
      return i < parts.size() ? parts[i].body : std::string{};
    };
    auto where = [&](std::string_view name) {
      location at;
      if (std::size_t i = index_of(name); i < parts.size())
        at.path.push_back({layer_kind::multipart, std::to_string(i)});
      return at;
    };
    message_fields(get, where, e);
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (!parts[i].has_filename) continue;
      attachment a;
      a.name = parts[i].filename;
      a.media_type = parts[i].media_type;
      a.bytes = parts[i].body;
      a.size = a.bytes.size();
      a.sha256 = sha256_hex(a.bytes);
      a.at.path.push_back({layer_kind::multipart, std::to_string(i)});
      e.attachments.push_back(std::move(a));
    }
  } else {
    if (req.body.empty()) return {errc::malformed_json, "webex: empty message body"};
    content::json_arena doc_arena;
    json::value doc(doc_arena.storage());
    if (auto err = content::parse_json(req.body, x.limits, doc)) return err;
    if (!doc.is_object()) return {errc::malformed_json, "webex: message is not an object"};
    auto get = [&](std::string_view name) { return json_str(doc, pointer_join("", name)); };
    auto where = [&](std::string_view name) {
      location at;
      at.path.push_back({layer_kind::json, pointer_join("", name)});
      return at;
    };
    message_fields(get, where, e);
    if (const json::value* files = content::at_pointer(doc, "/files"); files && files->is_array()) {
      for (std::size_t i = 0; i < files->get_array().size(); ++i) {
        const json::value& f = files->get_array()[i];
        if (!f.is_string()) continue;
        attachment a;
        a.ref = std::string(f.get_string());
        std::string_view path = a.ref;
        if (std::size_t q = path.find_first_of("?#"); q != std::string_view::npos)
          path = path.substr(0, q);
        a.name = std::string(path.substr(path.rfind('/') + 1));
        a.at.path.push_back({layer_kind::json, "/files/" + std::to_string(i)});
        e.attachments.push_back(std::move(a));
      }
    }
  }
  if (r.kind == endpoint::edit) {
    e.server_msg_id = std::string(r.message);
    e.attributes.emplace_back("edit_of", e.server_msg_id);
  }
  out.push_back(std::move(e));
  return {};
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
  if (r.kind != endpoint::list) {
    rest::learn_user(x, "webex", key, json_str(doc, "/personId"), json_str(doc, "/personEmail"));
    return {};
  }
  const json::value* items = content::at_pointer(doc, "/items");
  if (items == nullptr || !items->is_array())
    return {errc::malformed_json, "webex: list response has no items array"};
  for (std::size_t i = 0; i < items->get_array().size(); ++i) {
    const json::value& m = items->get_array()[i];
    if (!m.is_object()) continue;
    const std::string ptr = pointer_join("/items", i);
    chat_event e = base_event(direction::inbound, key);
    auto get = [&](std::string_view name) { return json_str(m, pointer_join("", name)); };
    auto where = [&](std::string_view name) {
      location at;
      at.path.push_back({layer_kind::json, pointer_join(ptr, name)});
      return at;
    };
    message_fields(get, where, e);
    e.recipients.clear();
    e.sender = {json_str(m, "/personId"), json_str(m, "/personEmail"), identity_source::body};
    if (e.sender.id.empty()) e.sender.source = identity_source::unknown;
    e.server_msg_id = json_str(m, "/id");
    e.timestamp = wire::normalize_rfc3339(json_str(m, "/created"));
    if (const json::value* files = content::at_pointer(m, "/files"); files && files->is_array()) {
      for (std::size_t j = 0; j < files->get_array().size(); ++j) {
        if (!files->get_array()[j].is_string()) continue;
        attachment a;
        a.ref = std::string(files->get_array()[j].get_string());
        a.at.path.push_back({layer_kind::json, ptr + "/files/" + std::to_string(j)});
        e.attachments.push_back(std::move(a));
      }
    }
    out.push_back(std::move(e));
  }
  return {};
}

// The same message in every representation: rewriting only `text` would leave `markdown` or
// `html` showing the old content.
decode_error rewrite(std::string& body, const location& at, std::string_view replacement) {
  const limits lim;
  if (at.path.empty()) return {errc::malformed_frame, "webex: empty location"};
  std::string copy = body;
  if (auto err = rest::rewrite_layers(copy, at.path, replacement, lim)) return err;
  const layer& last = at.path.back();
  if (at.path.size() == 1 && last.kind == layer_kind::json) {
    const std::size_t slash = last.key.rfind('/');
    const std::string parent = last.key.substr(0, slash);
    for (std::string_view f : k_text_fields) {
      std::vector<layer> sibling{{layer_kind::json, pointer_join(parent, f)}};
      std::string current;
      if (sibling[0].key == last.key || rest::read_layers(copy, sibling, lim, current)) continue;
      if (auto err = rest::rewrite_layers(copy, sibling, replacement, lim)) return err;
    }
  } else if (at.path.size() == 1 && last.kind == layer_kind::multipart) {
    auto type = rest::multipart_type_from_body(copy);
    std::vector<content::multipart_part> parts;
    if (type && !content::parse_multipart(*type, copy, lim, parts)) {
      for (std::size_t i = parts.size(); i-- > 0;) {
        const auto& p = parts[i];
        if (p.has_filename || std::to_string(i) == last.key) continue;
        if (std::find(k_text_fields.begin(), k_text_fields.end(), p.name) == k_text_fields.end())
          continue;
        std::vector<layer> sibling{{layer_kind::multipart, std::to_string(i)}};
        if (auto err = rest::rewrite_layers(copy, sibling, replacement, lim)) return err;
      }
    }
  }
  body = std::move(copy);
  return {};
}

}  // namespace

namespace {

std::string session_of(const request_head& head) {
  return wire::authorization_digest(head.headers);
}

// Webex API errors: {"message", "errors": [{"description"}], "trackingId"}.
http_reply render_block(const exchange&, const chat_event&, const notice& n) {
  json::object o;
  o["message"] = replies::text_of(n);
  json::array errors;
  errors.emplace_back(json::object{{"description", replies::text_of(n)}});
  o["errors"] = std::move(errors);
  o["trackingId"] = replies::id_of(n);
  return replies::json_reply(403, o);
}

}  // namespace

const decoder webex_decoder{
    .name = k_name,
    .app = k_app,
    .family = "webex",
    .classify = classify,
    .decode_request = decode_request,
    .decode_response = decode_response,
    .rewrite = rewrite,
    .session_of = session_of,
    .render_block = render_block,
    // strip / inject_notice: null. One message per request; the public API has no poll.
};

}  // namespace imcap::modules
