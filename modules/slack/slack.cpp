#include "modules/slack/slack.hpp"

#include <array>
#include <charconv>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "modules/content/form.hpp"
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

constexpr std::string_view k_app = "slack";
constexpr std::string_view k_name = "slack-web";

enum class endpoint : std::uint8_t {
  none,             // not ours
  post,             // chat.postMessage and friends
  upload_slot,      // files.getUploadURLExternal
  upload_bytes,     // POST files.slack.com/upload/...
  upload_complete,  // files.completeUploadExternal
  legacy_upload,    // files.upload
  history,          // conversations.history / conversations.replies
  identity,         // auth.test
};

struct route {
  endpoint kind = endpoint::none;
  std::string_view method;
};

route route_of(const request_head& head) noexcept {
  route r;
  if (head.method != "POST" && head.method != "GET") return r;
  if (head.host == "files.slack.com") {
    if (head.method == "POST" && head.path.starts_with("/upload/")) r.kind = endpoint::upload_bytes;
    return r;
  }
  if (!wire::host_under(head.host, "slack.com")) return r;
  std::string_view p = head.path;
  if (!p.starts_with("/api/")) return r;
  p.remove_prefix(5);
  if (!p.empty() && p.back() == '/') p.remove_suffix(1);
  r.method = p;
  const bool post = head.method == "POST";
  if (p == "chat.postMessage" || p == "chat.postEphemeral" || p == "chat.scheduleMessage" ||
      p == "chat.meMessage" || p == "chat.update") {
    if (post) r.kind = endpoint::post;
  } else if (p == "files.getUploadURLExternal") {
    r.kind = endpoint::upload_slot;
  } else if (p == "files.completeUploadExternal") {
    if (post) r.kind = endpoint::upload_complete;
  } else if (p == "files.upload") {
    if (post) r.kind = endpoint::legacy_upload;
  } else if (p == "conversations.history" || p == "conversations.replies") {
    r.kind = endpoint::history;
  } else if (p == "auth.test") {
    r.kind = endpoint::identity;
  }
  return r;
}

bool classify(const request_head& head) noexcept {
  return route_of(head).kind != endpoint::none;
}

// ---- method arguments: form, JSON, multipart or query string ----

class arguments {
 public:
  decode_error parse(const http_request& req, const limits& lim) {
    const std::string mt = req.head.media_type();
    if (req.body.empty()) {
      kind_ = source::query;
    } else if (mt == "application/json") {
      kind_ = source::json_body;
      if (auto e = content::parse_json(req.body, lim, doc_)) return e;
      if (!doc_.is_object())
        return {errc::malformed_json, "slack: arguments are not a JSON object"};
    } else if (mt == "multipart/form-data") {
      kind_ = source::multipart;
      auto ct = req.head.headers.get("content-type");
      if (auto e = content::parse_multipart(ct.value_or(""), req.body, lim, parts_)) return e;
    } else {
      // Slack's default (and what it assumes without a Content-Type).
      kind_ = source::form;
      if (auto e = content::parse_form(req.body, lim, form_)) return e;
    }
    head_ = &req.head;
    return {};
  }

  bool is_json() const noexcept { return kind_ == source::json_body; }
  const json::value& doc() const noexcept { return doc_; }
  const std::vector<content::multipart_part>& parts() const noexcept { return parts_; }

  // The argument as text (JSON scalars as their text), or nullopt.
  std::optional<std::string> get(std::string_view name) const {
    switch (kind_) {
      case source::form:
        if (const std::string* v = content::form_value(form_, name)) return *v;
        break;
      case source::json_body: {
        const std::string ptr = pointer_join("", name);
        if (auto s = content::string_at(doc_, ptr)) return s;
        if (auto id = content::id_at(doc_, ptr)) return id;
        if (const json::value* v = content::at_pointer(doc_, ptr); v && v->is_bool())
          return v->get_bool() ? "true" : "false";
        break;
      }
      case source::multipart:
        for (const auto& part : parts_)
          if (part.name == name && !part.has_filename) return part.body;
        break;
      case source::query:
        break;
    }
    if (head_ != nullptr) return head_->query_param(name);
    return std::nullopt;
  }

