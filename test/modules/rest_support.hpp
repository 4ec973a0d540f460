#pragma once
// Test support for the REST decoders (teams, slack, discord, googlechat, webex): raw HTTP/1.1
// files read into the decoder's view, and a fixture folder replayed through the registry.
// The fixture replay stands in until the shared runner (`imcapctl decode`) covers these folders.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "modules/content/codings.hpp"
#include "modules/registry.hpp"
#include "modules/session.hpp"

namespace rest_test {

using namespace imcap::modules;

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct raw_message {
  std::string start_line;
  header_fields headers;
  std::string body;  // content codings undone
  decode_error error;
};

// Start line, CRLF headers, blank line, body (Content-Length bytes when given).
inline raw_message parse_raw(std::string_view text) {
  raw_message m;
  std::size_t end = text.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    m.error = {errc::malformed_http, "no end of head"};
    return m;
  }
  std::string_view head = text.substr(0, end);
  std::string_view body = text.substr(end + 4);
  std::size_t eol = head.find("\r\n");
  m.start_line = std::string(head.substr(0, eol));
  head = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
  while (!head.empty()) {
    eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
    std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    m.headers.add(std::string(line.substr(0, colon)), std::string(v));
  }
  if (auto cl = m.headers.get("content-length")) {
    std::size_t n = std::stoul(std::string(*cl));
    if (n > body.size()) {
      m.error = {errc::truncated, "body shorter than Content-Length"};
      return m;
    }
    body = body.substr(0, n);
  }
  m.error = content::decode_content(m.headers.get("content-encoding").value_or(""), body,
                                    limits{}, m.body);
  return m;
}

inline http_request make_request(const raw_message& m) {
  std::istringstream line(m.start_line);
  std::string method, target;
  line >> method >> target;
  return http_request{request_head::make(method, target, m.headers), m.body};
}

inline http_response make_response(const raw_message& m) {
  http_response r;
  r.status = std::stoi(m.start_line.substr(9, 3));
  r.headers = m.headers;
  r.body = m.body;
  return r;
}

struct replay_result {
  std::vector<chat_event> events;
  decode_error error;
  std::vector<std::string> unclassified;  // request files no decoder claimed
};

// Replays a fixture folder: request.http (+ response.http), or NN-request.http (+
// NN-response.http) in order, all sharing one session store.
inline replay_result replay(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  replay_result out;
  std::vector<std::pair<fs::path, fs::path>> steps;
  if (fs::exists(dir / "request.http")) {
    steps.emplace_back(dir / "request.http", dir / "response.http");
  } else {
    for (int i = 1; i < 100; ++i) {
      char prefix[8];
      std::snprintf(prefix, sizeof prefix, "%02d-", i);
      fs::path req = dir / (std::string(prefix) + "request.http");
      if (!fs::exists(req)) break;
      steps.emplace_back(req, dir / (std::string(prefix) + "response.http"));
    }
  }
  memory_session_store store;
  limits lim;
  for (const auto& [req_path, res_path] : steps) {
    raw_message rq = parse_raw(read_file(req_path));
    if (rq.error) {
      out.error = rq.error;
      return out;
    }
    http_request req = make_request(rq);
    http_response res;
    bool have_res = fs::exists(res_path);
    if (have_res) {
      raw_message rs = parse_raw(read_file(res_path));
      if (rs.error) {
        out.error = rs.error;
        return out;
      }
      res = make_response(rs);
    }
    exchange x{req, have_res ? &res : nullptr, "", "", &store, lim};
    decode_outcome o = decode_exchange(x);
    if (o.used == nullptr) out.unclassified.push_back(req_path.filename().string());
    for (auto& e : o.events) out.events.push_back(std::move(e));
    if (o.error) {
      out.error = o.error;
      return out;
    }
  }
  return out;
}

// Every fixture folder of a family, sorted.
inline std::vector<std::filesystem::path> fixture_dirs(std::string_view family) {
  std::vector<std::filesystem::path> dirs;
  std::filesystem::path root = std::filesystem::path(IMCAP_SOURCE_DIR) / "test/modules/fixtures" /
                               std::string(family);
  if (!std::filesystem::exists(root)) return dirs;
  for (const auto& d : std::filesystem::directory_iterator(root))
    if (d.is_directory()) dirs.push_back(d.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

inline std::vector<boost::json::value> expected_events(const std::filesystem::path& dir) {
  std::vector<boost::json::value> out;
  std::istringstream in(read_file(dir / "expected.jsonl"));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) out.push_back(boost::json::parse(line));
  return out;
}

}  // namespace rest_test

namespace rest_test {

// A request head from a method and an absolute URL (plus optional headers).
inline request_head head(std::string method, std::string url,
                         std::vector<std::pair<std::string, std::string>> fields = {}) {
  header_fields h;
  for (auto& [k, v] : fields) h.add(k, v);
  return request_head::make(std::move(method), std::move(url), std::move(h));
}

// Decodes one stateless exchange with a given decoder (no session store).
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

// The request (and response) of a single-exchange fixture.
struct loaded {
  http_request request;
  http_response response;
};
inline loaded load_fixture(std::string_view family, std::string_view name) {
  std::filesystem::path dir = std::filesystem::path(IMCAP_SOURCE_DIR) / "test/modules/fixtures" /
                              std::string(family) / std::string(name);
  loaded l{make_request(parse_raw(read_file(dir / "request.http"))), {}};
  if (std::filesystem::exists(dir / "response.http"))
    l.response = make_response(parse_raw(read_file(dir / "response.http")));
  return l;
}

// An event's JSON without the named members (to compare "everything else unchanged").
inline boost::json::object without(const chat_event& e, std::initializer_list<std::string_view> keys) {
  boost::json::object o = to_json(e);
  for (auto k : keys) o.erase(k);
  return o;
}

}  // namespace rest_test
