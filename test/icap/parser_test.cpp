// ICAP request parser: every legal Encapsulated layout, preview/ieof, trailers, pipelining,
// every error with its status, the limits, and every input split at every byte offset.

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "icap/parser.hpp"

using namespace imcap::icap;

namespace {

struct outcome {
  bool head = false;
  std::string body;
  int previews = 0;
  bool done = false;
  bool ieof = false;
  parse_error error = parse_error::none;
  request req;
  header_list trailers;
  std::size_t consumed = 0;  // bytes consumed up to `done`
};

// Feeds `pieces` in order, as a server would, continuing after a preview when `cont`.
outcome drive(const std::vector<std::string_view>& pieces, bool cont = true,
              parser_limits limits = {}) {
  request_parser p(limits);
  outcome o;
  for (auto piece : pieces) {
    std::size_t off = 0;
    for (int guard = 0; guard < 100000; ++guard) {
      auto r = p.parse(piece.substr(off));
      off += r.consumed;
      o.consumed += r.consumed;
      switch (r.status) {
        case parse_status::head_done:
          o.head = true;
          continue;
        case parse_status::body:
          o.body.append(r.data);
          continue;
        case parse_status::preview_done:
          ++o.previews;
          if (!cont) {
            o.req = p.request();
            return o;
          }
          p.continue_after_preview();
          continue;
        case parse_status::done:
          o.done = true;
          o.ieof = p.ieof();
          o.req = p.request();
          o.trailers = p.trailers();
          return o;
        case parse_status::error:
          o.error = p.error();
          return o;
        case parse_status::incomplete:
          REQUIRE(off == piece.size());
          break;
      }
      break;
    }
  }
  o.req = p.request();
  return o;
}

// The same message split in two at every offset (and once byte by byte) gives the same result.
void check_splits(const std::string& msg, const outcome& whole, bool cont = true) {
  for (std::size_t i = 0; i <= msg.size(); ++i) {
    std::string_view v(msg);
    auto o = drive({v.substr(0, i), v.substr(i)}, cont);
    INFO("split at " << i);
    REQUIRE(o.head == whole.head);
    REQUIRE(o.body == whole.body);
    REQUIRE(o.done == whole.done);
    REQUIRE(o.previews == whole.previews);
    REQUIRE(o.error == whole.error);
    REQUIRE(o.ieof == whole.ieof);
  }
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < msg.size(); ++i) bytes.push_back(std::string_view(msg).substr(i, 1));
  auto o = drive(bytes, cont);
  REQUIRE(o.body == whole.body);
  REQUIRE(o.done == whole.done);
  REQUIRE(o.error == whole.error);
}

const std::string req_head =
    "POST http://chat.example/api/send HTTP/1.1\r\n"
    "Host: chat.example\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 16\r\n\r\n";
const std::string res_head =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 11\r\n\r\n";

std::string reqmod(std::string extra_headers, std::string body_chunks) {
  return "REQMOD icap://127.0.0.1:1344/echo ICAP/1.0\r\n"
         "Host: 127.0.0.1:1344\r\n" +
         extra_headers + "Encapsulated: req-hdr=0, req-body=" + std::to_string(req_head.size()) +
         "\r\n\r\n" + req_head + body_chunks;
}

}  // namespace

TEST_CASE("REQMOD with req-hdr and a chunked req-body") {
  auto msg =
      reqmod("Allow: 204, trailers\r\n", "b\r\n{\"text\":\"hi\r\n6;foo=bar\r\n there\r\n0\r\n\r\n");
  auto o = drive({msg});
  REQUIRE(o.error == parse_error::none);
  REQUIRE(o.head);
  REQUIRE(o.done);
  CHECK(o.body == "{\"text\":\"hi there");
  CHECK(o.consumed == msg.size());
  CHECK(o.req.method == method::reqmod);
  CHECK(o.req.service == "/echo");
  CHECK(o.req.allow_204);
  CHECK(o.req.allow_trailers);
  CHECK_FALSE(o.req.allow_206);
  REQUIRE(o.req.http_request);
  CHECK(o.req.http_request->raw == req_head);
  CHECK(o.req.http_request->request_method() == "POST");
  CHECK(o.req.http_request->request_target() == "http://chat.example/api/send");
  CHECK(o.req.http_request->fields.get("content-type") == "application/json");
  CHECK_FALSE(o.req.http_response);
  check_splits(msg, o);
}