  std::string str(std::string_view name) const { return get(name).value_or(""); }

  // Where the argument's value sits (empty when it is not in the body).
  location where(std::string_view name) const {
    location at;
    switch (kind_) {
      case source::form:
        if (content::form_value(form_, name))
          at.path.push_back({layer_kind::form, std::string(name)});
        break;
      case source::json_body:
        if (content::at_pointer(doc_, pointer_join("", name)))
          at.path.push_back({layer_kind::json, pointer_join("", name)});
        break;
      case source::multipart:
        for (std::size_t i = 0; i < parts_.size(); ++i)
          if (parts_[i].name == name && !parts_[i].has_filename) {
            at.path.push_back({layer_kind::multipart, std::to_string(i)});
            break;
          }
        break;
      case source::query:
        break;
    }
    return at;
  }

  // An argument holding JSON: a JSON value in a JSON body, or a string holding JSON anywhere.
  // `prefix` is the location of the document's root (append json pointers below it).
  bool json_arg(std::string_view name, const limits& lim, json::value& out, location& prefix,
                std::string& root_pointer, decode_error& err) const {
    prefix = where(name);
    root_pointer.clear();
    if (prefix.empty()) return false;
    if (kind_ == source::json_body) {
      const std::string ptr = pointer_join("", name);
      const json::value* v = content::at_pointer(doc_, ptr);
      if (v->is_string()) {
        // The json layer yields the string's content; the next json layer points into it.
        if ((err = content::parse_json(std::string_view(v->get_string()), lim, out))) return false;
        return true;
      }
      // JSON inside the body itself: pointers continue the body's pointer.
      prefix.path.clear();
      root_pointer = ptr;
      out = *v;
      return true;
    }
    const std::string text = str(name);
    if (text.empty()) return false;
    if ((err = content::parse_json(text, lim, out))) return false;
    return true;
  }

 private:
  enum class source : std::uint8_t { form, json_body, multipart, query };
  source kind_ = source::query;
  std::vector<content::form_field> form_;
  content::json_arena arena_;  // before doc_: the document lives in it
  json::value doc_ = json::value(arena_.storage());
  std::vector<content::multipart_part> parts_;
  const request_head* head_ = nullptr;
};

location extend(const location& prefix, const std::string& root_pointer,
                const std::string& pointer) {
  location at = prefix;
  at.path.push_back({layer_kind::json, root_pointer + pointer});
  return at;
}

// ---- identity ----

std::string session_key(const request_head& head, const arguments* args) {
  if (auto s = wire::authorization_secret(head.headers)) return wire::short_digest(*s);
  if (args != nullptr)
    if (auto t = args->get("token"); t && !t->empty()) return wire::short_digest(*t);
  if (auto d = wire::cookie(head.headers, "d")) return wire::short_digest(*d);
  return {};
}

// ---- rich_text blocks ----

struct flat_text {
  std::string text;
  std::size_t leaves = 0;  // text-bearing elements seen
};

void leaf_text(const json::value& el, flat_text& f) {
  const std::string type = json_str(el, "/type");
  std::string piece;
  if (type == "text" || type == "mrkdwn" || type == "plain_text") {
    piece = json_str(el, "/text");
  } else if (type == "link") {
    piece = json_str(el, "/text");
    if (piece.empty()) piece = json_str(el, "/url");
  } else if (type == "emoji") {
    piece = ":" + json_str(el, "/name") + ":";
  } else if (type == "user") {
    piece = "<@" + json_str(el, "/user_id") + ">";
  } else if (type == "usergroup") {
    piece = "<!subteam^" + json_str(el, "/usergroup_id") + ">";
  } else if (type == "channel") {
    piece = "<#" + json_str(el, "/channel_id") + ">";
  } else if (type == "broadcast") {
    piece = "<!" + json_str(el, "/range") + ">";
  } else if (type == "date") {
    piece = json_str(el, "/fallback");
  }
  if (piece.empty()) return;
  ++f.leaves;
  f.text += piece;
}

