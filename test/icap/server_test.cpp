// The ICAP server over real loopback sockets: OPTIONS, 204 / echo / 206 / 100 Continue rules,
// keep-alive, limits and every error status, identity, reload and drain.

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "icap/echo_service.hpp"
#include "icap/icap_client.hpp"
#include "icap/server.hpp"

using namespace imcap::icap;
using imcap::test::icap_client;
using imcap::test::icap_response;

namespace {

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

// Test services, each showing one reply kind.
template <class Exchange>
class test_service final : public service {
 public:
  test_service(std::string name, bool reqmod = true, bool respmod = true) {
    info_.name = std::move(name);
    info_.description = "test";
    info_.reqmod = reqmod;
    info_.respmod = respmod;
  }
  const service_info& info() const noexcept override { return info_; }
  std::unique_ptr<exchange> open(const transaction& tx) override {
    return std::make_unique<Exchange>(tx);
  }

 private:
  service_info info_;
};

// Reads the whole body, then answers with it upper-cased.
struct upper_exchange : exchange {
  explicit upper_exchange(const transaction& t) : tx(t) {}
  const transaction& tx;
  boost::asio::awaitable<reply> on_preview(std::string_view, bool) override {
    co_return reply::need_body();
  }
  boost::asio::awaitable<reply> on_body(std::string& body) override {
    http_message m;
    if (tx.request.method == method::reqmod)
      m.req_head = tx.request.http_request->raw;
    else
      m.res_head = tx.request.http_response->raw;
    m.body = upper(body);
    co_return reply::replace(std::move(m), "modified");
  }
};

// Adds a header and keeps the body: 206 where allowed.
struct heads_exchange : exchange {
  explicit heads_exchange(const transaction& t) : tx(t) {}
  const transaction& tx;
  boost::asio::awaitable<reply> on_preview(std::string_view, bool) override {
    reply r;
    r.what = reply::kind::new_heads;
    auto head = tx.request.http_response->raw;
    head.insert(head.size() - 2, "X-Imcap-Test: yes\r\n");
    r.message.res_head = head;
    r.verdict = "heads";
    co_return r;
  }
};

// Streams the body through an upper-casing filter.
struct stream_exchange : exchange {
  explicit stream_exchange(const transaction&) {}
  boost::asio::awaitable<reply> on_preview(std::string_view, bool) override {
    reply r;
    r.what = reply::kind::stream;
    co_return r;
  }
  void filter(std::string_view in, bool, std::string& out) override {
    out += upper(std::string(in));
  }
};

struct boom_exchange : exchange {
  explicit boom_exchange(const transaction&) {}
  boost::asio::awaitable<reply> on_preview(std::string_view, bool) override {
    throw std::runtime_error("service bug");
    co_return reply::unmodified();
  }
};

// Answers REQMOD with an HTTP 403 naming the proxy identity it was given.
struct who_exchange : exchange {
  explicit who_exchange(const transaction& t) : tx(t) {}
  const transaction& tx;
  boost::asio::awaitable<reply> on_preview(std::string_view, bool) override {
    http_message m;
    m.res_head = "HTTP/1.1 403 Forbidden\r\nX-User: " + tx.client.user +
                 "\r\nX-Domain: " + tx.client.domain + "\r\nX-Ip: " + tx.client.client_ip +
                 "\r\nContent-Length: 7\r\n\r\n";
    m.body = "blocked";
    co_return reply::replace(std::move(m), "block");
  }
};

// Waits before answering, standing in for a slow scan.
struct slow_exchange : exchange {
  explicit slow_exchange(const transaction&) {}
  boost::asio::awaitable<reply> on_preview(std::string_view, bool) override {
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor,
                                std::chrono::milliseconds(500));
    co_await t.async_wait(boost::asio::use_awaitable);
    co_return reply::unmodified("slow");
  }
};

config test_config() {
  auto c = default_config();
  c.listen = {{"127.0.0.1", 0}};
  c.threads = 2;
  c.log.access_log = "";
  c.drain_timeout = std::chrono::seconds(5);
  return c;
}

