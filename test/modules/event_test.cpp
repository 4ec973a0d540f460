#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "modules/errors.hpp"
#include "modules/event.hpp"
#include "modules/session.hpp"

using namespace imcap::modules;

TEST_CASE("sha256_hex matches the FIPS 180-2 test vector") {
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST_CASE("to_json leaves out empty fields and prints what is set") {
  chat_event e;
  e.app = "telegram";
  e.transport = "telegram-bot";
  e.direction = direction::inbound;
  e.text = "héllo";
  e.sender = party{"42", "Ann", identity_source::body};
  e.text_at.path = {layer{layer_kind::form, "text"}};
  attachment a;
  a.name = "a.txt";
  a.size = 0;
  a.bytes = "";
  a.sha256 = sha256_hex("");
  e.attachments.push_back(a);
  e.attributes = {{"x", "1"}, {"y", "2"}, {"x", "3"}};
  auto j = to_json(e);
  CHECK(j.at("kind") == "message");
  CHECK(j.at("direction") == "inbound");
  CHECK(j.at("text") == "héllo");
  CHECK(!j.contains("html"));
  CHECK(!j.contains("recipients"));
  CHECK(!j.contains("encrypted"));
  CHECK(j.at("sender").at("source") == "body");
  CHECK(j.at("text_at").as_array().at(0) == "form:text");
  CHECK(j.at("attachments").as_array().at(0).at("size") == 0);
  CHECK(!j.at("attachments").as_array().at(0).as_object().contains("bytes"));
  CHECK(j.at("attributes").at("y") == "2");
  CHECK(j.at("attributes").at("x") == boost::json::array{"1", "3"});
  CHECK(e.attribute("x") == "1");
  CHECK(!e.attribute("z"));
  CHECK(to_string(e.text_at) == "form:text");
}

TEST_CASE("decode_error counts by code") {
  auto before = error_count(errc::truncated);
  decode_error none;
  CHECK(!none);
  decode_error e(errc::truncated, "cut");
  CHECK(e);
  CHECK(e.message() == "truncated: cut");
  CHECK(error_count(errc::truncated) == before + 1);
  for (std::size_t i = 0; i < errc_count; ++i) CHECK(to_string(static_cast<errc>(i)) != "unknown");
}

TEST_CASE("memory_session_store evicts the oldest write") {
  memory_session_store s(2);
  s.put("a", "1");
  s.put("b", "2");
  s.put("a", "3");  // refreshes a
  s.put("c", "4");  // evicts b
  CHECK(s.size() == 2);
  CHECK(s.get("a") == "3");
  CHECK(!s.get("b"));
  CHECK(s.get("c") == "4");
  s.erase("a");
  CHECK(!s.get("a"));
  CHECK(s.size() == 1);
}