TEST_CASE("RESPMOD with req-hdr, res-hdr and res-body") {
  std::string get = "GET http://chat.example/poll HTTP/1.1\r\nHost: chat.example\r\n\r\n";
  std::string msg =
      "RESPMOD icap://h/echo ICAP/1.0\r\nHost: h\r\nEncapsulated: req-hdr=0, res-hdr=" +
      std::to_string(get.size()) + ", res-body=" + std::to_string(get.size() + res_head.size()) +
      "\r\n\r\n" + get + res_head + "b\r\nhello world\r\n0\r\n\r\n";
  auto o = drive({msg});
  REQUIRE(o.done);
  CHECK(o.body == "hello world");
  REQUIRE(o.req.http_request);
  REQUIRE(o.req.http_response);
  CHECK(o.req.http_request->raw == get);
  CHECK(o.req.http_response->raw == res_head);
  CHECK(o.req.http_response->response_status() == 200);
  check_splits(msg, o);
}

TEST_CASE("every legal null-body and body-only layout") {
  std::string get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  auto sz = std::to_string(get.size());
  auto szr = std::to_string(res_head.size());
  struct sample {
    std::string text;
    bool req_hdr, res_hdr;
    std::string body;
  };
  std::vector<sample> samples = {
      {"REQMOD icap://h/echo ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=" + sz + "\r\n\r\n" +
           get,
       true, false, ""},
      {"REQMOD icap://h/echo ICAP/1.0\r\nEncapsulated: req-body=0\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
       false, false, "abc"},
      {"REQMOD icap://h/echo ICAP/1.0\r\nEncapsulated: null-body=0\r\n\r\n", false, false, ""},
      {"RESPMOD icap://h/echo ICAP/1.0\r\nEncapsulated: res-hdr=0, null-body=" + szr + "\r\n\r\n" +
           res_head,
       false, true, ""},
      {"RESPMOD icap://h/echo ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=" + sz + "\r\n\r\n" +
           get,
       true, false, ""},
      {"RESPMOD icap://h/echo ICAP/1.0\r\nEncapsulated: res-hdr=0, res-body=" + szr + "\r\n\r\n" +
           res_head + "2\r\nok\r\n0\r\n\r\n",
       false, true, "ok"},
      {"RESPMOD icap://h/echo ICAP/1.0\r\nEncapsulated: res-body=0\r\n\r\n2\r\nok\r\n0\r\n\r\n",
       false, false, "ok"},
      {"OPTIONS icap://h/echo ICAP/1.0\r\nHost: h\r\n\r\n", false, false, ""},
      {"OPTIONS icap://h/echo ICAP/1.0\r\nEncapsulated: null-body=0\r\n\r\n", false, false, ""},
      {"OPTIONS icap://h/echo ICAP/1.0\r\nEncapsulated: opt-body=0\r\n\r\n4\r\nnote\r\n0\r\n\r\n",
       false, false, "note"},
  };
  for (const auto& s : samples) {
    INFO(s.text);
    auto o = drive({s.text});
    REQUIRE(o.error == parse_error::none);
    REQUIRE(o.done);
    CHECK(o.req.http_request.has_value() == s.req_hdr);
    CHECK(o.req.http_response.has_value() == s.res_hdr);
    CHECK(o.body == s.body);
    check_splits(s.text, o);
  }
}