struct fixture {
  explicit fixture(config c = test_config()) : srv(std::move(c)) {
    srv.add_service(std::make_shared<echo_service>());
    srv.add_service(std::make_shared<test_service<upper_exchange>>("upper"));
    srv.add_service(std::make_shared<test_service<heads_exchange>>("heads"));
    srv.add_service(std::make_shared<test_service<stream_exchange>>("stream"));
    srv.add_service(std::make_shared<test_service<boom_exchange>>("boom"));
    srv.add_service(std::make_shared<test_service<who_exchange>>("who", true, false));
    srv.add_service(std::make_shared<test_service<slow_exchange>>("slow"));
    port = srv.listen().at(0).port();
    srv.start();
  }
  server srv;
  std::uint16_t port = 0;
};

const std::string http_req =
    "POST http://chat.example/api/send HTTP/1.1\r\nHost: chat.example\r\n"
    "Content-Type: application/json\r\n\r\n";
const std::string http_get = "GET http://files.example/big HTTP/1.1\r\nHost: files.example\r\n\r\n";
const std::string http_res = "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n";

std::string chunked(const std::string& body, std::size_t piece = 4096) {
  std::string out;
  for (std::size_t i = 0; i < body.size(); i += piece) {
    auto part = body.substr(i, piece);
    char hex[20];
    auto [end, ec] = std::to_chars(hex, hex + sizeof hex, part.size(), 16);
    out.append(hex, end);
    out += "\r\n" + part + "\r\n";
  }
  return out;
}

std::string reqmod(const std::string& service, const std::string& headers, const std::string& body,
                   std::optional<std::size_t> preview = std::nullopt) {
  std::string icap =
      "REQMOD icap://127.0.0.1/" + service + " ICAP/1.0\r\nHost: 127.0.0.1\r\n" + headers;
  std::string tail;
  if (preview) {
    auto p = std::min(*preview, body.size());
    icap += "Preview: " + std::to_string(*preview) + "\r\n";
    tail = chunked(body.substr(0, p)) + (p == body.size() ? "0; ieof\r\n\r\n" : "0\r\n\r\n");
  } else {
    tail = chunked(body) + "0\r\n\r\n";
  }
  return icap + "Encapsulated: req-hdr=0, req-body=" + std::to_string(http_req.size()) +
         "\r\n\r\n" + http_req + tail;
}

// The part of a previewed body that is sent after 100 Continue.
std::string rest_after_preview(const std::string& body, std::size_t preview) {
  return chunked(body.substr(preview)) + "0\r\n\r\n";
}

std::string respmod(const std::string& service, const std::string& headers,
                    const std::string& body) {
  return "RESPMOD icap://127.0.0.1/" + service + " ICAP/1.0\r\nHost: 127.0.0.1\r\n" + headers +
         "Encapsulated: req-hdr=0, res-hdr=" + std::to_string(http_get.size()) +
         ", res-body=" + std::to_string(http_get.size() + http_res.size()) + "\r\n\r\n" + http_get +
         http_res + chunked(body, 65536) + "0\r\n\r\n";
}

std::string random_bytes(std::size_t n, unsigned seed = 7) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(gen() & 0xff);
  return s;
}

}  // namespace

TEST_CASE("OPTIONS advertises what Squid needs") {
  fixture f;
  icap_client c(f.port);
  c.send(
      "OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\nHost: 127.0.0.1\r\nEncapsulated: "
      "null-body=0\r\n\r\n");
  auto r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.header("methods") == "REQMOD, RESPMOD");
  CHECK_FALSE(r.header("service").empty());
  auto istag = r.header("istag");
  REQUIRE(istag.size() >= 3);
  CHECK(istag.front() == '"');
  CHECK(istag.back() == '"');
  CHECK(istag.size() <= 32);
  CHECK(r.header("options-ttl") == "3600");
  CHECK(r.header("max-connections") == "1024");
  CHECK(r.header("preview") == "4096");
  CHECK(r.header("transfer-preview") == "*");
  CHECK(r.header("allow") == "204, 206");
  CHECK_FALSE(r.header("date").empty());
  CHECK(r.header("encapsulated") == "null-body=0");
  CHECK(r.header("trailer").empty());

  // A REQMOD-only service says so, and refuses RESPMOD with 405.
  c.send("OPTIONS icap://127.0.0.1/who ICAP/1.0\r\n\r\n");
  CHECK(c.read_response().header("methods") == "REQMOD");
  c.send(respmod("who", "", "x"));
  auto r405 = c.read_response();
  CHECK(r405.status == 405);
  CHECK_FALSE(r405.header("istag").empty());
  // ... and the connection stays usable after the body was drained.
  c.send("OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\n\r\n");
  CHECK(c.read_response().status == 200);
}

