#include "modules/polling/common.hpp"

#include <array>
#include <cstdio>
#include <span>

#include <boost/json.hpp>

#include "modules/content/form.hpp"
#include "modules/content/json.hpp"
#include "modules/content/rewrite.hpp"
#include "modules/wire.hpp"

namespace imcap::modules::polling {

namespace json = boost::json;
using wire::pointer_join;

namespace {

std::string from_epoch_number(double v) {
  if (!(v >= 0) || v > 253402300799999.0) return {};
  // Values above 1e11 cannot be seconds of a plausible chat time (year 5138): milliseconds.
  if (v > 1e11) return wire::rfc3339_from_unix_ms(static_cast<std::int64_t>(v));
  const auto whole = static_cast<std::int64_t>(v);
  const auto ms = static_cast<std::int64_t>((v - static_cast<double>(whole)) * 1000.0 + 0.5);
  return wire::rfc3339_from_unix_ms(whole * 1000 + ms);
}

bool all_digits(std::string_view s) noexcept {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

std::string timestamp_from(const json::value& v) {
  if (v.is_int64()) return from_epoch_number(static_cast<double>(v.get_int64()));
  if (v.is_uint64()) return from_epoch_number(static_cast<double>(v.get_uint64()));
  if (v.is_double()) return from_epoch_number(v.get_double());
  if (const auto* o = v.if_object()) {
    if (const auto* d = o->if_contains("$date")) return timestamp_from(*d);
    return {};
  }
  if (const auto* s = v.if_string()) {
    const std::string_view sv = *s;
    if (all_digits(sv)) {
      // Slack-style "1503435956.000247" is handled below; plain digits are epoch counts.
      return from_epoch_number(static_cast<double>(std::stoll(std::string(sv))));
    }
    // "YYYY-MM-DDTHH:MM:SS[.fff]Z": keep as sent (already RFC 3339 UTC).
    if (sv.size() >= 20 && sv.size() <= 35 && sv[4] == '-' && sv[7] == '-' &&
        (sv[10] == 'T' || sv[10] == 't') && sv[13] == ':' && sv[16] == ':' &&
        (sv.back() == 'Z' || sv.back() == 'z'))
      return std::string(sv);
    return {};
  }
  return {};
}

namespace {

// Bytes of the UTF-8 sequence starting at utf8[i] (i < size): 2..4 for a lead byte followed by
// enough continuation bytes, else 1 (an invalid byte stands alone).
std::size_t sequence_length(std::string_view utf8, std::size_t i) noexcept {
  const auto c = static_cast<unsigned char>(utf8[i]);
  std::size_t len = 1;
  if (c >= 0xF0 && c <= 0xF4)
    len = 4;
  else if (c >= 0xE0)
    len = 3;
  else if (c >= 0xC2 && c < 0xE0)
    len = 2;
  if (len > 1) {
    if (i + len > utf8.size()) len = 1;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(utf8[i + k]);
      if ((cc & 0xC0) != 0x80) {
        len = 1;
        break;
      }
    }
  }
  return len;
}

}  // namespace

std::size_t utf16_length(std::string_view utf8) noexcept {
  std::size_t units = 0;
  for (std::size_t i = 0; i < utf8.size();) {
    const std::size_t len = sequence_length(utf8, i);
    units += (len == 4) ? 2 : 1;
    i += len;
  }
  return units;
}

std::optional<std::size_t> utf8_prefix_for_utf16(std::string_view utf8,
                                                 std::size_t units) noexcept {
  std::size_t seen = 0;
  std::size_t i = 0;
  while (seen < units) {
    if (i >= utf8.size()) return std::nullopt;
    const std::size_t len = sequence_length(utf8, i);
    seen += (len == 4) ? 2 : 1;
    i += len;
  }
  if (seen != units) return std::nullopt;  // the count ends inside a surrogate pair
  return i;
}

bool query_has(std::string_view query, std::string_view name) noexcept {
  std::size_t pos = 0;
  while (pos <= query.size()) {
    const std::size_t amp = query.find('&', pos);
    const std::string_view item =
        query.substr(pos, amp == std::string_view::npos ? std::string_view::npos : amp - pos);
    const std::string_view key = item.substr(0, item.find('='));
    if (key == name) return true;
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
  return false;
}

location with_layer(location base, layer_kind kind, std::string key) {
  base.path.push_back(layer{kind, std::move(key)});
  return base;
}

// ---------------------------------------------------------------------------------------------
// The generic chat shape reader. Apps built on Socket.IO, SignalR, SockJS and Bayeux choose
// their own payloads; these field names cover the common chat samples and products. Anything
// unrecognised falls back to the longest remaining string so custom shapes are still scanned.

namespace {

constexpr std::array<std::string_view, 7> text_keys{"text",    "message", "msg",    "body",
                                                    "content", "chat",    "caption"};
constexpr std::array<std::string_view, 13> conversation_keys{
    "room",           "roomId",          "room_id",    "rid",
    "channel",        "channelId",       "channel_id", "conversation",
    "conversationId", "conversation_id", "chatId",     "chat_id",
    "group"};
constexpr std::array<std::string_view, 7> sender_keys{"from",   "sender",   "user", "username",
                                                      "author", "userName", "nick"};
constexpr std::array<std::string_view, 4> recipient_keys{"to", "recipient", "recipients", "target"};
constexpr std::array<std::string_view, 7> id_keys{"id",    "_id",   "messageId", "message_id",
                                                  "msgId", "nonce", "localId"};
constexpr std::array<std::string_view, 7> time_keys{"ts",         "timestamp", "time",  "createdAt",
                                                    "created_at", "date",      "sentAt"};
constexpr std::array<std::string_view, 4> file_keys{"file", "files", "attachment", "attachments"};
// Never taken as the text by the longest-string fallback: file metadata and event plumbing.
constexpr std::array<std::string_view, 16> metadata_keys{
    "name",      "filename", "fileName",    "file_name",    "type",  "mimeType",
    "mime_type", "mime",     "contentType", "content_type", "event", "action",
    "status",    "lang",     "locale",      "token"};
constexpr std::size_t max_shape_depth = 6;

template <std::size_t N>
bool in(const std::array<std::string_view, N>& keys, std::string_view k) noexcept {
  for (auto key : keys)
    if (key == k) return true;
  return false;
}

std::optional<std::string> scalar_text(const json::value& v) {
  if (const auto* s = v.if_string()) return std::string(*s);
  if (v.is_int64()) return std::to_string(v.get_int64());
  if (v.is_uint64()) return std::to_string(v.get_uint64());
  return std::nullopt;
}

std::optional<std::string> first_string(const json::object& o,
                                        std::initializer_list<std::string_view> keys) {
  for (auto k : keys)
    if (const auto* v = o.if_contains(k))
      if (auto s = scalar_text(*v); s && !s->empty()) return s;
  return std::nullopt;
}

party party_from(const json::value& v) {
  party p;
  if (auto s = scalar_text(v)) {
    p.id = *s;
  } else if (const auto* o = v.if_object()) {
    if (auto id = first_string(*o, {"username", "_id", "id", "email", "userId", "user_id"}))
      p.id = *id;
    if (auto name = first_string(*o, {"name", "displayName", "display_name", "fullName"}))
      p.display_name = *name;
    if (p.id.empty()) p.id = p.display_name;
  }
  if (!p.id.empty()) p.source = identity_source::body;
  return p;
}

void add_file(const json::value& v, const std::string& ptr, chat_shape& out) {
  const auto* o = v.if_object();
  if (!o) {
    if (const auto* s = v.if_string(); s && !s->empty()) {
      attachment a;
      a.ref = std::string(*s);
      a.at.path.push_back(layer{layer_kind::json, ptr});
      out.attachments.push_back(std::move(a));
    }
    return;
  }
  attachment a;
  if (auto n = first_string(*o, {"name", "filename", "fileName", "file_name", "title"}))
    a.name = *n;
  if (auto t = first_string(
          *o, {"type", "mimeType", "mime_type", "mime", "contentType", "content_type", "mimetype"}))
    a.media_type = *t;
  if (const auto* sz = o->if_contains("size")) {
    if (sz->is_int64() && sz->get_int64() >= 0)
      a.size = static_cast<std::uint64_t>(sz->get_int64());
    else if (sz->is_uint64())
      a.size = sz->get_uint64();
  }
  if (auto r = first_string(*o, {"url", "link", "title_link", "path", "_id", "id", "fileId"}))
    a.ref = *r;
  a.at.path.push_back(layer{layer_kind::json, ptr});
  if (a.name.empty() && a.ref.empty()) return;
  out.attachments.push_back(std::move(a));
}

struct shape_walker {
  chat_shape& out;
  std::string longest;
  std::string longest_ptr;

  // Worth a pointer string: a string longer than the best so far, or a container.
  bool candidate(const json::value& v) const noexcept {
    if (const auto* s = v.if_string()) return s->size() > longest.size();
    return v.is_array() || v.is_object();
  }

  void note_leftover(const json::value& v, const std::string& ptr, std::size_t depth) {
    if (depth > max_shape_depth || !out.text.empty()) return;
    if (const auto* s = v.if_string()) {
      if (s->size() > longest.size()) {
        longest = std::string(*s);
        longest_ptr = ptr;
      }
    } else if (const auto* a = v.if_array()) {
      for (std::size_t i = 0; i < a->size(); ++i)
        if (candidate((*a)[i])) note_leftover((*a)[i], pointer_join(ptr, i), depth + 1);
    } else if (const auto* o = v.if_object()) {
      for (const auto& kv : *o) {
        if (kv.value().is_object() && kv.value().as_object().contains("_placeholder")) continue;
        if (in(metadata_keys, kv.key()) || !candidate(kv.value())) continue;
        note_leftover(kv.value(), pointer_join(ptr, kv.key()), depth + 1);
      }
    }
  }

  void object(const json::object& o, const std::string& ptr, std::size_t depth) {
    if (depth > max_shape_depth) return;
    for (const auto& kv : o) {
      const std::string_view k = kv.key();
      const json::value& v = kv.value();
      // Built only when a value is kept or descended into: most keys are neither.
      const auto p = [&] { return pointer_join(ptr, k); };
      if (in(text_keys, k)) {
        if (const auto* s = v.if_string()) {
          if (out.text.empty() && !s->empty()) {
            out.text = std::string(*s);
            out.text_pointer = p();
          }
          continue;
        }
        if (const auto* inner = v.if_object()) {
          object(*inner, p(), depth + 1);
          continue;
        }
      }
      if (in(conversation_keys, k)) {
        if (auto s = scalar_text(v); s && out.conversation.empty()) {
          out.conversation = *s;
          continue;
        }
        if (const auto* ro = v.if_object(); ro && out.conversation.empty()) {
          if (auto id = first_string(*ro, {"_id", "id", "name"})) out.conversation = *id;
          continue;
        }
      }
      if (in(sender_keys, k) && out.sender.id.empty()) {
        party p2 = party_from(v);
        if (!p2.id.empty()) {
          out.sender = std::move(p2);
          continue;
        }
      }
      if (in(recipient_keys, k)) {
        if (auto s = scalar_text(v)) {
          out.recipients.push_back(*s);
          continue;
        }
        if (const auto* a = v.if_array()) {
          for (const auto& item : *a) {
            party r = party_from(item);
            if (!r.id.empty()) out.recipients.push_back(r.id);
          }
          continue;
        }
      }
      if (in(id_keys, k) && out.id.empty()) {
        if (auto s = scalar_text(v)) {
          out.id = *s;
          continue;
        }
      }
      if (in(time_keys, k) && out.timestamp.empty()) {
        if (auto t = timestamp_from(v); !t.empty()) {
          out.timestamp = std::move(t);
          continue;
        }
      }
      if (in(file_keys, k)) {
        if (const auto* a = v.if_array()) {
          for (std::size_t i = 0; i < a->size() && i < 64; ++i)
            add_file((*a)[i], pointer_join(p(), i), out);
        } else {
          add_file(v, p(), out);
        }
        continue;
      }
      if (const auto* inner = v.if_object()) {
        if (inner->contains("_placeholder")) continue;  // Socket.IO binary, handled by caller
        object(*inner, p(), depth + 1);
        continue;
      }
      if (in(metadata_keys, k) || !candidate(v) || !out.text.empty()) continue;
      note_leftover(v, p(), depth + 1);
    }
  }
};

}  // namespace

chat_shape read_chat_shape(const json::value& v, std::size_t first,
                           std::vector<std::string>* leading_strings) {
  chat_shape out;
  shape_walker w{out, {}, {}};
  if (const auto* a = v.if_array()) {
    std::vector<std::size_t> string_args;
    for (std::size_t i = first; i < a->size(); ++i) {
      const json::value& item = (*a)[i];
      if (item.is_string()) {
        string_args.push_back(i);
      } else if (const auto* o = item.if_object()) {
        if (!o->contains("_placeholder")) w.object(*o, pointer_join("", i), 1);
      } else if (const auto* inner = item.if_array()) {
        w.note_leftover(*inner, pointer_join("", i), 1);
      }
    }
    if (out.text.empty() && !string_args.empty()) {
      const std::size_t last = string_args.back();
      out.text = std::string((*a)[last].as_string());
      out.text_pointer = pointer_join("", last);
      if (leading_strings)
        for (std::size_t k = 0; k + 1 < string_args.size(); ++k)
          leading_strings->push_back(std::string((*a)[string_args[k]].as_string()));
    }
  } else if (const auto* o = v.if_object()) {
    w.object(*o, "", 0);
  } else if (const auto* s = v.if_string()) {
    out.text = std::string(*s);
    out.text_pointer = "";
  }
  if (out.text.empty() && !w.longest.empty()) {
    out.text = std::move(w.longest);
    out.text_pointer = std::move(w.longest_ptr);
    out.text_guessed = true;
  }
  return out;
}

void apply_shape(const chat_shape& s, const location& base, chat_event& e,
                 std::string_view pointer_prefix) {
  if (!s.text.empty()) {
    e.text = s.text;
    e.text_at = with_layer(base, layer_kind::json, std::string(pointer_prefix) + s.text_pointer);
    if (s.text_guessed) e.attributes.emplace_back("text_source", "longest_string");
  }
  if (!s.conversation.empty()) e.conversation_id = s.conversation;
  for (const auto& r : s.recipients) {
    party p;
    p.id = r;
    p.source = identity_source::body;
    e.recipients.push_back(std::move(p));
  }
  if (e.conversation_id.empty() && s.recipients.size() == 1) e.conversation_id = s.recipients[0];
  if (!s.sender.id.empty()) e.sender = s.sender;
  if (!s.id.empty()) {
    if (e.direction == direction::outbound)
      e.client_msg_id = s.id;
    else
      e.server_msg_id = s.id;
  }
  if (!s.timestamp.empty()) e.timestamp = s.timestamp;
  for (const auto& a : s.attachments) {
    attachment copy = a;
    location at = base;
    for (const auto& l : a.at.path) {
      layer copy_layer = l;
      if (copy_layer.kind == layer_kind::json) copy_layer.key.insert(0, pointer_prefix);
      at.path.push_back(std::move(copy_layer));
    }
    copy.at = std::move(at);
    e.attachments.push_back(std::move(copy));
  }
}

// ---------------------------------------------------------------------------------------------
// Layered rewrite.

decode_error rewrite_layers(std::string& body, const location& at, std::size_t index,
                            std::string_view replacement, const frame_rewrite& frame) {
  const limits lim{};
  bool frame_below = false;
  for (std::size_t k = index; k < at.path.size(); ++k)
    if (at.path[k].kind == layer_kind::frame) frame_below = true;
  if (!frame_below) {
    // Plain body formats all the way down: the shared rewriter knows them.
    return content::rewrite_path(body, std::span<const layer>(at.path).subspan(index), replacement,
                                 lim);
  }
  // Layers above a transport frame (a JSONP form field, a JSON string holding the payload):
  // descend by hand, let the descriptor handle the frame, re-encode on the way out.
  const layer& l = at.path[index];
  switch (l.kind) {
    case layer_kind::json: {
      content::json_arena doc_arena;
      json::value doc(doc_arena.storage());
      if (auto err = content::parse_json(body, lim, doc)) return err;
      const json::value* v = content::at_pointer(doc, l.key);
      if (!v || !v->is_string()) return {errc::malformed_json, "rewrite: no string at " + l.key};
      std::string inner(v->as_string());
      if (auto err = rewrite_layers(inner, at, index + 1, replacement, frame)) return err;
      return content::replace_string(body, l.key, inner, lim);
    }
    case layer_kind::form: {
      std::vector<content::form_field> fields;
      if (auto err = content::parse_form(body, lim, fields)) return err;
      for (auto& f : fields) {
        if (f.name != l.key) continue;
        if (auto err = rewrite_layers(f.value, at, index + 1, replacement, frame)) return err;
        body = content::serialize_form(fields);
        return {};
      }
      return {errc::malformed_form, "rewrite: no form field " + l.key};
    }
    case layer_kind::frame: {
      if (!frame) return {errc::malformed_frame, "rewrite: this transport has no frames"};
      const inner_rewrite descend = [&](std::string& content) {
        return rewrite_layers(content, at, index + 1, replacement, frame);
      };
      return frame(body, l.key, descend);
    }
    default:
      return {errc::malformed_frame, "rewrite: layer kind not supported above a frame"};
  }
}

}  // namespace imcap::modules::polling
