// Tamper evidence, retention with legal holds, quarantine and the audit trail: what a compliance
// reviewer relies on.

#include <lmdb.h>

#include "archive/codec.hpp"
#include "archive/settings.hpp"
#include "archive_test_util.hpp"

using namespace imcap::archive;
using namespace imcap::archive::test;

namespace {

bool has_problem(const verify_report& r, const std::string& start) {
  for (const auto& p : r.problems)
    if (p.rfind(start, 0) == 0) return true;
  return false;
}

// Raw LMDB access to the archive, as an attacker with file access would have.
struct raw_env {
  MDB_env* env = nullptr;
  MDB_txn* txn = nullptr;
  explicit raw_env(const std::filesystem::path& p) {
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 32) == 0);
    REQUIRE(mdb_env_open(env, p.c_str(), 0, 0640) == 0);
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  }
  MDB_dbi db(const char* name) {
    MDB_dbi d;
    REQUIRE(mdb_dbi_open(txn, name, 0, &d) == 0);
    return d;
  }
  static std::string key(std::uint64_t id) {
    std::string k;
    for (int s = 56; s >= 0; s -= 8) k.push_back(static_cast<char>((id >> s) & 0xff));
    return k;
  }
  std::string get(MDB_dbi d, const std::string& k) {
    MDB_val kv{k.size(), const_cast<char*>(k.data())}, v;
    REQUIRE(mdb_get(txn, d, &kv, &v) == 0);
    return {static_cast<char*>(v.mv_data), v.mv_size};
  }
  void put(MDB_dbi d, const std::string& k, const std::string& value) {
    MDB_val kv{k.size(), const_cast<char*>(k.data())},
        v{value.size(), const_cast<char*>(value.data())};
    REQUIRE(mdb_put(txn, d, &kv, &v, 0) == 0);
  }
  void del(MDB_dbi d, const std::string& k) {
    MDB_val kv{k.size(), const_cast<char*>(k.data())};
    REQUIRE(mdb_del(txn, d, &kv, nullptr) == 0);
  }
  ~raw_env() {
    if (txn != nullptr) REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
  }
};

audit_entry why(const std::string& reason) {
  audit_entry a;
  a.actor = "reviewer1";
  a.reason = reason;
  return a;
}

}  // namespace

TEST_CASE("verify names a modified record and a deleted one", "[archive][tamper]") {
  temp_dir dir;
  auto st = test_settings(dir.path);
  {
    auto s = store::open(st);
    for (int i = 0; i < 8; ++i) put(*s, sample_event(i));
    CHECK(s->add_audit(why("looked at it")) == std::error_code{});
    const auto clean = s->verify();
    CHECK(clean.ok());
    CHECK(clean.events_checked == 8);
    CHECK(clean.audit_checked == 1);
  }
  {
    raw_env raw(st.path);
    auto events = raw.db("events");
    // Change one letter of event 3's text: the record still decodes, the hash no longer fits.
    std::string v = raw.get(events, raw_env::key(3));
    const auto at = v.find("hello world");
    REQUIRE(at != std::string::npos);
    v[at] = 'j';
    raw.put(events, raw_env::key(3), v);
    raw.del(events, raw_env::key(5));
  }
  auto s = store::open(st, store::open_mode::read_only);
  const auto rep = s->verify();
  for (const auto& p : rep.problems) UNSCOPED_INFO(p);
  CHECK(!rep.ok());
  CHECK(has_problem(rep, "event 3: modified"));
  CHECK(has_problem(rep, "event 5: missing"));
  CHECK(!has_problem(rep, "event 2:"));
  CHECK(!has_problem(rep, "event 4:"));
  CHECK(!has_problem(rep, "event 7:"));
  // The deleted event's index entries now point nowhere.
  CHECK(has_problem(rep, "event 5: index inconsistent"));
}