TEST_CASE("preview with ieof: an immediate 204, never 100 Continue") {
  fixture f;
  icap_client c(f.port);
  std::string body = "{\"text\":\"hello\"}";
  c.send(reqmod("echo", "Allow: 204\r\n", body, 4096));
  auto r = c.read_response();
  CHECK(r.status == 204);
  CHECK(r.header("encapsulated").empty());
  CHECK_FALSE(r.header("istag").empty());
  // Even without Allow: 204, a 204 inside the preview is allowed.
  c.send(reqmod("echo", "", body, 4096));
  CHECK(c.read_response().status == 204);
}

TEST_CASE("preview without ieof: 204 for /echo, 100 Continue when the service needs the body") {
  fixture f;
  icap_client c(f.port);
  std::string body(10000, 'm');
  c.send(reqmod("echo", "", body, 100));
  CHECK(c.read_response().status == 204);  // the rest is never sent

  c.send(reqmod("upper", "", body, 100));
  auto cont = c.read_response();
  REQUIRE(cont.status == 100);
  c.send(rest_after_preview(body, 100));
  auto r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.req_head == http_req);
  CHECK(r.body == upper(body));
}

TEST_CASE("no preview: 204 with Allow: 204, the body drained; byte-exact echo without it") {
  fixture f;
  icap_client c(f.port);
  auto body = random_bytes(300000);
  c.send(reqmod("echo", "Allow: 204\r\n", body));
  CHECK(c.read_response().status == 204);
  c.send(reqmod("echo", "", body));
  auto r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.req_head == http_req);
  CHECK(r.body == body);
  // Both on one connection: the drained body did not desynchronise it.
  c.send("OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\n\r\n");
  CHECK(c.read_response().status == 200);
}

TEST_CASE("RESPMOD: 1 MiB echoed byte for byte; empty and null bodies") {
  fixture f;
  icap_client c(f.port);
  auto body = random_bytes(1 << 20, 11);
  c.send(respmod("echo", "", body));
  auto r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.res_head == http_res);
  CHECK(r.req_head.empty());
  CHECK(r.body.size() == body.size());
  CHECK(r.body == body);

  c.send(respmod("echo", "", ""));
  auto empty = c.read_response();
  CHECK(empty.status == 200);
  CHECK(empty.has_body);
  CHECK(empty.body.empty());

  std::string null_body =
      "RESPMOD icap://127.0.0.1/echo ICAP/1.0\r\nEncapsulated: res-hdr=0, null-body=" +
      std::to_string(http_res.size()) + "\r\n\r\n" + http_res;
  c.send(null_body);
  auto n = c.read_response();
  CHECK(n.status == 200);
  CHECK(n.res_head == http_res);
  CHECK_FALSE(n.has_body);
  c.send(null_body.insert(null_body.find("Encaps"), "Allow: 204\r\n"));
  CHECK(c.read_response().status == 204);
}

