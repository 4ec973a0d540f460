#include <fstream>
// Telegram Bot API decoder: what the fixtures cannot show — the token never leaks, every
// text location it reports can be rewritten, and classification stays on the Bot API.

#include <filesystem>
#include <sstream>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "modules/decode_files.hpp"
#include "modules/http_message.hpp"
#include "modules/registry.hpp"
#include "modules/session.hpp"

namespace fs = std::filesystem;
using namespace imcap::modules;

namespace {

const std::string secret = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const fs::path fixtures = fs::path(IMCAP_SOURCE_DIR) / "test/modules/fixtures/telegram";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

http_request request_of(const fs::path& file) {
  http_request r;
  REQUIRE(!parse_http_request(slurp(file), limits{}, r));
  return r;
}

}  // namespace

TEST_CASE("telegram: classify takes the Bot API and nothing else") {
  auto head = [](std::string target, std::string host) {
    header_fields h;
    h.add("Host", std::move(host));
    return request_head::make("POST", std::move(target), std::move(h));
  };
  const auto* d = find_decoder("telegram-bot");
  REQUIRE(d != nullptr);
  CHECK(d->classify(head("/bot1:x/sendMessage", "api.telegram.org")));
  CHECK(d->classify(head("/bot1:x/sendMessage", "API.Telegram.org:443")));
  CHECK(classify(head("/bot1:x/getUpdates?timeout=1", "api.telegram.org")) == d);
  CHECK(!d->classify(head("/bot1:x/sendMessage", "web.telegram.org")));
  CHECK(!d->classify(head("/bot/sendMessage", "api.telegram.org")));
  CHECK(!d->classify(head("/bot1:x/", "api.telegram.org")));
  CHECK(!d->classify(head("/file/bot1:x/documents/file_1.pdf", "api.telegram.org")));
  CHECK(!d->classify(head("/", "api.telegram.org")));
}

TEST_CASE("telegram: the bot token appears in no event and no error") {
  std::size_t cases = 0;
  for (const auto& c : fs::directory_iterator(fixtures)) {
    std::vector<decode_step> steps;
    for (const auto& f : fs::directory_iterator(c.path())) {
      auto n = f.path().filename().string();
      if (n.size() >= 12 && n.substr(n.size() - 12) == "request.http") {
        decode_step s{f.path().string(), std::nullopt};
        auto resp = f.path().parent_path() / (n.substr(0, n.size() - 12) + "response.http");
        if (fs::exists(resp)) s.response_file = resp.string();
        steps.push_back(s);
      }
    }
    auto r = decode_files(steps, {});
    std::string all = r.error.detail;
    for (const auto& e : r.events) {
      all += boost::json::serialize(to_json(e));
      for (const auto& a : e.attachments) all += a.bytes;
      for (const auto& [k, v] : e.attributes) all += v;
    }
    INFO(c.path().string());
    CHECK(all.find(secret) == std::string::npos);
    CHECK(all.find("123456789:") == std::string::npos);
    ++cases;
  }
  CHECK(cases >= 10);
}

TEST_CASE("telegram: every reported text location rewrites and decodes back") {
  const auto* d = find_decoder("telegram-bot");
  REQUIRE(d != nullptr);
  REQUIRE(d->rewrite != nullptr);
  limits lim;
  std::size_t rewritten = 0;
  for (std::string_view c :
       {"send-message-json", "send-message-form-html", "send-document-multipart",
        "send-document-file-id", "send-media-group"}) {
    INFO(c);
    auto req = request_of(fixtures / c / "request.http");
    exchange x{req, nullptr, "", "", nullptr, lim};
    std::vector<chat_event> events;
    REQUIRE(!d->decode_request(x, events));
    REQUIRE(!events.empty());
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (events[i].text_at.empty()) continue;
      http_request changed = req;
      REQUIRE(!d->rewrite(changed.body, events[i].text_at, "[removed by policy] ✂"));
      exchange y{changed, nullptr, "", "", nullptr, lim};
      std::vector<chat_event> again;
      REQUIRE(!d->decode_request(y, again));
      REQUIRE(again.size() == events.size());
      CHECK(again[i].text == "[removed by policy] ✂");
      CHECK(again[i].attachments.size() == events[i].attachments.size());
      for (std::size_t k = 0; k < events.size(); ++k)
        if (k != i) CHECK(again[k].text == events[k].text);
      ++rewritten;
    }
  }
  CHECK(rewritten == 6);  // json, form, multipart, json caption, two media-group captions
}

