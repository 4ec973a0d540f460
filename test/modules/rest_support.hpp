#pragma once
// Test support for the REST decoders (teams, slack, discord, googlechat, webex): request heads,
// stateless decoding with one descriptor, fixture files read through the same HTTP parser
// `imcapctl decode` uses, and event comparison that leaves chosen members out.

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "modules/decoder.hpp"
#include "modules/http_message.hpp"

namespace rest_test {

using namespace imcap::modules;

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A request head from a method and an absolute URL (plus optional headers).
inline request_head head(std::string method, std::string url,
                         std::vector<std::pair<std::string, std::string>> fields = {}) {
  header_fields h;
  for (auto& [k, v] : fields) h.add(k, v);
  return request_head::make(std::move(method), std::move(url), std::move(h));
}

// Decodes one stateless exchange with a given decoder (no session store): the request, or the
// response when one is given.
inline std::vector<chat_event> decode_with(const decoder& d, const http_request& req,
                                           const http_response* res = nullptr,
                                           decode_error* err = nullptr) {
  limits lim;
  exchange x{req, res, "", "", nullptr, lim};
  std::vector<chat_event> out;
  decode_error e = res == nullptr ? d.decode_request(x, out) : d.decode_response(x, out);
  if (err != nullptr) *err = e;
  return out;
}

// The request (and response) of a single-exchange fixture folder.
struct loaded {
  http_request request;
  http_response response;
};
inline loaded load_fixture(std::string_view family, std::string_view name) {
  std::filesystem::path dir = std::filesystem::path(IMCAP_SOURCE_DIR) / "test/modules/fixtures" /
                              std::string(family) / std::string(name);
  loaded l;
  limits lim;
  if (parse_http_request(read_file(dir / "request.http"), lim, l.request))
    throw std::runtime_error("fixture request does not parse: " + dir.string());
  if (std::filesystem::exists(dir / "response.http") &&
      parse_http_response(read_file(dir / "response.http"), lim, l.response))
    throw std::runtime_error("fixture response does not parse: " + dir.string());
  return l;
}

// An event's JSON without the named members (to compare "everything else unchanged").
inline boost::json::object without(const chat_event& e,
                                   std::initializer_list<std::string_view> keys) {
  boost::json::object o = to_json(e);
  for (auto k : keys) o.erase(k);
  return o;
}

}  // namespace rest_test