void new_line(flat_text& f) {
  if (!f.text.empty() && f.text.back() != '\n') f.text += '\n';
}

// Containers nest at most a few levels (rich_text > list > section > leaf); the JSON parser
// bounds the depth, and this walk only follows `elements` arrays with an explicit stack.
void flatten_container(const json::value& node, flat_text& f) {
  struct frame {
    const json::array* elements;
    std::size_t next;
  };
  std::vector<frame> stack;
  auto push = [&](const json::value& n) {
    const json::value* els = content::at_pointer(n, "/elements");
    if (els != nullptr && els->is_array()) stack.push_back({&els->get_array(), 0});
  };
  push(node);
  while (!stack.empty()) {
    frame& top = stack.back();
    if (top.next >= top.elements->size()) {
      stack.pop_back();
      continue;
    }
    const json::value& el = (*top.elements)[top.next++];
    const std::string type = json_str(el, "/type");
    if (type.starts_with("rich_text_")) {
      new_line(f);
      push(el);
    } else {
      leaf_text(el, f);
    }
  }
}

flat_text flatten_blocks(const json::value& blocks) {
  flat_text f;
  if (!blocks.is_array()) return f;
  for (const auto& b : blocks.get_array()) {
    const std::string type = json_str(b, "/type");
    new_line(f);
    if (type == "rich_text" || type == "context") {
      flatten_container(b, f);
    } else if (type == "section" || type == "header") {
      if (const json::value* t = content::at_pointer(b, "/text")) leaf_text(*t, f);
      if (const json::value* fields = content::at_pointer(b, "/fields");
          fields && fields->is_array())
        for (const auto& fl : fields->get_array()) {
          new_line(f);
          leaf_text(fl, f);
        }
    }
  }
  while (!f.text.empty() && (f.text.back() == '\n' || f.text.back() == ' ')) f.text.pop_back();
  return f;
}

// Text and text_at of a message from `text` and `blocks` arguments.
decode_error message_text(const arguments& args, const limits& lim, chat_event& e) {
  const std::string text = args.str("text");
  content::json_arena blocks_arena;
  json::value blocks(blocks_arena.storage());
  location prefix;
  std::string root;
  decode_error err;
  flat_text flat;
  bool has_blocks = args.json_arg("blocks", lim, blocks, prefix, root, err);
  if (err) return err;
  if (has_blocks) flat = flatten_blocks(blocks);
  if (flat.leaves > 0) {
    // Slack displays the blocks; text is the notification fallback. The location names the
    // whole blocks document so a rewrite replaces what people see (and the fallback with it).
    e.text = text.empty() ? flat.text : text;
    if (!text.empty() && text != flat.text) e.attributes.emplace_back("blocks_text", flat.text);
    e.text_at = extend(prefix, root, "");
  } else {
    e.text = text;
    e.text_at = args.where("text");
  }
  // Legacy message attachments ("secondary content") carry text of their own: a bot can send
  // everything there. It is kept as an attribute (and is the text when nothing else is).
  content::json_arena atts_arena;
  json::value atts(atts_arena.storage());
  if (args.json_arg("attachments", lim, atts, prefix, root, err) && atts.is_array()) {
    std::string joined;
    const auto& arr = atts.get_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      for (std::string_view key : {"pretext", "title", "text"}) {
        std::string piece = json_str(arr[i], pointer_join("", key));
        if (piece.empty()) continue;
        if (!joined.empty()) joined += '\n';
        joined += piece;
      }
      if (const json::value* fields = content::at_pointer(arr[i], "/fields");
          fields && fields->is_array())
        for (const auto& fl : fields->get_array())
          for (std::string_view key : {"title", "value"})
            if (std::string piece = json_str(fl, pointer_join("", key)); !piece.empty()) {
              if (!joined.empty()) joined += '\n';
              joined += piece;
            }
    }
    if (joined.empty() && !arr.empty()) joined = json_str(arr[0], "/fallback");
    if (!joined.empty()) {
      e.attributes.emplace_back("attachments_text", joined);
      if (e.text.empty()) {
        e.text = joined;
        if (!arr.empty() && !json_str(arr[0], "/text").empty())
          e.text_at = extend(prefix, root, "/0/text");
      }
    }
  }
  return err;
}

