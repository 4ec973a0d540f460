#pragma once
// A small archive for the reviewer UI tests (unit tests and the browser test server): two
// conversations in two apps, quarantined items, rule hits with byte ranges, attachments, and
// hostile strings in every field a page shows. No Catch2 here: the test server uses it too.

#include <sodium.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "archive/archive.hpp"
#include "quarantine/auth.hpp"

namespace imcap::quarantine::test {

// Payloads that must render inert wherever they appear.
inline const std::string xss_script = "<script>alert(1)</script>";
inline const std::string xss_attr = "\"><img src=x onerror=alert(1)>";
inline const std::string xss_link = "<a href=\"javascript:alert(1)\">click</a>";
inline const std::string evil_file_name = "../../etc/passwd\r\nX-Injected: yes\r\n\".txt";
inline const std::string evil_file_bytes = "MZ not really an executable\n";

// 2026-11-20 12:00:00 UTC
inline constexpr std::int64_t base_us = 1'795'176'000'000'000;
inline constexpr std::int64_t hour_us = 3'600'000'000;

struct sample_ids {
  std::uint64_t held = 0;        // slack, alice, conversation C-1, hit on "4111 1111 1111 1111"
  std::uint64_t held_evil = 0;   // slack, alice, hostile text, evil attachment, quarantined
  std::uint64_t reply = 0;       // slack, inbound from bob in C-1
  std::uint64_t teams_html = 0;  // teams, hostile HTML body
  std::uint64_t discord_held = 0;
};

inline archive::event_record base_event(std::string app, std::string user, std::int64_t at) {
  archive::event_record e;
  e.seen_us = at;
  e.kind = "message";
  e.app = std::move(app);
  e.transport = "rest";
  e.direction = "outbound";
  e.sender_id = "U-" + user;
  e.sender_name = user;
  e.sender_source = "body";
  e.proxy_user = user;
  e.client_ip = "10.0.0.7";
  e.user_agent = "Mozilla/5.0 " + xss_attr;
  e.url = "https://chat.example/api/post";
  e.verdict = "allow";
  e.pack_version = "acme-dlp@1.2.0";
  return e;
}

inline archive::rule_hit hit(std::string rule, std::uint64_t begin, std::uint64_t end,
                             bool monitor = false) {
  archive::rule_hit h;
  h.rule_id = std::move(rule);
  h.pack = "acme-dlp";
  h.pack_version = "1.2.0";
  h.action = "quarantine";
  h.severity = "high";
  h.part = "text";
  h.begin = begin;
  h.end = end;
  h.monitor = monitor;
  h.message = "card number " + xss_script;
  return h;
}

// Fills `st` (submit + flush) and returns the ids of the interesting events.
inline sample_ids fill_sample(archive::store& st) {
  sample_ids ids;
  std::vector<std::uint64_t*> slots;
  auto submit = [&](archive::event_record e, std::vector<archive::content> contents,
                    std::uint64_t* slot) {
    const auto ec =
        st.submit(std::move(e), std::move(contents), [slot](std::error_code, std::uint64_t id) {
          if (slot != nullptr) *slot = id;
        });
    if (ec) throw std::runtime_error("submit: " + ec.message());
    st.flush();
  };

  auto e1 = base_event("slack", "alice", base_us);
  e1.conversation_id = "C-1";
  e1.recipients = {{"U-bob", "bob"}};
  e1.text = "my card is 4111 1111 1111 1111, thanks";
  e1.hits = {hit("acme.card", 11, 30)};
  e1.verdict = "quarantine";
  e1.quarantine = "held";
  submit(e1, {}, &ids.held);

  auto e2 = base_event("slack", "bob", base_us + hour_us);
  e2.conversation_id = "C-1";
  e2.direction = "inbound";
  e2.proxy_user = "alice";
  e2.text = "got it, thanks \xF0\x9F\x91\x8D";
  submit(e2, {}, &ids.reply);

  auto e3 = base_event("slack", "alice", base_us + 2 * hour_us);
  e3.conversation_id = "C-1 " + xss_attr;
  e3.sender_name = "alice " + xss_script;
  e3.recipients = {{"U-" + xss_attr, xss_script}};
  e3.text = "hi " + xss_script + " and " + xss_attr + " and " + xss_link;
  e3.hits = {hit("acme.script", 3, 3 + xss_script.size())};
  e3.verdict = "quarantine";
  e3.quarantine = "held";
  archive::attachment_record a;
  a.name = evil_file_name;
  a.media_type = "text/html\r\nX-Bad: 1";
  a.true_type = "text/plain";
  a.size = evil_file_bytes.size();
  a.sha256 = "";  // set below
  archive::content c;
  c.bytes = evil_file_bytes;
  // sha256 of the bytes, lowercase hex: computed the way the pipeline does (libsodium).
  {
    unsigned char raw[32];
    crypto_hash_sha256(raw, reinterpret_cast<const unsigned char*>(c.bytes.data()), c.bytes.size());
    static constexpr char hex[] = "0123456789abcdef";
    for (unsigned char b : raw) {
      c.sha256 += hex[b >> 4];
      c.sha256 += hex[b & 15];
    }
  }
  a.sha256 = c.sha256;
  e3.attachments = {a};
  submit(e3, {c}, &ids.held_evil);

  auto e4 = base_event("teams", "carol", base_us + 3 * hour_us);
  e4.conversation_id = "19:meeting";
  e4.html = "<div>" + xss_attr + xss_link + "<p onclick=\"alert(1)\">x</p></div>";
  e4.text = "";
  e4.verdict = "block";
  submit(e4, {}, &ids.teams_html);

  auto e5 = base_event("discord", "dave", base_us - 24 * hour_us);
  e5.conversation_id = "D-9";
  e5.text = "secret plans";
  e5.hits = {hit("acme.secret", 0, 6, true)};
  e5.verdict = "quarantine";
  e5.quarantine = "held";
  submit(e5, {}, &ids.discord_held);
  return ids;
}

inline void add_user(archive::store& st, const std::string& name, quarantine::role r,
                     const std::string& password) {
  archive::user_record u;
  u.name = name;
  u.role = std::string(quarantine::role_name(r));
  u.password_hash = quarantine::hash_password(password);
  archive::audit_entry why;
  why.actor = "test";
  if (const auto ec = st.put_user(u, why)) throw std::runtime_error("put_user: " + ec.message());
}

}  // namespace imcap::quarantine::test
