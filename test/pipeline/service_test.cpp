// The /imcap service through the real ICAP server on loopback, with real signature packs (the
// shipped baseline-dlp pack and a small test pack), real ClamAV on the shipped test database,
// and a real LMDB archive in a temporary directory.

#include <catch2/catch.hpp>

#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/decode_view.hpp>
#include <boost/url/parse_query.hpp>

#include "icap/echo_service.hpp"
#include "icap/icap_client.hpp"
#include "icap/server.hpp"
#include "metrics/metrics.hpp"
#include "modules/content/codings.hpp"
#include "modules/event.hpp"
#include "pipeline/service.hpp"
#include "pipeline/settings.hpp"
#include "signatures/engine.hpp"

using namespace imcap;
using imcap::test::icap_client;
using imcap::test::icap_response;

namespace {

namespace fs = std::filesystem;

// Generous: the first chat message of a sanitizer or valgrind run is slow (engines warming up).
constexpr int receive_timeout_ms = 30000;

fs::path temp_dir(const std::string& what) {
  static std::atomic<int> n{0};
  auto d = fs::temp_directory_path() / ("imcap-pipeline-" + std::to_string(::getpid()) + "-" +
                                        what + "-" + std::to_string(n++));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

const char* test_pack = R"(name = "pipeline-test"
version = "1.0.0"
mode = "enforce"

[[rule]]
id = "t.block"
kind = "keyword"
keywords = ["forbiddenword"]
action = "block"
message = "forbidden word"

[[rule]]
id = "t.warn"
kind = "keyword"
keywords = ["warnword"]
action = "warn"

[[rule]]
id = "t.secret"
kind = "keyword"
keywords = ["topsecret"]
action = "redact"
)";

const char* monitor_pack = R"(name = "pipeline-monitor"
version = "0.1.0"
mode = "monitor"

[[rule]]
id = "m.block"
kind = "keyword"
keywords = ["trialword"]
action = "block"
)";

std::shared_ptr<const signatures::active_packs> load_packs(const fs::path& dir) {
  auto a = std::make_shared<signatures::active_packs>();
  {
    std::ofstream(dir / "test.toml") << test_pack;
    std::ofstream(dir / "monitor.toml") << monitor_pack;
  }
  for (const auto& f : {fs::path(IMCAP_SOURCE_DIR "/signatures/packs/baseline-dlp.toml"),
                        dir / "test.toml", dir / "monitor.toml"}) {
    auto p = signatures::load_pack(f);
    a->identities.push_back(signatures::identity_of(*p));
    a->packs.push_back(std::move(p));
  }
  return a;
}

std::shared_ptr<const signatures::active_packs> shared_packs() {
  static auto packs = load_packs(temp_dir("packs"));
  return packs;
}

signatures::clamav_scanner& shared_clamav() {
  static signatures::clamav_scanner scanner([] {
    signatures::clamav_settings s;
    s.database_dirs = {IMCAP_SOURCE_DIR "/signatures/clamav"};
    s.timeout = std::chrono::seconds(20);
    return s;
  }());
  return scanner;
}

icap::config test_config(const fs::path& dir) {
  auto c = icap::default_config();
  c.listen = {{"127.0.0.1", 0}};
  c.threads = 2;
  c.log.access_log = (dir / "access.log").string();
  c.drain_timeout = std::chrono::seconds(5);
  return c;
}

struct options {
  pipeline::policy_settings policy;
  bool archive = true;
  bool break_archive = false;         // the archive path is a regular file: open() fails
  std::uint64_t map_size = 0;         // non-zero: the archive map may not grow beyond this
  std::size_t max_buffered_body = 0;  // non-zero: the server's limit
  archive::durability durability = archive::durability::strict;
};

