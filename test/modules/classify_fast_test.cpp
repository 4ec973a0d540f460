// The fast request head (request_head::make: simple targets and Host values split by hand) must
// classify exactly as the reference (request_head::make_reference: always Boost.URL): same host,
// path and query, same decoder, same app. Run over every fixture request and over a corpus of
// ordinary browsing, where a wrong split would silently let chat through or flag a news site.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "modules/apps/classify_app.hpp"
#include "modules/http_message.hpp"
#include "modules/registry.hpp"

namespace fs = std::filesystem;
using namespace imcap::modules;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

std::string_view name_of(const decoder* d) {
  return d == nullptr ? std::string_view("-") : d->name;
}

std::string_view app_of(const std::optional<app_match>& m) {
  return m ? m->app : std::string_view("-");
}

// Both paths over one request line and header set; REQUIREs the same outcome.
void check_same(const std::string& what, const std::string& method, const std::string& target,
                const header_fields& headers) {
  INFO(what << ": " << method << " " << target);
  const auto fast = request_head::make(method, target, headers);
  const auto ref = request_head::make_reference(method, target, headers);
  CHECK(fast.method == ref.method);
  CHECK(fast.target == ref.target);
  CHECK(fast.host == ref.host);
  CHECK(fast.path == ref.path);
  CHECK(fast.query == ref.query);
  CHECK(fast.headers.fields().size() == ref.headers.fields().size());
  CHECK(name_of(classify(fast)) == name_of(classify(ref)));
  CHECK(app_of(classify_app(fast)) == app_of(classify_app(ref)));
}

header_fields with_host(std::string_view host, std::string_view ua = "Mozilla/5.0 (X11; Linux)") {
  header_fields h;
  if (!host.empty()) h.add("Host", std::string(host));
  h.add("User-Agent", std::string(ua));
  h.add("Accept", "text/html,application/xhtml+xml");
  return h;
}

}  // namespace

TEST_CASE("fast head: every fixture request classifies as the reference", "[classify_fast]") {
  const fs::path root = fs::path(IMCAP_SOURCE_DIR) / "test" / "modules" / "fixtures";
  limits lim;
  std::size_t requests = 0;
  std::size_t chat = 0;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    const auto name = e.path().filename().string();
    if (!e.is_regular_file() || !name.ends_with("request.http")) continue;
    http_request req;
    if (parse_http_request(slurp(e.path()), lim, req)) continue;  // error fixtures
    ++requests;
    if (classify(req.head) != nullptr || classify_app(req.head)) ++chat;
    check_same(e.path().string(), req.head.method, req.head.target, req.head.headers);
  }
  // The fixtures are there and most of them are chat: the comparison covered real matches.
  CHECK(requests >= 80);
  CHECK(chat >= requests / 2);
}