TEST_CASE("preview that holds the whole body ends with ieof") {
  auto msg =
      reqmod("Preview: 16\r\nAllow: 204\r\n", "10\r\n{\"text\":\"hello\"}\r\n0; ieof\r\n\r\n");
  auto o = drive({msg});
  REQUIRE(o.done);
  CHECK(o.ieof);
  CHECK(o.previews == 0);
  CHECK(o.body == "{\"text\":\"hello\"}");
  REQUIRE(o.req.preview == 16u);
  check_splits(msg, o);
}

TEST_CASE("preview without ieof stops, then the rest follows after 100 Continue") {
  auto msg =
      reqmod("Preview: 4\r\n", "4\r\n{\"te\r\n0\r\n\r\n") + "c\r\nxt\":\"hello\"}\r\n0\r\n\r\n";
  auto stopped = drive({msg}, false);
  CHECK(stopped.previews == 1);
  CHECK(stopped.body == "{\"te");
  CHECK_FALSE(stopped.done);
  auto o = drive({msg});
  REQUIRE(o.done);
  CHECK_FALSE(o.ieof);
  CHECK(o.previews == 1);
  CHECK(o.body == "{\"text\":\"hello\"}");
  check_splits(msg, o);
}

TEST_CASE("Preview: 0 with an empty preview") {
  auto msg = reqmod("Preview: 0\r\n", "0\r\n\r\n") + "3\r\nabc\r\n0\r\n\r\n";
  auto o = drive({msg});
  REQUIRE(o.done);
  CHECK(o.previews == 1);
  CHECK(o.body == "abc");
}

TEST_CASE("chunk extensions: unknown ones, quoted values, and ieof among others are accepted") {
  auto msg =
      reqmod("Preview: 16\r\n",
             "8 ; a=1 ;b=\"x;y\\\"z\"\r\n12345678\r\n8;c\r\n9abcdefg\r\n0; x=\"1\"; ieof\r\n\r\n");
  auto o = drive({msg});
  REQUIRE(o.error == parse_error::none);
  REQUIRE(o.done);
  CHECK(o.ieof);
  CHECK(o.body == "123456789abcdefg");
  check_splits(msg, o);
}

TEST_CASE("ICAP trailers after the last chunk are parsed and kept") {
  auto msg =
      reqmod("Allow: trailers\r\n", "3\r\nabc\r\n0\r\nX-Scan-Result: clean\r\nX-Other: 1\r\n\r\n");
  auto o = drive({msg});
  REQUIRE(o.done);
  CHECK(o.trailers.get("X-Scan-Result") == "clean");
  CHECK(o.trailers.get("x-other") == "1");
  check_splits(msg, o);
}

TEST_CASE("two pipelined requests in one buffer") {
  auto one = reqmod("", "3\r\nabc\r\n0\r\n\r\n");
  auto two = std::string("OPTIONS icap://h/echo ICAP/1.0\r\n\r\n");
  auto both = one + two;
  request_parser p;
  std::string_view in(both);
  std::size_t off = 0;
  int done = 0;
  for (int i = 0; i < 20 && done < 2; ++i) {
    auto r = p.parse(in.substr(off));
    off += r.consumed;
    REQUIRE(r.status != parse_status::error);
    if (r.status == parse_status::done) {
      ++done;
      if (done == 1) {
        CHECK(off == one.size());
        CHECK(p.request().method == method::reqmod);
        p.reset();
      } else {
        CHECK(p.request().method == method::options);
      }
    }
  }
  CHECK(done == 2);
  CHECK(off == both.size());
}

TEST_CASE("obsolete header folding is joined; header names are case-insensitive") {
  std::string msg = "OPTIONS icap://h/echo ICAP/1.0\r\nX-Long: one\r\n  two\r\nallow: 206\r\n\r\n";
  auto o = drive({msg});
  REQUIRE(o.done);
  CHECK(o.req.headers.get("x-long") == "one two");
  CHECK(o.req.allow_206);
}