struct fixture {
  explicit fixture(options o = {}) : dir(temp_dir("svc")) {
    pipeline::dependencies deps;
    deps.packs = [] { return shared_packs(); };
    deps.clamav = &shared_clamav();
    deps.durability = o.durability;
    deps.now = [this] { return now; };
    if (o.archive) {
      archive::settings as;
      as.path = dir / "archive";
      as.mode = o.durability;
      if (o.break_archive) std::ofstream(as.path) << "not a directory";
      if (o.map_size != 0) as.map_size_initial = as.map_size_max = o.map_size;
      try {
        store = archive::store::open(as);
      } catch (const std::exception& e) {
        deps.archive_problem = e.what();
      }
      deps.archive = store;
    }
    svc = std::make_shared<pipeline::imcap_service>(o.policy, std::move(deps));
    auto cfg = test_config(dir);
    if (o.max_buffered_body != 0) cfg.max_buffered_body = o.max_buffered_body;
    srv.emplace(cfg);
    srv->add_service(std::make_shared<icap::echo_service>());
    srv->add_service(svc);
    port = srv->listen().at(0).port();
    srv->start();
  }
  ~fixture() {
    srv->stop();
    srv.reset();
    svc.reset();
    store.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  std::vector<archive::event_record> archived(archive::query q = {}) {
    store->flush();
    q.newest_first = false;
    return store->search(q);
  }

  std::vector<std::string> access_lines() {
    srv->stop();  // flushes the access log
    std::ifstream in(dir / "access.log");
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  fs::path dir;
  std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
  std::shared_ptr<archive::store> store;
  std::shared_ptr<pipeline::imcap_service> svc;
  std::optional<icap::server> srv;
  std::uint16_t port = 0;
};

std::string chunked(const std::string& body) {
  if (body.empty()) return {};
  char hex[20];
  auto [end, ec] = std::to_chars(hex, hex + sizeof hex, body.size(), 16);
  return std::string(hex, end) + "\r\n" + body + "\r\n";
}

// A REQMOD for `http_head` (without Content-Length: added here) and `body`, with a preview of
// `preview` bytes (the whole body when it fits: ieof).
std::string reqmod(const std::string& http_head, const std::string& body,
                   const std::string& icap_headers = "", std::size_t preview = 4096) {
  std::string head = http_head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  auto p = std::min(preview, body.size());
  return "REQMOD icap://127.0.0.1/imcap ICAP/1.0\r\nHost: 127.0.0.1\r\nAllow: 204\r\n" +
         icap_headers + "Preview: " + std::to_string(preview) +
         "\r\nEncapsulated: req-hdr=0, req-body=" + std::to_string(head.size()) + "\r\n\r\n" +
         head + chunked(body.substr(0, p)) + (p == body.size() ? "0; ieof\r\n\r\n" : "0\r\n\r\n");
}

std::string respmod(const std::string& req_head, const std::string& res_head,
                    const std::string& body, const std::string& icap_headers = "") {
  std::string rh = req_head + "\r\n";
  std::string sh = res_head + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  return "RESPMOD icap://127.0.0.1/imcap ICAP/1.0\r\nHost: 127.0.0.1\r\nAllow: 204\r\n" +
         icap_headers + "Encapsulated: req-hdr=0, res-hdr=" + std::to_string(rh.size()) +
         ", res-body=" + std::to_string(rh.size() + sh.size()) + "\r\n\r\n" + rh + sh +
         chunked(body) + "0\r\n\r\n";
}

const std::string slack_json_head =
    "POST https://acme.slack.com/api/chat.postMessage HTTP/1.1\r\nHost: acme.slack.com\r\n"
    "Authorization: Bearer xoxp-3333-4444-fixtureuser\r\n"
    "Content-Type: application/json; charset=utf-8\r\n";

std::string slack_json(const std::string& text, const std::string& channel = "C0123ABCD") {
  boost::json::object o;
  o["channel"] = channel;
  o["text"] = text;
  return boost::json::serialize(o);
}

std::string header_value(const std::string& head, const std::string& name) {
  auto lower = [](std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  auto h = lower(head);
  auto pos = h.find("\r\n" + lower(name) + ":");
  if (pos == std::string::npos) return {};
  pos += name.size() + 3;
  auto eol = head.find("\r\n", pos);
  auto v = head.substr(pos, eol - pos);
  while (!v.empty() && v.front() == ' ') v.erase(0, 1);
  return v;
}

}  // namespace

TEST_CASE("non-chat traffic: 204 from the preview, the body never asked for") {
  fixture f;
  icap_client c(f.port, receive_timeout_ms);
  std::string body(100'000, 'x');
  // A preview of 10 bytes out of 100 000: a service that wanted the body would answer
  // 100 Continue; /imcap answers 204 at once.
  c.send(
      reqmod("POST http://files.example/upload HTTP/1.1\r\nHost: files.example\r\n"
             "Content-Type: application/octet-stream\r\n",
             body, "", 10));
  auto r = c.read_response();
  CHECK(r.status == 204);
  CHECK(f.svc->stats().not_chat.value() == 1);
  CHECK(f.svc->stats().chat == 0);
  // RESPMOD of an ordinary page too.
  c.send(respmod("GET http://www.example.org/ HTTP/1.1\r\nHost: www.example.org\r\n",
                 "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n", "<html>hi</html>"));
  CHECK(c.read_response().status == 204);
  CHECK(f.archived().empty());
}

TEST_CASE("an allowed Slack message: 204 and archived with the proxy user") {
  fixture f;
  icap_client c(f.port, receive_timeout_ms);
  c.send(reqmod(slack_json_head, slack_json("lunch at noon?"),
                "X-Client-Username: alice\r\nX-Client-IP: 10.1.2.3\r\n"));
  CHECK(c.read_response().status == 204);
  auto recs = f.archived();
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].text == "lunch at noon?");
  CHECK(recs[0].app == "slack");
  CHECK(recs[0].verdict == "allow");
  CHECK(recs[0].proxy_user == "alice");
  CHECK(recs[0].client_ip == "10.1.2.3");
  CHECK(recs[0].conversation_id == "C0123ABCD");
}

TEST_CASE("a blocked Slack message: the client gets an error it can show, with CORS") {
  fixture f;
  icap_client c(f.port, receive_timeout_ms);
  c.send(reqmod(slack_json_head + "Origin: https://app.slack.com\r\nAccept: */*\r\n",
                slack_json("here is the forbiddenword"), "X-Client-Username: alice\r\n"));
  auto r = c.read_response();
  REQUIRE(r.status == 200);
  CHECK(r.req_head.empty());  // request satisfaction: the origin never sees it
  REQUIRE(r.res_head.rfind("HTTP/1.1 ", 0) == 0);
  auto v = boost::json::parse(r.body);
  CHECK(v.at("ok").as_bool() == false);
  CHECK(v.at("error").is_string());
  CHECK(header_value(r.res_head, "Access-Control-Allow-Origin") == "https://app.slack.com");
  CHECK(header_value(r.res_head, "Access-Control-Allow-Credentials") == "true");
  CHECK(header_value(r.res_head, "Content-Length") == std::to_string(r.body.size()));
  auto recs = f.archived();
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].verdict == "block");
  REQUIRE(recs[0].hits.size() == 1);
  CHECK(recs[0].hits[0].rule_id == "t.block");
  auto lines = f.access_lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find(" block slack t.block") != std::string::npos);
  auto exposed = metrics::registry::global().expose();
  CHECK(exposed.find("imcap_pipeline_verdicts_total{app=\"slack\",verdict=\"block\"}") !=
        std::string::npos);
  CHECK(exposed.find(
            "imcap_pipeline_rule_hits_total{rule=\"t.block\",action=\"block\",mode=\"enforce\"}") !=
        std::string::npos);
}

TEST_CASE("a browser navigation that is blocked gets an escaped HTML page") {
  pipeline::policy_settings p;
  pipeline::policy_rule rule;  // a policy message overrides the pack's
  rule.id = "page";
  rule.act = pipeline::action::block;
  rule.match = {"t.block"};
  rule.message = "<script>alert(1)</script> blocked";
  p.rules.push_back(rule);
  p.archive = pipeline::archive_scope::off;
  options o;
  o.policy = p;
  o.archive = false;
  fixture f(o);
  icap_client c(f.port, receive_timeout_ms);
  c.send(
      reqmod("POST https://acme.slack.com/api/chat.postMessage HTTP/1.1\r\n"
             "Host: acme.slack.com\r\nSec-Fetch-Mode: navigate\r\nAccept: text/html\r\n"
             "Content-Type: application/x-www-form-urlencoded\r\n",
             "channel=C1&text=forbiddenword"));
  auto r = c.read_response();
  REQUIRE(r.status == 200);
  CHECK(header_value(r.res_head, "Content-Type").rfind("text/html", 0) == 0);
  CHECK(r.body.find("<script>") == std::string::npos);
  CHECK(r.body.find("&lt;script&gt;") != std::string::npos);
}

