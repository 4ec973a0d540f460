#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "modules/apps/classify_app.hpp"

using namespace imcap::modules;

namespace {

request_head head(std::string method, std::string url,
                  std::initializer_list<std::pair<const char*, const char*>> h = {}) {
  header_fields f;
  for (const auto& [k, v] : h) f.add(k, v);
  return request_head::make(std::move(method), std::move(url), std::move(f));
}

std::string app_of(const request_head& h) {
  auto m = classify_app(h);
  return m ? std::string(m->app) : std::string("-");
}

constexpr const char* firefox =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";

}  // namespace

TEST_CASE("classify_app: ordinary browsing matches nothing") {
  CHECK(app_of(head("GET", "https://www.bbc.co.uk/news/world", {{"User-Agent", firefox}})) == "-");
  CHECK(app_of(head("GET", "https://news.example.com/announcements?id=4",
                    {{"User-Agent", firefox}})) == "-");
  CHECK(app_of(head("POST", "https://api.example.com/api", {{"User-Agent", firefox}})) == "-");
  CHECK(app_of(head("GET", "https://www.whatsapp.com/download", {{"User-Agent", firefox}})) == "-");
  CHECK(app_of(head("GET", "https://signal.org/download/", {{"User-Agent", firefox}})) == "-");
  CHECK(app_of(head("GET",
                    "https://teams.microsoft.com/api/chatsvc/emea/v1/users/ME/conversations")) ==
        "-");
  // Netscape Navigator contains "gator" but not as a word start.
  CHECK(app_of(head("GET", "http://example.com/",
                    {{"User-Agent", "Mozilla/5.0 Netscape Navigator/9.0"}})) == "-");
  CHECK(app_of(head("GET", "http://notgator.com/", {{"User-Agent", firefox}})) == "-");
}

TEST_CASE("classify_app: end-to-end encrypted chat and calls") {
  auto m = classify_app(head("GET", "https://web.whatsapp.com/", {{"User-Agent", firefox}}));
  REQUIRE(m);
  CHECK(m->app == "whatsapp-web");
  CHECK(m->category == app_category::im_encrypted);
  CHECK(m->reason == "host");
  CHECK(app_of(head("GET", "https://mmg.whatsapp.net/v/t62/abc.enc")) == "whatsapp-web");
  CHECK(app_of(head("GET", "https://web.telegram.org/k/")) == "telegram-web");
  m = classify_app(head("POST", "http://149.154.167.50/apiw1",
                        {{"Content-Type", "application/x-www-form-urlencoded"}}));
  REQUIRE(m);
  CHECK(m->app == "telegram-web");
  CHECK(m->reason == "url");
  CHECK(app_of(head("GET", "http://149.154.167.50/apiw1")) == "-");
  CHECK(app_of(head("PUT", "https://chat.signal.org/v1/messages/abc")) == "signal");
  CHECK(app_of(head("GET", "https://example.com/x",
                    {{"User-Agent", "Signal-Desktop/7.1.0 Linux"}})) == "signal");
  m = classify_app(head("GET", "https://sfu.voip.signal.org/v2/conference"));
  REQUIRE(m);
  CHECK(m->category == app_category::voice_video);
  m = classify_app(head("POST", "https://go.trouter.teams.microsoft.com/v4/a"));
  REQUIRE(m);
  CHECK(m->app == "teams-calls");
  CHECK(m->category == app_category::voice_video);
  CHECK(app_of(head("POST", "https://api.flightproxy.skype.com/api/v2/cpconv")) == "skype-calls");
}

TEST_CASE("classify_app: P2P greynet by URL, User-Agent and header") {
  auto m = classify_app(head("GET",
                             "http://tracker.example.org:6969/"
                             "announce?info_hash=%12%34V%78%9a&peer_id=-UT3550-abc&port=6881",
                             {{"User-Agent", firefox}}));
  REQUIRE(m);
  CHECK(m->app == "bittorrent");
  CHECK(m->category == app_category::p2p);
  CHECK(m->reason == "url");
  CHECK(app_of(head("GET", "http://t.example.org/scrape?info_hash=abc")) == "bittorrent");
  CHECK(app_of(head("GET", "http://t.example.org/announce")) == "-");
  CHECK(app_of(head("GET", "http://x.example.org/", {{"User-Agent", "uTorrent/3550(45988)"}})) ==
        "bittorrent");
  m = classify_app(head("GET", "http://10.1.2.3:1214/.hash=4f2a9c",
                        {{"User-Agent", "KazaaClient Nov  3 2002 20:29:03"}}));
  REQUIRE(m);
  CHECK(m->app == "kazaa");
  CHECK(m->reason == "user-agent");
  m = classify_app(head("GET", "http://10.1.2.3:1214/.hash=4f2a9c",
                        {{"X-Kazaa-Username", "bob"}, {"X-Kazaa-Network", "KaZaA"}}));
  REQUIRE(m);
  CHECK(m->app == "kazaa");
  CHECK(m->reason == "header");
  CHECK(app_of(head("GET",
                    "http://10.1.2.4:6346/uri-res/N2R?urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB",
                    {{"X-Gnutella-Content-URN", "urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB"}})) ==
        "gnutella");
  CHECK(app_of(head("GET", "http://10.1.2.4:6346/get/1/a.mp3",
                    {{"User-Agent", "LimeWire/4.18.8"}})) == "gnutella");
  CHECK(app_of(head("GET", "http://www.gruk.org/server.met")) == "edonkey");
}