// ---- uploads: what earlier requests taught about a file ----

std::string upload_key(std::string_view host, std::string_view path) {
  std::string k = "slack:upload:";
  k += host;
  k += path;
  return k;
}

void fill_from_file(const exchange& x, attachment& a) {
  if (x.sessions == nullptr || a.ref.empty()) return;
  auto rec = x.sessions->get("slack:file:" + a.ref);
  if (!rec) return;
  content::json_arena v_arena;
  json::value v(v_arena.storage());
  if (content::parse_json(*rec, x.limits, v)) return;
  if (a.name.empty()) a.name = json_str(v, "/name");
  if (a.media_type.empty()) a.media_type = json_str(v, "/media_type");
  if (a.sha256.empty()) a.sha256 = json_str(v, "/sha256");
  if (!a.size) {
    if (auto s = content::id_at(v, "/size")) {
      std::uint64_t n = 0;
      auto [p, ec] = std::from_chars(s->data(), s->data() + s->size(), n);
      if (ec == std::errc{} && p == s->data() + s->size()) a.size = n;
    }
  }
}

void remember_file(const exchange& x, const attachment& a) {
  if (x.sessions == nullptr || a.ref.empty()) return;
  json::object rec;
  rec["name"] = a.name;
  rec["media_type"] = a.media_type;
  if (a.size) rec["size"] = *a.size;
  rec["sha256"] = a.sha256;
  x.sessions->put("slack:file:" + a.ref, json::serialize(rec));
}

std::optional<std::uint64_t> to_u64(std::string_view s) {
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return n;
}

chat_event base_event(event_kind kind, direction dir, std::string key) {
  return wire::new_event(k_app, k_name, dir, std::move(key), kind);
}

// ---- requests ----

decode_error decode_post(const exchange& x, const route& r, std::vector<chat_event>& out) {
  arguments args;
  if (auto err = args.parse(x.request, x.limits)) return err;
  chat_event e =
      base_event(event_kind::message, direction::outbound, session_key(x.request.head, &args));
  e.conversation_id = args.str("channel");
  e.sender = rest::learned_or_proxy(x, "slack", e.session_key);
  if (auto err = message_text(args, x.limits, e)) return err;
  e.client_msg_id = args.str("client_msg_id");
  e.attributes.emplace_back("method", std::string(r.method));
  if (auto t = args.get("thread_ts"); t && !t->empty()) e.attributes.emplace_back("thread_ts", *t);
  if (r.method == "chat.update") {
    e.server_msg_id = args.str("ts");
    if (!e.server_msg_id.empty()) e.attributes.emplace_back("edit_of", e.server_msg_id);
  }
  if (r.method == "chat.postEphemeral")
    if (auto u = args.get("user"); u && !u->empty())
      e.recipients.push_back({*u, "", identity_source::body});
  if (r.method == "chat.scheduleMessage")
    if (auto at = args.get("post_at")) e.timestamp = wire::rfc3339_from_decimal_seconds(*at);
  out.push_back(std::move(e));
  return {};
}

