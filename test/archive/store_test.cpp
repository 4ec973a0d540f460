// The store's contract: every field survives the round trip, search by each criterion with
// paging in both directions, group commit, back-pressure, contents stored once.

#include <atomic>
#include <mutex>

#include "archive/codec.hpp"
#include "archive_test_util.hpp"

using namespace imcap::archive;
using namespace imcap::archive::test;

TEST_CASE("every field of an event survives the round trip", "[archive]") {
  temp_dir dir;
  auto s = store::open(test_settings(dir.path));
  auto e = sample_event(1);
  const std::string bytes = "%PDF-1.4 not really a pdf";
  const std::string sha = codec::to_hex(codec::sha256(bytes));
  e.attachments[0].sha256 = sha;
  const auto id = put(*s, e, {{sha, bytes}});
  REQUIRE(id == 1);
  auto got = s->get(id);
  REQUIRE(got);
  CHECK(got->id == 1);
  CHECK(got->seen_us == e.seen_us);
  CHECK(got->kind == e.kind);
  CHECK(got->app == e.app);
  CHECK(got->transport == e.transport);
  CHECK(got->direction == e.direction);
  CHECK(got->session_key == e.session_key);
  CHECK(got->conversation_id == e.conversation_id);
  CHECK(got->sender_id == e.sender_id);
  CHECK(got->sender_name == e.sender_name);
  CHECK(got->sender_source == e.sender_source);
  CHECK(got->recipients == e.recipients);
  CHECK(got->text == e.text);
  CHECK(got->html == e.html);
  CHECK(got->client_msg_id == e.client_msg_id);
  CHECK(got->server_msg_id == e.server_msg_id);
  CHECK(got->timestamp == e.timestamp);
  CHECK(got->encrypted == e.encrypted);
  CHECK(got->attributes == e.attributes);
  REQUIRE(got->attachments.size() == 1);
  const auto& a = got->attachments[0];
  CHECK(a.name == "report.pdf");
  CHECK(a.media_type == "application/pdf");
  CHECK(a.true_type == "application/pdf");
  CHECK(a.size == std::optional<std::uint64_t>(1234));
  CHECK(a.sha256 == sha);
  CHECK(a.ref == "F123");
  CHECK(a.virus_names == std::vector<std::string>{"Eicar-Test-Signature"});
  CHECK(a.content_stored);
  CHECK(got->proxy_user == e.proxy_user);
  CHECK(got->proxy_groups == e.proxy_groups);
  CHECK(got->client_ip == e.client_ip);
  CHECK(got->url == e.url);
  CHECK(got->user_agent == e.user_agent);
  CHECK(got->icap_transaction == 77);
  CHECK(got->verdict == "warn");
  REQUIRE(got->hits.size() == 1);
  const auto& h = got->hits[0];
  CHECK(h.rule_id == "acme.codename");
  CHECK(h.pack == "acme-dlp");
  CHECK(h.pack_version == "2.3.0");
  CHECK(h.action == "warn");
  CHECK(h.severity == "medium");
  CHECK(h.part == "attachment_content");
  CHECK(h.attachment == 0);
  CHECK(h.begin == 6);
  CHECK(h.end == 11);
  CHECK(h.monitor);
  CHECK(h.message == "Code names stay inside");
  CHECK(h.detail == "falcon");
  CHECK(got->pack_version == e.pack_version);
  CHECK(got->quarantine.empty());
  CHECK(got->chain_hash.size() == 64);
  CHECK(s->attachment_content(sha) == bytes);
  CHECK(!s->get(2));

  // A second event with an optional size absent and a quarantine state.
  auto e2 = sample_event(2);
  e2.attachments[0].size.reset();
  e2.quarantine = "held";
  const auto id2 = put(*s, e2);
  auto got2 = s->get(id2);
  REQUIRE(got2);
  CHECK(!got2->attachments[0].size);
  CHECK(!got2->attachments[0].content_stored);  // no bytes handed over, none stored before
  CHECK(got2->quarantine == "held");
  CHECK(got2->chain_hash != got->chain_hash);

  // The data survives closing and reopening, read-only too.
  s.reset();
  auto ro = store::open(test_settings(dir.path), store::open_mode::read_only);
  auto again = ro->get(1);
  REQUIRE(again);
  CHECK(again->text == e.text);
  CHECK(ro->submit(sample_event(), {}, {}) == make_error_code(errc::read_only));
  CHECK(ro->verify().ok());
}