TEST_CASE("redaction inside JSON: the card number is masked and the JSON still parses") {
  fixture f;
  icap_client c(f.port, receive_timeout_ms);
  c.send(reqmod(slack_json_head, slack_json("my card is 4111 1111 1111 1111 ok?")));
  auto r = c.read_response();
  REQUIRE(r.status == 200);
  REQUIRE_FALSE(r.req_head.empty());
  CHECK(r.req_head.rfind("POST https://acme.slack.com/api/chat.postMessage", 0) == 0);
  CHECK(header_value(r.req_head, "Content-Length") == std::to_string(r.body.size()));
  auto v = boost::json::parse(r.body);
  std::string text(v.at("text").as_string());
  CHECK(text.find("4111") == std::string::npos);
  CHECK(text.rfind("my card is ", 0) == 0);
  CHECK(text.find("\u2588\u2588\u2588\u2588") != std::string::npos);
  CHECK(text.substr(text.size() - 4) == " ok?");
  CHECK(v.at("channel").as_string() == "C0123ABCD");
  auto recs = f.archived();
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].verdict == "modify");
  CHECK(recs[0].text == "my card is 4111 1111 1111 1111 ok?");  // the original, for review
}

TEST_CASE("redaction inside a gzip form body: re-encoded, still a valid form") {
  pipeline::policy_settings p;
  p.redact_mask = "[redacted]";
  p.redact_per_character = false;
  fixture f({p});
  std::string form = "channel=C0123ABCD&text=the%20code%20is%20topsecret%20now&as_user=true";
  std::string gz;
  REQUIRE_FALSE(modules::content::encode_content("gzip", form, gz));
  icap_client c(f.port, receive_timeout_ms);
  c.send(
      reqmod("POST https://slack.com/api/chat.postMessage HTTP/1.1\r\nHost: slack.com\r\n"
             "Authorization: Bearer xoxb-1-2-x\r\nContent-Encoding: gzip\r\n"
             "Content-Type: application/x-www-form-urlencoded\r\n",
             gz));
  auto r = c.read_response();
  REQUIRE(r.status == 200);
  CHECK(header_value(r.req_head, "Content-Length") == std::to_string(r.body.size()));
  std::string plain = r.body;
  if (header_value(r.req_head, "Content-Encoding") == "gzip") {
    modules::limits lim;
    plain.clear();
    REQUIRE_FALSE(modules::content::decode_content("gzip", r.body, lim, plain));
  }
  auto params = boost::urls::parse_query(plain);
  REQUIRE(params);
  std::map<std::string, std::string> fields;
  auto decode = [](boost::urls::pct_string_view v) {
    boost::urls::encoding_opts opt;
    opt.space_as_plus = true;
    boost::urls::decode_view dv(v, opt);
    return std::string(dv.begin(), dv.end());
  };
  for (auto q : *params) fields[decode(q.key)] = decode(q.value);
  CHECK(fields["text"] == "the code is [redacted] now");
  CHECK(fields["channel"] == "C0123ABCD");
  CHECK(fields["as_user"] == "true");
}