decode_error decode_upload_bytes(const exchange& x, std::vector<chat_event>& out) {
  const http_request& req = x.request;
  std::string key = session_key(req.head, nullptr);
  attachment a;
  json::value slot;
  const bool known = x.sessions != nullptr && [&] {
    auto rec = x.sessions->get(upload_key(req.head.host, req.head.path));
    return rec && !content::parse_json(*rec, x.limits, slot);
  }();
  if (known) {
    a.ref = json_str(slot, "/file_id");
    a.name = json_str(slot, "/filename");
    if (key.empty()) key = json_str(slot, "/session_key");
  }
  if (req.head.media_type() == "multipart/form-data") {
    std::vector<content::multipart_part> parts;
    auto ct = req.head.headers.get("content-type");
    if (auto err = content::parse_multipart(ct.value_or(""), req.body, x.limits, parts)) return err;
    std::size_t i = 0;
    while (i < parts.size() && !parts[i].has_filename) ++i;
    if (i == parts.size()) i = 0;
    if (parts.empty()) return {errc::malformed_multipart, "slack: upload has no parts"};
    const auto& p = parts[i];
    if (!p.filename.empty()) a.name = p.filename;
    a.media_type = p.media_type;
    a.bytes = p.body;
    a.at.path.push_back({layer_kind::multipart, std::to_string(i)});
  } else {
    a.media_type = req.head.media_type();
    a.bytes = req.body;
    a.at.path.push_back({layer_kind::bytes, "0:" + std::to_string(req.body.size())});
  }
  a.size = a.bytes.size();
  a.sha256 = sha256_hex(a.bytes);
  remember_file(x, a);
  chat_event e = base_event(event_kind::upload, direction::outbound, std::move(key));
  e.sender = rest::learned_or_proxy(x, "slack", e.session_key);
  e.attachments.push_back(std::move(a));
  out.push_back(std::move(e));
  return {};
}

decode_error decode_complete(const exchange& x, std::vector<chat_event>& out) {
  arguments args;
  if (auto err = args.parse(x.request, x.limits)) return err;
  chat_event e =
      base_event(event_kind::message, direction::outbound, session_key(x.request.head, &args));
  e.sender = rest::learned_or_proxy(x, "slack", e.session_key);
  e.conversation_id = args.str("channel_id");
  if (e.conversation_id.empty()) e.conversation_id = args.str("channels");
  if (e.conversation_id.empty()) e.kind = event_kind::upload;  // uploaded, not shared
  e.text = args.str("initial_comment");
  e.text_at = args.where("initial_comment");
  if (e.text.empty()) {
    if (auto err = message_text(args, x.limits, e)) return err;
  }
  if (auto t = args.get("thread_ts"); t && !t->empty()) e.attributes.emplace_back("thread_ts", *t);
  e.attributes.emplace_back("method", "files.completeUploadExternal");
  json::value files;
  location prefix;
  std::string root;
  decode_error err;
  if (!args.json_arg("files", x.limits, files, prefix, root, err)) {
    if (err) return err;
    return {errc::malformed_json, "slack: completeUploadExternal without files"};
  }
  if (!files.is_array()) return {errc::malformed_json, "slack: files is not an array"};
  for (std::size_t i = 0; i < files.get_array().size(); ++i) {
    const json::value& f = files.get_array()[i];
    attachment a;
    a.ref = json_str(f, "/id");
    if (a.ref.empty()) continue;
    a.name = json_str(f, "/title");
    a.at = extend(prefix, root, "/" + std::to_string(i) + "/id");
    fill_from_file(x, a);
    e.attachments.push_back(std::move(a));
  }
  out.push_back(std::move(e));
  return {};
}

