// Mattermost API v4 decoder. Field names follow the CreatePostRequest / FileInfo / PostList
// schemas of the v4 OpenAPI reference (im-transports §3.4).

#include "modules/mattermost/mattermost.hpp"

#include <boost/json.hpp>

#include "modules/content/json.hpp"
#include "modules/content/multipart.hpp"
#include "modules/content/rewrite.hpp"
#include "modules/replies.hpp"
#include "modules/session.hpp"
#include "modules/wire.hpp"

namespace imcap::modules::mattermost {

namespace json = boost::json;

namespace {

using wire::str;

constexpr std::string_view app_id = "mattermost";
constexpr std::string_view api = "/api/v4/";

enum class endpoint : std::uint8_t {
  none,           // not a Mattermost chat endpoint
  create_post,    // POST /api/v4/posts
  patch_post,     // PUT /api/v4/posts/{id}/patch (edit)
  upload,         // POST /api/v4/files
  channel_posts,  // GET /api/v4/channels/{id}/posts (history)
  thread,         // GET /api/v4/posts/{id}/thread (history)
  me,             // GET /api/v4/users/me (identity)
  login,          // POST /api/v4/users/login (identity; the request holds a password: not read)
};

std::size_t count_slashes(std::string_view s) noexcept {
  std::size_t n = 0;
  for (char c : s) n += c == '/' ? 1u : 0u;
  return n;
}

endpoint endpoint_of(const request_head& h) noexcept {
  if (!wire::starts_with(h.path, api)) return endpoint::none;
  const std::string_view rest = std::string_view(h.path).substr(api.size());
  const std::string_view m = h.method;
  if (m == "POST" && rest == "posts") return endpoint::create_post;
  if (m == "POST" && rest == "files") return endpoint::upload;
  if (m == "GET" && rest == "users/me") return endpoint::me;
  if (m == "POST" && rest == "users/login") return endpoint::login;
  if (count_slashes(rest) != 2) return endpoint::none;
  if (m == "PUT" && wire::starts_with(rest, "posts/") && wire::ends_with(rest, "/patch"))
    return endpoint::patch_post;
  if (m == "GET" && wire::starts_with(rest, "posts/") && wire::ends_with(rest, "/thread"))
    return endpoint::thread;
  if (m == "GET" && wire::starts_with(rest, "channels/") && wire::ends_with(rest, "/posts"))
    return endpoint::channel_posts;
  return endpoint::none;
}

std::string session_key_of(const request_head& h) {
  if (auto c = wire::cookie(h.headers, "MMAUTHTOKEN")) return wire::short_digest(*c);
  if (auto b = wire::bearer_token(h.headers)) return wire::short_digest(*b);
  return {};
}

std::string user_key(const std::string& sk) {
  return "mattermost:user:" + sk;
}
std::string file_key(std::string_view id) {
  return "mattermost:file:" + std::string(id);
}
std::string pending_key(const std::string& sk, std::string_view client_id) {
  return "mattermost:upload:" + sk + ":" + std::string(client_id);
}

// The sender of an outbound request: the user learned for this session, else the proxy user.
party sender_of(const exchange& x, const std::string& sk) {
  if (x.sessions != nullptr && !sk.empty()) {
    if (auto v = x.sessions->get(user_key(sk))) {
      content::json_arena u_arena;
      json::value u(u_arena.storage());
      if (!content::parse_json(*v, x.limits, u)) {
        return party{str(u, "id"), str(u, "username"), identity_source::learned};
      }
    }
  }
  return wire::proxy_party(x);
}

void learn_user(const exchange& x, const std::string& sk, std::string_view id,
                std::string_view username) {
  if (x.sessions == nullptr || sk.empty() || id.empty()) return;
  json::object o;
  o["id"] = id;
  o["username"] = username;
  x.sessions->put(user_key(sk), json::serialize(o));
}

chat_event base_event(direction d, const std::string& sk) {
  return wire::new_event(app_id, descriptor.name, d, sk);
}

// file_ids of a post: references to earlier uploads, resolved from the session store.
decode_error add_file_refs(const exchange& x, const json::value& post, std::string_view base,
                           chat_event& e) {
  const auto* ids = content::at_pointer(post, "/file_ids");
  if (ids == nullptr || !ids->is_array()) return {};
  const auto& arr = ids->get_array();
  if (arr.size() > x.limits.max_parts)
    return {errc::too_many_parts, "mattermost: " + std::to_string(arr.size()) + " file_ids"};
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const auto* id = arr[i].if_string();
    if (id == nullptr || id->empty()) continue;
    attachment a;
    a.ref = std::string(*id);
    a.at.path.push_back({layer_kind::json, std::string(base) + "/file_ids/" + std::to_string(i)});
    if (x.sessions != nullptr)
      if (auto rec = x.sessions->get(file_key(a.ref))) wire::apply_file_record(a, *rec, x.limits);
    e.attachments.push_back(std::move(a));
  }
  return {};
}

decode_error decode_post(const exchange& x, bool edit, std::vector<chat_event>& out) {
  const auto& h = x.request.head;
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (auto err = content::parse_json(x.request.body, x.limits, v)) return err;
  if (!v.is_object()) return {errc::malformed_json, "mattermost: post body is not an object"};
  const std::string sk = session_key_of(h);
  chat_event e = base_event(direction::outbound, sk);
  e.sender = sender_of(x, sk);
  // The web client names its user in the post; the server checks it against the session.
  if (auto uid = str(v, "user_id"); !uid.empty() && e.sender.source != identity_source::learned)
    e.sender = party{uid, {}, identity_source::body};
  e.conversation_id = str(v, "channel_id");
  if (const auto* m = v.get_object().if_contains("message"); m != nullptr && m->is_string()) {
    e.text = std::string(m->get_string());
    e.text_at.path.push_back({layer_kind::json, "/message"});
  }
  e.client_msg_id = str(v, "pending_post_id");
  if (auto root = str(v, "root_id"); !root.empty()) e.attributes.emplace_back("root_id", root);
  if (edit) {
    const std::string id(wire::path_segment(h.path, "/api/v4/posts/", 0));
    e.attributes.emplace_back("edit_of", id);
  }
  if (auto err = add_file_refs(x, v, "", e)) return err;
  out.push_back(std::move(e));
  return {};
}

decode_error decode_upload(const exchange& x, std::vector<chat_event>& out) {
  const auto& h = x.request.head;
  const std::string sk = session_key_of(h);
  const party sender = sender_of(x, sk);
  if (h.media_type() != "multipart/form-data") {
    // Single raw file: POST /api/v4/files?channel_id=...&filename=...
    chat_event e = base_event(direction::outbound, sk);
    e.kind = event_kind::upload;
    e.sender = sender;
    e.conversation_id = h.query_param("channel_id").value_or("");
    attachment a;
    a.name = h.query_param("filename").value_or("");
    a.media_type = h.media_type();
    a.size = x.request.body.size();
    a.sha256 = sha256_hex(x.request.body);
    a.bytes = x.request.body;
    if (x.sessions != nullptr && !a.name.empty())
      x.sessions->put(pending_key(sk, "name:" + a.name), wire::file_record(a));
    e.attachments.push_back(std::move(a));
    out.push_back(std::move(e));
    return {};
  }
  const auto ct = h.headers.get("content-type");
  std::vector<content::multipart_part> parts;
  if (auto err = content::parse_multipart(ct.value_or(""), x.request.body, x.limits, parts))
    return err;
  std::string channel;
  std::vector<std::string> client_ids;
  for (const auto& p : parts) {
    if (p.name == "channel_id") channel = p.body;
    if (p.name == "client_ids") client_ids.push_back(p.body);
  }
  std::size_t file_no = 0;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const auto& p = parts[i];
    if (p.name != "files") continue;
    chat_event e = base_event(direction::outbound, sk);
    e.kind = event_kind::upload;
    e.sender = sender;
    e.conversation_id = channel;
    if (file_no < client_ids.size()) e.client_msg_id = client_ids[file_no];
    attachment a = wire::attachment_of_part(p, i);
    if (x.sessions != nullptr) {
      const std::string id = e.client_msg_id.empty() ? "name:" + a.name : e.client_msg_id;
      x.sessions->put(pending_key(sk, id), wire::file_record(a));
    }
    e.attachments.push_back(std::move(a));
    out.push_back(std::move(e));
    ++file_no;
  }
  return {};
}