TEST_CASE("verify finds a deleted last event, bad audit entries and index damage",
          "[archive][tamper]") {
  temp_dir dir;
  auto st = test_settings(dir.path);
  {
    auto s = store::open(st);
    for (int i = 0; i < 4; ++i) put(*s, sample_event(i));
    for (int i = 0; i < 3; ++i) CHECK(!s->add_audit(why("entry " + std::to_string(i))));
  }
  {
    raw_env raw(st.path);
    raw.del(raw.db("events"), raw_env::key(4));
    auto audit = raw.db("audit");
    std::string v = raw.get(audit, raw_env::key(2));
    const auto at = v.find("entry 1");
    REQUIRE(at != std::string::npos);
    v[at + 6] = '9';
    raw.put(audit, raw_env::key(2), v);
    // Event 2's verdict index entry removed.
    std::string k;
    codec::append_part(k, "warn");
    k += raw_env::key(2);
    raw.del(raw.db("idx_verdict"), k);
  }
  auto s = store::open(st, store::open_mode::read_only);
  const auto rep = s->verify();
  for (const auto& p : rep.problems) UNSCOPED_INFO(p);
  CHECK(has_problem(rep, "event 4: missing"));
  CHECK(has_problem(rep, "audit 2: modified"));
  CHECK(has_problem(rep, "event 2: index inconsistent (idx_verdict"));
  CHECK(!has_problem(rep, "audit 3"));
}

TEST_CASE("corrupt record bytes give an error value, never a crash", "[archive][corrupt]") {
  auto e = sample_event(5);
  e.id = 5;
  const std::string good = codec::encode_event(e);
  event_record out;
  REQUIRE(!codec::decode_event(good, out));
  CHECK(out.text == e.text);
  for (std::size_t n = 0; n < good.size(); ++n)
    CHECK(codec::decode_event(std::string_view(good).substr(0, n), out) == errc::corrupt);
  CHECK(codec::decode_event(good + "x", out) == errc::corrupt);
  std::uint32_t x = 7;
  for (int round = 0; round < 2000; ++round) {
    std::string junk = good;
    for (int k = 0; k < 4; ++k) {
      x = x * 1103515245u + 12345u;
      junk[(x >> 8) % junk.size()] = static_cast<char>(x >> 24);
    }
    (void)codec::decode_event(junk, out);  // any result, no crash (ASan run checks bounds)
  }
  // A huge declared length does not allocate or read past the end.
  std::string lying = "\x01\x01\x02\xff\xff\xff\xff\x0f";
  CHECK(codec::decode_event(lying, out) == errc::corrupt);
}

// Found by archive_codec_fuzz: the decoder took a varint padded with 0x80 groups ("\x80\x00"
// for 0) and a tenth byte carrying bits past 64 (silently dropped), so one record had several
// spellings and a stored id could say more than it decoded to. Canonical bytes only now.
TEST_CASE("a record has exactly one encoding: padded or overflowing varints are corrupt",
          "[archive][corrupt]") {
  audit_entry a;
  a.id = 0;
  a.at_us = 5;
  a.action = "release";
  const std::string good = codec::encode_audit(a);
  REQUIRE(good.substr(0, 2) == std::string("\x01\x00", 2));  // format 1, id 0 in one byte
  audit_entry out;
  REQUIRE(!codec::decode_audit(good, out));
  CHECK(codec::encode_audit(out) == good);
  const std::string rest = good.substr(2);
  // 0 written in two and in ten bytes.
  CHECK(codec::decode_audit(std::string("\x01\x80\x00", 3) + rest, out) == errc::corrupt);
  CHECK(codec::decode_audit("\x01" + std::string(9, '\x80') + std::string(1, '\0') + rest, out) ==
        errc::corrupt);
  // 2^64 - 1 is ten bytes ending in 0x01; a tenth byte above 1 overflows 64 bits.
  a.id = ~std::uint64_t{0};
  const std::string max = codec::encode_audit(a);
  REQUIRE(max.substr(1, 10) == std::string(9, '\xff') + "\x01");
  REQUIRE(!codec::decode_audit(max, out));
  CHECK(out.id == ~std::uint64_t{0});
  std::string over = max;
  over[10] = '\x03';
  CHECK(codec::decode_audit(over, out) == errc::corrupt);
  // Events too: a padded varint anywhere (here the text length) is corrupt.
  auto e = sample_event(3);
  e.id = 3;
  const std::string ev = codec::encode_event(e);
  event_record back;
  REQUIRE(!codec::decode_event(ev, back));
  CHECK(codec::encode_event(back) == ev);
  CHECK(codec::decode_event(std::string("\x01\x83\x00", 3) + ev.substr(2), back) == errc::corrupt);
}

