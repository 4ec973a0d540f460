#pragma once
// Test helpers for the Mattermost, Rocket.Chat, Matrix, legacy and app fixtures: reads raw
// HTTP/1.1 files, undoes content codings with the library, runs the decoder table over a
// fixture folder (single exchange or numbered steps sharing one session store) and compares the
// events with expected.jsonl (as JSON values) or the error with expected_error.txt.
// Used until the generic fixture runner of imcapctl decode covers these folders too.

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "modules/content/codings.hpp"
#include "modules/http.hpp"
#include "modules/registry.hpp"
#include "modules/session.hpp"

namespace misc_test {

namespace fs = std::filesystem;
using namespace imcap::modules;

inline const fs::path fixtures_root = fs::path(IMCAP_SOURCE_DIR) / "test/modules/fixtures";

inline std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

struct raw_message {
  std::string start_line;
  header_fields headers;
  std::string body;
};

// Head up to CRLFCRLF, then Content-Length bytes of body (or the rest of the file).
inline raw_message parse_raw(const std::string& text) {
  raw_message m;
  const auto end = text.find("\r\n\r\n");
  const std::string head = text.substr(0, end);
  std::string body = end == std::string::npos ? "" : text.substr(end + 4);
  std::size_t pos = head.find("\r\n");
  m.start_line = head.substr(0, pos);
  while (pos != std::string::npos) {
    const std::size_t next = head.find("\r\n", pos + 2);
    const std::string line = head.substr(pos + 2, next == std::string::npos ? next : next - pos - 2);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      m.headers.add(line.substr(0, colon), v);
    }
    pos = next;
  }
  if (auto cl = m.headers.get("content-length")) body = body.substr(0, std::stoul(std::string(*cl)));
  std::string decoded;
  limits lim;
  auto ce = m.headers.get("content-encoding").value_or("");
  if (!ce.empty() && !content::decode_content(ce, body, lim, decoded)) body = decoded;
  m.body = body;
  return m;
}

inline http_request load_request(const fs::path& p) {
  raw_message m = parse_raw(slurp(p));
  const auto sp1 = m.start_line.find(' ');
  const auto sp2 = m.start_line.find(' ', sp1 + 1);
  http_request r{request_head::make(m.start_line.substr(0, sp1),
                                    m.start_line.substr(sp1 + 1, sp2 - sp1 - 1),
                                    std::move(m.headers)),
                 std::move(m.body)};
  return r;
}

inline http_response load_response(const fs::path& p) {
  raw_message m = parse_raw(slurp(p));
  http_response r;
  r.status = std::stoi(m.start_line.substr(m.start_line.find(' ') + 1, 3));
  r.headers = std::move(m.headers);
  r.body = std::move(m.body);
  return r;
}

struct fixture_result {
  std::vector<chat_event> events;
  decode_error error;
  std::vector<const decoder*> used;
};

// Runs every step of a fixture folder through decode_exchange with one shared session store.
inline fixture_result run_fixture(const fs::path& dir, std::string_view proxy_user = "") {
  fixture_result r;
  memory_session_store store;
  limits lim;
  std::vector<std::string> prefixes;
  if (fs::exists(dir / "request.http")) prefixes.push_back("");
  for (int i = 1; i < 100; ++i) {
    char p[8];
    std::snprintf(p, sizeof p, "%02d-", i);
    if (!fs::exists(dir / (std::string(p) + "request.http"))) break;
    prefixes.emplace_back(p);
  }
  for (const auto& p : prefixes) {
    const http_request req = load_request(dir / (p + "request.http"));
    std::optional<http_response> resp;
    if (fs::exists(dir / (p + "response.http"))) resp = load_response(dir / (p + "response.http"));
    exchange x{req, resp ? &*resp : nullptr, proxy_user, "", &store, lim};
    auto out = decode_exchange(x);
    r.used.push_back(out.used);
    for (auto& e : out.events) r.events.push_back(std::move(e));
    if (out.error) {
      r.error = out.error;
      break;
    }
  }
  return r;
}

inline std::vector<boost::json::value> expected_events(const fs::path& dir) {
  std::vector<boost::json::value> v;
  std::istringstream in(slurp(dir / "expected.jsonl"));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) v.push_back(boost::json::parse(line));
  return v;
}

inline std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace misc_test
