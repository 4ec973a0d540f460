#pragma once
// Who is behind an ICAP transaction, as the proxy tells us: the HTTP client's address and the
// authenticated proxy user. Squid sends the user raw or base64 (icap_client_username_encode);
// commercial proxies send base64 of "WinNT://DOMAIN/user" or "LDAP://host/cn=user,...".

#include <string>
#include <string_view>
#include <vector>

#include "icap/message.hpp"

namespace imcap::icap {

enum class username_encoding {
  auto_detect,  // decode base64 when the value is valid base64 of printable text, else raw
  raw,          // use the value as sent
  base64,       // always base64; an undecodable value is kept raw and flagged
};

struct identity_settings {
  std::vector<std::string> username_headers{"X-Client-Username", "X-Authenticated-User"};
  username_encoding encoding = username_encoding::auto_detect;
  std::string client_ip_header = "X-Client-IP";
};

struct client_identity {
  std::string client_ip;       // from the client IP header, "" if absent
  std::string user;            // bare user name ("alice"), "" if absent
  std::string domain;          // "CORP" for WinNT://CORP/alice, LDAP host for LDAP://, else ""
  std::string qualified;       // the decoded value before the scheme was split off
  std::string header;          // which header the user came from
  bool decode_failed = false;  // encoding = base64 but the value was not valid base64
};

client_identity extract_identity(const header_list& headers, const identity_settings& s);

// Strict standard base64 (with padding) to bytes; false on any invalid input.
bool decode_base64(std::string_view in, std::string& out);

}  // namespace imcap::icap
