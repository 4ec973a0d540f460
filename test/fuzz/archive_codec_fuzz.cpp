// libFuzzer target for the archive's record codec (archive/codec.hpp): the bytes LMDB hands back
// for an event or an audit entry. A corrupt or hostile data.mdb must give errc::corrupt, never a
// crash, hang or unbounded allocation.
//
// Input layout: byte 0 bit 0 selects the record type (0 event, 1 audit entry); the rest is the
// record's canonical bytes (the stored value without its trailing 32-byte chain hash).
// When decoding succeeds, the record is encoded again and must give exactly the input bytes: the
// codec promises one encoding per record (what the tamper-evidence chain hashes), so a decoder
// that accepted two spellings of one record would let an edited data.mdb hide behind an equal
// record. Decoding the re-encoded bytes must succeed as well.
//
// Seeds: run the binary with IMCAP_ARCHIVE_SEEDS=DIR set; it writes a few encoded records of
// both types (the current encoder's output) into DIR and exits. scripts/test.sh does that on
// every run, next to the checked-in regression inputs in test/fuzz/corpus/archive_codec.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "archive/archive.hpp"
#include "archive/codec.hpp"

using namespace imcap::archive;

namespace {

[[noreturn]] void violated(const char* what, std::string_view in, std::string_view again) {
  std::fprintf(stderr, "archive codec: %s (input %zu bytes, re-encoded %zu bytes)\n", what,
               in.size(), again.size());
  std::abort();
}

event_record rich_event() {
  event_record e;
  e.id = 4242;
  e.seen_us = 1767607200123456;
  e.kind = "message";
  e.app = "slack";
  e.transport = "slack-web";
  e.direction = "outbound";
  e.session_key = "sk-1";
  e.conversation_id = "C024BE91L";
  e.sender_id = "U123";
  e.sender_name = "Ann \xc3\xa9";
  e.sender_source = "body";
  e.recipients = {{"U2", "Bob"}, {"", ""}};
  e.text = std::string("hello\0world \"<&>\"", 17);
  e.html = "<p>hello</p>";
  e.client_msg_id = "c1";
  e.server_msg_id = "s1";
  e.timestamp = "2026-01-05T10:00:00Z";
  e.encrypted = true;
  e.attributes = {{"thread", "1.2"}};
  attachment_record a;
  a.name = "report.pdf";
  a.media_type = "application/pdf";
  a.true_type = "application/pdf";
  a.size = 123456789012ull;
  a.sha256 = std::string(64, 'a');
  a.ref = "F1";
  a.virus_names = {"Eicar-Test-Signature", ""};
  a.content_stored = true;
  e.attachments.push_back(a);
  attachment_record b;
  b.name = "no-size";
  e.attachments.push_back(b);
  e.proxy_user = "ann";
  e.proxy_groups = {"staff", "finance"};
  e.client_ip = "192.0.2.7";
  e.url = "https://slack.com/api/chat.postMessage";
  e.user_agent = "Mozilla/5.0";
  e.icap_transaction = 77;
  e.verdict = "block";
  rule_hit h;
  h.rule_id = "pci.card";
  h.pack = "pci";
  h.pack_version = "3";
  h.action = "block";
  h.severity = "high";
  h.part = "text";
  h.attachment = 0xffffffffu;
  h.begin = 3;
  h.end = 19;
  h.monitor = true;
  h.message = "card number";
  h.detail = "4111...";
  e.hits.push_back(h);
  e.pack_version = "pci@3";
  e.quarantine = "held";
  return e;
}

void write_seed(const std::string& dir, const std::string& name, std::uint8_t type,
                const std::string& bytes) {
  std::ofstream f(dir + "/" + name, std::ios::binary);
  f.put(static_cast<char>(type));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

void write_seeds(const std::string& dir) {
  write_seed(dir, "seed-event-rich", 0, codec::encode_event(rich_event()));
  write_seed(dir, "seed-event-empty", 0, codec::encode_event(event_record{}));
  event_record negative;
  negative.id = ~std::uint64_t{0};
  negative.seen_us = -1;
  negative.text = std::string(300, 'x');
  write_seed(dir, "seed-event-negative", 0, codec::encode_event(negative));
  audit_entry a;
  a.id = 9;
  a.at_us = 1767607200000000;
  a.actor = "imcapctl:root";
  a.action = "release";
  a.target = "event:42";
  a.reason = "false positive \xe2\x9c\x93";
  write_seed(dir, "seed-audit", 1, codec::encode_audit(a));
  write_seed(dir, "seed-audit-empty", 1, codec::encode_audit(audit_entry{}));
}

template <typename Record>
void round_trip(std::string_view in, std::error_code (*decode)(std::string_view, Record&),
                std::string (*encode)(const Record&)) {
  Record r;
  if (auto ec = decode(in, r)) {
    if (ec != errc::corrupt) violated("decode failed with an error other than corrupt", in, {});
    return;
  }
  const std::string again = encode(r);
  if (again != in) violated("decoded record re-encodes to different bytes", in, again);
  Record r2;
  if (decode(again, r2)) violated("re-encoded record does not decode", in, again);
  if (encode(r2) != again) violated("second round trip differs", in, again);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("IMCAP_ARCHIVE_SEEDS"); dir != nullptr && *dir != '\0') {
    write_seeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  if ((data[0] & 1) == 0)
    round_trip<event_record>(in, codec::decode_event, codec::encode_event);
  else
    round_trip<audit_entry>(in, codec::decode_audit, codec::encode_audit);
  return 0;
}