TEST_CASE("warn: delivered, and the notice is waiting for the session's next poll") {
  fixture f;
  icap_client c(f.port, receive_timeout_ms);
  const std::string poll_q = "/socket.io/?EIO=4&transport=polling&sid=lv_VI97HAXpY6yYWAAAC";
  std::string body =
      R"(42["chat message",{"to":"room:finance","text":"warnword: see the report"}])";
  c.send(reqmod("POST " + poll_q +
                    "&t=N8hzxke HTTP/1.1\r\nHost: chat.example.com\r\n"
                    "Content-Type: text/plain;charset=UTF-8\r\n",
                body, "X-Client-Username: alice\r\n"));
  CHECK(c.read_response().status == 204);  // the message goes through unchanged
  CHECK(f.svc->stats().warned == 1);
  // The answer to that POST ("ok") cannot carry a message: the notice waits.
  c.send(respmod("POST http://chat.example.com" + poll_q +
                     "&t=N8hzxke HTTP/1.1\r\n"
                     "Host: chat.example.com\r\n",
                 "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n", "ok"));
  auto ok = c.read_response();
  CHECK((ok.status == 204 || ok.body == "ok"));
  auto recs = f.archived();
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].verdict == "warn");
  // The next poll of the same session: the notice is in the response the client reads.
  c.send(respmod(
      "GET http://chat.example.com" + poll_q + "&t=N8i0 HTTP/1.1\r\nHost: chat.example.com\r\n",
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n", "2"));
  auto r = c.read_response();
  REQUIRE(r.status == 200);
  CHECK(r.body.find("Please check your organisation") != std::string::npos);
  CHECK(header_value(r.res_head, "Content-Length") == std::to_string(r.body.size()));
  CHECK(f.svc->stats().notices_injected == 1);
  // Only once.
  c.send(respmod(
      "GET http://chat.example.com" + poll_q + "&t=N8i1 HTTP/1.1\r\nHost: chat.example.com\r\n",
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n", "2"));
  CHECK(c.read_response().status == 204);
}

TEST_CASE("Socket.IO batch: the blocked packet is stripped, the rest goes, a notice follows") {
  fixture f;
  icap_client c(f.port, receive_timeout_ms);
  const std::string poll_q = "/socket.io/?EIO=4&transport=polling&sid=Zk3bS2a8xHq1YyAAAB";
  std::string body =
      "42[\"chat message\",{\"to\":\"room:ops\",\"text\":\"deploy at five\"}]\x1e"
      "42[\"chat message\",{\"to\":\"room:ops\",\"text\":\"the forbiddenword\"}]";
  c.send(reqmod("POST http://chat.example.com" + poll_q +
                    "&t=a1 HTTP/1.1\r\n"
                    "Host: chat.example.com\r\nContent-Type: text/plain;charset=UTF-8\r\n",
                body, "X-Client-Username: alice\r\n"));
  auto r = c.read_response();
  REQUIRE(r.status == 200);
  REQUIRE_FALSE(r.req_head.empty());  // forwarded, minus the blocked packet
  CHECK(r.body.find("deploy at five") != std::string::npos);
  CHECK(r.body.find("forbiddenword") == std::string::npos);
  CHECK(header_value(r.req_head, "Content-Length") == std::to_string(r.body.size()));
  // The sender learns it in the conversation on the next poll.
  c.send(respmod("GET http://chat.example.com" + poll_q +
                     "&t=a2 HTTP/1.1\r\n"
                     "Host: chat.example.com\r\n",
                 "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n", "2"));
  auto p = c.read_response();
  REQUIRE(p.status == 200);
  CHECK(p.body.find("forbidden word") != std::string::npos);  // the rule's message
  auto recs = f.archived();
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].verdict == "allow");
  CHECK(recs[1].verdict == "block");
}

TEST_CASE("BOSH: a warning reaches the answer of the same exchange through the xaction id") {
  fixture f;
  icap_client c(f.port, receive_timeout_ms);
  std::string body =
      "<body rid='1249243562' sid='SomeSID-7e2a' xmlns='http://jabber.org/protocol/httpbind'>"
      "<message to='bob@example.com' type='chat' id='m1'><body>warnword inside</body></message>"
      "</body>";
  const std::string req =
      "POST http://chat.example.com/http-bind HTTP/1.1\r\nHost: chat.example.com\r\n"
      "Content-Type: text/xml; charset=utf-8\r\n";
  c.send(reqmod(req, body, "X-Client-Username: alice\r\nX-Imcap-Xaction: 7731\r\n"));
  CHECK(c.read_response().status == 204);
  c.send(respmod(req + "Content-Length: " + std::to_string(body.size()) + "\r\n",
                 "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\n",
                 "<body xmlns='http://jabber.org/protocol/httpbind'/>",
                 "X-Imcap-Xaction: 7731\r\n"));
  auto r = c.read_response();
  REQUIRE(r.status == 200);
  CHECK(r.body.find("Please check your organisation") != std::string::npos);
  CHECK(r.body.find("bob@example.com") != std::string::npos);
  // Without the header (Squid not configured for it): the client's latest session.
  c.send(reqmod(req, body, "X-Client-Username: alice\r\nX-Client-IP: 10.0.0.9\r\n"));
  CHECK(c.read_response().status == 204);
  c.send(respmod(req + "Content-Length: 0\r\n",
                 "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\n",
                 "<body xmlns='http://jabber.org/protocol/httpbind'/>",
                 "X-Client-Username: alice\r\nX-Client-IP: 10.0.0.9\r\n"));
  CHECK(c.read_response().body.find("Please check your organisation") != std::string::npos);
}

TEST_CASE("disclaimer: once per period per user and conversation") {
  options o;
  o.policy.disclaimer_period = std::chrono::hours(24);
  o.policy.disclaimer_message = "All chats are archived.";
  fixture f(o);
  icap_client c(f.port, receive_timeout_ms);
  const std::string q = "/socket.io/?EIO=4&transport=polling&sid=DiscLaimer0001";
  auto send = [&](const std::string& text) {
    c.send(reqmod("POST http://chat.example.com" + q +
                      " HTTP/1.1\r\nHost: chat.example.com\r\n"
                      "Content-Type: text/plain;charset=UTF-8\r\n",
                  "42[\"chat message\",{\"to\":\"room:ops\",\"text\":\"" + text + "\"}]",
                  "X-Client-Username: alice\r\n"));
    REQUIRE(c.read_response().status == 204);
  };
  auto poll = [&] {
    c.send(respmod("GET http://chat.example.com" + q + " HTTP/1.1\r\nHost: chat.example.com\r\n",
                   "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=UTF-8\r\n", "2"));
    return c.read_response();
  };
  send("hello");
  CHECK(poll().body.find("All chats are archived.") != std::string::npos);
  send("hello again");
  CHECK(poll().status == 204);  // within the period: nothing new
  f.now += std::chrono::hours(25);
  send("next day");
  CHECK(poll().body.find("All chats are archived.") != std::string::npos);
}

TEST_CASE("an upload and the message that references it later are tied in the archive") {
  fixture f;
  icap_client c(f.port, receive_timeout_ms);
  const std::string auth = "Authorization: Bearer xoxp-3333-4444-fixtureuser\r\n";
  const std::string content = "quarterly report, warnword inside\n";
  // 1. The client asks for an upload URL; the answer names the file id.
  const std::string ask =
      "POST https://slack.com/api/files.getUploadURLExternal HTTP/1.1\r\n"
      "Host: slack.com\r\n" +
      auth + "Content-Type: application/x-www-form-urlencoded\r\n";
  std::string ask_body = "filename=q3.txt&length=" + std::to_string(content.size());
  c.send(reqmod(ask, ask_body));
  REQUIRE(c.read_response().status == 204);
  c.send(respmod(
      ask + "Content-Length: " + std::to_string(ask_body.size()) + "\r\n",
      "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n",
      R"({"ok": true, "upload_url": "https://files.slack.com/upload/v1/CwABAAAAXAoAAZnKg6Pipe", "file_id": "F044PIPE01"})"));
  REQUIRE(c.read_response().status == 204);
  // 2. The bytes go to the upload URL: scanned (a warn hit), stored.
  c.send(
      reqmod("POST https://files.slack.com/upload/v1/CwABAAAAXAoAAZnKg6Pipe HTTP/1.1\r\n"
             "Host: files.slack.com\r\nContent-Type: text/plain\r\n",
             content));
  REQUIRE(c.read_response().status == 204);
  // 3. The message that shares the file.
  c.send(reqmod(
      "POST https://slack.com/api/files.completeUploadExternal HTTP/1.1\r\n"
      "Host: slack.com\r\n" +
          auth + "Content-Type: application/json; charset=utf-8\r\n",
      R"({"files": [{"id": "F044PIPE01", "title": "Q3.txt"}], "channel_id": "C0NF841BK", "initial_comment": "see attached"})"));
  REQUIRE(c.read_response().status == 204);
  archive::query q;
  q.conversation = "C0NF841BK";
  auto recs = f.archived(q);
  REQUIRE(recs.size() == 1);
  const auto& m = recs[0];
  CHECK(m.kind == "message");
  CHECK(m.text == "see attached");
  REQUIRE(m.attachments.size() == 1);
  CHECK(m.attachments[0].sha256 == modules::sha256_hex(content));
  // The upload's hit travels with the message that shared the file.
  CHECK(std::any_of(m.hits.begin(), m.hits.end(), [](const archive::rule_hit& h) {
    return h.rule_id == "t.warn" && h.detail.find("F044PIPE01") != std::string::npos;
  }));
  CHECK(m.verdict == "warn");
  CHECK(f.store->attachment_content(m.attachments[0].sha256) == content);
}

TEST_CASE("RESPMOD: inbound messages are archived; an inbound block is masked in place") {
  fixture f;
  icap_client c(f.port, receive_timeout_ms);
  const std::string req =
      "GET https://acme.slack.com/api/conversations.history?channel=C0HIST HTTP/1.1\r\n"
      "Host: acme.slack.com\r\nAuthorization: Bearer xoxp-3333-4444-fixtureuser\r\n";
  std::string body =
      R"({"ok": true, "messages": [{"type": "message", "user": "U1", "text": "fine text", "ts": "1512085950.000216"}, {"type": "message", "user": "U2", "text": "forbiddenword here", "ts": "1512104434.000490"}]})";
  c.send(
      respmod(req, "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n", body));
  auto r = c.read_response();
  REQUIRE(r.status == 200);
  auto v = boost::json::parse(r.body);
  auto& msgs = v.at("messages").as_array();
  REQUIRE(msgs.size() == 2);
  CHECK(msgs[0].at("text").as_string() == "fine text");
  CHECK(std::string(msgs[1].at("text").as_string()).find("forbiddenword") == std::string::npos);
  CHECK(header_value(r.res_head, "Content-Length") == std::to_string(r.body.size()));
  archive::query q;
  q.conversation = "C0HIST";
  auto recs = f.archived(q);
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].direction == "inbound");
}

TEST_CASE("quarantine: blocked, and archived as held with the message") {
  fixture f;
  icap_client c(f.port, receive_timeout_ms);
  c.send(reqmod(slack_json_head,
                slack_json("cards: 4111111111111111, 5555555555554444 and 378282246310005"),
                "X-Client-Username: bob\r\n"));
  auto r = c.read_response();
  REQUIRE(r.status == 200);
  CHECK(r.req_head.empty());
  CHECK_FALSE(r.res_head.empty());
  archive::query q;
  q.quarantine = "held";
  auto recs = f.archived(q);
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].verdict == "quarantine");
  CHECK(recs[0].proxy_user == "bob");
  CHECK(recs[0].text.find("5555555555554444") != std::string::npos);
}

