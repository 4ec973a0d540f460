// Proxy identity headers: every encoding Squid and commercial proxies use.

#include <catch2/catch.hpp>

#include "icap/identity.hpp"

using namespace imcap::icap;

namespace {
client_identity id_of(std::string header, std::string value, identity_settings s = {}) {
  header_list h;
  h.add(std::move(header), std::move(value));
  h.add("X-Client-IP", "192.0.2.10");
  return extract_identity(h, s);
}
}  // namespace

TEST_CASE("Squid's X-Client-Username, raw and base64") {
  auto raw = id_of("X-Client-Username", "alice");
  CHECK(raw.user == "alice");
  CHECK(raw.domain.empty());
  CHECK(raw.client_ip == "192.0.2.10");
  CHECK(raw.header == "X-Client-Username");
  auto b64 = id_of("X-Client-Username", "YWxpY2U=");  // "alice"
  CHECK(b64.user == "alice");
}

TEST_CASE("X-Authenticated-User: WinNT:// and LDAP:// forms, base64 or raw") {
  auto winnt = id_of("X-Authenticated-User", "V2luTlQ6Ly9DT1JQL2FsaWNl");  // WinNT://CORP/alice
  CHECK(winnt.user == "alice");
  CHECK(winnt.domain == "CORP");
  CHECK(winnt.qualified == "WinNT://CORP/alice");
  auto ldap =
      id_of("X-Authenticated-User", "LDAP://dc1.corp.example/cn=Bob Smith,ou=Traders,dc=corp");
  CHECK(ldap.user == "Bob Smith");
  CHECK(ldap.domain == "dc1.corp.example");
  auto ldap64 = id_of(
      "X-Authenticated-User",
      "TERBUDovL2RjMS5jb3JwLmV4YW1wbGUvY249Qm9iLG91PVRyYWRlcnM=");  // LDAP://dc1.corp.example/cn=Bob,ou=Traders
  CHECK(ldap64.user == "Bob");
  auto backslash = id_of("X-Authenticated-User", "CORP\\carol");
  CHECK(backslash.user == "carol");
  CHECK(backslash.domain == "CORP");
  auto upn = id_of("X-Authenticated-User", "dave@corp.example");
  CHECK(upn.user == "dave@corp.example");
}

TEST_CASE("auto-detection leaves plain names alone") {
  for (std::string name : {"bob1", "alice", "j.smith", "trader-07", "ZZZZ"}) {
    INFO(name);
    CHECK(id_of("X-Client-Username", name).user == name);
  }
}

TEST_CASE("explicit encodings and header order") {
  identity_settings raw;
  raw.encoding = username_encoding::raw;
  CHECK(id_of("X-Client-Username", "YWxpY2U=", raw).user == "YWxpY2U=");
  identity_settings b64;
  b64.encoding = username_encoding::base64;
  auto bad = id_of("X-Client-Username", "not base64!", b64);
  CHECK(bad.decode_failed);
  CHECK(bad.user == "not base64!");

  header_list h;
  h.add("X-Authenticated-User", "second");
  h.add("X-Client-Username", "first");
  CHECK(extract_identity(h, {}).user == "first");  // configured order wins, not arrival order
  identity_settings custom;
  custom.username_headers = {"X-Proxy-User"};
  custom.client_ip_header = "X-Forwarded-For";
  header_list h2;
  h2.add("X-Proxy-User", "erin");
  h2.add("X-Forwarded-For", "198.51.100.7");
  auto id = extract_identity(h2, custom);
  CHECK(id.user == "erin");
  CHECK(id.client_ip == "198.51.100.7");
  CHECK(extract_identity(header_list{}, {}).user.empty());
}

TEST_CASE("base64 decoding is strict") {
  std::string out;
  CHECK(decode_base64("YWJj", out));
  CHECK(out == "abc");
  CHECK_FALSE(decode_base64("YWJ", out));
  CHECK_FALSE(decode_base64("YW=j", out));
  CHECK_FALSE(decode_base64("", out));
  CHECK_FALSE(decode_base64("YW Jj", out));
}
