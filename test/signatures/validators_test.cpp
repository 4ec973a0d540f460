// DLP validators on valid and invalid vectors: public test card numbers, the IBAN registry's
// example numbers, SSA numbering rules, and structurally valid / invalid secrets.

#include <catch2/catch.hpp>

#include "signatures/validators.hpp"

using namespace imcap::signatures;
namespace v = imcap::signatures::validators;

TEST_CASE("validators: Luhn", "[signatures][validators]") {
  CHECK(v::luhn("79927398713"));
  CHECK_FALSE(v::luhn("79927398710"));
  CHECK_FALSE(v::luhn(""));
  CHECK_FALSE(v::luhn("4111x11111111111"));
}

TEST_CASE("validators: payment cards by network", "[signatures][validators]") {
  using n = v::card_network;
  struct vec {
    const char* number;
    n network;
  };
  // Test numbers the card networks and processors publish for integration testing.
  for (const auto& c :
       {vec{"4111111111111111", n::visa}, vec{"4012888888881881", n::visa},
        vec{"4222222222222", n::visa}, vec{"5555555555554444", n::mastercard},
        vec{"5105105105105100", n::mastercard}, vec{"2223003122003222", n::mastercard},
        vec{"2720992720992729", n::mastercard}, vec{"378282246310005", n::amex},
        vec{"371449635398431", n::amex}, vec{"6011111111111117", n::discover},
        vec{"6011000990139424", n::discover}, vec{"3530111333300000", n::jcb},
        vec{"3566002020360505", n::jcb}, vec{"30569309025904", n::diners},
        vec{"38520000023237", n::diners}, vec{"6200000000000005", n::unionpay}}) {
    INFO(c.number);
    CHECK(v::network_of(c.number) == c.network);
    CHECK(v::payment_card(c.number));
  }
  CHECK(v::payment_card("4111 1111 1111 1111"));
  CHECK(v::payment_card("5555-5555-5555-4444"));
  CHECK(v::payment_card("3782 822463 10005"));
  CHECK_FALSE(v::payment_card("4111111111111112"));     // Luhn
  CHECK_FALSE(v::payment_card("4111-1111 1111-1111"));  // mixed separators
  CHECK_FALSE(v::payment_card("1234567812345670"));     // Luhn ok, no network
  CHECK(v::luhn("1234567812345670"));
  CHECK_FALSE(v::payment_card("5000000000000000000"));  // all but one digit the same
  CHECK(v::network_of("2220000000000000") == n::none);  // just below the 2-series range
  CHECK(v::network_of("2721000000000000") == n::none);  // just above
  CHECK(v::network_of("5611111111111111") == n::maestro);
  CHECK(v::network_of("37828224631000") == n::none);   // Amex is 15 digits
  CHECK(v::network_of("411111111111111") == n::none);  // Visa is 13, 16 or 19
}

TEST_CASE("validators: IBAN mod-97 and country lengths", "[signatures][validators]") {
  for (const char* good :
       {"GB82WEST12345698765432", "DE89370400440532013000", "DE89 3704 0044 0532 0130 00",
        "FR1420041010050500013M02606", "NL91ABNA0417164300", "BE68539007547034",
        "CH9300762011623852957", "NO9386011117947", "ES9121000418450200051332",
        "IT60X0542811101000000123456", "AT611904300234573201", "PL61109010140000071219812874",
        "gb82west12345698765432"}) {
    INFO(good);
    CHECK(v::iban(good));
  }
  CHECK_FALSE(v::iban("GB82WEST12345698765433"));    // check digits
  CHECK_FALSE(v::iban("GB82WEST1234569876543"));     // GB is 22 characters
  CHECK_FALSE(v::iban("DE89370400440532013000 1"));  // 23 for DE
  CHECK_FALSE(v::iban("XX82WEST12345698765432"));    // no such country
  CHECK_FALSE(v::iban("GB82-WEST-1234-5698-7654-32"));
  CHECK_FALSE(v::iban("GBX2WEST12345698765432"));
}

TEST_CASE("validators: US SSN area, group and serial rules", "[signatures][validators]") {
  CHECK(v::us_ssn("123-45-6789"));
  CHECK(v::us_ssn("536 22 8726"));
  CHECK(v::us_ssn("899-99-9999"));
  CHECK_FALSE(v::us_ssn("000-12-3456"));
  CHECK_FALSE(v::us_ssn("666-12-3456"));
  CHECK_FALSE(v::us_ssn("900-12-3456"));
  CHECK_FALSE(v::us_ssn("999-12-3456"));
  CHECK_FALSE(v::us_ssn("123-00-4567"));
  CHECK_FALSE(v::us_ssn("123-45-0000"));
  CHECK_FALSE(v::us_ssn("078-05-1120"));
  CHECK_FALSE(v::us_ssn("123-45 6789"));  // mixed separators
  CHECK_FALSE(v::us_ssn("123456789"));
}

