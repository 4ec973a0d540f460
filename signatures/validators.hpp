#pragma once
// DLP detectors: a candidate pattern Vectorscan looks for, and a validator that runs only on
// the candidates it reports, to cut false positives (a 16-digit order number is not a card).
// Pure functions on bytes; thread-safe.

#include <string_view>

#include "signatures/pack.hpp"

namespace imcap::signatures::validators {

// The Vectorscan expression whose matches are candidates for `d` (and whether it needs the
// caseless flag). Deliberately generous: the validator decides.
struct candidate {
  std::string_view expression;
  bool caseless = false;
};
candidate candidate_for(dlp_detector d);

// Word-boundary checks around a candidate: `before`/`after` are the neighbouring bytes, or
// nothing at the start/end of the part.
bool boundary_before_ok(dlp_detector d, int before);  // before < 0: start of part
bool boundary_after_ok(dlp_detector d, int after);    // after < 0: end of part

// The validator for `d` on exactly the candidate's bytes.
bool validate(dlp_detector d, std::string_view candidate);

// Individual validators (exposed for tests).
bool luhn(std::string_view digits);  // digits only
enum class card_network { none, visa, mastercard, amex, discover, jcb, diners, unionpay, maestro };
card_network network_of(std::string_view digits);  // IIN range + length
bool payment_card(std::string_view candidate);     // digits with optional ' ' or '-'
bool iban(std::string_view candidate);             // optional spaces between groups
bool us_ssn(std::string_view candidate);           // AAA-GG-SSSS or AAA GG SSSS
bool private_key(std::string_view candidate);      // whole PEM block
bool aws_access_key(std::string_view candidate);
bool slack_token(std::string_view candidate);
bool github_token(std::string_view candidate);
bool google_api_key(std::string_view candidate);
bool jwt(std::string_view candidate);
bool connection_string_password(std::string_view candidate);

}  // namespace imcap::signatures::validators
