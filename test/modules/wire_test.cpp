// The shared decoder helpers in modules/wire.hpp and the REST session-user helpers: the
// behaviours the decoders used to get from their own copies, pinned here once.
#include <catch2/catch.hpp>

#include <boost/json.hpp>

#include "modules/http.hpp"
#include "modules/rest/rest.hpp"
#include "modules/session.hpp"
#include "modules/wire.hpp"

using namespace imcap::modules;

TEST_CASE("wire: RFC 3339 from epoch seconds, milliseconds and decimal strings") {
  CHECK(wire::rfc3339_from_unix_s(0) == "1970-01-01T00:00:00Z");
  CHECK(wire::rfc3339_from_unix_s(1503435956, "000247") == "2017-08-22T21:05:56.000247Z");
  // Fraction digits that are not 1..9 decimal digits are left out, not copied.
  CHECK(wire::rfc3339_from_unix_s(1503435956, "12a") == "2017-08-22T21:05:56Z");
  CHECK(wire::rfc3339_from_unix_s(1503435956, "1234567890") == "2017-08-22T21:05:56Z");
  CHECK(wire::rfc3339_from_unix_s(253402300799) == "9999-12-31T23:59:59Z");
  CHECK(wire::rfc3339_from_unix_s(253402300800).empty());
  CHECK(wire::rfc3339_from_unix_s(-1).empty());
  // Milliseconds: three fraction digits, only when not zero.
  CHECK(wire::rfc3339_from_unix_ms(1688421337724) == "2023-07-03T21:55:37.724Z");
  CHECK(wire::rfc3339_from_unix_ms(1688421337005) == "2023-07-03T21:55:37.005Z");
  CHECK(wire::rfc3339_from_unix_ms(1688421337000) == "2023-07-03T21:55:37Z");
  CHECK(wire::rfc3339_from_unix_ms(253402300799999) == "9999-12-31T23:59:59.999Z");
  CHECK(wire::rfc3339_from_unix_ms(253402300800000).empty());
  CHECK(wire::rfc3339_from_unix_ms(-1).empty());
}

TEST_CASE("wire: credentials from headers never leak into keys") {
  header_fields h;
  h.add("Authorization", "Bot  abc.def ");
  h.add("Cookie", "a=1; MMAUTHTOKEN = tok ;b");
  h.add("cookie", "c=3");
  CHECK(wire::authorization_secret(h) == "abc.def");
  CHECK(!wire::bearer_token(h));  // "Bot" is not a bearer scheme
  CHECK(wire::cookie(h, "MMAUTHTOKEN") == "tok");
  CHECK(wire::cookie(h, "c") == "3");
  CHECK(!wire::cookie(h, "mmauthtoken"));  // cookie names are case-sensitive
  const std::string key = wire::short_digest("tok");
  CHECK(key.size() == 16);
  CHECK(key.find("tok") == std::string::npos);

  header_fields b;
  b.add("authorization", "BEARER   xyz");
  CHECK(wire::bearer_token(b) == "xyz");
  CHECK(wire::authorization_secret(b) == "xyz");
  CHECK(wire::authorization_digest(b) == wire::short_digest("xyz"));
  CHECK(wire::authorization_digest(header_fields{}).empty());
  header_fields empty;
  empty.add("Authorization", "Bearer ");
  CHECK(!wire::bearer_token(empty));
}

TEST_CASE("wire: classifier string tests") {
  CHECK(wire::starts_with("/api/v4/posts", "/api/"));
  CHECK(!wire::starts_with("/API/v4", "/api/"));
  CHECK(wire::ends_with("/signalr/send", "/send"));
  CHECK(!wire::ends_with("/signalr/SEND", "/send"));
  CHECK(wire::iends_with("/signalr/SEND", "/send"));
  CHECK(!wire::iends_with("end", "/send"));
  CHECK(wire::host_under("chat.example.com", "example.com"));
  CHECK(wire::host_under("example.com", "example.com"));
  CHECK(!wire::host_under("badexample.com", "example.com"));
  CHECK(!wire::host_under("com", "example.com"));
}

TEST_CASE("wire: JSON pointer helpers") {
  const boost::json::value v = boost::json::parse(R"({"a/b":{"c":"x","n":1}})");
  CHECK(wire::pointer_join("", "a/b") == "/a~1b");
  CHECK(wire::pointer_join("/list", std::size_t{3}) == "/list/3");
  CHECK(wire::json_str(v, wire::pointer_join(wire::pointer_join("", "a/b"), "c")) == "x");
  CHECK(wire::json_str(v, "/a~1b/n").empty());  // not a string
  CHECK(wire::json_str(v, "/missing").empty());
}

