// Released content: release_digest and store::find_release, maintained by set_quarantine and
// purge (archive/README.md, "Released content").

#include "archive_test_util.hpp"

using namespace imcap::archive;
using namespace imcap::archive::test;

namespace {

constexpr std::int64_t hour_us = 3'600'000'000;
constexpr std::int64_t t0 = 1'700'000'000'000'000;  // the release time the tests set

event_record held_event(std::string proxy_user, std::string text) {
  auto e = sample_event(1);
  e.proxy_user = std::move(proxy_user);
  e.text = std::move(text);
  e.attachments.at(0).sha256 = std::string(64, 'a');
  e.verdict = "quarantine";
  e.quarantine = "held";
  return e;
}

audit_entry reviewer_at(std::int64_t at_us) {
  audit_entry a;
  a.actor = "rita";
  a.reason = "business need";
  a.at_us = at_us;
  return a;
}

}  // namespace

TEST_CASE("release_digest: white space runs are one space, attachments are a set",
          "[archive][release]") {
  const std::string h1(64, 'a'), h2(64, 'b');
  const auto d = release_digest("outbound", "pay 4111 now", {h1, h2});
  CHECK(d.size() == 64);
  CHECK(release_digest("outbound", "  pay\t4111\r\n  now ", {h2, h1}) == d);
  CHECK(release_digest("outbound", "pay 4111 now",
                       {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", h2}) ==
        d);
  CHECK(release_digest("outbound", "pay 4111 now", {h1, h2, h1}) == d);
  CHECK(release_digest("outbound", "pay 4112 now", {h1, h2}) != d);
  CHECK(release_digest("outbound", "Pay 4111 now", {h1, h2}) != d);
  CHECK(release_digest("outbound", "pay4111 now", {h1, h2}) != d);
  CHECK(release_digest("inbound", "pay 4111 now", {h1, h2}) != d);
  CHECK(release_digest("outbound", "pay 4111 now", {h1}) != d);
  // An attachment whose hash is unknown never matches a known file, nor no file.
  CHECK(release_digest("outbound", "x", {""}) != release_digest("outbound", "x", {}));
  CHECK(release_digest("outbound", "x", {""}) != release_digest("outbound", "x", {h1}));
  // Length prefixes: moving bytes between the fields changes the digest.
  CHECK(release_digest("out", "bound x", {}) != release_digest("outbound", "x", {}));
}

TEST_CASE("find_release follows the quarantine state and the release time", "[archive][release]") {
  temp_dir dir;
  auto st = store::open(test_settings(dir.path));
  const auto e = held_event("bob", "cards: 4111111111111111");
  const auto id = put(*st, e);
  const auto digest = release_digest(e);

  // Held: nothing passes.
  CHECK_FALSE(st->find_release("bob", "slack", digest, t0 - hour_us));

  REQUIRE_FALSE(st->set_quarantine(id, "released", reviewer_at(t0)));
  auto m = st->find_release("bob", "slack", digest, t0 - hour_us);
  REQUIRE(m);
  CHECK(m->event_id == id);
  CHECK(m->released_us == t0);
  CHECK(st->find_release("bob", "slack", digest, t0));  // at the boundary: still in
  // Released before the window began; another user, app or content.
  CHECK_FALSE(st->find_release("bob", "slack", digest, t0 + 1));
  CHECK_FALSE(st->find_release("alice", "slack", digest, 0));
  CHECK_FALSE(st->find_release("bob", "teams", digest, 0));
  CHECK_FALSE(st->find_release("bob", "slack", release_digest("outbound", "cards: 4111", {}), 0));
  CHECK_FALSE(st->find_release("bob", "slack", "not a digest", 0));
  CHECK_FALSE(st->find_release("", "slack", digest, 0));

  // A read-only open (imcapctl, another process) sees it too.
  {
    auto ro = store::open(test_settings(dir.path), store::open_mode::read_only);
    CHECK(ro->find_release("bob", "slack", digest, 0));
  }

  // Released again later: the later time counts.
  REQUIRE_FALSE(st->set_quarantine(id, "released", reviewer_at(t0 + 5 * hour_us)));
  m = st->find_release("bob", "slack", digest, t0 + hour_us);
  REQUIRE(m);
  CHECK(m->released_us == t0 + 5 * hour_us);

  // Deleted (or back to held): no longer passes.
  REQUIRE_FALSE(st->set_quarantine(id, "deleted", reviewer_at(t0 + 6 * hour_us)));
  CHECK_FALSE(st->find_release("bob", "slack", digest, 0));
  CHECK(st->verify().ok());
}

TEST_CASE("find_release: the sender id stands in for a missing proxy user; two releases",
          "[archive][release]") {
  temp_dir dir;
  auto st = store::open(test_settings(dir.path));
  const auto e = held_event("", "secret plan");  // sample sender_id: U-alice
  const auto a = put(*st, e);
  const auto b = put(*st, e);
  const auto digest = release_digest(e);
  REQUIRE_FALSE(st->set_quarantine(a, "released", reviewer_at(t0)));
  REQUIRE_FALSE(st->set_quarantine(b, "released", reviewer_at(t0 + hour_us)));
  auto m = st->find_release("U-alice", "slack", digest, 0);
  REQUIRE(m);
  CHECK(m->event_id == b);  // the latest release
  REQUIRE_FALSE(st->set_quarantine(b, "held", reviewer_at(t0 + 2 * hour_us)));
  m = st->find_release("U-alice", "slack", digest, 0);
  REQUIRE(m);
  CHECK(m->event_id == a);
  CHECK_FALSE(st->find_release("alice", "slack", digest, 0));  // sample proxy user, cleared
}

TEST_CASE("purge removes the release with the event", "[archive][release]") {
  temp_dir dir;
  auto s = test_settings(dir.path);
  s.retention = std::chrono::hours(1);
  auto st = store::open(s);
  const auto e = held_event("bob", "old news");
  const auto id = put(*st, e);
  REQUIRE_FALSE(st->set_quarantine(id, "released", reviewer_at(t0)));
  REQUIRE(st->find_release("bob", "slack", release_digest(e), 0));
  const auto rep = st->purge(e.seen_us + 2 * hour_us);
  CHECK(rep.events_removed == 1);
  CHECK_FALSE(st->find_release("bob", "slack", release_digest(e), 0));
  CHECK(st->verify().ok());
}