TEST_CASE("malformed requests get the right error and status") {
  struct bad {
    std::string text;
    parse_error error;
    int status;
  };
  std::string eh =
      "Encapsulated: req-hdr=0, req-body=" + std::to_string(req_head.size()) + "\r\n\r\n";
  std::vector<bad> cases = {
      {"REQMOD icap://h/echo\r\n\r\n", parse_error::bad_request_line, 400},
      {"REQMOD  icap://h/echo ICAP/1.0\r\n\r\n", parse_error::bad_request_line, 400},
      {"\r\n\r\n", parse_error::bad_request_line, 400},
      {"REQMOD icap://h/echo HTTP/1.1\r\n\r\n", parse_error::bad_request_line, 400},
      {"GET icap://h/echo ICAP/1.0\r\n\r\n", parse_error::unknown_method, 501},
      {"PATCH icap://h/echo ICAP/1.0\r\n\r\n", parse_error::unknown_method, 501},
      {"OPTIONS icap://h/echo ICAP/2.0\r\n\r\n", parse_error::bad_version, 505},
      {"OPTIONS icap://h/echo ICAP/1.1\r\n\r\n", parse_error::bad_version, 505},
      {"OPTIONS http://h/echo ICAP/1.0\r\n\r\n", parse_error::bad_uri, 400},
      {"OPTIONS echo ICAP/1.0\r\n\r\n", parse_error::bad_uri, 400},
      {"OPTIONS icap://h/ec ho%zz ICAP/1.0\r\n\r\n", parse_error::bad_request_line, 400},
      {"OPTIONS icap://h/echo ICAP/1.0\r\nNoColon\r\n\r\n", parse_error::bad_header, 400},
      {"OPTIONS icap://h/echo ICAP/1.0\r\nBad Name: x\r\n\r\n", parse_error::bad_header, 400},
      {"OPTIONS icap://h/echo ICAP/1.0\r\n: empty\r\n\r\n", parse_error::bad_header, 400},
      {"REQMOD icap://h/echo ICAP/1.0\r\nHost: h\r\n\r\n", parse_error::missing_encapsulated, 400},
      {"REQMOD icap://h/echo ICAP/1.0\r\nEncapsulated: req-hdr=0\r\n\r\n",
       parse_error::bad_encapsulated, 400},
      {"REQMOD icap://h/echo ICAP/1.0\r\nEncapsulated: res-hdr=0, res-body=10\r\n\r\n",
       parse_error::bad_encapsulated, 400},
      {"RESPMOD icap://h/echo ICAP/1.0\r\nEncapsulated: res-hdr=0, req-body=10\r\n\r\n",
       parse_error::bad_encapsulated, 400},
      {"RESPMOD icap://h/echo ICAP/1.0\r\nEncapsulated: res-hdr=20, req-hdr=0, "
       "null-body=30\r\n\r\n",
       parse_error::bad_encapsulated, 400},
      {"REQMOD icap://h/echo ICAP/1.0\r\nEncapsulated: req-hdr=5, null-body=30\r\n\r\n",
       parse_error::bad_encapsulated, 400},
      {"REQMOD icap://h/echo ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=x\r\n\r\n",
       parse_error::bad_encapsulated, 400},
      {"REQMOD icap://h/echo ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=0\r\n\r\n",
       parse_error::bad_encapsulated, 400},
      {"REQMOD icap://h/echo ICAP/1.0\r\nEncapsulated: null-body=0, req-hdr=0\r\n\r\n",
       parse_error::bad_encapsulated, 400},
      {"REQMOD icap://h/echo ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=4\r\n\r\nabcd",
       parse_error::bad_http_head, 400},
      {"RESPMOD icap://h/echo ICAP/1.0\r\nEncapsulated: res-hdr=0, null-body=11\r\n\r\nGET / "
       "x\r\n\r\n",
       parse_error::bad_http_head, 400},
      {"REQMOD icap://h/echo ICAP/1.0\r\nPreview: ten\r\n" + eh + req_head,
       parse_error::bad_preview, 400},
      {reqmod("", "zz\r\nabc\r\n0\r\n\r\n"), parse_error::bad_chunk_size, 400},
      {reqmod("", "\r\nabc\r\n0\r\n\r\n"), parse_error::bad_chunk_size, 400},
      {reqmod("", "3 junk\r\nabc\r\n0\r\n\r\n"), parse_error::bad_chunk_size, 400},
      {reqmod("", "3;\r\nabc\r\n0\r\n\r\n"), parse_error::bad_chunk_size, 400},
      {reqmod("", "3;a=\"open\r\nabc\r\n0\r\n\r\n"), parse_error::bad_chunk_size, 400},
      {reqmod("", "fffffffffffffffffff\r\n"), parse_error::bad_chunk_size, 400},
      {reqmod("", "3\r\nabcX\r\n0\r\n\r\n"), parse_error::bad_chunk_terminator, 400},
      {reqmod("", "3\r\nabc\r\n0\r\nbroken trailer\r\n\r\n"), parse_error::bad_trailer, 400},
      {reqmod("Preview: 2\r\n", "3\r\nabc\r\n0\r\n\r\n"), parse_error::preview_too_long, 400},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto o = drive({c.text});
    CHECK(o.error == c.error);
    CHECK(error_status(o.error) == c.status);
    CHECK_FALSE(error_reason(o.error).empty());
    // Errors are reported the same wherever the input is split.
    for (std::size_t i = 0; i <= c.text.size(); ++i) {
      std::string_view v(c.text);
      auto s = drive({v.substr(0, i), v.substr(i)});
      REQUIRE(s.error == c.error);
    }
  }
}