// {"file_infos":[{"id","name","size","mime_type"}],"client_ids":[...]}: binds server ids to the
// files the request carried. Learning only; the upload events came from the request.
decode_error learn_upload(const exchange& x, const json::value& v) {
  if (x.sessions == nullptr) return {};
  const std::string sk = session_key_of(x.request.head);
  const auto* infos = content::at_pointer(v, "/file_infos");
  if (infos == nullptr || !infos->is_array()) return {};
  const auto* cids = content::at_pointer(v, "/client_ids");
  const auto& arr = infos->get_array();
  if (arr.size() > x.limits.max_parts)
    return {errc::too_many_parts, "mattermost: " + std::to_string(arr.size()) + " file_infos"};
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::string id = str(arr[i], "id");
    if (id.empty()) continue;
    attachment a;
    a.name = str(arr[i], "name");
    a.media_type = str(arr[i], "mime_type");
    if (auto s = content::id_at(arr[i], "/size")) a.size = wire::to_u64(*s);
    std::string cid;
    if (cids != nullptr && cids->is_array() && i < cids->get_array().size())
      if (const auto* c = cids->get_array()[i].if_string()) cid = std::string(*c);
    const std::string pk = pending_key(sk, cid.empty() ? "name:" + a.name : cid);
    if (auto rec = x.sessions->get(pk)) {
      wire::apply_file_record(a, *rec, x.limits);
      x.sessions->erase(pk);
    }
    x.sessions->put(file_key(id), wire::file_record(a));
  }
  return {};
}