TEST_CASE("purge removes old unheld events, keeps held ones, and verify stays green",
          "[archive][purge]") {
  temp_dir dir;
  auto st = test_settings(dir.path);
  st.retention = std::chrono::hours(24);
  auto s = store::open(st);
  const std::int64_t day = 86'400'000'000;
  const std::int64_t now = 100 * day;
  const std::string shared = "shared attachment bytes";
  const std::string lonely = "only in purged events";
  const std::string sha_shared = codec::to_hex(codec::sha256(shared));
  const std::string sha_lonely = codec::to_hex(codec::sha256(lonely));
  // ids 1..10: old (5 days ago); 11..12: recent.
  for (int i = 0; i < 12; ++i) {
    auto e = sample_event(i);
    e.seen_us = i < 10 ? now - 5 * day + i : now - 3600'000'000LL;
    e.proxy_user = i == 2 ? "carol" : "alice";
    e.sender_id = e.proxy_user;
    e.conversation_id = i == 4 ? "C-legal" : "C1";
    if (i == 8) e.recipients.emplace_back("U-dave", "Dave");  // a custodian who only received
    const std::string& bytes = i % 2 == 0 ? shared : lonely;
    e.attachments[0].sha256 = codec::to_hex(codec::sha256(bytes));
    put(*s, e, {{e.attachments[0].sha256, bytes}});
  }
  CHECK(!s->add_hold("user:carol", why("litigation 12")));
  CHECK(!s->add_hold("conversation:C-legal", why("litigation 13")));
  CHECK(!s->add_hold("event:7", why("evidence")));
  CHECK(!s->add_hold("user:U-dave", why("custodian")));
  CHECK(s->add_hold("nonsense", why("x")) == std::errc::invalid_argument);
  CHECK(s->add_hold("user:" + std::string(600, 'u'), why("x")) == std::errc::invalid_argument);
  CHECK(s->holds() ==
        std::vector<std::string>{"conversation:C-legal", "event:7", "user:U-dave", "user:carol"});
  // A held event cannot be deleted through the quarantine either.
  CHECK(s->set_quarantine(7, "deleted", why("cleanup")) == errc::on_hold);

  const auto rep = s->purge(now);
  CHECK(rep.events_removed == 6);  // 10 old minus carol's (3), C-legal's (5), event 7, dave's (9)
  CHECK(rep.events_held == 4);
  // `lonely` was referenced by ids 2,4,6,8,10 and 12 (i odd): 12 is recent, so it stays.
  CHECK(rep.contents_removed == 0);
  for (std::uint64_t id : {3u, 5u, 7u, 9u, 11u, 12u}) CHECK(s->get(id));
  for (std::uint64_t id : {1u, 2u, 4u, 6u, 8u, 10u}) CHECK(!s->get(id));
  CHECK(s->attachment_content(sha_shared) == shared);
  CHECK(s->attachment_content(sha_lonely) == lonely);
  query everything;
  everything.limit = 100;
  CHECK(s->search(everything).size() == 6);
  query by_user;
  by_user.user = "alice";
  CHECK(s->search(by_user).size() == 5);

  const auto v = s->verify();
  for (const auto& p : v.problems) UNSCOPED_INFO(p);
  CHECK(v.ok());
  // The purge is in the audit trail.
  bool audited = false;
  for (const auto& a : s->audit(0, 100)) audited = audited || a.action == "purge";
  CHECK(audited);

  // Lifting the holds and purging later removes the rest; unreferenced contents go with them.
  CHECK(!s->remove_hold("user:carol", why("case closed")));
  CHECK(!s->remove_hold("conversation:C-legal", why("case closed")));
  CHECK(!s->remove_hold("event:7", why("case closed")));
  CHECK(!s->remove_hold("user:U-dave", why("case closed")));
  CHECK(s->remove_hold("event:7", why("again")) == errc::not_found);
  const auto rep2 = s->purge(now + 10 * day);
  CHECK(rep2.events_removed == 6);
  CHECK(rep2.contents_removed == 2);
  CHECK(!s->attachment_content(sha_shared));
  CHECK(!s->attachment_content(sha_lonely));
  CHECK(s->verify().ok());
  // Numbering continues after purged ids.
  CHECK(put(*s, sample_event(99)) == 13);
  CHECK(s->verify().ok());
}