TEST_CASE("206: new heads with use-original-body only when the client allows 206") {
  fixture f;
  icap_client c(f.port);
  std::string body(5000, 'z');
  auto base = respmod("heads", "Preview: 0\r\n", body);
  // Preview of 0 bytes, not ieof: the 206 comes inside the preview.
  auto cut = base.find("\r\n\r\n", base.find("res-body")) + 4 + http_get.size() + http_res.size();
  auto with_preview = base.substr(0, cut) + "0\r\n\r\n";
  auto with206 = with_preview;
  with206.insert(with206.find("Preview"), "Allow: 206\r\n");
  c.send(with206);
  auto r = c.read_response();
  CHECK(r.status == 206);
  CHECK(r.res_head.find("X-Imcap-Test: yes\r\n") != std::string::npos);
  CHECK(r.body.empty());
  CHECK(r.last_chunk_ext.find("use-original-body=0") != std::string::npos);

  // Without Allow: 206 the new heads come with the original body streamed after 100 Continue.
  c.send(with_preview);
  REQUIRE(c.read_response().status == 100);
  c.send(chunked(body) + "0\r\n\r\n");
  auto echo = c.read_response();
  CHECK(echo.status == 200);
  CHECK(echo.res_head.find("X-Imcap-Test: yes\r\n") != std::string::npos);
  CHECK(echo.body == body);
}

TEST_CASE("stream: the body passes through the service's filter as it arrives") {
  fixture f;
  icap_client c(f.port);
  auto body = std::string(200000, 'q');
  c.send(respmod("stream", "", body));
  auto r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.body == upper(body));
}

TEST_CASE("request satisfaction carries the proxy identity the service saw") {
  fixture f;
  icap_client c(f.port);
  // base64("WinNT://CORP/alice")
  c.send(reqmod("who",
                "X-Client-IP: 10.1.2.3\r\nX-Authenticated-User: V2luTlQ6Ly9DT1JQL2FsaWNl\r\n", "hi",
                10));
  auto r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.req_head.empty());
  CHECK(r.res_head.find("HTTP/1.1 403 Forbidden") == 0);
  CHECK(r.res_head.find("X-User: alice\r\n") != std::string::npos);
  CHECK(r.res_head.find("X-Domain: CORP\r\n") != std::string::npos);
  CHECK(r.res_head.find("X-Ip: 10.1.2.3\r\n") != std::string::npos);
  CHECK(r.body == "blocked");
}

TEST_CASE("a service failure is a 500, not a crash") {
  fixture f;
  icap_client c(f.port);
  c.send(reqmod("boom", "", "x", 10));
  auto r = c.read_response();
  CHECK(r.status == 500);
  CHECK_FALSE(r.header("istag").empty());
  // The server still serves new connections.
  icap_client d(f.port);
  d.send(reqmod("echo", "", "x", 10));
  CHECK(d.read_response().status == 204);
}

TEST_CASE(
    "errors: each malformed request gets its status with an ISTag, then the connection closes") {
  fixture f;
  struct bad {
    std::string text;
    int status;
  };
  std::vector<bad> cases = {
      {"REQMOD icap://127.0.0.1/echo\r\n\r\n", 400},
      {"OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\nBroken header\r\n\r\n", 400},
      {"REQMOD icap://127.0.0.1/echo ICAP/1.0\r\nEncapsulated: req-hdr=0\r\n\r\n", 400},
      {"REQMOD icap://127.0.0.1/echo ICAP/1.0\r\nEncapsulated: req-body=0\r\n\r\nxyz\r\n", 400},
      {"OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\nX-Big: " + std::string(70000, 'a') + "\r\n\r\n",
       400},
      {"BREW icap://127.0.0.1/echo ICAP/1.0\r\n\r\n", 501},
      {"OPTIONS icap://127.0.0.1/echo ICAP/3.0\r\n\r\n", 505},
  };
  for (const auto& b : cases) {
    INFO(b.text.substr(0, 80));
    icap_client c(f.port);
    c.send(b.text);
    auto r = c.read_response();
    CHECK(r.status == b.status);
    CHECK_FALSE(r.header("istag").empty());
    CHECK(r.header("connection") == "close");
    CHECK(c.closed_by_peer());
  }
  icap_client c(f.port);
  c.send("OPTIONS icap://127.0.0.1/nosuch ICAP/1.0\r\n\r\n");
  auto r = c.read_response();
  CHECK(r.status == 404);
  CHECK_FALSE(r.header("istag").empty());
}