TEST_CASE("limits: ICAP head, HTTP heads and chunk lines") {
  parser_limits limits;
  limits.max_icap_header_bytes = 256;
  limits.max_http_header_bytes = 128;
  limits.max_chunk_line_bytes = 32;

  std::string big =
      "OPTIONS icap://h/echo ICAP/1.0\r\nX-Big: " + std::string(300, 'a') + "\r\n\r\n";
  CHECK(drive({big}, true, limits).error == parse_error::header_too_large);
  // Without a terminator at all, the limit still stops the accumulation.
  std::string endless = "OPTIONS icap://h/echo ICAP/1.0\r\nX-Big: " + std::string(10000, 'a');
  CHECK(drive({endless}, true, limits).error == parse_error::header_too_large);
  std::string_view ev(endless);
  CHECK(drive({ev.substr(0, 100), ev.substr(100, 100), ev.substr(200)}, true, limits).error ==
        parse_error::header_too_large);

  std::string head(200, 'x');
  std::string heads =
      "REQMOD icap://h/echo ICAP/1.0\r\nEncapsulated: req-hdr=0, null-body=200\r\n\r\n" + head;
  CHECK(drive({heads}, true, limits).error == parse_error::http_head_too_large);

  std::string chunk = "REQMOD icap://h/echo ICAP/1.0\r\nEncapsulated: req-body=0\r\n\r\n3" +
                      std::string(40, ' ') + "\r\nabc\r\n0\r\n\r\n";
  CHECK(drive({chunk}, true, limits).error == parse_error::chunk_line_too_long);
  std::string endless_chunk =
      "REQMOD icap://h/echo ICAP/1.0\r\nEncapsulated: req-body=0\r\n\r\n3" + std::string(40, ';');
  CHECK(drive({endless_chunk}, true, limits).error != parse_error::none);
  // At the limit exactly, things still parse.
  std::string fits = "OPTIONS icap://h/echo ICAP/1.0\r\n\r\n";
  limits.max_icap_header_bytes = fits.size();
  CHECK(drive({fits}, true, limits).done);
}

TEST_CASE("bare LF after chunk data and in chunk lines is tolerated") {
  auto msg = reqmod("", "3\nabc\n0\n\n");
  auto o = drive({msg});
  REQUIRE(o.error == parse_error::none);
  CHECK(o.done);
  CHECK(o.body == "abc");
}