TEST_CASE("quarantine state changes are indexed and audited", "[archive][audit]") {
  temp_dir dir;
  auto s = store::open(test_settings(dir.path));
  auto e = sample_event(1);
  e.quarantine = "held";
  put(*s, e);
  put(*s, sample_event(2));
  query held;
  held.quarantine = "held";
  CHECK(s->search(held).size() == 1);
  CHECK(!s->set_quarantine(1, "released", why("false positive")));
  CHECK(s->search(held).empty());
  query released;
  released.quarantine = "released";
  REQUIRE(s->search(released).size() == 1);
  CHECK(s->get(1)->quarantine == "released");
  CHECK(s->set_quarantine(42, "released", why("x")) == errc::not_found);
  const auto trail = s->audit(0, 10);
  REQUIRE(trail.size() == 1);
  CHECK(trail[0].id == 1);
  CHECK(trail[0].actor == "reviewer1");
  CHECK(trail[0].action == "released");
  CHECK(trail[0].target == "event:1");
  CHECK(trail[0].reason == "false positive");
  CHECK(trail[0].at_us > 0);
  CHECK(s->audit(1, 10).empty());
  // The event's own chained bytes are unchanged by the state change.
  CHECK(s->verify().ok());
}

TEST_CASE("[archive] settings: defaults match conf/imcapd.toml, errors name file:line:column",
          "[archive][settings]") {
  const auto conf = std::string(IMCAP_SOURCE_DIR) + "/conf/imcapd.toml";
  const settings from_file = load_archive_settings(conf);
  const settings defaults;
  CHECK(from_file.path == defaults.path);
  CHECK(from_file.mode == defaults.mode);
  CHECK(from_file.map_size_initial == defaults.map_size_initial);
  CHECK(from_file.map_size_max == defaults.map_size_max);
  CHECK(from_file.max_batch == defaults.max_batch);
  CHECK(from_file.max_batch_delay == defaults.max_batch_delay);
  CHECK(from_file.queue_limit == defaults.queue_limit);
  CHECK(from_file.attachment_max_bytes == defaults.attachment_max_bytes);
  CHECK(from_file.zstd_level == defaults.zstd_level);
  CHECK(from_file.retention == defaults.retention);

  auto parse = [](const std::string& text) {
    settings s;
    const auto doc = toml::parse(std::string_view(text), std::string_view("test.toml"));
    apply_archive_table(*doc["archive"].as_table(), "test.toml", s);
    finish_archive_settings(s, "test.toml");
    return s;
  };
  const auto s = parse(
      "[archive]\npath = \"/srv/a\"\ndurability = \"relaxed\"\nretention_days = 30\n"
      "max_batch_delay_us = 250\n");
  CHECK(s.path == "/srv/a");
  CHECK(s.mode == durability::relaxed);
  CHECK(s.retention == std::chrono::hours(24 * 30));
  CHECK(s.max_batch_delay.count() == 250);
  try {
    parse("[archive]\n\ndurability = \"sometimes\"\n");
    FAIL("accepted");
  } catch (const settings_error& e) {
    CHECK(std::string(e.what()) ==
          "test.toml:3:14: archive.durability: expected \"strict\" or \"relaxed\"");
  }
  CHECK_THROWS_WITH(parse("[archive]\nfrobnicate = 1\n"),
                    Catch::Contains("test.toml:2:14: archive.frobnicate: unknown key"));
  CHECK_THROWS_WITH(parse("[archive]\nmax_batch = 0\n"),
                    Catch::Contains("archive.max_batch: expected an integer from 1"));
  CHECK_THROWS_WITH(parse("[archive]\nmap_size_initial = 4194304\nmap_size_max = 2097152\n"),
                    Catch::Contains("archive.map_size_max: must be at least"));
}

TEST_CASE("verify reports a run of deleted events and a forged next id in a few lines",
          "[archive][tamper]") {
  temp_dir dir;
  auto st = test_settings(dir.path);
  {
    auto s = store::open(st);
    for (int i = 0; i < 6; ++i) put(*s, sample_event(i));
    CHECK(s->set_quarantine(1, "frozen", why("x")) == std::errc::invalid_argument);
  }
  {
    raw_env raw(st.path);
    auto events = raw.db("events");
    for (std::uint64_t id = 2; id <= 4; ++id) raw.del(events, raw_env::key(id));
    raw.put(raw.db("meta"), "next_event_id", raw_env::key(std::uint64_t{1} << 60));
  }
  auto s = store::open(st, store::open_mode::read_only);
  const auto rep = s->verify();
  for (const auto& p : rep.problems) UNSCOPED_INFO(p);
  CHECK(has_problem(rep, "events 2 to 4: missing (3 ids"));
  CHECK(has_problem(rep, "events 7 to 1152921504606846975: missing"));
  CHECK(!has_problem(rep, "event 5:"));  // its link cannot be checked, its bytes are unchanged
}
