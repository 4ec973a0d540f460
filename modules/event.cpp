#include "modules/event.hpp"

#include <openssl/evp.h>
#include <sodium.h>
#include <boost/json.hpp>

namespace imcap::modules {

std::string_view to_string(direction d) noexcept {
  switch (d) {
    case direction::outbound:
      return "outbound";
    case direction::inbound:
      return "inbound";
  }
  return "unknown";
}

std::string_view to_string(event_kind k) noexcept {
  switch (k) {
    case event_kind::message:
      return "message";
    case event_kind::upload:
      return "upload";
    case event_kind::identity:
      return "identity";
    case event_kind::app:
      return "app";
  }
  return "unknown";
}

std::string_view to_string(identity_source s) noexcept {
  switch (s) {
    case identity_source::unknown:
      return "unknown";
    case identity_source::body:
      return "body";
    case identity_source::proxy:
      return "proxy";
    case identity_source::learned:
      return "learned";
  }
  return "unknown";
}

std::string_view to_string(layer_kind k) noexcept {
  switch (k) {
    case layer_kind::json:
      return "json";
    case layer_kind::json_string:
      return "json_string";
    case layer_kind::form:
      return "form";
    case layer_kind::multipart:
      return "multipart";
    case layer_kind::frame:
      return "frame";
    case layer_kind::xml:
      return "xml";
    case layer_kind::base64:
      return "base64";
    case layer_kind::bytes:
      return "bytes";
  }
  return "unknown";
}

std::string to_string(const location& at) {
  std::string s;
  for (const auto& l : at.path) {
    if (!s.empty()) s += ' ';
    s += to_string(l.kind);
    s += ':';
    s += l.key;
  }
  return s;
}

std::optional<std::string_view> chat_event::attribute(std::string_view name) const noexcept {
  for (const auto& [k, v] : attributes) {
    if (k == name) return std::string_view(v);
  }
  return std::nullopt;
}

namespace {

void put_if(boost::json::object& o, std::string_view key, const std::string& v) {
  if (!v.empty()) o[key] = v;
}

boost::json::array location_json(const location& at) {
  boost::json::array a;
  for (const auto& l : at.path) {
    std::string s(to_string(l.kind));
    s += ':';
    s += l.key;
    a.emplace_back(s);
  }
  return a;
}

boost::json::object party_json(const party& p) {
  boost::json::object o;
  put_if(o, "id", p.id);
  put_if(o, "display_name", p.display_name);
  if (p.source != identity_source::unknown) o["source"] = to_string(p.source);
  return o;
}

}  // namespace

boost::json::object to_json(const chat_event& e) {
  boost::json::object o;
  o["kind"] = to_string(e.kind);
  put_if(o, "app", e.app);
  put_if(o, "transport", e.transport);
  o["direction"] = to_string(e.direction);
  put_if(o, "session_key", e.session_key);
  put_if(o, "conversation_id", e.conversation_id);
  if (auto s = party_json(e.sender); !s.empty()) o["sender"] = std::move(s);
  if (!e.recipients.empty()) {
    boost::json::array a;
    for (const auto& r : e.recipients) a.emplace_back(party_json(r));
    o["recipients"] = std::move(a);
  }
  put_if(o, "text", e.text);
  put_if(o, "html", e.html);
  if (!e.text_at.empty()) o["text_at"] = location_json(e.text_at);
  if (!e.attachments.empty()) {
    boost::json::array a;
    for (const auto& f : e.attachments) {
      boost::json::object j;
      put_if(j, "name", f.name);
      put_if(j, "media_type", f.media_type);
      if (f.size) j["size"] = *f.size;
      put_if(j, "sha256", f.sha256);
      put_if(j, "ref", f.ref);
      if (!f.at.empty()) j["at"] = location_json(f.at);
      a.emplace_back(std::move(j));
    }
    o["attachments"] = std::move(a);
  }
  put_if(o, "client_msg_id", e.client_msg_id);
  put_if(o, "server_msg_id", e.server_msg_id);
  put_if(o, "timestamp", e.timestamp);
  if (e.encrypted) o["encrypted"] = true;
  if (!e.attributes.empty()) {
    // An object keyed by attribute name; a name given more than once becomes an array of its
    // values in order, so nothing is lost.
    boost::json::object attrs;
    for (const auto& [k, v] : e.attributes) {
      auto* existing = attrs.if_contains(k);
      if (existing == nullptr) {
        attrs[k] = v;
      } else if (existing->is_array()) {
        existing->as_array().emplace_back(v);
      } else {
        boost::json::array a;
        a.emplace_back(std::move(*existing));
        a.emplace_back(v);
        *existing = std::move(a);
      }
    }
    o["attributes"] = std::move(attrs);
  }
  return o;
}

std::string sha256_hex(std::string_view bytes) {
  // OpenSSL's SHA-256 uses the CPU's SHA extensions where present: attachments of megabytes are
  // hashed on the decode path, and libsodium's portable SHA-256 was the largest single cost of
  // decoding an upload. The algorithm is fetched once; EVP_Digest is thread-safe with it.
  static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char digest[32];
  unsigned int len = 0;
  if (md == nullptr || EVP_Digest(bytes.data(), bytes.size(), digest, &len, md, nullptr) != 1 ||
      len != sizeof digest) {
    // No OpenSSL provider (a broken install): the same digest from libsodium.
    crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(bytes.data()),
                       static_cast<unsigned long long>(bytes.size()));
  }
  char hex[sizeof digest * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return std::string(hex, sizeof digest * 2);
}

}  // namespace imcap::modules
