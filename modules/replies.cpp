#include "modules/replies.hpp"

#include <chrono>

#include <boost/json.hpp>
#include <pugixml.hpp>

#include "modules/content/json.hpp"
#include "modules/wire.hpp"

namespace imcap::modules::replies {

namespace json = boost::json;

std::string call_id_of(const chat_event& blocked) {
  if (blocked.direction != direction::outbound) return {};
  for (std::string_view name : {"invocation_id", "ddp_id", "ack_id"})
    if (auto v = blocked.attribute(name)) return std::string(*v);
  // An XMPP message's id: its error stanza names it (BOSH).
  if (blocked.transport == "bosh" && blocked.kind == event_kind::message)
    return blocked.client_msg_id;
  return {};
}

std::string text_of(const notice& n) {
  return n.text.empty() ? std::string(default_text) : n.text;
}

std::string id_of(const notice& n) {
  return n.id.empty() ? std::string("imcap-notice") : n.id;
}

std::string reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 413:
      return "Payload Too Large";
    default:
      return "Error";
  }
}

http_reply body_reply(int status, std::string_view content_type, std::string body) {
  http_reply r;
  r.status = status;
  r.reason = reason_phrase(status);
  if (!content_type.empty()) r.headers.emplace_back("Content-Type", std::string(content_type));
  r.headers.emplace_back("Cache-Control", "no-store");
  r.body = std::move(body);
  return r;
}

http_reply json_reply(int status, const json::value& body) {
  return body_reply(status, "application/json; charset=utf-8", json::serialize(body));
}

std::optional<std::int64_t> unix_ms(std::string_view t) {
  const std::string z = wire::normalize_rfc3339(t);  // UTC with "Z"
  // YYYY-MM-DDTHH:MM:SS[.f...]Z
  if (z.size() < 20) return std::nullopt;
  auto num = [&](std::size_t at, std::size_t len) -> std::optional<int> {
    int v = 0;
    for (std::size_t i = at; i < at + len; ++i) {
      if (z[i] < '0' || z[i] > '9') return std::nullopt;
      v = v * 10 + (z[i] - '0');
    }
    return v;
  };
  auto y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2),
       s = num(17, 2);
  if (!y || !mo || !d || !h || !mi || !s) return std::nullopt;
  int ms = 0;
  if (z[19] == '.') {
    int scale = 100;
    for (std::size_t i = 20; i < z.size() && z[i] >= '0' && z[i] <= '9'; ++i) {
      ms += (z[i] - '0') * scale;
      scale /= 10;
    }
  }
  using namespace std::chrono;
  const year_month_day ymd{year{*y}, month{static_cast<unsigned>(*mo)},
                           day{static_cast<unsigned>(*d)}};
  if (!ymd.ok()) return std::nullopt;
  const auto days = sys_days{ymd}.time_since_epoch().count();
  return ((static_cast<std::int64_t>(days) * 24 + *h) * 60 + *mi) * 60000 +
         static_cast<std::int64_t>(*s) * 1000 + ms;
}

std::int64_t notice_ms(const notice& n) {
  return unix_ms(n.timestamp).value_or(0);
}

decode_error parse(std::string_view body, json::value& out) {
  return content::parse_json(body, limits{}, out);
}

std::optional<std::size_t> frame_index(std::string_view key) noexcept {
  return wire::parse_index(key);
}

std::optional<std::string_view> first_key(const location& at, layer_kind k) noexcept {
  for (const auto& l : at.path)
    if (l.kind == k) return std::string_view(l.key);
  return std::nullopt;
}

namespace {

struct string_writer : pugi::xml_writer {
  std::string out;
  void write(const void* data, std::size_t size) override {
    out.append(static_cast<const char*>(data), size);
  }
};

}  // namespace

std::string xml_safe(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\t' && c != '\n' && c != '\r')
      out += "\xEF\xBF\xBD";
    else
      out += c;
  }
  return out;
}

std::string xml_escape(std::string_view text) {
  pugi::xml_document doc;
  doc.append_child(pugi::node_pcdata).set_value(xml_safe(text).c_str());
  string_writer w;
  doc.first_child().print(w, "", pugi::format_raw);
  return std::move(w.out);
}

std::string html_paragraph(std::string_view text) {
  pugi::xml_document doc;
  pugi::xml_node p = doc.append_child("p");
  std::size_t start = 0;
  while (true) {
    const std::size_t nl = text.find('\n', start);
    const std::string line = xml_safe(
        text.substr(start, nl == std::string_view::npos ? text.size() - start : nl - start));
    if (!line.empty()) p.append_child(pugi::node_pcdata).set_value(line.c_str());
    if (nl == std::string_view::npos) break;
    p.append_child("br");
    start = nl + 1;
  }
  string_writer w;
  p.print(w, "", pugi::format_raw);
  return std::move(w.out);
}

json::object chat_object(const notice& n) {
  json::object o;
  o["id"] = id_of(n);
  o["from"] = sender;
  o["text"] = text_of(n);
  if (!n.conversation_id.empty()) o["room"] = n.conversation_id;
  if (!n.timestamp.empty()) o["timestamp"] = n.timestamp;
  return o;
}

}  // namespace imcap::modules::replies
