// The exporter answered over a real loopback socket by a Boost.Beast client.
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>

#include "metrics/exporter.hpp"

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace imcap::metrics;

namespace {

http::response<http::string_body> fetch(std::uint16_t port, http::verb method,
                                        const std::string& target, const std::string& body = {}) {
  asio::io_context io;
  boost::beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(10));
  stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, "127.0.0.1");
  req.body() = body;
  if (!body.empty()) req.prepare_payload();
  http::write(stream, req);
  boost::beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  if (method == http::verb::head) parser.skip(true);
  http::read(stream, buf, parser);
  return parser.release();
}

}  // namespace

TEST_CASE("GET /metrics on port 0 serves the registry as text 0.0.4") {
  registry r;
  r.counter_of("imcap_test_total", "Things", {"k"}, {"v"}).inc(7);
  exporter e(r, "127.0.0.1", 0);
  REQUIRE(e.port() != 0);
  CHECK(e.address() == "127.0.0.1:" + std::to_string(e.port()));

  auto res = fetch(e.port(), http::verb::get, "/metrics");
  CHECK(res.result_int() == 200);
  CHECK(res[http::field::content_type] == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(res.body() == r.expose());
  CHECK(res.body().find("imcap_test_total{k=\"v\"} 7\n") != std::string::npos);

  // A later scrape sees later increments.
  r.counter_of("imcap_test_total", "Things", {"k"}, {"v"}).inc();
  CHECK(fetch(e.port(), http::verb::get, "/metrics").body().find("imcap_test_total{k=\"v\"} 8\n") !=
        std::string::npos);

  auto head = fetch(e.port(), http::verb::head, "/metrics");
  CHECK(head.result_int() == 200);
  CHECK(head.body().empty());
}

TEST_CASE("other paths are 404, other methods 405") {
  registry r;
  exporter e(r, "127.0.0.1", 0);
  CHECK(fetch(e.port(), http::verb::get, "/").result_int() == 404);
  CHECK(fetch(e.port(), http::verb::get, "/metrics/extra").result_int() == 404);
  auto post = fetch(e.port(), http::verb::post, "/metrics", "x=1");
  CHECK(post.result_int() == 405);
  CHECK(post[http::field::allow] == "GET, HEAD");
  CHECK(fetch(e.port(), http::verb::delete_, "/metrics").result_int() == 405);
}

TEST_CASE("an address in use or not numeric is an exporter_error naming it") {
  registry r;
  exporter first(r, "127.0.0.1", 0);
  try {
    exporter second(r, "127.0.0.1", first.port());
    FAIL("second listener on the same port started");
  } catch (const exporter_error& ex) {
    CHECK(std::string(ex.what()).find("127.0.0.1:" + std::to_string(first.port())) !=
          std::string::npos);
  }
  CHECK_THROWS_AS(exporter(r, "localhost", 0), exporter_error);
}
