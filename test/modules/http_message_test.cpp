#include <zlib.h>
#include <algorithm>
#include <catch2/catch.hpp>
#include <sstream>

#include "modules/cli.hpp"
#include "modules/http_message.hpp"

using namespace imcap::modules;

TEST_CASE("http_message: request with Content-Length, absolute target, gzip body") {
  std::string plain = "{\"text\":\"hi\"}";
  std::string gz(compressBound(static_cast<uLong>(plain.size())) + 32, '\0');
  z_stream zs{};
  REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(plain.data());
  zs.avail_in = static_cast<uInt>(plain.size());
  zs.next_out = reinterpret_cast<Bytef*>(gz.data());
  zs.avail_out = static_cast<uInt>(gz.size());
  REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  gz.resize(zs.total_out);
  deflateEnd(&zs);
  std::string raw =
      "POST http://Chat.Example:8080/api/send?x=1 HTTP/1.1\r\nHost: chat.example\r\n"
      "Content-Encoding: gzip\r\nContent-Length: " +
      std::to_string(gz.size()) + "\r\n\r\n" + gz;
  http_request r;
  REQUIRE(!parse_http_request(raw, limits{}, r));
  CHECK(r.head.method == "POST");
  CHECK(r.head.host == "chat.example");
  CHECK(r.head.path == "/api/send");
  CHECK(r.head.query == "x=1");
  CHECK(r.body == plain);
  CHECK(r.head.headers.get("content-encoding") == "gzip");
}

TEST_CASE("http_message: chunked request and to-EOF response") {
  http_request r;
  REQUIRE(
      !parse_http_request("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                          "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                          limits{}, r));
  CHECK(r.body == "hello world");
  http_response resp;
  REQUIRE(!parse_http_response("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
                               limits{}, resp));
  CHECK(resp.status == 200);
  CHECK(resp.body == "until the end");
  CHECK(resp.media_type() == "text/plain");
  REQUIRE(!parse_http_response("HTTP/1.1 204 No Content\r\n\r\n", limits{}, resp));
  CHECK(resp.body.empty());
}

TEST_CASE("http_message: every framing error is malformed_http with its reason") {
  http_request r;
  auto req_err = [&](std::string raw, const limits& lim = {}) {
    return parse_http_request(raw, lim, r);
  };
  auto e = req_err("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc");
  CHECK(e.code == errc::malformed_http);
  CHECK(e.detail == "request: body ends 7 bytes before its Content-Length");
  e = req_err("POST / HTTP/1.1\r\nHost: h\r\n\r\nbody without length");
  CHECK(e.code == errc::malformed_http);
  CHECK(e.detail.find("after the end of the message") != std::string::npos);
  CHECK(req_err("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel").code ==
        errc::malformed_http);
  CHECK(req_err("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").code ==
        errc::malformed_http);
  CHECK(req_err("GARBAGE\r\n\r\n").code == errc::malformed_http);
  e = req_err("POST / HTTP/1.1\r\nHost: h\r\n");
  CHECK(e.detail == "request: message ends inside the header section");
  CHECK(req_err("").detail == "request: empty message");
  e = req_err("POST / HTTP/1.1\r\nX: " + std::string(70'000, 'a') + "\r\n\r\n");
  CHECK(e.detail.find("header section larger") != std::string::npos);
  limits lim;
  lim.max_decoded_bytes = 4;
  e = req_err("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", lim);
  CHECK(e.detail.find("body larger than 4") != std::string::npos);
  CHECK(req_err("POST / HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc").code ==
        errc::malformed_encoding);
  CHECK(
      req_err("POST / HTTP/1.1\r\nContent-Encoding: snappy\r\nContent-Length: 3\r\n\r\nabc").code ==
      errc::unsupported_encoding);
  http_response resp;
  CHECK(
      parse_http_response("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab", limits{}, resp).code ==
      errc::malformed_http);
  CHECK(parse_http_response("HTTP/9 OK\r\n\r\n", limits{}, resp).code == errc::malformed_http);
}

TEST_CASE("imcapctl decode: usage errors and missing files") {
  std::ostringstream out, err;
  auto run = [&](std::vector<std::string> args) {
    out.str("");
    err.str("");
    return decode_command(args, out, err);
  };
  CHECK(run({}) == 2);
  CHECK(run({"--response", "x"}) == 2);
  CHECK(run({"--request"}) == 2);
  CHECK(run({"--bogus", "x"}) == 2);
  CHECK(run({"--request", "a", "--response", "b", "--response", "c"}) == 2);
  CHECK(run({"--help"}) == 0);
  CHECK(out.str().find("usage") != std::string::npos);
  CHECK(run({"--request", "/nonexistent/imcap/request.http"}) == 1);
  CHECK(err.str() == "/nonexistent/imcap/request.http: malformed_http: cannot read the file\n");
  CHECK(out.str().empty());
}

TEST_CASE("imcapctl decode: events before an error are printed, then the error") {
  std::string dir = std::string(IMCAP_SOURCE_DIR) + "/test/modules/fixtures/telegram/";
  std::ostringstream out, err;
  std::vector<std::string> args{"--request",  dir + "send-message-json/request.http",
                                "--response", dir + "send-message-json/response.http",
                                "--request",  dir + "malformed-http/request.http",
                                "--user",     "alice"};
  CHECK(decode_command(args, out, err) == 1);
  auto text = out.str();
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  CHECK(text.find("\"text\":\"Привет, мир!") != std::string::npos);
  CHECK(err.str() == dir +
                         "malformed-http/request.http: malformed_http: request: body ends 37 "
                         "bytes before its Content-Length\n");
}
