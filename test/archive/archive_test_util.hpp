#pragma once
// Helpers for the archive tests: a temporary directory removed at scope exit, settings that
// point into it, and a fully populated sample event.

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <string>

#include "archive/archive.hpp"

namespace imcap::archive::test {

namespace fs = std::filesystem;

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "imcap-archive-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

inline settings test_settings(const fs::path& dir) {
  settings s;
  s.path = dir / "archive";
  s.map_size_initial = 4u << 20;
  s.map_size_max = 256u << 20;
  s.max_batch_delay = std::chrono::microseconds(0);
  return s;
}

// An event with every field set to something distinct.
inline event_record sample_event(int n = 0) {
  const std::string k = std::to_string(n);
  event_record e;
  e.seen_us = 1'700'000'000'000'000 + n;
  e.kind = "message";
  e.app = "slack";
  e.transport = "rest";
  e.direction = "outbound";
  e.session_key = "sess-" + k;
  e.conversation_id = "C1";
  e.sender_id = "U-alice";
  e.sender_name = "Alice \"A\" Liddell";
  e.sender_source = "body";
  e.recipients = {{"U-bob", "Bob"}, {"U-carol", "Carol"}};
  e.text = "hello world " + k + " \xc3\xa9\n\ttab";
  e.html = "<b>hello</b>";
  e.client_msg_id = "cm-" + k;
  e.server_msg_id = "sm-" + k;
  e.timestamp = "2023-11-14T22:13:20Z";
  e.encrypted = true;
  e.attributes = {{"thread", "T9"}, {"nul", std::string("a\0b", 3)}};
  attachment_record a;
  a.name = "report.pdf";
  a.media_type = "application/pdf";
  a.true_type = "application/pdf";
  a.size = 1234;
  a.ref = "F123";
  a.virus_names = {"Eicar-Test-Signature"};
  e.attachments = {a};
  e.proxy_user = "alice";
  e.proxy_groups = {"staff", "eng"};
  e.client_ip = "10.0.0.7";
  e.url = "https://slack.com/api/chat.postMessage";
  e.user_agent = "Mozilla/5.0";
  e.icap_transaction = 77;
  e.verdict = "warn";
  rule_hit h;
  h.rule_id = "acme.codename";
  h.pack = "acme-dlp";
  h.pack_version = "2.3.0";
  h.action = "warn";
  h.severity = "medium";
  h.part = "attachment_content";
  h.attachment = 0;
  h.begin = 6;
  h.end = 11;
  h.monitor = true;
  h.message = "Code names stay inside";
  h.detail = "falcon";
  e.hits = {h};
  e.pack_version = "acme-dlp@2.3.0";
  e.quarantine = "";
  return e;
}

// Submits and waits; returns the id (0 on error).
inline std::uint64_t put(store& s, event_record e, std::vector<content> contents = {}) {
  std::uint64_t id = 0;
  std::error_code result;
  auto ec = s.submit(std::move(e), std::move(contents), [&](std::error_code r, std::uint64_t i) {
    result = r;
    id = i;
  });
  REQUIRE(!ec);
  s.flush();
  REQUIRE(!result);
  return id;
}

}  // namespace imcap::archive::test