TEST_CASE("classify_app: adware beacons") {
  auto m = classify_app(head("GET", "http://gmt.gator.com/gs/ping?v=6", {{"User-Agent", firefox}}));
  REQUIRE(m);
  CHECK(m->app == "gator");
  CHECK(m->category == app_category::spyware);
  CHECK(app_of(head("GET", "http://ads.example.com/", {{"User-Agent", "Gator/6.1"}})) == "gator");
  CHECK(app_of(head("GET", "http://www.claria.com/")) == "gator");
  CHECK(app_of(head("GET", "http://svc.whenu.com/ping")) == "whenu");
  CHECK(app_of(head("GET", "http://log.180solutions.com/x")) == "zango");
}

TEST_CASE("make_app_event: metadata only, sender from the proxy") {
  http_request req{head("GET", "https://web.whatsapp.com/"), ""};
  limits lim;
  exchange x{req, nullptr, "CORP\\alice", "10.0.0.7", nullptr, lim};
  const auto m = classify_app(req.head);
  REQUIRE(m);
  const chat_event e = make_app_event(*m, x);
  CHECK(e.kind == event_kind::app);
  CHECK(e.app == "whatsapp-web");
  CHECK(e.direction == direction::outbound);
  CHECK(e.sender.id == "CORP\\alice");
  CHECK(e.sender.source == identity_source::proxy);
  CHECK(e.text.empty());
  CHECK(e.attribute("category") == "im_encrypted");
  CHECK(e.attribute("reason") == "host");
  CHECK(e.attribute("host") == "web.whatsapp.com");
  CHECK(e.attribute("client_ip") == "10.0.0.7");

  exchange anon{req, nullptr, "", "", nullptr, lim};
  const chat_event a = make_app_event(*m, anon);
  CHECK(a.sender.id.empty());
  CHECK(a.sender.source == identity_source::unknown);
}

TEST_CASE("classify_app: the precomputed path agrees with the row-by-row reference") {
  // Hosts: every table domain, a subdomain of it, a look-alike that is not under it, and
  // ordinary sites; User-Agents: every token at a word start, inside a word, at the end.
  const std::vector<std::string> hosts = {"web.whatsapp.com",
                                          "mmg.whatsapp.net",
                                          "whatsapp.net.evil.com",
                                          "xwhatsapp.net",
                                          "web.telegram.org",
                                          "pluto.web.telegram.org",
                                          "chat.signal.org",
                                          "signal.org",
                                          "voip.signal.org",
                                          "cdn3.signal.org",
                                          "go.trouter.teams.microsoft.com",
                                          "teams.microsoft.com",
                                          "tr.teams.microsoft.com",
                                          "worldaz.tr.teams.microsoft.com",
                                          "kazaa.com",
                                          "www.kazaa.com",
                                          "gator.com",
                                          "notgator.com",
                                          "ads.claria.com",
                                          "emule-project.net",
                                          "www.180solutions.com",
                                          "zango.com",
                                          "example.com",
                                          "com",
                                          "",
                                          "a.b.c.d.e.f.g.h.example.org"};
  const std::vector<std::string> uas = {"",
                                        firefox,
                                        "uTorrent/3.5",
                                        "Mozilla/5.0 BitTorrent/7.10",
                                        "Transmission/4.0",
                                        "qBittorrent/4.6",
                                        "Azureus 5.7",
                                        "KazaaClient Nov 3 2002",
                                        "LimeWire/4.18",
                                        "BearShare 5",
                                        "Shareaza 2.7",
                                        "Morpheus 5",
                                        "eMule 0.50",
                                        "Gator/4.0",
                                        "Mozilla/5.0 Netscape Navigator/9.0",
                                        "xuTorrent",
                                        "Signal-Desktop/7.1.0 Electron",
                                        "Mozilla/5.0 (Signal-Desktop/7.1.0)",
                                        "Mozilla/5.0 qBittorrent/",
                                        "Gato"};
  const std::vector<std::pair<std::string, std::string>> targets = {
      {"GET", "/"},
      {"GET", "/announce?info_hash=abc&peer_id=x"},
      {"GET", "/scrape?info_hash=a"},
      {"GET", "/x/server.met"},
      {"POST", "/apiw1"},
      {"GET", "/apiw1"},
      {"POST", "/apiw"},
      {"POST", "/apiw_test1"},
      {"GET", "/announce"}};
  std::size_t matched = 0, compared = 0;
  for (const auto& host : hosts)
    for (const auto& ua : uas)
      for (const auto& [method, path] : targets) {
        header_fields f;
        if (!host.empty()) f.add("Host", host);
        if (!ua.empty()) f.add("User-Agent", ua);
        if (ua == "Gato") f.add("X-Kazaa-Network", "KaZaA");
        if (ua == "eMule 0.50") f.add("x-gnutella-content-urn", "urn:sha1:X");
        auto h = request_head::make(method, path, std::move(f));
        auto fast = classify_app(h);
        auto ref = classify_app_reference(h);
        INFO(method << " " << host << path << " UA=" << ua);
        REQUIRE(fast.has_value() == ref.has_value());
        if (fast) {
          CHECK(fast->app == ref->app);
          CHECK(fast->reason == ref->reason);
          CHECK(fast->category == ref->category);
          ++matched;
        }
        ++compared;
      }
  // The corpus exercises both outcomes in quantity, so agreement is not vacuous.
  CHECK(matched > compared / 4);
  CHECK(matched < compared);
}