TEST_CASE("wire_bytes counts what the request used") {
  auto msg = reqmod("", "3\r\nabc\r\n0\r\n\r\n");
  request_parser p;
  std::size_t off = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = p.parse(std::string_view(msg).substr(off));
    off += r.consumed;
    if (r.status == parse_status::done) break;
  }
  CHECK(p.wire_bytes() == msg.size());
  CHECK(p.body_bytes() == 3);
}

TEST_CASE("the ICAP URI fast split agrees with Boost.URL on every shape") {
  // Shapes proxies send, and shapes that must fall back or fail.
  const std::vector<std::string_view> known = {"icap://127.0.0.1:1344/imcap",
                                               "icap://proxy.example.com/echo",
                                               "ICAP://H:1/Echo",
                                               "icaps://h:11344/imcap?mode=strict&x=1",
                                               "icap://h",
                                               "icap://h/",
                                               "icap://h:1344",
                                               "icap://h:/x",
                                               "icap://h:abc/x",
                                               "icap://:1344/x",
                                               "icap://user@h/x",
                                               "icap://[::1]:1344/x",
                                               "icap://h/%41",
                                               "icap://h/a%zz",
                                               "icap://h//x",
                                               "icap://h/a/../b",
                                               "icap://h/x#frag",
                                               "icap://h/x?",
                                               "icap://h/x?a?b",
                                               "http://h/echo",
                                               "icapx://h/x",
                                               "/echo",
                                               "/",
                                               "//h/x",
                                               "echo",
                                               "",
                                               "icap://",
                                               "icap:///x",
                                               "icap://h/\x01",
                                               "icap://h:1344/x y",
                                               "icap://h!/x"};
  for (auto uri : known) {
    INFO("uri: " << uri);
    CHECK(icap_uri_service(uri) == icap_uri_service_reference(uri));
  }
  // Random URIs over an alphabet rich in separators, bounded: the split must never disagree.
  const std::string_view alphabet = "icap:/s.h0[]@%?#&=-_~AZ19!;";
  std::uint32_t seed = 12345;
  auto next = [&] {
    seed = seed * 1664525u + 1013904223u;
    return seed >> 8;
  };
  const std::vector<std::string> prefixes = {"icap://", "icaps://", "/", "ICAP://h", ""};
  for (int i = 0; i < 20000; ++i) {
    std::string uri = prefixes[next() % prefixes.size()];
    auto len = next() % 16;
    for (std::uint32_t k = 0; k < len; ++k) uri += alphabet[next() % alphabet.size()];
    INFO("uri: " << uri);
    REQUIRE(icap_uri_service(uri) == icap_uri_service_reference(uri));
  }
}

TEST_CASE("a request line with an odd but valid ICAP URI still names its service") {
  auto o = drive({"OPTIONS icap://[::1]:1344/imcap%2Dx ICAP/1.0\r\nHost: h\r\n\r\n"});
  REQUIRE(o.error == parse_error::none);
  CHECK(o.req.service == "/imcap%2Dx");
  auto bad = drive({"OPTIONS http://h/imcap ICAP/1.0\r\nHost: h\r\n\r\n"});
  CHECK(bad.error == parse_error::bad_uri);
}

TEST_CASE("a request URI with brackets outside an IP literal is a 400, not a crash") {
  // Boost.URL 1.81 asserts on a scheme followed by ']' or '['; the parser refuses these first.
  for (std::string_view uri : {"icap:]", "h:[", "icap://h/]", "/a]b", "icap://h/x?[y"}) {
    INFO("uri: " << uri);
    CHECK_FALSE(icap_uri_service(uri).has_value());
    auto o = drive({"OPTIONS " + std::string(uri) + " ICAP/1.0\r\nHost: h\r\n\r\n"});
    CHECK(o.error == parse_error::bad_uri);
  }
  CHECK(icap_uri_service("icap://[::1]:1344/imcap") == std::optional<std::string_view>("/imcap"));
}