TEST_CASE("archive broken: fail closed blocks chat and OPTIONS says unhealthy; fail open passes") {
  SECTION("fail_closed") {
    options o;
    o.break_archive = true;
    fixture f(o);
    icap_client c(f.port, receive_timeout_ms);
    c.send("OPTIONS icap://127.0.0.1/imcap ICAP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    auto opt = c.read_response();
    CHECK(opt.status == 503);
    CHECK(opt.header("x-imcap-error").find("archive") != std::string::npos);
    c.send("OPTIONS icap://127.0.0.1/echo ICAP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    CHECK(c.read_response().status == 200);  // other services are fine
    c.send(reqmod(slack_json_head, slack_json("an innocent message")));
    auto r = c.read_response();
    REQUIRE(r.status == 200);
    CHECK(r.req_head.empty());  // not delivered: it could not be archived
    CHECK(f.svc->stats().failed_closed == 1);
    // Non-chat traffic is not affected.
    c.send(reqmod("GET http://www.example.org/ HTTP/1.1\r\nHost: www.example.org\r\n", ""));
    CHECK(c.read_response().status == 204);
  }
  SECTION("fail_open") {
    options o;
    o.break_archive = true;
    o.policy.on_archive_error = pipeline::fail_mode::open;
    fixture f(o);
    icap_client c(f.port, receive_timeout_ms);
    c.send("OPTIONS icap://127.0.0.1/imcap ICAP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    CHECK(c.read_response().status == 200);
    c.send(reqmod(slack_json_head, slack_json("an innocent message")));
    CHECK(c.read_response().status == 204);
    CHECK(f.svc->stats().failed_open == 1);
  }
}

TEST_CASE("archive full: the message that cannot be committed is not delivered") {
  options o;
  o.map_size = 1 << 20;
  fixture f(o);
  icap_client c(f.port, receive_timeout_ms);
  c.send(reqmod(slack_json_head, slack_json("small message fits")));
  CHECK(c.read_response().status == 204);
  // An attachment the full map cannot hold (random bytes: zstd cannot shrink them).
  std::string bytes(2 << 20, '\0');
  std::uint64_t x = 88172645463325252ULL;
  for (auto& ch : bytes) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ch = static_cast<char>(x >> 56);
  }
  std::string boundary = "----imcapfull";
  std::string body =
      "--" + boundary +
      "\r\nContent-Disposition: form-data; name=\"channels\"\r\n\r\nC0123ABCD\r\n--" + boundary +
      "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\n" +
      bytes + "\r\n--" + boundary + "--\r\n";
  c.send(
      reqmod("POST https://slack.com/api/files.upload HTTP/1.1\r\nHost: slack.com\r\n"
             "Authorization: Bearer xoxp-1-2-u\r\n"
             "Content-Type: multipart/form-data; boundary=" +
                 boundary + "\r\n",
             body));
  REQUIRE(c.read_response().status == 100);  // the preview was not all of it
  c.send(chunked(body.substr(4096)) + "0\r\n\r\n");
  auto r = c.read_response();
  REQUIRE(r.status == 200);
  CHECK(r.req_head.empty());  // refused: it could not be archived
  CHECK(f.svc->stats().archive_errors >= 1);
  // While the archive fails, OPTIONS tells Squid the service is down.
  c.send("OPTIONS icap://127.0.0.1/imcap ICAP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  CHECK(c.read_response().status == 503);
  // Thirty seconds later (the injected clock) it asks to be tried again.
  f.now += std::chrono::seconds(31);
  c.send("OPTIONS icap://127.0.0.1/imcap ICAP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  CHECK(c.read_response().status == 200);
  // What was accepted before is still there.
  auto recs = f.archived();
  REQUIRE_FALSE(recs.empty());
  CHECK(recs[0].text == "small message fits");
}

TEST_CASE("a chat body that does not decode follows on_decode_error") {
  const std::string broken = R"({"channel": "C0123ABCD", "text": "unterminated)";
  SECTION("fail_open: delivered, counted") {
    fixture f;
    icap_client c(f.port, receive_timeout_ms);
    c.send(reqmod(slack_json_head, broken));
    CHECK(c.read_response().status == 204);
    CHECK(f.svc->stats().decode_errors == 1);
    CHECK(f.svc->stats().failed_open == 1);
  }
  SECTION("fail_closed: refused with the protocol's error") {
    options o;
    o.policy.on_decode_error = pipeline::fail_mode::closed;
    fixture f(o);
    icap_client c(f.port, receive_timeout_ms);
    c.send(reqmod(slack_json_head, broken));
    auto r = c.read_response();
    REQUIRE(r.status == 200);
    CHECK(r.req_head.empty());
    CHECK(boost::json::parse(r.body).at("ok").as_bool() == false);
    CHECK(f.svc->stats().failed_closed == 1);
    // A gzip body that is not gzip is a decode error too.
    c.send(reqmod(slack_json_head + "Content-Encoding: gzip\r\n", slack_json("hi")));
    CHECK(c.read_response().req_head.empty());
  }
}

TEST_CASE("a chat body over max_buffered_body follows on_decode_error") {
  std::string big = slack_json(std::string(100'000, 'a'));
  for (auto mode : {pipeline::fail_mode::open, pipeline::fail_mode::closed}) {
    options o;
    o.max_buffered_body = 32 * 1024;
    o.policy.on_decode_error = mode;
    fixture f(o);
    icap_client c(f.port, receive_timeout_ms);
    c.send(reqmod(slack_json_head, big));
    REQUIRE(c.read_response().status == 100);
    c.send(chunked(big.substr(4096)) + "0\r\n\r\n");
    auto r = c.read_response();
    if (mode == pipeline::fail_mode::open) {
      CHECK(r.status == 204);
    } else {
      REQUIRE(r.status == 200);
      CHECK(r.req_head.empty());
      CHECK(r.res_head.rfind("HTTP/1.1 403", 0) == 0);
    }
    // The connection is still in step after the rest of the body was discarded.
    c.send(reqmod(slack_json_head, slack_json("after")));
    CHECK(c.read_response().status == 204);
  }
}

TEST_CASE("ethical wall: trading may not message research") {
  options o;
  o.policy.directory["C0RESEARCH"] = {"research"};
  o.policy.directory["carol"] = {"trading"};
  pipeline::wall w;
  w.id = "wall.research-trading";
  w.from = {"trading"};
  w.to = {"research"};
  o.policy.walls.push_back(w);
  fixture f(o);
  icap_client c(f.port, receive_timeout_ms);
  // From the groups header.
  c.send(reqmod(slack_json_head, slack_json("hello research", "C0RESEARCH"),
                "X-Client-Username: dave\r\nX-Authenticated-Groups: sales, trading\r\n"));
  auto r1 = c.read_response();
  REQUIRE(r1.status == 200);
  CHECK(r1.req_head.empty());
  // From the directory.
  c.send(reqmod(slack_json_head, slack_json("hello research", "C0RESEARCH"),
                "X-Client-Username: carol\r\n"));
  CHECK(c.read_response().req_head.empty());
  // Someone outside the wall, and a trader talking elsewhere.
  c.send(reqmod(slack_json_head, slack_json("hello research", "C0RESEARCH"),
                "X-Client-Username: erin\r\nX-Authenticated-Groups: sales\r\n"));
  CHECK(c.read_response().status == 204);
  c.send(
      reqmod(slack_json_head, slack_json("hello desk", "C0DESK"), "X-Client-Username: carol\r\n"));
  CHECK(c.read_response().status == 204);
  archive::query q;
  q.rule = "wall.research-trading";
  auto recs = f.archived(q);
  REQUIRE(recs.size() == 2);
  CHECK(recs[0].proxy_user == "dave");
  CHECK(recs[1].proxy_user == "carol");
}

TEST_CASE("monitor: hits recorded, nothing enforced") {
  SECTION("policy in monitor mode") {
    options o;
    o.policy.monitor = true;
    fixture f(o);
    icap_client c(f.port, receive_timeout_ms);
    c.send(reqmod(slack_json_head, slack_json("the forbiddenword again")));
    CHECK(c.read_response().status == 204);
    auto recs = f.archived();
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].verdict == "allow");
    REQUIRE(recs[0].hits.size() == 1);
    CHECK(recs[0].hits[0].rule_id == "t.block");
    CHECK(recs[0].hits[0].monitor);
  }
  SECTION("a monitor pack inside an enforcing policy") {
    fixture f;
    icap_client c(f.port, receive_timeout_ms);
    c.send(reqmod(slack_json_head, slack_json("trialword")));
    CHECK(c.read_response().status == 204);
    auto recs = f.archived();
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].hits.at(0).monitor);
  }
}

TEST_CASE("scoped policy rules: a group and a conversation change what a hit does") {
  options o;
  pipeline::policy_rule exempt;  // legal may send card numbers to the payments channel
  exempt.id = "legal-payments";
  exempt.act = pipeline::action::allow;
  exempt.match = {"dlp.card.*"};
  exempt.groups = {"legal"};
  exempt.conversations = {"C0PAYMENTS"};
  pipeline::policy_rule harden;  // interns may not even warn-level IBANs
  harden.id = "interns-iban";
  harden.act = pipeline::action::block;
  harden.match = {"dlp.iban"};
  harden.users = {"intern1"};
  o.policy.rules = {exempt, harden};
  fixture f(o);
  icap_client c(f.port, receive_timeout_ms);
  const std::string card = "card 4111 1111 1111 1111";
  c.send(reqmod(slack_json_head, slack_json(card, "C0PAYMENTS"),
                "X-Client-Username: lee\r\nX-Authenticated-Groups: legal\r\n"));
  CHECK(c.read_response().status == 204);  // exempt: delivered as written
  c.send(reqmod(slack_json_head, slack_json(card, "C0GENERAL"),
                "X-Client-Username: lee\r\nX-Authenticated-Groups: legal\r\n"));
  CHECK(c.read_response().req_head.find("Content-Length") != std::string::npos);  // redacted
  c.send(reqmod(slack_json_head, slack_json(card, "C0PAYMENTS"), "X-Client-Username: sam\r\n"));
  CHECK(c.read_response().status == 200);  // not in legal: redacted
  const std::string iban = "pay DE89 3704 0044 0532 0130 00";
  c.send(reqmod(slack_json_head, slack_json(iban), "X-Client-Username: intern1\r\n"));
  auto r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.req_head.empty());  // blocked for this user
  c.send(reqmod(slack_json_head, slack_json(iban), "X-Client-Username: sam\r\n"));
  CHECK(c.read_response().status == 204);  // a warning for everyone else
}

