#pragma once
// The reviewer UI under test: a real archive in a temporary directory filled with the sample
// events, the real server on 127.0.0.1 port 0 with an injected clock, and a small HTTP client
// (Boost.Beast) with a cookie jar that logs in like a browser.

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <regex>
#include <string>

#include "quarantine/server.hpp"
#include "test/quarantine/sample_archive.hpp"

namespace imcap::quarantine::test {

namespace fs = std::filesystem;
namespace http = boost::beast::http;

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "imcap-webui-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

struct reply {
  unsigned status = 0;
  std::string body;
  std::multimap<std::string, std::string> headers;  // names lowercased
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

inline const std::string password = "correct horse battery staple";

class client {
 public:
  explicit client(std::uint16_t port) : port_(port) {}

  reply request(const std::string& method, const std::string& target, const std::string& body = "",
                std::map<std::string, std::string> extra = {}) {
    namespace net = boost::asio;
    net::io_context io;
    boost::beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(20));
    stream.connect(net::ip::tcp::endpoint(net::ip::make_address("127.0.0.1"), port_));
    http::request<http::string_body> rq(method == "POST" ? http::verb::post : http::verb::get,
                                        target, 11);
    rq.set(http::field::host, "127.0.0.1:" + std::to_string(port_));
    std::string cookies;
    for (const auto& [k, v] : jar_) cookies += (cookies.empty() ? "" : "; ") + k + "=" + v;
    if (!cookies.empty()) rq.set(http::field::cookie, cookies);
    if (method == "POST") rq.set(http::field::content_type, "application/x-www-form-urlencoded");
    for (const auto& [k, v] : extra) rq.set(k, v);
    rq.body() = body;
    rq.prepare_payload();
    http::write(stream, rq);
    boost::beast::flat_buffer buf;
    http::response_parser<http::string_body> p;
    p.body_limit(64u << 20);
    http::read(stream, buf, p);
    auto res = p.release();
    reply r;
    r.status = res.result_int();
    r.body = res.body();
    for (const auto& f : res) {
      std::string name(f.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      r.headers.emplace(name, std::string(f.value()));
    }
    for (auto [it, end] = r.headers.equal_range("set-cookie"); it != end; ++it) {
      const std::string& c = it->second;
      const auto eq = c.find('='), semi = c.find(';');
      const std::string k = c.substr(0, eq), v = c.substr(eq + 1, semi - eq - 1);
      if (c.find("Max-Age=0") != std::string::npos || v.empty())
        jar_.erase(k);
      else
        jar_[k] = v;
    }
    return r;
  }
  reply get(const std::string& target) { return request("GET", target); }
  reply post(const std::string& target, const std::string& body) {
    return request("POST", target, body);
  }

  // GET /login, POST the form with its login token.
  reply login(const std::string& user, const std::string& pw = password) {
    const auto form = get("/login");
    return post("/login", "login_token=" + hidden(form.body, "login_token") + "&user=" + user +
                              "&password=" + encode(pw));
  }
  // The CSRF token of the current session, read from a page's logout form.
  std::string csrf() { return hidden(get("/queue").body, "csrf"); }

  static std::string hidden(const std::string& page, const std::string& name) {
    std::smatch m;
    const std::regex re("name=\"" + name + "\" value=\"([0-9a-f]*)\"");
    if (!std::regex_search(page, m, re)) return {};
    return m[1];
  }
  static std::string encode(const std::string& s) {
    std::string out;
    for (const char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      if (std::isalnum(c)) {
        out += ch;
      } else {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%%%02X", c);
        out += buf;
      }
    }
    return out;
  }
  std::map<std::string, std::string>& cookies() { return jar_; }

 private:
  std::uint16_t port_;
  std::map<std::string, std::string> jar_;
};

struct webui {
  temp_dir dir;
  std::shared_ptr<archive::store> store;
  sample_ids ids;
  std::shared_ptr<std::atomic<std::int64_t>> clock =
      std::make_shared<std::atomic<std::int64_t>>(base_us + 6 * hour_us);
  std::unique_ptr<server> srv;

  explicit webui(webui_settings s = {}, fs::path pack_store = {}) {
    archive::settings as;
    as.path = dir.path / "archive";
    as.map_size_initial = 8u << 20;
    as.max_batch_delay = std::chrono::microseconds(0);
    store = archive::store::open(as);
    ids = fill_sample(*store);
    add_user(*store, "admin", role::admin, password);
    add_user(*store, "rev", role::reviewer, password);
    add_user(*store, "aud", role::auditor, password);
    s.host = "127.0.0.1";
    s.port = 0;
    server_options o;
    o.settings = s;
    o.archive = store;
    o.now = [c = clock] { return c->load(); };
    o.pack_store = std::move(pack_store);
    srv = server::start(std::move(o));
  }
  client anonymous() const { return client(srv->port()); }
  client as(const std::string& user) const {
    client c(srv->port());
    const auto r = c.login(user);
    REQUIRE(r.status == 303);
    return c;
  }
  void advance(std::chrono::microseconds d) { *clock += d.count(); }
};

}  // namespace imcap::quarantine::test