TEST_CASE("an error answer survives a client that keeps sending (lingering close)") {
  fixture f;
  icap_client c(f.port);
  // A bad head followed by 4 MiB the client is still pushing when the 400 is sent: without a
  // lingering close the server's reset would destroy the 400 (and fail the send).
  std::string junk(4 << 20, 'j');
  c.send("OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\nBad Name: x\r\n\r\n" + junk);
  auto r = c.read_response();
  CHECK(r.status == 400);
  CHECK(r.header("x-imcap-error") == "malformed ICAP header");
}

TEST_CASE("a body that breaks chunking mid-stream cuts the connection, and the server lives on") {
  fixture f;
  {
    icap_client c(f.port);
    std::string head = respmod("echo", "", "");
    head.resize(head.size() - 5);  // drop the 0 chunk
    c.send(head + "10\r\n0123456789abcdef\r\nnot-hex\r\n");
    // Nothing had been sent yet when the error was found: a 400, then the close.
    CHECK(c.read_response().status == 400);
    CHECK(c.closed_by_peer());
  }
  {
    // Once the echo has started, the server can only cut the connection.
    icap_client c(f.port);
    std::string head = respmod("echo", "", "");
    head.resize(head.size() - 5);
    c.send(head + "10\r\n0123456789abcdef\r\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    c.send("not-hex\r\n");
    CHECK_THROWS(c.read_response());
  }
  icap_client d(f.port);
  d.send("OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\n\r\n");
  CHECK(d.read_response().status == 200);
}

TEST_CASE("timeouts: 408 for a stalled request, silent close for an idle connection") {
  auto cfg = test_config();
  cfg.read_timeout = std::chrono::seconds(1);
  cfg.idle_timeout = std::chrono::seconds(1);
  fixture f(cfg);
  icap_client stalled(f.port);
  stalled.send("REQMOD icap://127.0.0.1/echo ICAP/1.0\r\nHost: x\r\n");
  auto r = stalled.read_response();
  CHECK(r.status == 408);
  CHECK_FALSE(r.header("istag").empty());

  icap_client idle(f.port);
  idle.send("OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\n\r\n");
  CHECK(idle.read_response().status == 200);
  CHECK(idle.closed_by_peer());  // after idle_timeout, within the client's 10 s
}

TEST_CASE("Max-Connections: the connection over the limit gets 503") {
  auto cfg = test_config();
  cfg.max_connections = 2;
  fixture f(cfg);
  icap_client a(f.port), b(f.port);
  a.send("OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\n\r\n");
  CHECK(a.read_response().status == 200);
  b.send("OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\n\r\n");
  CHECK(b.read_response().status == 200);
  icap_client over(f.port);
  over.send("OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\n\r\n");
  auto r = over.read_response();
  CHECK(r.status == 503);
  CHECK_FALSE(r.header("istag").empty());
  CHECK(f.srv.stats().connections_rejected.load() == 1);
  // Once a connection goes away, a new one is accepted again.
  b.send("OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\n\r\n");
  REQUIRE(b.read_response().status == 200);
}

TEST_CASE("keep-alive: many transactions on one connection") {
  fixture f;
  icap_client c(f.port);
  for (int i = 0; i < 300; ++i) {
    auto body = "message " + std::to_string(i);
    switch (i % 3) {
      case 0:
        c.send(reqmod("echo", "Allow: 204\r\n", body, 4096));
        REQUIRE(c.read_response().status == 204);
        break;
      case 1: {
        c.send(reqmod("echo", "", body));
        auto r = c.read_response();
        REQUIRE(r.status == 200);
        REQUIRE(r.body == body);
        break;
      }
      default:
        c.send(respmod("upper", "", body));
        auto r = c.read_response();
        REQUIRE(r.body == upper(body));
    }
  }
  f.srv.stop();  // counters are final once the connections are done
  CHECK(f.srv.stats().connections_accepted.load() == 1);
  CHECK(f.srv.stats().transactions.load() == 300);
}

TEST_CASE("pipelined requests in one write are answered in order") {
  fixture f;
  icap_client c(f.port);
  c.send(reqmod("echo", "Allow: 204\r\n", "one", 10) + reqmod("echo", "", "two") +
         "OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\n\r\n");
  CHECK(c.read_response().status == 204);
  auto r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.body == "two");
  CHECK(c.read_response().status == 200);
}

