#include "modules/googlechat/googlechat.hpp"

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

constexpr std::string_view k_app = "google-chat";
constexpr std::string_view k_name = "google-chat";

enum class endpoint : std::uint8_t {
  none,    // not ours
  create,  // POST spaces/{s}/messages
  update,  // PATCH/PUT spaces/{s}/messages/{m}
  list,    // GET spaces/{s}/messages
  upload,  // POST upload/v1/spaces/{s}/attachments:upload
};

struct route {
  endpoint kind = endpoint::none;
  std::string_view space;
  std::string_view message;
};

route route_of(const request_head& head) noexcept {
  route r;
  if (head.host != "chat.googleapis.com") return r;
  std::array<std::string_view, 8> seg{};
  std::size_t n = rest::split_path(head.path, seg);
  if (n > seg.size()) return r;
  const std::string_view m = head.method;
  if (n == 5 && seg[0] == "upload" && seg[1] == "v1" && seg[2] == "spaces" &&
      seg[4] == "attachments:upload" && m == "POST") {
    r.kind = endpoint::upload;
    r.space = seg[3];
    return r;
  }
  if (n < 4 || seg[0] != "v1" || seg[1] != "spaces" || seg[3] != "messages") return r;
  r.space = seg[2];
  if (n == 4 && m == "POST") r.kind = endpoint::create;
  if (n == 4 && m == "GET") r.kind = endpoint::list;
  if (n == 5 && (m == "PATCH" || m == "PUT")) {
    r.kind = endpoint::update;
    r.message = seg[4];
  }
  return r;
}

bool classify(const request_head& head) noexcept {
  return route_of(head).kind != endpoint::none;
}

chat_event base_event(event_kind kind, direction dir, std::string key) {
  return wire::new_event(k_app, k_name, dir, std::move(key), kind);
}

void fill_from_upload(const exchange& x, attachment& a) {
  if (x.sessions == nullptr || a.ref.empty()) return;
  auto rec = x.sessions->get("gchat:upload:" + a.ref);
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (!rec || content::parse_json(*rec, x.limits, v)) return;
  if (a.name.empty()) a.name = json_str(v, "/name");
  if (a.media_type.empty()) a.media_type = json_str(v, "/media_type");
  a.sha256 = json_str(v, "/sha256");
  if (auto s = content::id_at(v, "/size")) {
    std::uint64_t n = 0;
    auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), n);
    if (ec == std::errc{} && p == s->data() + s->size()) a.size = n;
  }
}

// A Message resource at `ptr` in `doc`.
void message_fields(const exchange& x, const json::value& doc, const std::string& ptr,
                    chat_event& e) {
  const json::value& m = *content::at_pointer(doc, ptr);
  const std::string text_ptr = pointer_join(ptr, "text");
  if (const json::value* t = content::at_pointer(doc, text_ptr); t && t->is_string()) {
    e.text = std::string(t->get_string());
    e.text_at.path.push_back({layer_kind::json, text_ptr});
  }
  if (std::string k = json_str(m, "/thread/threadKey"); !k.empty())
    e.attributes.emplace_back("thread_key", k);
  if (std::string t = json_str(m, "/thread/name"); !t.empty())
    e.attributes.emplace_back("thread", t);
  if (std::string v = json_str(m, "/privateMessageViewer/name"); !v.empty())
    e.recipients.push_back({v, "", identity_source::body});
  if (const json::value* atts = content::at_pointer(m, "/attachment"); atts && atts->is_array()) {
    for (std::size_t i = 0; i < atts->get_array().size(); ++i) {
      const json::value& a_json = atts->get_array()[i];
      attachment a;
      a.name = json_str(a_json, "/contentName");
      a.media_type = json_str(a_json, "/contentType");
      std::string field = "/attachmentDataRef/attachmentUploadToken";
      a.ref = json_str(a_json, field);
      if (a.ref.empty()) {
        field = "/attachmentDataRef/resourceName";
        a.ref = json_str(a_json, field);
      }
      if (a.ref.empty()) {
        field = "/driveDataRef/driveFileId";
        a.ref = json_str(a_json, field);
      }
      if (!a.ref.empty()) {
        std::string at = pointer_join(pointer_join(ptr, "attachment"), i);
        at += field;
        a.at.path.push_back({layer_kind::json, std::move(at)});
      }
      fill_from_upload(x, a);
      e.attachments.push_back(std::move(a));
    }
  }
}

