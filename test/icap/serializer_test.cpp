// ICAP response building: status lines, Encapsulated offsets, what 100/204 must not carry.

#include <catch2/catch.hpp>

#include "icap/parser.hpp"
#include "icap/serializer.hpp"

using namespace imcap::icap;

TEST_CASE(
    "100 and 204 carry no Encapsulated header and no Content-Length; errors carry null-body") {
  response_meta m{"\"T1\"", false, {}};
  for (int status : {100, 204}) {
    auto r = status_response(status, m);
    CHECK(r.rfind("ICAP/1.0 " + std::to_string(status) + " ", 0) == 0);
    CHECK(r.find("ISTag: \"T1\"\r\n") != std::string::npos);
    CHECK(r.find("Encapsulated") == std::string::npos);
    CHECK(r.find("Content-Length") == std::string::npos);
    CHECK(r.size() >= 4);
    CHECK(r.substr(r.size() - 4) == "\r\n\r\n");
  }
  m.close = true;
  m.extra.emplace_back("X-Imcap-Error", "bad chunk");
  auto e = status_response(400, m);
  CHECK(e.rfind("ICAP/1.0 400 Bad Request\r\n", 0) == 0);
  CHECK(e.find("Encapsulated: null-body=0\r\n") != std::string::npos);
  CHECK(e.find("Connection: close\r\n") != std::string::npos);
  CHECK(e.find("X-Imcap-Error: bad chunk\r\n") != std::string::npos);
  CHECK(e.find("Date: ") != std::string::npos);
}

TEST_CASE("message responses: Encapsulated offsets point at the heads that follow") {
  response_meta m{"\"T\"", false, {}};
  std::string req = "POST / HTTP/1.1\r\nHost: a\r\n\r\n";
  std::string res = "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\n";
  auto r1 = message_response(200, m, req, std::nullopt, true);
  CHECK(r1.find("Encapsulated: req-hdr=0, req-body=" + std::to_string(req.size()) + "\r\n") !=
        std::string::npos);
  CHECK(r1.substr(r1.size() - req.size()) == req);
  auto r2 = message_response(200, m, std::nullopt, res, true);
  CHECK(r2.find("Encapsulated: res-hdr=0, res-body=" + std::to_string(res.size()) + "\r\n") !=
        std::string::npos);
  auto r3 = message_response(200, m, req, res, false);
  CHECK(r3.find("Encapsulated: req-hdr=0, res-hdr=" + std::to_string(req.size()) + ", null-body=" +
                std::to_string(req.size() + res.size()) + "\r\n") != std::string::npos);
  auto r4 = message_response(206, m, std::nullopt, res, true);
  CHECK(r4.rfind("ICAP/1.0 206 Partial Content\r\n", 0) == 0);
  auto r5 = message_response(200, m, std::nullopt, std::nullopt, false);
  CHECK(r5.find("Encapsulated: null-body=0\r\n") != std::string::npos);
}

TEST_CASE("chunk framing") {
  std::string out;
  append_chunk(out, std::string(300, 'x'));
  CHECK(out.rfind("12c\r\n", 0) == 0);
  CHECK(out.substr(out.size() - 2) == "\r\n");
  std::string none;
  append_chunk(none, "");
  CHECK(none.empty());  // an empty chunk would end the body
  CHECK(use_original_body(0) == "0; use-original-body=0\r\n\r\n");
  CHECK(use_original_body(4096) == "0; use-original-body=4096\r\n\r\n");
}

TEST_CASE("OPTIONS lists what the service offers") {
  options_info o{"REQMOD", "imcap test", "test", 100, 60, 1024, false};
  auto r = options_response(o, {"\"X\"", false, {}});
  CHECK(r.find("Methods: REQMOD\r\n") != std::string::npos);
  CHECK(r.find("Allow: 204\r\n") != std::string::npos);
  CHECK(r.find("206") == std::string::npos);
  CHECK(r.find("Transfer-Preview: *\r\n") != std::string::npos);
  CHECK(r.find("Preview: 1024\r\n") != std::string::npos);
  CHECK(r.find("Options-TTL: 60\r\n") != std::string::npos);
  CHECK(r.find("Max-Connections: 100\r\n") != std::string::npos);
  CHECK(r.find("Encapsulated: null-body=0\r\n") != std::string::npos);
}

TEST_CASE("reason phrases and the date format") {
  CHECK(status_reason(404) == "ICAP Service Not Found");
  CHECK(status_reason(505) == "ICAP Version Not Supported By Server");
  auto d = http_date();
  CHECK(d.size() == 29);  // "Mon, 23 Nov 2026 11:04:30 GMT"
  CHECK(d.substr(d.size() - 4) == " GMT");
}
