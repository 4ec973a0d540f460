#pragma once
// Test helpers for the long-polling decoders: build an exchange from a method, target,
// headers and bodies, run one descriptor, and look at the events as `imcapctl decode` prints
// them.

#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "modules/decoder.hpp"
#include "modules/session.hpp"

namespace imcap::modules::test {

struct poll_case {
  std::string method = "POST";
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::optional<std::string> response_body;
  std::vector<std::pair<std::string, std::string>> response_headers;
  std::string proxy_user;
  session_store* sessions = nullptr;
  limits lim{};
};

struct poll_result {
  std::vector<chat_event> events;
  decode_error request_error;
  decode_error response_error;
};

inline request_head make_head(const std::string& method, const std::string& target,
                              const std::vector<std::pair<std::string, std::string>>& headers) {
  header_fields h;
  bool has_host = false;
  for (const auto& [k, v] : headers) {
    h.add(k, v);
    if (k == "Host") has_host = true;
  }
  if (!has_host && target.rfind("http", 0) != 0) h.add("Host", "chat.example.com");
  return request_head::make(method, target, std::move(h));
}

inline poll_result run(const decoder& d, const poll_case& c) {
  poll_result r;
  http_request req{make_head(c.method, c.target, c.headers), c.body};
  std::optional<http_response> resp;
  if (c.response_body) {
    resp.emplace();
    resp->status = 200;
    for (const auto& [k, v] : c.response_headers) resp->headers.add(k, v);
    resp->body = *c.response_body;
  }
  exchange x{req, resp ? &*resp : nullptr, c.proxy_user, "10.0.0.7", c.sessions, c.lim};
  if (d.decode_request) r.request_error = d.decode_request(x, r.events);
  if (resp && d.decode_response) r.response_error = d.decode_response(x, r.events);
  return r;
}

inline bool classifies(const decoder& d, const std::string& method, const std::string& target,
                       std::vector<std::pair<std::string, std::string>> headers = {}) {
  return d.classify(make_head(method, target, headers));
}

inline std::string location_text(const location& at) {
  std::string s;
  for (const auto& l : at.path) {
    if (!s.empty()) s += ' ';
    s += std::string(l.kind == layer_kind::json          ? "json"
                     : l.kind == layer_kind::json_string ? "json_string"
                     : l.kind == layer_kind::form        ? "form"
                     : l.kind == layer_kind::frame       ? "frame"
                     : l.kind == layer_kind::xml         ? "xml"
                                                         : "other");
    s += ':';
    s += l.key;
  }
  return s;
}

}  // namespace imcap::modules::test

namespace Catch {
template <>
struct StringMaker<imcap::modules::decode_error> {
  static std::string convert(const imcap::modules::decode_error& e) { return e.message(); }
};
template <>
struct StringMaker<imcap::modules::errc> {
  static std::string convert(imcap::modules::errc e) {
    return std::string(imcap::modules::to_string(e));
  }
};
}  // namespace Catch
