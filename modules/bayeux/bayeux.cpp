#include "modules/bayeux/bayeux.hpp"

#include <boost/json.hpp>

#include "modules/content/form.hpp"
#include "modules/content/json.hpp"
#include "modules/content/rewrite.hpp"
#include "modules/polling/common.hpp"
#include "modules/wire.hpp"

namespace imcap::modules::bayeux {

namespace json = boost::json;
using polling::with_layer;

namespace {

chat_event new_event(const exchange& x, direction d) {
  chat_event e;
  e.app = "cometd";
  e.transport = std::string(bayeux_decoder.name);
  e.direction = d;
  if (d == direction::outbound) e.sender = wire::proxy_party(x);
  return e;
}

// One Bayeux message; `ptr` locates it inside the JSON document at `base`.
void decode_message(const exchange& x, direction d, const json::value& m, const location& base,
                    const std::string& ptr, std::vector<chat_event>& out) {
  const auto* o = m.if_object();
  if (!o) return;
  const std::string channel = content::string_at(m, "/channel").value_or("");
  if (channel.empty() || channel.rfind("/meta/", 0) == 0) return;
  const json::value* data = o->if_contains("data");
  if (!data) return;  // a publish acknowledgement
  const auto shape = polling::read_chat_shape(*data);
  if (!shape.has_content()) return;
  chat_event e = new_event(x, d);
  polling::apply_shape(shape, base, e, ptr + "/data");
  // The channel is the conversation; a recipient-like field in data does not change that.
  e.conversation_id = channel;
  if (auto id = content::id_at(m, "/id")) {
    if (d == direction::outbound)
      e.client_msg_id = *id;
    else
      e.server_msg_id = *id;
  }
  if (auto client = content::string_at(m, "/clientId")) e.session_key = wire::short_digest(*client);
  if (channel.rfind("/service/", 0) == 0) e.attributes.emplace_back("service", "true");
  out.push_back(std::move(e));
}

decode_error decode_document(const exchange& x, direction d, std::string_view text,
                             const location& base, std::vector<chat_event>& out) {
  json::value v;
  if (auto err = content::parse_json(text, x.limits, v)) return err;
  if (const auto* a = v.if_array()) {
    if (a->size() > x.limits.max_parts)
      return {errc::too_many_parts,
              "bayeux: more than " + std::to_string(x.limits.max_parts) + " messages"};
    for (std::size_t i = 0; i < a->size(); ++i) {
      if (!(*a)[i].is_object())
        return {errc::malformed_json, "bayeux: message " + std::to_string(i) + " is not an object"};
      decode_message(x, d, (*a)[i], base, "/" + std::to_string(i), out);
    }
    return {};
  }
  if (v.is_object()) {
    decode_message(x, d, v, base, "", out);
    return {};
  }
  return {errc::malformed_json, "bayeux: body is neither a message nor an array of messages"};
}

}  // namespace

bool classify(const request_head& head) noexcept {
  if (head.method != "POST" && head.method != "GET") return false;
  const std::string_view p = head.path;
  const bool endpoint = p.find("/cometd") != std::string_view::npos ||
                        wire::iends_with(p, "/faye") || wire::iends_with(p, "/bayeux");
  if (!endpoint) return false;
  // callback-polling GETs carry the messages in the query.
  return head.method == "POST" || polling::query_has(head.query, "message");
}

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  const auto& head = x.request.head;
  if (head.method == "GET") {
    // The query cannot be rewritten through the body: no location.
    auto q = head.query_param("message");
    if (!q) return {};
    std::vector<chat_event> found;
    auto err = decode_document(x, direction::outbound, *q, {}, found);
    for (auto& e : found) {
      e.text_at = {};
      for (auto& a : e.attachments) a.at = {};
      e.attributes.emplace_back("callback_polling", "true");
      out.push_back(std::move(e));
    }
    return err;
  }
  if (x.request.body.empty()) return {errc::truncated, "bayeux: empty request body"};
  if (head.media_type() == "application/x-www-form-urlencoded") {
    std::vector<content::form_field> fields;
    if (auto err = content::parse_form(x.request.body, x.limits, fields)) return err;
    std::size_t nth = 0;
    bool any = false;
    for (const auto& f : fields) {
      if (f.name != "message") continue;
      any = true;
      const std::string key = nth == 0 ? "message" : "message#" + std::to_string(nth);
      ++nth;
      if (auto err = decode_document(x, direction::outbound, f.value,
                                     with_layer({}, layer_kind::form, key), out))
        return err;
    }
    if (!any) return {errc::malformed_form, "bayeux: form without a message field"};
    return {};
  }
  return decode_document(x, direction::outbound, x.request.body, {}, out);
}

decode_error decode_response(const exchange& x, std::vector<chat_event>& out) {
  if (!x.response || x.response->body.empty()) return {};
  std::string_view body = x.response->body;
  // callback-polling answers cb([...]); strip the call.
  if (!body.empty() && body.front() != '[' && body.front() != '{') {
    const std::size_t open = body.find('(');
    const std::size_t close = body.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open)
      return {errc::malformed_json, "bayeux: response is neither JSON nor a callback"};
    std::vector<chat_event> found;
    auto err =
        decode_document(x, direction::inbound, body.substr(open + 1, close - open - 1), {}, found);
    for (auto& e : found) {
      e.text_at = {};
      out.push_back(std::move(e));
    }
    return err;
  }
  return decode_document(x, direction::inbound, body, {}, out);
}

decode_error rewrite(std::string& body, const location& at, std::string_view replacement) {
  return content::rewrite_path(body, at.path, replacement, limits{});
}

const decoder bayeux_decoder{
    .name = "bayeux",
    .app = "cometd",
    .family = "bayeux",
    .classify = &classify,
    .decode_request = &decode_request,
    .decode_response = &decode_response,
    .rewrite = &rewrite,
};

}  // namespace imcap::modules::bayeux