TEST_CASE("wire: new events and the proxy party") {
  const http_request req;
  const limits lim;
  exchange x{req, nullptr, "alice@corp", "10.0.0.1", nullptr, lim};
  const chat_event e =
      wire::new_event("slack", "slack-web", direction::inbound, "k1", event_kind::identity);
  CHECK(e.app == "slack");
  CHECK(e.transport == "slack-web");
  CHECK(e.direction == direction::inbound);
  CHECK(e.session_key == "k1");
  CHECK(e.kind == event_kind::identity);
  CHECK(wire::new_event("a", "b", direction::outbound).kind == event_kind::message);

  const party p = wire::proxy_party(x);
  CHECK(p.id == "alice@corp");
  CHECK(p.source == identity_source::proxy);
  exchange anonymous{req, nullptr, "", "10.0.0.1", nullptr, lim};
  CHECK(wire::proxy_party(anonymous).id.empty());
  CHECK(wire::proxy_party(anonymous).source != identity_source::proxy);
}

TEST_CASE("rest: a learned session user wins over the proxy user, per app") {
  const http_request req;
  const limits lim;
  memory_session_store store;
  exchange x{req, nullptr, "alice@corp", "10.0.0.1", &store, lim};

  // Nothing learned yet: the proxy's user.
  CHECK(rest::learned_or_proxy(x, "webex", "k1").source == identity_source::proxy);
  rest::learn_user(x, "webex", "k1", "U42", "bob@example.com");
  const party learned = rest::learned_or_proxy(x, "webex", "k1");
  CHECK(learned.id == "U42");
  CHECK(learned.display_name == "bob@example.com");
  CHECK(learned.source == identity_source::learned);
  // Other apps and other sessions do not see it.
  CHECK(rest::learned_or_proxy(x, "slack", "k1").id == "alice@corp");
  CHECK(rest::learned_or_proxy(x, "webex", "k2").id == "alice@corp");
  // No id, no key: nothing stored.
  rest::learn_user(x, "webex", "k3", "", "nobody");
  rest::learn_user(x, "webex", "", "U1", "nobody");
  CHECK(store.size() == 1);
  // A damaged record counts as absent.
  store.put("webex:user:k4", "{not json");
  CHECK(rest::learned_or_proxy(x, "webex", "k4").id == "alice@corp");
}

TEST_CASE("wire: upload records round-trip through the session store text") {
  const limits lim;
  attachment up;
  up.name = "plan.pdf";
  up.media_type = "application/pdf";
  up.size = 1234;
  up.sha256 = "ab12";
  up.ref = "https://files.example/1";

  attachment later;
  later.name = "kept.pdf";  // fields already known are not overwritten
  wire::apply_file_record(later, wire::file_record(up), lim);
  CHECK(later.name == "kept.pdf");
  CHECK(later.media_type == "application/pdf");
  CHECK(later.size == std::optional<std::uint64_t>{1234});
  CHECK(later.sha256 == "ab12");
  CHECK(later.ref.empty());  // the reference only travels when asked for

  attachment with_ref;
  wire::apply_file_record(with_ref, wire::file_record(up, true), lim, true);
  CHECK(with_ref.ref == "https://files.example/1");

  attachment damaged;
  wire::apply_file_record(damaged, "{\"name\":", lim);
  CHECK(damaged.name.empty());
  CHECK(!damaged.size);
}

TEST_CASE("wire: only 2xx answers with a body are learned from") {
  const http_request req;
  const limits lim;
  http_response res;
  exchange x{req, &res, "", "", nullptr, lim};
  res.status = 200;
  CHECK(!wire::success_with_body(x));  // empty body
  res.body = "{}";
  CHECK(wire::success_with_body(x));
  res.status = 299;
  CHECK(wire::success_with_body(x));
  res.status = 302;
  CHECK(!wire::success_with_body(x));
  res.status = 199;
  CHECK(!wire::success_with_body(x));
  exchange reqmod{req, nullptr, "", "", nullptr, lim};
  CHECK(!wire::success_with_body(reqmod));
}

TEST_CASE("wire: a multipart file part as an attachment") {
  content::multipart_part p;
  p.filename = "a.txt";
  p.has_filename = true;
  p.media_type = "text/plain";
  p.body = "hello";
  const attachment a = wire::attachment_of_part(p, 2);
  CHECK(a.name == "a.txt");
  CHECK(a.media_type == "text/plain");
  CHECK(a.bytes == "hello");
  CHECK(a.size == std::optional<std::uint64_t>{5});
  CHECK(a.sha256 == sha256_hex("hello"));
  REQUIRE(a.at.path.size() == 1);
  CHECK(a.at.path[0].kind == layer_kind::multipart);
  CHECK(a.at.path[0].key == "2");
}
