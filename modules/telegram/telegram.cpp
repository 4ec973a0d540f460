#include "modules/telegram/telegram.hpp"

#include <array>

#include <boost/json.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <pugixml.hpp>

#include "modules/content/form.hpp"
#include "modules/content/json.hpp"
#include "modules/content/multipart.hpp"
#include "modules/content/rewrite.hpp"
#include "modules/content/xml.hpp"
#include "modules/replies.hpp"
#include "modules/wire.hpp"

namespace imcap::modules::telegram {

namespace {

constexpr std::string_view app_id = "telegram";
constexpr std::string_view transport = "telegram-bot";

// "/bot<token>/<method>" split into its two parts; false when the path has another shape.
bool split_path(std::string_view path, std::string_view& token, std::string_view& method) {
  if (path.substr(0, 4) != "/bot") return false;
  auto slash = path.find('/', 4);
  if (slash == std::string_view::npos || slash == 4) return false;
  token = path.substr(4, slash - 4);
  method = path.substr(slash + 1);
  return !method.empty() && method.find('/') == std::string_view::npos;
}

bool classify(const request_head& head) noexcept {
  std::string_view token, method;
  return head.host == "api.telegram.org" && split_path(head.path, token, method);
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = static_cast<char>((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
  return r;
}

// What every event of one request shares: session key and the bot, never the token itself.
struct bot_identity {
  std::string session_key;
  std::string bot_id;
};

bot_identity identify(std::string_view token) {
  // A bot polls and posts with the same token again and again: remember the last digest.
  thread_local std::string last_token;
  thread_local bot_identity last;
  if (!last_token.empty() && token == last_token) return last;
  bot_identity b;
  b.session_key = "tg:" + wire::short_digest(token);
  auto colon = token.find(':');
  if (colon != std::string_view::npos) b.bot_id = std::string(token.substr(0, colon));
  last_token = std::string(token);
  last = b;
  return b;
}

chat_event base_event(const bot_identity& bot, direction d) {
  chat_event e;
  e.kind = event_kind::message;
  e.app = std::string(app_id);
  e.transport = std::string(transport);
  e.direction = d;
  e.session_key = bot.session_key;
  return e;
}

// Telegram's HTML parse mode allows a few well-nested tags and the XML entities; pugixml reads
// it as an XML fragment. Text that does not parse is kept as sent.
std::string html_to_text(std::string_view html, const limits& lim) {
  pugi::xml_document doc;
  std::string wrapped = "<r>" + std::string(html) + "</r>";
  if (content::parse_xml(wrapped, lim, doc)) return std::string(html);
  std::string text;
  for (pugi::xml_node n = doc.first_child(); n;) {
    if (n.type() == pugi::node_pcdata || n.type() == pugi::node_cdata) text += n.value();
    if (n.first_child()) {
      n = n.first_child();
      continue;
    }
    while (n && !n.next_sibling()) n = n.parent();
    if (n) n = n.next_sibling();
  }
  return text;
}

// The method's parameters, wherever the client put them.
struct params {
  enum class form_kind { json, form, multipart, query } kind = form_kind::query;
  // The request's JSON lives only during one decode call: allocate it from a buffer that is
  // released at once.
  boost::json::monotonic_resource json_memory;
  boost::json::value json = boost::json::value(nullptr, &json_memory);
  std::vector<content::form_field> fields;  // form body or query string
  std::vector<content::multipart_part> parts;

  // A scalar parameter as text (numbers exactly); for multipart, a part without a filename.
  std::optional<std::string> get(std::string_view name) const {
    switch (kind) {
      case form_kind::json: {
        auto* v = content::at_pointer(json, "/" + content::pointer_escape(name));
        if (v == nullptr) return std::nullopt;
        if (v->is_object() || v->is_array()) return boost::json::serialize(*v);
        if (v->is_bool()) return std::string(v->as_bool() ? "true" : "false");
        return content::id_at(json, "/" + content::pointer_escape(name));
      }
      case form_kind::form:
      case form_kind::query: {
        auto* v = content::form_value(fields, name);
        return v ? std::optional<std::string>(*v) : std::nullopt;
      }
      case form_kind::multipart: {
        for (const auto& p : parts)
          if (p.name == name && !p.has_filename) return p.body;
        return std::nullopt;
      }
    }
    return std::nullopt;
  }

  // Where parameter `name` sits (empty for the query string: not rewritable).
  location where(std::string_view name) const {
    location at;
    switch (kind) {
      case form_kind::json:
        at.path.push_back({layer_kind::json, "/" + content::pointer_escape(name)});
        break;
      case form_kind::form:
        at.path.push_back({layer_kind::form, std::string(name)});
        break;
      case form_kind::multipart:
        for (std::size_t i = 0; i < parts.size(); ++i) {
          if (parts[i].name == name) {
            at.path.push_back({layer_kind::multipart, std::to_string(i)});
            break;
          }
        }
        break;
      case form_kind::query:
        break;
    }
    return at;
  }

  // Index of the multipart part carrying a file under `name`, or npos.
  std::size_t file_part(std::string_view name) const {
    for (std::size_t i = 0; i < parts.size(); ++i)
      if (parts[i].name == name && parts[i].has_filename) return i;
    return std::string_view::npos;
  }
};

decode_error read_params(const http_request& req, const limits& lim, params& p) {
  auto type = req.head.media_type();
  if (type == "application/json") {
    p.kind = params::form_kind::json;
    if (auto e = content::parse_json(req.body, lim, p.json, &p.json_memory)) return e;
    if (!p.json.is_object())
      return {errc::malformed_json, "telegram: request body is not a JSON object"};
    return {};
  }
  if (type == "application/x-www-form-urlencoded") {
    p.kind = params::form_kind::form;
    return content::parse_form(req.body, lim, p.fields);
  }
  if (type == "multipart/form-data") {
    p.kind = params::form_kind::multipart;
    return content::parse_multipart(*req.head.headers.get("Content-Type"), req.body, lim, p.parts);
  }
  // Parameters in the query string (GET or a body-less POST).
  p.kind = params::form_kind::query;
  return content::parse_form(req.head.query, lim, p.fields);
}

// An InputFile value: "attach://<part>" names an uploaded part; anything else is a file_id or
// an HTTP URL Telegram fetches itself.
decode_error resolve_file(const params& p, std::string_view value, location at,
                          std::vector<bool>& used, attachment& out) {
  constexpr std::string_view attach = "attach://";
  if (value.substr(0, attach.size()) == attach) {
    auto name = value.substr(attach.size());
    auto i = p.file_part(name);
    if (i == std::string_view::npos) {
      for (std::size_t k = 0; k < p.parts.size(); ++k)
        if (p.parts[k].name == name) i = k;
    }
    if (i == std::string_view::npos)
      return {errc::malformed_multipart,
              "telegram: attach://" + std::string(name) + " names no part of the request"};
    out = wire::attachment_of_part(p.parts[i], i);
    used[i] = true;
    return {};
  }
  out = attachment{};
  out.ref = std::string(value);
  out.at = std::move(at);
  return {};
}

void set_text(chat_event& e, const std::string& text, std::optional<std::string> parse_mode,
              location at, const limits& lim) {
  if (parse_mode && lower(*parse_mode) == "html") {
    e.html = text;
    e.text = html_to_text(text, lim);
  } else {
    e.text = text;
  }
  if (parse_mode) e.attributes.emplace_back("parse_mode", *parse_mode);
  e.text_at = std::move(at);
}

// The parameter that carries the file for each send method.
std::string_view file_field(std::string_view method) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 8> map{{
      {"senddocument", "document"},
      {"sendphoto", "photo"},
      {"sendvideo", "video"},
      {"sendaudio", "audio"},
      {"sendvoice", "voice"},
      {"sendanimation", "animation"},
      {"sendvideonote", "video_note"},
      {"sendsticker", "sticker"},
  }};
  for (const auto& [m, f] : map)
    if (m == method) return f;
  return {};
}

decode_error decode_media_group(const params& p, chat_event base, std::vector<bool>& used,
                                const limits& lim, std::vector<chat_event>& out) {
  // The media array: in the JSON body itself, or the JSON text of a form field or part.
  boost::json::monotonic_resource memory;
  boost::json::value parsed(nullptr, &memory);
  const boost::json::value* media = nullptr;
  location media_at;
  if (p.kind == params::form_kind::json && p.json.as_object().contains("media") &&
      p.json.as_object().at("media").is_array()) {
    media = &p.json.as_object().at("media");
  } else {
    auto media_text = p.get("media");
    if (!media_text) return {errc::malformed_json, "telegram: sendMediaGroup without media"};
    if (auto e = content::parse_json(*media_text, lim, parsed, &memory)) return e;
    media = &parsed;
    media_at = p.where("media");
  }
  if (!media->is_array()) return {errc::malformed_json, "telegram: media is not a JSON array"};
  const auto& items = media->as_array();
  if (items.size() > lim.max_parts)
    return {errc::too_many_parts,
            "telegram: media group of " + std::to_string(items.size()) + " items"};
  for (std::size_t i = 0; i < items.size(); ++i) {
    // Where item i's `key` sits: inside the JSON body's media array, or inside the JSON
    // text of a media form field or part (not rewritable when it came in the query string).
    auto item_ptr = [&](std::string_view key) {
      std::string ptr = "/" + std::to_string(i) + "/" + std::string(key);
      if (p.kind == params::form_kind::json && media_at.empty())
        return location{{layer{layer_kind::json, "/media" + ptr}}};
      if (media_at.empty()) return location{};
      location at = media_at;
      at.path.push_back({layer_kind::json, ptr});
      return at;
    };
    const auto& item = items[i];
    auto file = content::string_at(item, "/media");
    if (!file)
      return {errc::malformed_json,
              "telegram: media item " + std::to_string(i) + " has no media string"};
    chat_event e = base;
    attachment a;
    if (auto err = resolve_file(p, *file, item_ptr("media"), used, a)) return err;
    e.attachments.push_back(std::move(a));
    if (auto caption = content::string_at(item, "/caption"))
      set_text(e, *caption, content::string_at(item, "/parse_mode"), item_ptr("caption"), lim);
    e.attributes.emplace_back("media_group_index", std::to_string(i));
    out.push_back(std::move(e));
  }
  return {};
}

decode_error decode_request(const exchange& x, std::vector<chat_event>& out) {
  std::string_view token, method_raw;
  if (!split_path(x.request.head.path, token, method_raw)) return {};
  auto method = lower(method_raw);
  bool send_message = method == "sendmessage" || method == "editmessagetext";
  bool caption_only = method == "editmessagecaption";
  auto field = file_field(method);
  bool group = method == "sendmediagroup";
  if (!send_message && !caption_only && field.empty() && !group) return {};

  params p;
  if (auto e = read_params(x.request, x.limits, p)) return e;
  auto bot = identify(token);
  chat_event e = base_event(bot, direction::outbound);
  e.sender = party{bot.bot_id, "", identity_source::body};
  e.attributes.emplace_back("method", std::string(method_raw));
  if (auto chat = p.get("chat_id")) {
    e.conversation_id = *chat;
    e.recipients.push_back(party{*chat, "", identity_source::body});
  } else if (auto inline_id = p.get("inline_message_id")) {
    e.conversation_id = "inline:" + *inline_id;
  }
  if (auto thread = p.get("message_thread_id")) e.attributes.emplace_back("thread_id", *thread);
  if (auto reply = p.get("reply_to_message_id")) e.attributes.emplace_back("reply_to", *reply);
  if (method.rfind("edit", 0) == 0) {
    if (auto id = p.get("message_id")) e.attributes.emplace_back("edit_of", *id);
  }

  std::vector<bool> used(p.parts.size(), false);
  if (group) {
    if (auto err = decode_media_group(p, e, used, x.limits, out)) return err;
  } else {
    std::string_view text_field = send_message ? "text" : "caption";
    if (auto text = p.get(text_field))
      set_text(e, *text, p.get("parse_mode"), p.where(text_field), x.limits);
    if (!field.empty()) {
      auto i = p.file_part(field);
      if (i != std::string_view::npos) {
        e.attachments.push_back(wire::attachment_of_part(p.parts[i], i));
        used[i] = true;
      } else if (auto value = p.get(field)) {
        attachment a;
        if (auto err = resolve_file(p, *value, p.where(field), used, a)) return err;
        e.attachments.push_back(std::move(a));
      }
    }
    if (e.text.empty() && e.attachments.empty() && !send_message && !caption_only) {
      // A send method without its file: nothing was sent, nothing to report.
      return {};
    }
  }
  // Every uploaded file is reported, also those the method does not name (thumbnails, extra
  // attach:// targets), so nothing leaves unseen.
  chat_event* last = group ? (out.empty() ? nullptr : &out.back()) : &e;
  if (last != nullptr) {
    for (std::size_t i = 0; i < p.parts.size(); ++i)
      if (!used[i] && p.parts[i].has_filename)
        last->attachments.push_back(wire::attachment_of_part(p.parts[i], i));
  }
  if (!group && (!e.text.empty() || !e.attachments.empty() || send_message))
    out.push_back(std::move(e));
  return {};
}

std::string display_name(const boost::json::value& who) {
  std::string name = content::string_at(who, "/first_name").value_or("");
  if (auto last = content::string_at(who, "/last_name")) {
    if (!name.empty()) name += ' ';
    name += *last;
  }
  if (name.empty()) name = content::string_at(who, "/title").value_or("");
  if (name.empty()) name = content::string_at(who, "/username").value_or("");
  return name;
}

// A file object of an inbound message (document, video, ...): a reference by file_id.
attachment file_ref(const boost::json::value& f, const std::string& ptr) {
  attachment a;
  a.name = content::string_at(f, "/file_name").value_or("");
  a.media_type = content::string_at(f, "/mime_type").value_or("");
  if (auto size = content::id_at(f, "/file_size")) {
    try {
      a.size = std::stoull(*size);
    } catch (...) {
      // A non-numeric size is left out.
    }
  }
  a.ref = content::string_at(f, "/file_id").value_or("");
  a.at.path.push_back({layer_kind::json, ptr + "/file_id"});
  return a;
}

// getMe answers with the bot's own user: an identity event naming who the token belongs to.
decode_error decode_get_me(const boost::json::value& doc, const bot_identity& bot,
                           std::vector<chat_event>& out) {
  auto* ok = content::at_pointer(doc, "/ok");
  if (ok == nullptr || !ok->is_bool())
    return {errc::malformed_json, "telegram: getMe answer has no boolean \"ok\""};
  if (!ok->as_bool()) return {};
  auto* me = content::at_pointer(doc, "/result");
  if (me == nullptr || !me->is_object())
    return {errc::malformed_json, "telegram: getMe result is not an object"};
  chat_event e = base_event(bot, direction::inbound);
  e.kind = event_kind::identity;
  e.sender =
      party{content::id_at(*me, "/id").value_or(""), display_name(*me), identity_source::body};
  if (auto user = content::string_at(*me, "/username"))
    e.attributes.emplace_back("username", *user);
  e.attributes.emplace_back("method", "getMe");
  out.push_back(std::move(e));
  return {};
}

decode_error decode_response(const exchange& x, std::vector<chat_event>& out) {
  std::string_view token, method;
  if (!split_path(x.request.head.path, token, method)) return {};
  auto method_lc = lower(method);
  bool get_me = method_lc == "getme";
  if ((method_lc != "getupdates" && !get_me) || x.response == nullptr) return {};
  if (x.response->status != 200) return {};
  boost::json::monotonic_resource memory;
  boost::json::value doc(nullptr, &memory);
  if (auto e = content::parse_json(x.response->body, x.limits, doc, &memory)) return e;
  if (get_me) return decode_get_me(doc, identify(token), out);
  if (!doc.is_object())
    return {errc::malformed_json, "telegram: getUpdates answer is not an object"};
  auto* ok = content::at_pointer(doc, "/ok");
  if (ok == nullptr || !ok->is_bool())
    return {errc::malformed_json, "telegram: getUpdates answer has no boolean \"ok\""};
  if (!ok->as_bool()) return {};
  auto* result = content::at_pointer(doc, "/result");
  if (result == nullptr || !result->is_array())
    return {errc::malformed_json, "telegram: getUpdates result is not an array"};
  auto bot = identify(token);
  const auto& updates = result->as_array();
  static constexpr std::array<std::string_view, 5> kinds{
      "message", "edited_message", "channel_post", "edited_channel_post", "business_message"};
  static constexpr std::array<std::string_view, 7> file_kinds{
      "document", "video", "audio", "voice", "animation", "video_note", "sticker"};
  for (std::size_t i = 0; i < updates.size(); ++i) {
    if (i >= x.limits.max_parts)
      return {errc::too_many_parts,
              "telegram: more than " + std::to_string(x.limits.max_parts) + " updates"};
    const auto& u = updates[i];
    for (auto kind : kinds) {
      const auto* m = u.is_object() ? u.as_object().if_contains(kind) : nullptr;
      if (m == nullptr || !m->is_object()) continue;
      std::string base = "/result/" + std::to_string(i) + "/" + std::string(kind);
      chat_event e = base_event(bot, direction::inbound);
      const auto* from = m->as_object().if_contains("from");
      if (from == nullptr) from = m->as_object().if_contains("sender_chat");
      if (from != nullptr)
        e.sender = party{content::id_at(*from, "/id").value_or(""), display_name(*from),
                         identity_source::body};
      if (auto chat = content::id_at(*m, "/chat/id")) e.conversation_id = *chat;
      if (!bot.bot_id.empty()) e.recipients.push_back(party{bot.bot_id, "", identity_source::body});
      if (auto text = content::string_at(*m, "/text")) {
        e.text = *text;
        e.text_at.path.push_back({layer_kind::json, base + "/text"});
      } else if (auto caption = content::string_at(*m, "/caption")) {
        e.text = *caption;
        e.text_at.path.push_back({layer_kind::json, base + "/caption"});
      }
      if (auto id = content::id_at(*m, "/message_id")) e.server_msg_id = *id;
      if (auto* date = content::at_pointer(*m, "/date"); date != nullptr && date->is_int64())
        e.timestamp = wire::rfc3339_from_unix_s(date->as_int64());
      for (auto fk : file_kinds) {
        if (const auto* f = m->as_object().if_contains(fk); f != nullptr && f->is_object())
          e.attachments.push_back(file_ref(*f, base + "/" + std::string(fk)));
      }
      if (const auto* photo = m->as_object().if_contains("photo");
          photo != nullptr && photo->is_array() && !photo->as_array().empty()) {
        // Telegram lists the sizes of one photo, smallest first: the last is the original.
        auto last = photo->as_array().size() - 1;
        auto a = file_ref(photo->as_array()[last], base + "/photo/" + std::to_string(last));
        if (a.media_type.empty()) a.media_type = "image/jpeg";
        e.attachments.push_back(std::move(a));
      }
      if (auto id = content::id_at(u, "/update_id")) e.attributes.emplace_back("update_id", *id);
      if (kind.substr(0, 7) == "edited_") e.attributes.emplace_back("edited", "true");
      if (auto reply = content::id_at(*m, "/reply_to_message/message_id"))
        e.attributes.emplace_back("reply_to", *reply);
      out.push_back(std::move(e));
    }
  }
  return {};
}

decode_error rewrite(std::string& body, const location& at, std::string_view replacement) {
  return content::rewrite_path(body, at.path, replacement, limits{});
}

}  // namespace

namespace {

std::string session_of(const request_head& head) {
  std::string_view token, method;
  if (!split_path(head.path, token, method)) return {};
  return identify(token).session_key;
}

// The Bot API's own failure shape; bot libraries raise it as an error with the description.
http_reply render_block(const exchange&, const chat_event&, const notice& n) {
  boost::json::object o;
  o["ok"] = false;
  o["error_code"] = 403;
  o["description"] = "Forbidden: " + replies::text_of(n);
  return replies::json_reply(403, o);
}

}  // namespace

const decoder bot_decoder{
    .name = transport,
    .app = app_id,
    .family = "telegram",
    .classify = classify,
    .decode_request = decode_request,
    .decode_response = decode_response,
    .rewrite = rewrite,
    .session_of = session_of,
    .render_block = render_block,
    // strip: null (one message per call). inject_notice: null: getUpdates is read by the bot
    // program, not by a person, and a made-up update would be acted upon as a real one.
};

}  // namespace imcap::modules::telegram