TEST_CASE("telegram: a file part can be replaced through its location") {
  const auto* d = find_decoder("telegram-bot");
  auto req = request_of(fixtures / "send-document-multipart" / "request.http");
  limits lim;
  exchange x{req, nullptr, "", "", nullptr, lim};
  std::vector<chat_event> events;
  REQUIRE(!d->decode_request(x, events));
  REQUIRE(events.at(0).attachments.size() == 1);
  REQUIRE(!d->rewrite(req.body, events[0].attachments[0].at, "removed"));
  events.clear();
  REQUIRE(!d->decode_request(x, events));
  CHECK(events.at(0).attachments.at(0).bytes == "removed");
  CHECK(events[0].attachments[0].sha256 == sha256_hex("removed"));
  CHECK(events[0].attachments[0].name == "salaries.csv");
  // A location from the query string is not rewritable.
  std::string body;
  CHECK(d->rewrite(body, location{}, "x"));
}

TEST_CASE("telegram: a bounded number of updates and media items") {
  const auto* d = find_decoder("telegram-bot");
  auto req = request_of(fixtures / "get-updates-gzip" / "request.http");
  http_response resp;
  REQUIRE(
      !parse_http_response(slurp(fixtures / "get-updates-gzip" / "response.http"), limits{}, resp));
  limits lim;
  lim.max_parts = 2;
  exchange x{req, &resp, "", "", nullptr, lim};
  std::vector<chat_event> events;
  CHECK(d->decode_response(x, events).code == errc::too_many_parts);
  CHECK(events.size() == 2);  // what came before the limit is kept
}

namespace {
http_request json_request(std::string method, std::string body) {
  std::string raw = "POST /bot42:secretpart/" + method +
                    " HTTP/1.1\r\nHost: api.telegram.org\r\nContent-Type: application/json\r\n"
                    "Content-Length: " +
                    std::to_string(body.size()) + "\r\n\r\n" + body;
  http_request r;
  REQUIRE(!parse_http_request(raw, limits{}, r));
  return r;
}
}  // namespace

TEST_CASE("telegram: sendMediaGroup as a JSON body, and its errors") {
  const auto* d = find_decoder("telegram-bot");
  limits lim;
  auto req =
      json_request("sendMediaGroup",
                   R"({"chat_id":7,"media":[{"type":"photo","media":"AgACfileid",)"
                   R"("caption":"first"},{"type":"photo","media":"https://e.example/b.jpg"}]})");
  exchange x{req, nullptr, "", "", nullptr, lim};
  std::vector<chat_event> events;
  REQUIRE(!d->decode_request(x, events));
  REQUIRE(events.size() == 2);
  CHECK(events[0].text == "first");
  CHECK(events[0].text_at == location{{layer{layer_kind::json, "/media/0/caption"}}});
  CHECK(events[0].attachments.at(0).ref == "AgACfileid");
  CHECK(events[1].attachments.at(0).ref == "https://e.example/b.jpg");
  CHECK(events[1].attachments.at(0).at == location{{layer{layer_kind::json, "/media/1/media"}}});
  CHECK(events[0].sender.id == "42");
  CHECK(events[0].session_key.find("secretpart") == std::string::npos);

  auto code = [&](std::string body) {
    auto r = json_request("sendMediaGroup", std::move(body));
    exchange y{r, nullptr, "", "", nullptr, lim};
    std::vector<chat_event> ev;
    return d->decode_request(y, ev).code;
  };
  CHECK(code(R"({"chat_id":7})") == errc::malformed_json);
  CHECK(code(R"({"chat_id":7,"media":{"a":1}})") == errc::malformed_json);
  CHECK(code(R"({"chat_id":7,"media":"[1,2"})") == errc::truncated);
  CHECK(code(R"({"chat_id":7,"media":[{"type":"photo"}]})") == errc::malformed_json);
  CHECK(code(R"([1,2])") == errc::malformed_json);
}