// One post of a PostList (history) as an inbound event.
decode_error post_event(const exchange& x, const json::value& post, std::string_view id,
                        const std::string& sk, std::vector<chat_event>& out) {
  if (!post.is_object()) return {};
  // System posts (joins, header changes) carry no user content.
  if (wire::starts_with(str(post, "type"), "system_")) return {};
  const std::string base = "/posts/" + content::pointer_escape(id);
  chat_event e = base_event(direction::inbound, sk);
  e.sender = party{str(post, "user_id"), {}, identity_source::body};
  e.conversation_id = str(post, "channel_id");
  if (const auto* m = post.get_object().if_contains("message"); m != nullptr && m->is_string()) {
    e.text = std::string(m->get_string());
    e.text_at.path.push_back({layer_kind::json, base + "/message"});
  }
  e.server_msg_id = std::string(id);
  e.client_msg_id = str(post, "pending_post_id");
  if (auto ms = wire::int_at(post, "/create_at")) e.timestamp = wire::rfc3339_from_unix_ms(*ms);
  if (auto root = str(post, "root_id"); !root.empty()) e.attributes.emplace_back("root_id", root);
  if (auto err = add_file_refs(x, post, base, e)) return err;
  // PostList posts carry their files' metadata inline.
  if (const auto* files = content::at_pointer(post, "/metadata/files");
      files != nullptr && files->is_array()) {
    for (const auto& f : files->get_array()) {
      const std::string fid = str(f, "id");
      for (auto& a : e.attachments) {
        if (a.ref != fid) continue;
        a.name = str(f, "name");
        a.media_type = str(f, "mime_type");
        if (auto s = content::id_at(f, "/size")) a.size = wire::to_u64(*s);
      }
    }
  }
  out.push_back(std::move(e));
  return {};
}