TEST_CASE("fast head: ordinary browsing classifies as the reference", "[classify_fast]") {
  struct line {
    const char* method;
    const char* target;
    const char* host;  // Host header, "" for none
  };
  // clang-format off
  const line corpus[] = {
      // origin-form with a Host header: news sites, CDNs, APIs
      {"GET", "/", "www.bbc.co.uk"},
      {"GET", "/news/world-europe-12345678", "WWW.BBC.CO.UK"},
      {"GET", "/2026/11/23/us/politics/story.html?smid=url-share", "www.nytimes.com:443"},
      {"GET", "/ajax/libs/jquery/3.7.1/jquery.min.js", "cdnjs.cloudflare.com"},
      {"GET", "/npm/bootstrap@5.3.2/dist/css/bootstrap.min.css", "cdn.jsdelivr.net"},
      {"GET", "/images/branding/googlelogo/2x/googlelogo_color_272x92dp.png", "www.google.com"},
      {"GET", "/search?q=hello+world&hl=en", "www.Google.Com"},
      {"GET", "/search?q=caf%C3%A9&oq=caf%C3%A9", "www.google.com"},
      {"GET", "/wiki/Caf%C3%A9", "en.wikipedia.org"},
      {"GET", "/wiki/C%2B%2B?action=history", "en.wikipedia.org"},
      {"GET", "/path%20with%20spaces/file.txt", "example.org"},
      {"GET", "/a/%2F/b", "example.org"},
      {"GET", "/bad%zzescape", "example.org"},
      {"GET", "/raw space", "example.org"},
      {"GET", "/frag#x", "example.org"},
      {"GET", "/q?x=1?y=2&z=a:b@c", "example.org"},
      {"GET", "/?", "example.org"},
      {"GET", "//double//slash", "example.org"},
      {"GET", "/~user/index.html", "example.org:8080"},
      {"GET", "/repos/owner/repo/pulls?state=open&per_page=100", "api.github.com"},
      {"POST", "/v1/chat/completions", "api.openai.com"},
      {"POST", "/graphql", "www.reddit.com"},
      {"PUT", "/bucket/key.bin", "s3.amazonaws.com"},
      {"PUT", "/upload/file.png", "files.example.com"},
      {"GET", "/ping", "[2001:db8::1]:8443"},
      {"GET", "/ping", "[::1]"},
      {"GET", "/ping", "192.0.2.7:80"},
      {"GET", "/ping", "user@example.org"},
      {"GET", "/ping", "example.org:"},
      {"GET", "/ping", "example.org:80x"},
      {"GET", "/ping", "EXAMPLE.org."},
      {"GET", "/ping", ""},
      {"OPTIONS", "*", "example.org"},
      // absolute-form, as a proxy sees it
      {"GET", "http://www.bbc.co.uk/news", ""},
      {"GET", "HTTP://WWW.BBC.CO.UK/NEWS", ""},
      {"GET", "http://Example.COM:8080/a/b?c=d", "ignored.example"},
      {"GET", "http://example.com", "other.example"},
      {"GET", "http://example.com?x=1", ""},
      {"GET", "http://example.com:/p", ""},
      {"GET", "http://[2001:db8::5]:8080/v6/path?q=1", ""},
      {"GET", "http://[::1]/", ""},
      {"GET", "http://user:pw@example.com/private", ""},
      {"GET", "http://example.com/%7Euser/caf%C3%A9", ""},
      {"GET", "http://example.com/a%2Fb?x=%41", ""},
      {"GET", "http://example.com/raw space", ""},
      {"GET", "http://example.com/frag#top", ""},
      {"GET", "http:///no-host", "fallback.example"},
      {"GET", "https://cdn.example.net/assets/app.3f2a1b.js", ""},
      {"GET", "ftp://ftp.example.org/pub/file.tar.gz", ""},
      {"GET", "svn+ssh://repo.example.org/trunk", ""},
      {"GET", "example.com/no-scheme", "example.com"},
      {"GET", "1http://bad-scheme.example/", ""},
      {"CONNECT", "www.example.com:443", ""},
      {"CONNECT", "WWW.Example.Com:443", ""},
      {"CONNECT", "[2001:db8::1]:443", ""},
      {"CONNECT", "/odd-connect", "example.org"},
      // near-misses of chat endpoints: odd casing, ports, encodings
      {"POST", "/api/chat.postMessage", "SLACK.COM"},
      {"POST", "http://Slack.Com:443/api/chat.postMessage", ""},
      {"POST", "/api/chat%2EpostMessage", "slack.com"},
      {"POST", "/api/v9/channels/1/messages", "discord.com:443"},
      {"POST", "https://discord.com/api/v9/channels/1/messages?x=1", ""},
      {"GET", "/socket.io/?EIO=4&transport=polling", "chat.example.org"},
      {"GET", "/signalr/negotiate?clientProtocol=1.5", "example.org"},
      {"POST", "/http-bind", "jabber.example.org"},
      {"POST", "/cometd/connect", "example.org"},
      {"GET", "/announce?info_hash=%12%34&peer_id=x", "tracker.example.org"},
      {"GET", "http://tracker.example.org:6969/announce?info_hash=abc", ""},
      {"GET", "/", "web.whatsapp.com"},
      {"GET", "http://Web.WhatsApp.Com/", ""},
      {"POST", "/apiw1", "venus.web.telegram.org"},
      {"GET", "/_matrix/client/v3/sync", "matrix.example.org"},
  };
  // clang-format on
  for (const auto& c : corpus) check_same("corpus", c.method, c.target, with_host(c.host));
  // The same with a client that names itself as a greynet app (User-Agent rules).
  for (const auto& c : corpus)
    check_same("corpus (kazaa ua)", c.method, c.target,
               with_host(c.host, "KazaaClient Nov 3 2002"));
}

TEST_CASE("fast head: splits simple targets by hand", "[classify_fast]") {
  // What the fast path produces, independent of the reference (guards both at once).
  auto h = request_head::make("GET", "http://News.Example.COM:8080/a/b?c=d", {});
  CHECK(h.host == "news.example.com");
  CHECK(h.path == "/a/b");
  CHECK(h.query == "c=d");
  h = request_head::make("GET", "/x/y?q=1?2", with_host("CDN.Example.net:443"));
  CHECK(h.host == "cdn.example.net");
  CHECK(h.path == "/x/y");
  CHECK(h.query == "q=1?2");
  h = request_head::make("GET", "/caf%C3%A9", with_host("[2001:DB8::1]:80"));
  CHECK(h.path == "/caf\xC3\xA9");
}

TEST_CASE("fast head: targets with stray brackets are kept undecoded, not handed to Boost.URL",
          "[classify_fast]") {
  // Boost.URL 1.81 asserts on "scheme:" followed by '[' or ']' (debug builds abort).
  for (std::string target : {"h:]", "icap:[x", "http://h/a]b?c", "/p]q"}) {
    INFO("target: " << target);
    auto h = request_head::make("GET", target, with_host("example.com"));
    CHECK(h.host == "example.com");
    CHECK(h.path == target.substr(0, target.find('?')));
    CHECK_FALSE(classify(h));
  }
}