TEST_CASE("archive = hits keeps only messages with a hit") {
  options o;
  o.policy.archive = pipeline::archive_scope::hits;
  fixture f(o);
  icap_client c(f.port, receive_timeout_ms);
  c.send(reqmod(slack_json_head, slack_json("nothing to see")));
  CHECK(c.read_response().status == 204);
  c.send(reqmod(slack_json_head, slack_json("warnword here")));
  CHECK(c.read_response().status == 204);
  auto recs = f.archived();
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].text == "warnword here");
}

TEST_CASE("app rules: a classifier app is blocked or allowed per policy") {
  options o;
  pipeline::policy_rule r;
  r.id = "no-kazaa";
  r.act = pipeline::action::block;
  r.apps = {"kazaa"};
  o.policy.rules.push_back(r);
  fixture f(o);
  icap_client c(f.port, receive_timeout_ms);
  c.send(
      reqmod("GET http://10.1.2.3:1214/.hash=0a1b2c3d4e5f HTTP/1.1\r\nHost: 10.1.2.3:1214\r\n"
             "User-Agent: KazaaClient Jan 22 2003 17:08:34\r\nX-Kazaa-Network: KaZaA\r\n",
             ""));
  auto r1 = c.read_response();
  REQUIRE(r1.status == 200);
  CHECK(r1.res_head.rfind("HTTP/1.1 403", 0) == 0);
  auto lines = f.access_lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find(" block kazaa no-kazaa") != std::string::npos);
}