decode_error decode_history(const exchange& x, const json::value& v, std::vector<chat_event>& out) {
  const auto* order = content::at_pointer(v, "/order");
  const auto* posts = content::at_pointer(v, "/posts");
  if (order == nullptr || !order->is_array() || posts == nullptr || !posts->is_object())
    return {errc::malformed_json, "mattermost: history without order and posts"};
  const auto& ids = order->get_array();
  const std::string sk = session_key_of(x.request.head);
  std::size_t n = 0;
  for (const auto& idv : ids) {
    if (++n > x.limits.max_parts)
      return {errc::too_many_parts,
              "mattermost: more than " + std::to_string(x.limits.max_parts) + " posts"};
    const auto* id = idv.if_string();
    if (id == nullptr) continue;
    const auto* post = posts->get_object().if_contains(*id);
    if (post == nullptr) continue;
    if (auto err = post_event(x, *post, *id, sk, out)) return err;
  }
  return {};
}

}  // namespace

bool classify(const request_head& head) noexcept {
  return endpoint_of(head) != endpoint::none;
}

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  switch (endpoint_of(x.request.head)) {
    case endpoint::create_post:
      return decode_post(x, false, out);
    case endpoint::patch_post:
      return decode_post(x, true, out);
    case endpoint::upload:
      return decode_upload(x, out);
    default:
      return {};
  }
}

decode_error decode_response(const exchange& x, std::vector<chat_event>& out) {
  if (!wire::success_with_body(x)) return {};
  const endpoint ep = endpoint_of(x.request.head);
  if (ep == endpoint::none) return {};
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (auto err = content::parse_json(x.response->body, x.limits, v)) return err;
  const std::string sk = session_key_of(x.request.head);
  switch (ep) {
    case endpoint::upload:
      return learn_upload(x, v);
    case endpoint::create_post:
    case endpoint::patch_post:
      // The created post names its author: learn it for this session if still unknown.
      if (x.sessions != nullptr && !sk.empty() && !x.sessions->get(user_key(sk)))
        learn_user(x, sk, str(v, "user_id"), {});
      return {};
    case endpoint::channel_posts:
    case endpoint::thread:
      return decode_history(x, v, out);
    case endpoint::me:
    case endpoint::login: {
      // A login answer hands out the session token (header "Token", also the MMAUTHTOKEN
      // cookie): later requests carry it, so the session is keyed by it.
      const std::string key =
          ep == endpoint::login
              ? wire::short_digest(x.response->headers.get("token").value_or(std::string_view{}))
              : sk;
      chat_event e = base_event(direction::inbound, key);
      e.kind = event_kind::identity;
      e.sender = party{str(v, "id"), str(v, "username"), identity_source::body};
      if (e.sender.id.empty()) return {errc::malformed_json, "mattermost: user answer without id"};
      learn_user(x, key, e.sender.id, e.sender.display_name);
      out.push_back(std::move(e));
      return {};
    }
    case endpoint::none:
      return {};
  }
  return {};
}

decode_error rewrite(std::string& body, const location& at, std::string_view replacement) {
  return content::rewrite_path(body, at.path, replacement, limits{});
}

std::string session_of(const request_head& head) {
  return session_key_of(head);
}

// Mattermost's AppError JSON; the webapp marks the post failed and offers a retry.
http_reply render_block(const exchange&, const chat_event&, const notice& n) {
  json::object o;
  o["id"] = "api.context.permissions.app_error";
  o["message"] = replies::text_of(n);
  o["detailed_error"] = "";
  o["request_id"] = replies::id_of(n);
  o["status_code"] = 403;
  return replies::json_reply(403, o);
}

}  // namespace imcap::modules::mattermost