TEST_CASE("validators: private key blocks", "[signatures][validators]") {
  const std::string ed25519 =
      "-----BEGIN PRIVATE KEY-----\n"
      "MC4CAQAwBQYDK2VwBCIEIJPnZTqxze1cZea02jpE494KrQb0xeE9MP2Qo5ioM7n6\n"
      "-----END PRIVATE KEY-----";
  CHECK(v::private_key(ed25519));
  const std::string ec =
      "-----BEGIN EC PRIVATE KEY-----\r\n"
      "MHcCAQEEIHXyHq1qQ9dPuG2N4o9fN2p7Ylh1n0mYkSxV2xFq0H8xoAoGCCqGSM49\r\n"
      "AwEHoUQDQgAE9d8Cq3x0rWJ7e8m0n2aX3c4u5h6i7j8k9l0m1n2o3p4q5r6s7t8u\r\n"
      "-----END EC PRIVATE KEY-----";
  CHECK(v::private_key(ec));
  CHECK_FALSE(
      v::private_key("-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----"));
  CHECK_FALSE(
      v::private_key("-----BEGIN PRIVATE "
                     "KEY-----\nMC4CAQAwBQYDK2VwBCIEIJPnZTqxze1cZea02jpE494KrQb0xeE9MP2Qo5ioM7n6\n"
                     "-----END RSA PRIVATE KEY-----"));  // labels differ
  CHECK_FALSE(v::private_key("-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----"));
  // OPENSSH keys must carry their magic.
  CHECK_FALSE(
      v::private_key("-----BEGIN OPENSSH PRIVATE KEY-----\n"
                     "MC4CAQAwBQYDK2VwBCIEIJPnZTqxze1cZea02jpE494KrQb0xeE9MP2Qo5ioM7n6\n"
                     "-----END OPENSSH PRIVATE KEY-----"));
  CHECK(v::private_key(
      "-----BEGIN OPENSSH PRIVATE KEY-----\n"
      "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAARub25lAAAABG5vbmUAAAAAAAAAAAAAAAAA\n"
      "-----END OPENSSH PRIVATE KEY-----"));
}

TEST_CASE("validators: cloud and chat tokens", "[signatures][validators]") {
  CHECK(v::aws_access_key("AKIAIOSFODNN7EXAMPLE"));
  CHECK(v::aws_access_key("ASIAY34FZKBOKMUTVV7A"));
  CHECK_FALSE(v::aws_access_key("AKIAIOSFODNN7EXAMPL"));
  CHECK_FALSE(v::aws_access_key("AKIAiosfodnn7example"));
  CHECK_FALSE(v::aws_access_key("AGPAIOSFODNN7EXAMPLE"));

  CHECK(v::slack_token("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"));
  CHECK(v::slack_token("xoxp-1234567890-1234567890-1234567890-0123456789abcdef0123456789abcdef"));
  CHECK_FALSE(v::slack_token("xoxb-not-a-token-at-all"));
  CHECK_FALSE(v::slack_token("xoxz-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"));
  CHECK_FALSE(v::slack_token("xoxb-123456789012-AbCdEfGhIjKlMnOpQrStUvWx"));

  CHECK(v::github_token("ghp_R4nd0mL00k1ngT0k3nV4lu3F0rT35t1ngAbC"));
  CHECK(v::github_token("gho_16C7e42F292c6912E7710c838347Ae178B4a"));
  CHECK_FALSE(v::github_token("ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));  // no entropy
  CHECK_FALSE(v::github_token("ghx_R4nd0mL00k1ngT0k3nV4lu3F0rT35t1ngAbC"));
  CHECK_FALSE(v::github_token("ghp_R4nd0mL00k1ngT0k3nV4lu3F0rT35t1ngAb"));
  CHECK(
      v::github_token("github_pat_11ABCDEFG0123456789abc_"
                      "defghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"));

  CHECK(v::google_api_key("AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"));
  CHECK_FALSE(v::google_api_key("AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBW"));
  CHECK_FALSE(v::google_api_key("AIzaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

TEST_CASE("validators: JWT", "[signatures][validators]") {
  CHECK(
      v::jwt("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9l"
             "IiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"));
  // Header without "alg".
  CHECK_FALSE(
      v::jwt("eyJ0eXAiOiAiSldUIn0.eyJzdWIiOiI0MiJ9.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"));
  // Payload is not JSON.
  CHECK_FALSE(
      v::jwt("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.bm90IGpzb24gYXQgYWxs."
             "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"));
  CHECK_FALSE(v::jwt("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9"));
  CHECK_FALSE(v::jwt("a.b.c.d"));
}

TEST_CASE("validators: passwords in connection strings", "[signatures][validators]") {
  CHECK(v::connection_string_password("Password=Tr0ub4dor&3"));
  CHECK(v::connection_string_password("pwd = hunter2"));
  CHECK(v::connection_string_password("postgres://report:s3cr3t-Pa55@db.internal"));
  CHECK(v::connection_string_password("mongodb+srv://app:p%40ss@cluster0.example.net"));
  CHECK_FALSE(v::connection_string_password("Password=<your password>"));
  CHECK_FALSE(v::connection_string_password("password=********"));
  CHECK_FALSE(v::connection_string_password("password=changeme"));
  CHECK_FALSE(v::connection_string_password("postgres://report:${DB_PASSWORD}@db.internal"));
  CHECK_FALSE(v::connection_string_password("postgres://report@db.internal"));
}

TEST_CASE("validators: dispatch and boundaries", "[signatures][validators]") {
  CHECK(v::validate(dlp_detector::payment_card, "4111111111111111"));
  CHECK_FALSE(v::validate(dlp_detector::iban, "4111111111111111"));
  CHECK(v::boundary_before_ok(dlp_detector::payment_card, -1));
  CHECK(v::boundary_before_ok(dlp_detector::payment_card, ' '));
  CHECK_FALSE(v::boundary_before_ok(dlp_detector::payment_card, '7'));
  CHECK_FALSE(v::boundary_after_ok(dlp_detector::aws_access_key, 'X'));
  CHECK(v::boundary_after_ok(dlp_detector::aws_access_key, '"'));
  for (auto d : {dlp_detector::payment_card, dlp_detector::iban, dlp_detector::us_ssn,
                 dlp_detector::private_key, dlp_detector::aws_access_key, dlp_detector::slack_token,
                 dlp_detector::github_token, dlp_detector::google_api_key, dlp_detector::jwt,
                 dlp_detector::connection_string_password})
    CHECK_FALSE(v::candidate_for(d).expression.empty());
}