TEST_CASE("ClamAV: an infected attachment blocks the upload") {
  fixture f;
  icap_client c(f.port, receive_timeout_ms);
  std::string boundary = "----imcapboundary";
  std::string body =
      "--" + boundary +
      "\r\nContent-Disposition: form-data; name=\"channels\"\r\n\r\nC0123ABCD\r\n--" + boundary +
      "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
      "Content-Type: text/plain\r\n\r\nIMCAP-TEST-MALWARE-MARKER-5c1e0d7a9b\r\n--" +
      boundary + "--\r\n";
  c.send(
      reqmod("POST https://slack.com/api/files.upload HTTP/1.1\r\nHost: slack.com\r\n"
             "Authorization: Bearer xoxp-1-2-u\r\n"
             "Content-Type: multipart/form-data; boundary=" +
                 boundary + "\r\n",
             body));
  auto r = c.read_response();
  REQUIRE(r.status == 200);
  CHECK(r.req_head.empty());
  auto recs = f.archived();
  REQUIRE(recs.size() == 1);
  REQUIRE(recs[0].attachments.size() == 1);
  CHECK(recs[0].attachments[0].virus_names.at(0).find("Imcap.Test.Marker") == 0);
  CHECK(recs[0].verdict == "block");
}

TEST_CASE("policy settings: file:line:column errors") {
  auto parse = [](const std::string& text) {
    auto doc = std::make_shared<toml::table>(
        toml::parse(std::string_view(text), std::string_view("imcapd.toml")));
    pipeline::policy_settings s;
    pipeline::apply_policy_table(*doc->get("policy")->as_table(), "imcapd.toml", s);
    return s;
  };
  auto s = parse(
      "[policy]\nmode = \"monitor\"\narchive = \"hits\"\n"
      "[[policy.rules]]\nid = \"r1\"\naction = \"block\"\nmatch = [\"dlp.*\"]\ngroups = [\"g\"]\n"
      "[[policy.walls]]\nid = \"w\"\nfrom = [\"a\"]\nto = [\"b\"]\n"
      "[policy.directory]\nalice = [\"a\"]\n");
  CHECK(s.monitor);
  CHECK(s.archive == pipeline::archive_scope::hits);
  REQUIRE(s.rules.size() == 1);
  CHECK(s.rules[0].act == pipeline::action::block);
  CHECK(s.walls.at(0).both_ways);
  CHECK(s.directory.at("alice") == std::vector<std::string>{"a"});
  auto error_of = [&](const std::string& text) {
    try {
      parse(text);
    } catch (const pipeline::settings_error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(error_of("[policy]\nmode = \"audit\"\n") ==
        "imcapd.toml:2:8: policy.mode: expected \"enforce\" or \"monitor\"");
  CHECK(error_of("[policy]\non_scan_error = \"maybe\"\n") ==
        "imcapd.toml:2:17: policy.on_scan_error: expected \"fail_open\" or \"fail_closed\"");
  CHECK(error_of("[policy]\n[[policy.rules]]\nid = \"x\"\n").find("needs an action") !=
        std::string::npos);
  CHECK(error_of("[policy]\ncolour = 1\n") == "imcapd.toml:2:10: policy.colour: unknown key");
  CHECK(error_of("[policy]\nrelease_pass_hours = -1\n") ==
        "imcapd.toml:2:22: policy.release_pass_hours: expected an integer from 0 to 8784");
  CHECK(parse("[policy]\nrelease_pass_hours = 0\n").release_pass.count() == 0);
  // The shipped defaults parse.
  auto cfg = icap::default_config();
  CHECK_NOTHROW(pipeline::policy_settings_of(cfg));
  CHECK(pipeline::policy_settings_of(cfg).release_pass == std::chrono::hours(24));
}

TEST_CASE("release: the same content from the same user passes for release_pass_hours") {
  options o;
  o.policy.release_pass = std::chrono::hours(24);
  fixture f(o);
  const std::string cards = "cards: 4111111111111111, 5555555555554444 and 378282246310005";
  auto send = [&](const std::string& user, const std::string& text) {
    icap_client c(f.port, receive_timeout_ms);
    c.send(reqmod(slack_json_head, slack_json(text), "X-Client-Username: " + user + "\r\n"));
    return c.read_response();
  };
  auto held = [&] {
    archive::query q;
    q.quarantine = "held";
    return f.archived(q).size();
  };
  auto r = send("bob", cards);
  REQUIRE(r.status == 200);
  CHECK_FALSE(r.res_head.empty());  // refused: the client got the block reply
  archive::query q;
  q.quarantine = "held";
  auto recs = f.archived(q);
  REQUIRE(recs.size() == 1);
  const auto original = recs[0].id;

  // Before any release the same message is quarantined again.
  r = send("bob", cards);
  CHECK_FALSE(r.res_head.empty());
  CHECK(held() == 2);

  // The reviewer releases the first one, as the UI does (audit entry at the store's clock).
  archive::audit_entry why;
  why.actor = "rita";
  why.action = "release";
  why.target = "event:" + std::to_string(original);
  why.reason = "customer asked for the card on file";
  REQUIRE_FALSE(f.store->set_quarantine(original, "released", why));

  // The same content from bob (white space aside) 23 hours later: delivered, archived as allow
  // with its hits and the release reference.
  f.now += std::chrono::hours(23);
  r = send("bob", cards + "\n");
  CHECK(r.status == 204);
  archive::query allowed;
  allowed.rule = "imcap.released";
  recs = f.archived(allowed);
  REQUIRE(recs.size() == 1);
  CHECK(recs[0].verdict == "allow");
  CHECK(recs[0].proxy_user == "bob");
  CHECK(recs[0].quarantine.empty());
  const std::string ref = "released:" + std::to_string(original);
  CHECK(std::any_of(recs[0].attributes.begin(), recs[0].attributes.end(), [&](const auto& kv) {
    return kv.first == "imcap.released" && kv.second == ref;
  }));
  bool card_hit = false, release_hit = false;
  for (const auto& h : recs[0].hits) {
    card_hit = card_hit || h.rule_id.rfind("dlp.card", 0) == 0;
    release_hit = release_hit || (h.rule_id == "imcap.released" &&
                                  h.detail.rfind(ref + " ", 0) == 0 && h.action == "allow");
  }
  CHECK(card_hit);
  CHECK(release_hit);
  CHECK(f.svc->stats().released.load() == 1);

  // Another user, or other text, is still quarantined.
  r = send("alice", cards);
  CHECK_FALSE(r.res_head.empty());
  r = send("bob", "cards: 4111111111111111, 5555555555554444 and 378282246310005 again");
  CHECK_FALSE(r.res_head.empty());
  CHECK(held() == 3);  // the second copy, alice's, the changed text

  // After the window the release no longer counts.
  f.now += std::chrono::hours(2);
  r = send("bob", cards);
  CHECK_FALSE(r.res_head.empty());
  CHECK(held() == 4);
  CHECK(f.svc->stats().released.load() == 1);

  auto lines = f.access_lines();
  // The access log (written per I/O thread, so not in transaction order) shows the one pass.
  REQUIRE(lines.size() == 6);
  auto passed = std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find(" 204 POST ") != std::string::npos &&
           l.find(" allow slack dlp.card") != std::string::npos &&
           l.find("imcap.released") != std::string::npos;
  });
  CHECK(passed == 1);
}