TEST_CASE("JSON line carries the fields, escaped", "[archive]") {
  auto e = sample_event(3);
  e.id = 9;
  const auto line = to_json_line(e);
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line.find("\"id\":9") != std::string::npos);
  CHECK(line.find("\"sender_name\":\"Alice \\\"A\\\" Liddell\"") != std::string::npos);
  CHECK(line.find("\"rule_id\":\"acme.codename\"") != std::string::npos);
  CHECK(line.find("\\n\\ttab") != std::string::npos);
  CHECK(line.find("\"attributes\":[{\"key\":\"thread\",\"value\":\"T9\"},{\"key\":\"nul\","
                  "\"value\":\"a\\u0000b\"}]") != std::string::npos);
}

namespace {

// Twenty events varying every searchable field.
std::vector<std::uint64_t> populate(store& s) {
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 20; ++i) {
    auto e = sample_event(i);
    e.seen_us = 1'000'000 * i;
    e.app = i % 2 == 0 ? "slack" : "teams";
    e.conversation_id = "C" + std::to_string(i % 3);
    e.proxy_user = i % 4 == 0 ? "alice" : "bob";
    e.sender_id = e.proxy_user == "alice" ? "U-alice" : "U-bob";
    e.recipients = {{e.proxy_user == "alice" ? "U-bob" : "U-alice", ""}};
    e.verdict = i % 5 == 0 ? "block" : "allow";
    e.hits.clear();
    rule_hit h;
    h.rule_id = "r.block";
    if (i % 5 == 0) e.hits.push_back(h);
    h.rule_id = "r.seven";
    if (i == 7) e.hits.push_back(h);
    e.text = i == 13 ? "The Project FALCON status" : "nothing to see " + std::to_string(i);
    e.attachments[0].name = i == 17 ? "falcon-plan.docx" : "a.txt";
    e.quarantine = i == 11 ? "held" : "";
    ids.push_back(put(s, e));
  }
  return ids;
}

std::vector<std::uint64_t> ids_of(const std::vector<event_record>& v) {
  std::vector<std::uint64_t> out;
  for (const auto& e : v) out.push_back(e.id);
  return out;
}

}  // namespace

TEST_CASE("search by each field, newest first by default", "[archive]") {
  temp_dir dir;
  auto s = store::open(test_settings(dir.path));
  populate(*s);
  using V = std::vector<std::uint64_t>;
  query q;
  q.limit = 1000;
  CHECK(ids_of(s->search(q)).size() == 20);
  CHECK(ids_of(s->search(q)).front() == 20);

  query u = q;
  u.user = "alice";  // proxy_user of events 1, 5, 9, 13, 17 (i % 4 == 0)
  CHECK(ids_of(s->search(u)) == V{17, 13, 9, 5, 1});
  u.user = "U-alice";  // sender id of the same events
  CHECK(ids_of(s->search(u)) == V{17, 13, 9, 5, 1});

  query p = q;  // alice talking to bob, in both directions
  p.user = "U-alice";
  p.peer = "U-bob";
  CHECK(ids_of(s->search(p)).size() == 20);
  p.peer = "U-nobody";
  CHECK(s->search(p).empty());
  query peer_only = q;
  peer_only.peer = "U-alice";  // events whose recipient is U-alice: bob's
  CHECK(ids_of(s->search(peer_only)).size() == 15);

  query c = q;
  c.conversation = "C1";  // i % 3 == 1: i = 1,4,7,10,13,16,19
  CHECK(ids_of(s->search(c)) == V{20, 17, 14, 11, 8, 5, 2});
  c.app = "slack";  // and i even: 4, 10, 16
  CHECK(ids_of(s->search(c)) == V{17, 11, 5});

  query a = q;
  a.app = "teams";
  CHECK(ids_of(s->search(a)).size() == 10);

  query v = q;
  v.verdict = "block";
  CHECK(ids_of(s->search(v)) == V{16, 11, 6, 1});

  query r = q;
  r.rule = "r.seven";
  CHECK(ids_of(s->search(r)) == V{8});

  query t = q;
  t.text = "falcon";  // text of 13 (case-insensitive) and attachment name of 17
  CHECK(ids_of(s->search(t)) == V{18, 14});

  query qs = q;
  qs.quarantine = "held";
  CHECK(ids_of(s->search(qs)) == V{12});

  query tr = q;
  tr.from_us = 3'000'000;
  tr.to_us = 6'000'000;  // i = 3, 4, 5
  CHECK(ids_of(s->search(tr)) == V{6, 5, 4});
  tr.newest_first = false;
  CHECK(ids_of(s->search(tr)) == V{4, 5, 6});
  tr.verdict = "block";  // i = 5 only
  CHECK(ids_of(s->search(tr)) == V{6});

  auto conv = s->conversation("teams", "C1");
  CHECK(ids_of(conv) == V{2, 8, 14, 20});
}