decode_error decode_upload(const exchange& x, const route& r, std::vector<chat_event>& out) {
  const http_request& req = x.request;
  chat_event e = base_event(event_kind::upload, direction::outbound,
                            wire::authorization_digest(req.head.headers));
  e.conversation_id = "spaces/" + std::string(r.space);
  e.sender = rest::learned_or_proxy(x, "gchat", e.session_key);
  attachment a;
  const std::string mt = req.head.media_type();
  if (mt.starts_with("multipart/")) {
    std::vector<content::multipart_part> parts;
    auto ct = req.head.headers.get("content-type");
    if (auto err = content::parse_multipart(ct.value_or(""), req.body, x.limits, parts)) return err;
    if (parts.size() < 2)
      return {errc::malformed_multipart, "google-chat: upload needs a metadata and a media part"};
    content::json_arena meta_arena;
    json::value meta(meta_arena.storage());
    if (auto err = content::parse_json(parts[0].body, x.limits, meta)) return err;
    a.name = json_str(meta, "/filename");
    a.media_type = parts[1].media_type;
    a.bytes = parts[1].body;
    a.at.path.push_back({layer_kind::multipart, "1"});
  } else {
    a.media_type = mt;
    a.bytes = req.body;
    a.at.path.push_back({layer_kind::bytes, "0:" + std::to_string(req.body.size())});
  }
  a.size = a.bytes.size();
  a.sha256 = sha256_hex(a.bytes);
  e.attachments.push_back(std::move(a));
  out.push_back(std::move(e));
  return {};
}

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  const route r = route_of(x.request.head);
  if (r.kind == endpoint::upload) return decode_upload(x, r, out);
  if (r.kind != endpoint::create && r.kind != endpoint::update) return {};
  content::json_arena doc_arena;
  json::value doc(doc_arena.storage());
  if (x.request.body.empty()) return {errc::malformed_json, "google-chat: empty message body"};
  if (auto err = content::parse_json(x.request.body, x.limits, doc)) return err;
  if (!doc.is_object()) return {errc::malformed_json, "google-chat: message is not an object"};
  chat_event e = base_event(event_kind::message, direction::outbound,
                            wire::authorization_digest(x.request.head.headers));
  e.conversation_id = "spaces/" + std::string(r.space);
  e.sender = rest::learned_or_proxy(x, "gchat", e.session_key);
  message_fields(x, doc, "", e);
  e.client_msg_id = x.request.head.query_param("messageId").value_or("");
  if (r.kind == endpoint::update) {
    e.server_msg_id = e.conversation_id + "/messages/" + std::string(r.message);
    e.attributes.emplace_back("edit_of", e.server_msg_id);
  }
  if (auto req_id = x.request.head.query_param("requestId"))
    e.attributes.emplace_back("request_id", *req_id);
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
  switch (r.kind) {
    case endpoint::upload: {
      // Remember the upload's digest under the token the message will reference.
      std::vector<chat_event> mine;
      if (decode_upload(x, r, mine) || mine.empty() || x.sessions == nullptr) return {};
      const attachment& a = mine.front().attachments.front();
      json::object rec;
      rec["name"] = a.name;
      rec["media_type"] = a.media_type;
      rec["size"] = static_cast<std::uint64_t>(a.bytes.size());
      rec["sha256"] = a.sha256;
      for (std::string_view f :
           {"/attachmentDataRef/attachmentUploadToken", "/attachmentDataRef/resourceName"})
        if (std::string ref = json_str(doc, f); !ref.empty())
          x.sessions->put("gchat:upload:" + ref, json::serialize(rec));
      return {};
    }
    case endpoint::create:
    case endpoint::update: {
      rest::learn_user(x, "gchat", key, json_str(doc, "/sender/name"),
                       json_str(doc, "/sender/displayName"));
      return {};
    }
    case endpoint::list: {
      const json::value* msgs = content::at_pointer(doc, "/messages");
      if (msgs == nullptr) return {};  // an empty page has no messages member
      if (!msgs->is_array()) return {errc::malformed_json, "google-chat: messages is not an array"};
      for (std::size_t i = 0; i < msgs->get_array().size(); ++i) {
        const json::value& m = msgs->get_array()[i];
        if (!m.is_object()) continue;
        chat_event e = base_event(event_kind::message, direction::inbound, key);
        e.conversation_id = "spaces/" + std::string(r.space);
        e.sender = {json_str(m, "/sender/name"), json_str(m, "/sender/displayName"),
                    identity_source::body};
        if (e.sender.id.empty()) e.sender.source = identity_source::unknown;
        message_fields(x, doc, pointer_join("/messages", i), e);
        e.server_msg_id = json_str(m, "/name");
        e.timestamp = wire::normalize_rfc3339(json_str(m, "/createTime"));
        out.push_back(std::move(e));
      }
      return {};
    }
    case endpoint::none:
      return {};
  }
  return {};
}

}  // namespace

namespace {

std::string session_of(const request_head& head) {
  return wire::authorization_digest(head.headers);
}

// The Google API error envelope.
http_reply render_block(const exchange&, const chat_event&, const notice& n) {
  json::object e;
  e["code"] = 403;
  e["message"] = replies::text_of(n);
  e["status"] = "PERMISSION_DENIED";
  return replies::json_reply(403, json::object{{"error", std::move(e)}});
}

}  // namespace

const decoder google_chat_decoder{
    .name = k_name,
    .app = k_app,
    .family = "googlechat",
    .classify = classify,
    .decode_request = decode_request,
    .decode_response = decode_response,
    .rewrite = rest::rewrite_at,
    .session_of = session_of,
    .render_block = render_block,
    // strip / inject_notice: null. One message per request; the API has no poll (list calls are
    // history, where a made-up message would be stored by the client as real).
};

}  // namespace imcap::modules