TEST_CASE("reload changes the ISTag and applies new settings to new transactions") {
  fixture f;
  auto before = f.srv.istag();
  auto cfg = test_config();
  cfg.options_ttl = 77;
  f.srv.reload(cfg);
  CHECK(f.srv.istag() != before);
  icap_client c(f.port);
  c.send("OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\n\r\n");
  auto r = c.read_response();
  CHECK(r.header("options-ttl") == "77");
  CHECK(r.header("istag") == f.srv.istag());
}

TEST_CASE("an ISTag contribution changes the ISTag only when it changes") {
  fixture f;
  f.srv.set_istag_contribution("packs:a=1");
  const auto first = f.srv.istag();
  f.srv.set_istag_contribution("packs:a=1");
  CHECK(f.srv.istag() == first);
  f.srv.set_istag_contribution("packs:a=2");
  const auto second = f.srv.istag();
  CHECK(second != first);
  CHECK(second.size() <= 32);
  icap_client c(f.port);
  c.send("OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\n\r\n");
  CHECK(c.read_response().header("istag") == second);
  // A configuration reload keeps the contribution folded in and still changes the ISTag.
  f.srv.reload(test_config());
  CHECK(f.srv.istag() != second);
}

TEST_CASE("stop drains: an in-flight transaction completes, idle connections close") {
  fixture f;
  icap_client busy(f.port);
  icap_client idle(f.port);
  idle.send("OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\n\r\n");
  REQUIRE(idle.read_response().status == 200);
  busy.send(reqmod("slow", "", "x", 10));
  // Give the request time to reach the service before stopping (it waits 500 ms there).
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::size_t cut = 99;
  std::thread stopper([&] { cut = f.srv.stop(); });
  auto r = busy.read_response();
  CHECK(r.status == 204);
  stopper.join();
  CHECK(cut == 0);
  CHECK(idle.closed_by_peer());
  CHECK(busy.closed_by_peer());
}

TEST_CASE("access log: one line per transaction, plain and JSON") {
  auto dir = std::filesystem::temp_directory_path() / ("imcap-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (auto format : {access_format::plain, access_format::json}) {
    auto cfg = test_config();
    cfg.log.access_log =
        (dir / (format == access_format::plain ? "plain.log" : "json.log")).string();
    cfg.log.access_format = format;
    {
      fixture f(cfg);
      icap_client c(f.port);
      c.send(reqmod("echo", "X-Client-IP: 10.9.8.7\r\nX-Client-Username: bob\r\nAllow: 204\r\n",
                    "hi", 10));
      REQUIRE(c.read_response().status == 204);
      c.send("OPTIONS icap://127.0.0.1/nosuch ICAP/1.0\r\n\r\n");
      REQUIRE(c.read_response().status == 404);
    }  // stop() flushes the log
    std::ifstream in(cfg.log.access_log);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    REQUIRE(lines.size() == 2);
    if (format == access_format::plain) {
      CHECK(lines[0].find(" 10.9.8.7 bob REQMOD /echo 204 POST http://chat.example/api/send ") !=
            std::string::npos);
      CHECK(lines[1].find(" OPTIONS /nosuch 404 ") != std::string::npos);
    } else {
      CHECK(lines[0].front() == '{');
      CHECK(lines[0].find("\"user\":\"bob\"") != std::string::npos);
      CHECK(lines[0].find("\"status\":204") != std::string::npos);
      CHECK(lines[0].find("\"http_url\":\"http://chat.example/api/send\"") != std::string::npos);
      CHECK(lines[1].find("\"status\":404") != std::string::npos);
    }
  }
  std::filesystem::remove_all(dir);
}