TEST_CASE("search pages by id in both directions", "[archive]") {
  temp_dir dir;
  auto s = store::open(test_settings(dir.path));
  populate(*s);
  using V = std::vector<std::uint64_t>;
  for (const bool indexed : {false, true}) {
    query q;
    q.limit = 3;
    if (indexed) q.user = "bob";  // ids where (id-1) % 4 != 0
    std::vector<std::uint64_t> seen;
    for (int page = 0; page < 20; ++page) {
      auto r = s->search(q);
      if (r.empty()) break;
      CHECK(r.size() <= 3);
      for (const auto& e : r) seen.push_back(e.id);
      q.before_id = r.back().id;
    }
    std::vector<std::uint64_t> want;
    for (std::uint64_t id = 20; id >= 1; --id)
      if (!indexed || (id - 1) % 4 != 0) want.push_back(id);
    CHECK(seen == want);

    // Forward from an id.
    query f;
    f.limit = 4;
    f.after_id = 10;
    if (indexed) f.user = "bob";
    auto fw = ids_of(s->search(f));
    CHECK(fw == (indexed ? V{11, 12, 14, 15} : V{11, 12, 13, 14}));
  }
}

TEST_CASE("10k events are group-committed in far fewer commits", "[archive]") {
  temp_dir dir;
  auto st = test_settings(dir.path);
  st.max_batch = 1024;
  st.max_batch_delay = std::chrono::microseconds(2000);
  auto s = store::open(st);
  constexpr int n = 10'000;
  std::atomic<int> ok{0};
  std::atomic<std::uint64_t> max_id{0};
  for (int i = 0; i < n; ++i) {
    auto e = sample_event(i);
    REQUIRE(!s->submit(std::move(e), {}, [&](std::error_code ec, std::uint64_t id) {
      if (!ec) ok.fetch_add(1);
      if (id > max_id.load()) max_id.store(id);
    }));
  }
  s->flush();
  CHECK(ok.load() == n);
  CHECK(max_id.load() == n);
  const auto stats = s->statistics();
  CHECK(stats.committed_events == n);
  CHECK(stats.queued == 0);
  CHECK(stats.commits < n / 10);
  CHECK(s->get(n)->session_key == "sess-" + std::to_string(n - 1));
}

TEST_CASE("submit beyond queue_limit is refused with queue_full", "[archive]") {
  temp_dir dir;
  auto st = test_settings(dir.path);
  st.queue_limit = 5;
  st.max_batch = 1;
  auto s = store::open(st);
  // Hold the writer inside the first completion so nothing else commits meanwhile.
  std::mutex gate;
  std::unique_lock hold(gate);
  std::atomic<int> done{0};
  auto cb = [&](std::error_code, std::uint64_t) {
    std::lock_guard g(gate);
    done.fetch_add(1);
  };
  std::vector<std::error_code> results;
  for (int i = 0; i < 8; ++i) results.push_back(s->submit(sample_event(i), {}, cb));
  for (int i = 0; i < 5; ++i) CHECK(!results[static_cast<std::size_t>(i)]);
  for (int i = 5; i < 8; ++i)
    CHECK(results[static_cast<std::size_t>(i)] == make_error_code(errc::queue_full));
  hold.unlock();
  s->flush();
  CHECK(done.load() == 5);
  CHECK(s->search(query{}).size() == 5);
  CHECK(!s->submit(sample_event(9), {}, {}));  // room again
  s->flush();
}

TEST_CASE("attachment contents are stored once by sha256, with reference counts", "[archive]") {
  temp_dir dir;
  auto s = store::open(test_settings(dir.path));
  std::string bytes(200'000, 'x');
  for (std::size_t i = 0; i < bytes.size(); i += 7) bytes[i] = static_cast<char>('a' + i % 26);
  const std::string sha = codec::to_hex(codec::sha256(bytes));
  for (int i = 0; i < 3; ++i) {
    auto e = sample_event(i);
    e.attachments[0].sha256 = sha;
    put(*s, e, {{sha, bytes}});
  }
  CHECK(s->attachment_content(sha) == bytes);
  CHECK(s->get(3)->attachments[0].content_stored);

  // A content whose declared hash lies is not stored under it.
  auto liar = sample_event(9);
  const std::string other = "other bytes";
  liar.attachments[0].sha256 = codec::to_hex(codec::sha256("something else"));
  put(*s, liar, {{liar.attachments[0].sha256, other}});
  CHECK(!s->attachment_content(liar.attachments[0].sha256));
  CHECK(!s->get(4)->attachments[0].content_stored);
  CHECK(!s->attachment_content("zz"));
}