TEST_CASE("release: release_pass_hours = 0 only marks the item") {
  options o;
  o.policy.release_pass = std::chrono::hours(0);
  fixture f(o);
  const std::string text = "cards: 4111111111111111, 5555555555554444 and 378282246310005";
  icap_client c(f.port, receive_timeout_ms);
  c.send(reqmod(slack_json_head, slack_json(text), "X-Client-Username: bob\r\n"));
  REQUIRE_FALSE(c.read_response().res_head.empty());
  auto recs = f.archived();
  REQUIRE(recs.size() == 1);
  archive::audit_entry why;
  why.actor = "rita";
  why.reason = "ok";
  REQUIRE_FALSE(f.store->set_quarantine(recs[0].id, "released", why));
  icap_client c2(f.port, receive_timeout_ms);
  c2.send(reqmod(slack_json_head, slack_json(text), "X-Client-Username: bob\r\n"));
  CHECK_FALSE(c2.read_response().res_head.empty());
  archive::query q;
  q.quarantine = "held";
  CHECK(f.archived(q).size() == 1);
}

TEST_CASE("a redaction span that cuts a UTF-8 character masks the whole character") {
  imcap::pipeline::policy_settings p;
  p.redact_mask = "*";
  p.redact_per_character = true;
  // "né 4111" : 'é' is two bytes (C3 A9) at offsets 1..3.
  const std::string text = "n\xC3\xA9 4111";
  // A span starting inside 'é' (offset 2) masks 'é' whole: one mask per character.
  CHECK(imcap::pipeline::detail::masked_text(p, text, {{2, 3}}) == "n* 4111");
  // A span ending inside 'é' (offset 2) too.
  CHECK(imcap::pipeline::detail::masked_text(p, text, {{0, 2}}) == "** 4111");
  // ASCII spans are unchanged.
  CHECK(imcap::pipeline::detail::masked_text(p, text, {{4, 8}}) == "n\xC3\xA9 ****");
  p.redact_per_character = false;
  p.redact_mask = "[x]";
  CHECK(imcap::pipeline::detail::masked_text(p, text, {{2, 3}, {4, 8}}) == "n[x] [x]");
}