decode_error decode_legacy_upload(const exchange& x, std::vector<chat_event>& out) {
  arguments args;
  if (auto err = args.parse(x.request, x.limits)) return err;
  chat_event e =
      base_event(event_kind::message, direction::outbound, session_key(x.request.head, &args));
  e.sender = rest::learned_or_proxy(x, "slack", e.session_key);
  const std::string channels = args.str("channels");
  e.conversation_id = channels.substr(0, channels.find(','));
  if (e.conversation_id.empty()) e.kind = event_kind::upload;
  if (channels.find(',') != std::string::npos) e.attributes.emplace_back("channels", channels);
  e.text = args.str("initial_comment");
  e.text_at = args.where("initial_comment");
  if (auto t = args.get("thread_ts"); t && !t->empty()) e.attributes.emplace_back("thread_ts", *t);
  e.attributes.emplace_back("method", "files.upload");
  attachment a;
  const std::string filename = args.str("filename");
  const auto& parts = args.parts();
  std::size_t file_part = parts.size();
  for (std::size_t i = 0; i < parts.size(); ++i)
    if (parts[i].name == "file" && parts[i].has_filename) {
      file_part = i;
      break;
    }
  if (file_part < parts.size()) {
    const auto& p = parts[file_part];
    a.name = filename.empty() ? p.filename : filename;
    a.media_type = p.media_type;
    a.bytes = p.body;
    a.at.path.push_back({layer_kind::multipart, std::to_string(file_part)});
  } else if (auto c = args.get("content")) {
    a.name = filename.empty() ? args.str("title") : filename;
    a.media_type = "text/plain";
    a.bytes = *c;
    a.at = args.where("content");
  } else {
    return {errc::malformed_form, "slack: files.upload without file or content"};
  }
  a.size = a.bytes.size();
  a.sha256 = sha256_hex(a.bytes);
  e.attachments.push_back(std::move(a));
  out.push_back(std::move(e));
  return {};
}

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  const route r = route_of(x.request.head);
  switch (r.kind) {
    case endpoint::post:
      return decode_post(x, r, out);
    case endpoint::upload_bytes:
      return decode_upload_bytes(x, out);
    case endpoint::upload_complete:
      return decode_complete(x, out);
    case endpoint::legacy_upload:
      return decode_legacy_upload(x, out);
    case endpoint::upload_slot:
    case endpoint::history:
    case endpoint::identity: {
      // Arguments only matter to the response; still report a malformed body.
      arguments args;
      return args.parse(x.request, x.limits);
    }
    case endpoint::none:
      return {};
  }
  return {};
}

// ---- responses ----

decode_error history_messages(const exchange& x, const json::value& doc, const std::string& key,
                              const std::string& channel, std::vector<chat_event>& out) {
  const json::value* msgs = content::at_pointer(doc, "/messages");
  if (msgs == nullptr || !msgs->is_array())
    return {errc::malformed_json, "slack: history response has no messages array"};
  const auto& arr = msgs->get_array();
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const json::value& m = arr[i];
    if (!m.is_object() || json_str(m, "/type") != "message") continue;
    const std::string ptr = pointer_join("/messages", i);
    chat_event e = base_event(event_kind::message, direction::inbound, key);
    e.conversation_id = channel;
    e.sender.id = json_str(m, "/user");
    if (e.sender.id.empty()) e.sender.id = json_str(m, "/bot_id");
    e.sender.display_name = json_str(m, "/user_profile/real_name");
    if (e.sender.display_name.empty()) e.sender.display_name = json_str(m, "/username");
    if (!e.sender.id.empty()) e.sender.source = identity_source::body;
    e.text = json_str(m, "/text");
    if (content::at_pointer(m, "/text") != nullptr)
      e.text_at.path.push_back({layer_kind::json, ptr + "/text"});
    if (e.text.empty()) {
      if (const json::value* blocks = content::at_pointer(m, "/blocks")) {
        flat_text flat = flatten_blocks(*blocks);
        if (flat.leaves > 0) {
          e.text = flat.text;
          e.text_at = location{};
          e.text_at.path.push_back({layer_kind::json, ptr + "/blocks"});
        }
      }
    }
    if (const json::value* files = content::at_pointer(m, "/files"); files && files->is_array()) {
      for (std::size_t j = 0; j < files->get_array().size(); ++j) {
        const json::value& f = files->get_array()[j];
        attachment a;
        a.ref = json_str(f, "/id");
        a.name = json_str(f, "/name");
        a.media_type = json_str(f, "/mimetype");
        if (auto s = content::id_at(f, "/size")) a.size = to_u64(*s);
        a.at.path.push_back({layer_kind::json, ptr + "/files/" + std::to_string(j) + "/id"});
        fill_from_file(x, a);
        e.attachments.push_back(std::move(a));
      }
    }
    e.client_msg_id = json_str(m, "/client_msg_id");
    e.server_msg_id = json_str(m, "/ts");
    e.timestamp = wire::rfc3339_from_decimal_seconds(e.server_msg_id);
    if (std::string t = json_str(m, "/thread_ts"); !t.empty() && t != e.server_msg_id)
      e.attributes.emplace_back("thread_ts", t);
    if (std::string st = json_str(m, "/subtype"); !st.empty())
      e.attributes.emplace_back("subtype", st);
    if (e.text.empty() && e.attachments.empty()) continue;
    out.push_back(std::move(e));
  }
  return {};
}

decode_error decode_response(const exchange& x, std::vector<chat_event>& out) {
  if (!wire::success_with_body(x)) return {};
  const route r = route_of(x.request.head);
  const http_response& res = *x.response;
  if (r.kind == endpoint::upload_bytes || r.kind == endpoint::none) return {};
  content::json_arena doc_arena;
  json::value doc(doc_arena.storage());
  if (auto err = content::parse_json(res.body, x.limits, doc)) return err;
  if (!doc.is_object()) return {errc::malformed_json, "slack: response is not a JSON object"};
  const json::value* ok = content::at_pointer(doc, "/ok");
  if (ok == nullptr || !ok->is_bool() || !ok->get_bool()) return {};  // ok:false: nothing sent

  // Arguments of the request (channel, filename, token) explain the response.
  arguments args;
  const bool have_args = !args.parse(x.request, x.limits);
  const std::string key = session_key(x.request.head, have_args ? &args : nullptr);

  switch (r.kind) {
    case endpoint::identity: {
      chat_event e = base_event(event_kind::identity, direction::inbound, key);
      e.sender = {json_str(doc, "/user_id"), json_str(doc, "/user"), identity_source::body};
      if (std::string t = json_str(doc, "/team_id"); !t.empty())
        e.attributes.emplace_back("team_id", t);
      if (std::string t = json_str(doc, "/team"); !t.empty()) e.attributes.emplace_back("team", t);
      rest::learn_user(x, "slack", key, e.sender.id, e.sender.display_name);
      if (!e.sender.id.empty()) out.push_back(std::move(e));
      return {};
    }
    case endpoint::post: {
      // The posted message comes back with its author: the token's owner.
      if (x.sessions != nullptr && !x.sessions->get("slack:user:" + key))
        rest::learn_user(x, "slack", key, json_str(doc, "/message/user"), {});
      return {};
    }
    case endpoint::upload_slot: {
      const std::string url = json_str(doc, "/upload_url");
      const std::string file_id = json_str(doc, "/file_id");
      if (url.empty() || file_id.empty())
        return {errc::malformed_json, "slack: upload slot without upload_url or file_id"};
      auto parsed = boost::urls::parse_uri(url);
      if (!parsed) return {errc::malformed_json, "slack: upload_url is not a URL"};
      std::string host = parsed->host();
      for (char& c : host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      attachment a;
      a.ref = file_id;
      a.name = have_args ? args.str("filename") : std::string{};
      if (have_args)
        if (auto len = args.get("length")) a.size = to_u64(*len);
      a.at.path.push_back({layer_kind::json, "/file_id"});
      if (x.sessions != nullptr) {
        json::object rec;
        rec["file_id"] = file_id;
        rec["filename"] = a.name;
        rec["session_key"] = key;
        x.sessions->put(upload_key(host, parsed->path()), json::serialize(rec));
        remember_file(x, a);
      }
      chat_event e = base_event(event_kind::upload, direction::outbound, key);
      e.sender = rest::learned_or_proxy(x, "slack", key);
      e.attributes.emplace_back("upload_url", url);
      e.attachments.push_back(std::move(a));
      out.push_back(std::move(e));
      return {};
    }
    case endpoint::history:
      return history_messages(x, doc, key, have_args ? args.str("channel") : std::string{}, out);
    case endpoint::upload_complete:
    case endpoint::legacy_upload:
    case endpoint::upload_bytes:
    case endpoint::none:
      return {};
  }
  return {};
}

// ---- rewrite ----

decode_error rewrite(std::string& body, const location& at, std::string_view replacement) {
  const limits lim;
  if (at.path.empty()) return {errc::malformed_frame, "slack: empty location"};
  const layer& last = at.path.back();
  const bool whole_blocks =
      last.kind == layer_kind::json && (last.key.empty() || last.key.ends_with("/blocks"));
  if (!whole_blocks) return rest::rewrite_layers(body, at.path, replacement, lim);

  json::array blocks;
  blocks.push_back(json::object{
      {"type", "rich_text"},
      {"elements",
       json::array{json::object{
           {"type", "rich_text_section"},
           {"elements", json::array{json::object{{"type", "text"}, {"text", replacement}}}}}}}});
  std::string copy = body;
  if (last.key.empty()) {
    // The blocks document is a form field, a multipart part or a JSON string: replace it whole.
    std::vector<layer> outer(at.path.begin(), at.path.end() - 1);
    if (auto err = rest::rewrite_layers(copy, outer, json::serialize(blocks), lim)) return err;
    // The notification fallback in the same request, if any.
    std::vector<layer> text_at;
    if (outer.size() == 1 && outer[0].kind == layer_kind::form) {
      text_at.push_back({layer_kind::form, "text"});
    } else if (outer.size() == 1 && outer[0].kind == layer_kind::multipart) {
      auto type = rest::multipart_type_from_body(copy);
      std::vector<content::multipart_part> parts;
      if (type && !content::parse_multipart(*type, copy, lim, parts))
        for (std::size_t i = 0; i < parts.size(); ++i)
          if (parts[i].name == "text" && !parts[i].has_filename)
            text_at = {{layer_kind::multipart, std::to_string(i)}};
    } else if (outer.size() == 1 && outer[0].kind == layer_kind::json) {
      text_at.push_back({layer_kind::json, "/text"});
    }
    std::string current;
    if (!text_at.empty() && !rest::read_layers(copy, text_at, lim, current) && !current.empty())
      if (auto err = rest::rewrite_layers(copy, text_at, replacement, lim)) return err;
  } else {
    // The blocks array inside a JSON document (JSON body, or a history message).
    if (at.path.size() != 1) return {errc::malformed_json, "slack: blocks location not understood"};
    content::json_arena doc_arena;
    json::value doc(doc_arena.storage());
    if (auto err = content::parse_json(copy, lim, doc)) return err;
    std::error_code ec;
    json::value* v = doc.find_pointer(last.key, ec);
    if (v == nullptr) return {errc::malformed_json, "slack: no blocks at " + last.key};
    *v = blocks;
    const std::string text_ptr = last.key.substr(0, last.key.size() - 6) + "text";
    if (json::value* t = doc.find_pointer(text_ptr, ec);
        t != nullptr && t->is_string() && !t->get_string().empty())
      *t = replacement;
    copy = json::serialize(doc);
  }
  body = std::move(copy);
  return {};
}

}  // namespace

namespace {

// Slack answers a refused call with HTTP 200 and ok:false; the clients mark the message failed
// on ok:false. "restricted_action" and "file_uploads_disabled" are documented error strings;
// the notice text rides in response_metadata.messages, where Slack puts its own explanations.
http_reply render_block(const exchange&, const chat_event& blocked, const notice& n) {
  json::object o;
  o["ok"] = false;
  o["error"] = blocked.kind == event_kind::upload ? "file_uploads_disabled" : "restricted_action";
  json::array msgs;
  msgs.emplace_back("[ERROR] " + replies::text_of(n));
  o["response_metadata"] = json::object{{"messages", std::move(msgs)}};
  return replies::json_reply(200, o);
}

}  // namespace

const decoder slack_web_decoder{
    .name = k_name,
    .app = k_app,
    .family = "slack",
    .classify = classify,
    .decode_request = decode_request,
    .decode_response = decode_response,
    .rewrite = rewrite,
    // session_of: null. The web client's token travels in the body (form or multipart field
    // 'token'), so the head alone cannot give the key its events carry; Slack has no poll a
    // notice could be injected into either (no strip / inject_notice: one message per call).
    .render_block = render_block,
};

}  // namespace imcap::modules
