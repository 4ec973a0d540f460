// The reviewer UI over HTTP: access rules for every route, CSRF, hostile content rendered
// inert, download headers, login throttling, session lifetimes, and the review actions with
// their audit trail.

#include <set>

#include "signatures/store.hpp"
#include "test/quarantine/webui_test_util.hpp"

using namespace imcap::quarantine;
using namespace imcap::quarantine::test;

namespace {

std::string example_path(const route_info& r, const sample_ids& ids) {
  // Routes about one item use a real quarantined item, so an admitted role would succeed.
  if (r.pattern.starts_with("/attachment/"))
    return "/attachment/" + std::to_string(ids.held_evil) + "/0";
  std::string p = r.pattern;
  if (const auto at = p.find("{}"); at != std::string::npos)
    p.replace(at, 2, std::to_string(ids.held));
  return p;
}

bool admits(const route_info& r, role who) {
  return std::find(r.roles.begin(), r.roles.end(), who) != r.roles.end();
}

void check_security_headers(const reply& r) {
  CHECK(r.header("content-security-policy") ==
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'");
  CHECK(r.header("x-content-type-options") == "nosniff");
  CHECK(r.header("referrer-policy") == "no-referrer");
}

}  // namespace

TEST_CASE("every route refuses anonymous users: pages redirect to the login, the API says 401",
          "[quarantine]") {
  webui ui;
  std::size_t protected_routes = 0;
  for (const auto& r : routes()) {
    if (r.roles.empty()) continue;
    ++protected_routes;
    auto c = ui.anonymous();
    const auto rep = c.request(r.method, example_path(r, ui.ids), "reason=x&id=1&action=release");
    INFO(r.method << " " << r.pattern);
    check_security_headers(rep);
    if (r.api) {
      CHECK(rep.status == 401);
    } else {
      CHECK(rep.status == 303);
      CHECK(rep.header("location") == "/login");
    }
  }
  CHECK(protected_routes >= 20);
  // Nothing was released by the anonymous POSTs.
  CHECK(ui.store->get(ui.ids.held)->quarantine == "held");
}

TEST_CASE(
    "every route refuses the roles it does not name with 403, also for POST with a valid "
    "CSRF token",
    "[quarantine]") {
  webui ui;
  for (const role who : {role::admin, role::reviewer, role::auditor}) {
    auto c = ui.as(std::string(who == role::admin      ? "admin"
                               : who == role::reviewer ? "rev"
                                                       : "aud"));
    const std::string csrf = c.csrf();
    REQUIRE(csrf.size() == 64);
    for (const auto& r : routes()) {
      if (r.roles.empty() || admits(r, who) || r.pattern == "/logout") continue;
      INFO(role_name(who) << ": " << r.method << " " << r.pattern);
      const auto rep =
          c.request(r.method, example_path(r, ui.ids),
                    "csrf=" + csrf + "&reason=x&id=1&action=release", {{"X-CSRF-Token", csrf}});
      CHECK(rep.status == 403);
      check_security_headers(rep);
    }
  }
  CHECK(ui.store->get(ui.ids.held)->quarantine == "held");
}

TEST_CASE("every GET page a role may use renders for it", "[quarantine]") {
  webui ui;
  for (const char* user : {"admin", "rev", "aud"}) {
    auto c = ui.as(user);
    for (const auto& r : routes()) {
      if (r.method != "GET" || r.pattern == "/conversation" || r.pattern == "/api/conversation")
        continue;
      const role who = *parse_role(user == std::string("rev")   ? "reviewer"
                                   : user == std::string("aud") ? "auditor"
                                                                : "admin");
      if (!r.roles.empty() && !admits(r, who)) continue;
      INFO(user << ": " << r.pattern);
      const auto rep = c.get(example_path(r, ui.ids));
      CHECK(rep.status == 200);
      check_security_headers(rep);
    }
  }
}

TEST_CASE("state changes need POST and the session's CSRF token", "[quarantine]") {
  webui ui;
  auto c = ui.as("rev");
  const std::string item = "/item/" + std::to_string(ui.ids.held);
  SECTION("no token, a wrong token, another session's token") {
    auto other = ui.as("admin");
    const std::string foreign = other.csrf();
    for (const std::string& token : {std::string(), std::string(64, 'a'), foreign}) {
      const auto rep = c.post(item + "/release", "csrf=" + token + "&reason=ok");
      CHECK(rep.status == 403);
      const auto api =
          c.request("POST", "/api" + item + "/release", "reason=ok", {{"X-CSRF-Token", token}});
      CHECK(api.status == 403);
    }
    // The token in the form body does not count for the API (it needs the header).
    CHECK(c.request("POST", "/api" + item + "/release", "csrf=" + c.csrf() + "&reason=ok").status ==
          403);
    CHECK(ui.store->get(ui.ids.held)->quarantine == "held");
  }
  SECTION("GET never changes state") {
    CHECK(c.get(item + "/release?csrf=" + c.csrf() + "&reason=ok").status == 405);
    CHECK(ui.store->get(ui.ids.held)->quarantine == "held");
  }
  SECTION("logout needs the token too") {
    CHECK(c.post("/logout", "").status == 403);
    CHECK(c.get("/queue").status == 200);
  }
  SECTION("the login form needs its own token (login CSRF)") {
    auto anon = ui.anonymous();
    const auto rep = anon.post("/login", "user=admin&password=" + client::encode(password));
    CHECK(rep.status == 403);
    CHECK(anon.cookies().count("imcap_session") == 0);
  }
}

TEST_CASE("release and delete need a reason, change the item and are audited", "[quarantine]") {
  webui ui;
  auto c = ui.as("rev");
  const std::string csrf = c.csrf();
  const std::string item = "/item/" + std::to_string(ui.ids.held);
  CHECK(c.post(item + "/release", "csrf=" + csrf + "&reason=+++").status == 409);
  CHECK(ui.store->get(ui.ids.held)->quarantine == "held");

  const auto rep =
      c.post(item + "/release", "csrf=" + csrf + "&reason=false+positive%3A+test+card");
  CHECK(rep.status == 303);
  CHECK(ui.store->get(ui.ids.held)->quarantine == "released");
  const auto audit = ui.store->audit(0, 1000);
  REQUIRE(!audit.empty());
  const auto& last = audit.back();
  CHECK(last.actor == "rev");
  CHECK(last.action == "release");
  CHECK(last.target == "event:" + std::to_string(ui.ids.held));
  CHECK(last.reason == "false positive: test card");
  CHECK(last.at_us == ui.clock->load());
  // A second release is refused; delete of a released item works.
  CHECK(c.post(item + "/release", "csrf=" + csrf + "&reason=again").status == 409);
  CHECK(c.post(item + "/delete", "csrf=" + csrf + "&reason=cleanup").status == 303);
  CHECK(ui.store->get(ui.ids.held)->quarantine == "deleted");

  // The auditor sees it in the audit log page, escaped.
  auto aud = ui.as("aud");
  const auto log = aud.get("/audit");
  CHECK(log.body.find("false positive: test card") != std::string::npos);

  // Bulk: the two remaining held items through the queue form.
  const auto bulk = c.post("/queue/bulk", "csrf=" + csrf + "&action=release&reason=bulk&id=" +
                                              std::to_string(ui.ids.held_evil) +
                                              "&id=" + std::to_string(ui.ids.discord_held));
  CHECK(bulk.status == 303);
  CHECK(ui.store->get(ui.ids.held_evil)->quarantine == "released");
  CHECK(ui.store->get(ui.ids.discord_held)->quarantine == "released");
  CHECK(c.get("/queue").body.find("The queue is empty.") != std::string::npos);
  // Through the API with the header token.
  const auto api = c.request("POST", "/api/item/" + std::to_string(ui.ids.discord_held) + "/delete",
                             "reason=api", {{"X-CSRF-Token", csrf}});
  CHECK(api.status == 200);
  CHECK(ui.store->get(ui.ids.discord_held)->quarantine == "deleted");
}

TEST_CASE("hostile archived strings render inert on every page", "[quarantine]") {
  webui ui;
  auto c = ui.as("admin");
  const std::string evil = std::to_string(ui.ids.held_evil);
  const std::vector<std::string> pages = {
      "/",
      "/queue",
      "/item/" + evil,
      "/item/" + std::to_string(ui.ids.teams_html),
      "/search",
      "/search?text=" + client::encode("<script>"),
      "/conversation?app=slack&id=" + client::encode("C-1 " + xss_attr),
      "/conversation?app=teams&id=19%3Ameeting",
      "/attachment/" + evil + "/0",
      "/packs",
      "/audit",
      "/users",
  };
  const std::vector<std::string> raw = {"<script",         "<img",       "href=\"javascript:",
                                        "onclick=\"alert", "<p onclick", "<a href=\"javascript"};
  for (const auto& p : pages) {
    INFO(p);
    const auto rep = c.get(p);
    REQUIRE(rep.status == 200);
    for (const auto& r : raw) CHECK(rep.body.find(r) == std::string::npos);
    // No script of any kind, no event handler attribute, no javascript: URL in an attribute.
    CHECK(rep.body.find("<script") == std::string::npos);
    CHECK(!std::regex_search(rep.body, std::regex(R"(<[^>]*\son[a-z]+\s*=)")));
    CHECK(!std::regex_search(rep.body,
                             std::regex(R"(<[^>]*(href|src|action)\s*=\s*"?\s*javascript:)")));
  }
  // The payloads are there, as text.
  const auto item = c.get("/item/" + evil).body;
  CHECK(item.find("&lt;script&gt;alert(1)&lt;/script&gt;") != std::string::npos);
  CHECK(item.find("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;") != std::string::npos);
  CHECK(item.find("javascript:alert(1)") != std::string::npos);  // as text only
  // The hit on the script payload is highlighted, escaped inside the mark.
  CHECK(item.find("<mark title=\"acme.script\">&lt;script&gt;alert(1)&lt;/script&gt;</mark>") !=
        std::string::npos);
  // Teams HTML is shown as text.
  const auto teams = c.get("/item/" + std::to_string(ui.ids.teams_html)).body;
  CHECK(teams.find("&lt;div&gt;") != std::string::npos);
}

TEST_CASE(
    "attachments download only after a confirmation, as opaque files with a safe name, "
    "audited",
    "[quarantine]") {
  webui ui;
  auto c = ui.as("rev");
  const std::string path = "/attachment/" + std::to_string(ui.ids.held_evil) + "/0";
  const auto confirm = c.get(path);
  REQUIRE(confirm.status == 200);
  CHECK(confirm.header("content-disposition").empty());
  CHECK(confirm.body.find(evil_file_bytes) == std::string::npos);
  const std::string csrf = client::hidden(confirm.body, "csrf");
  const auto rep = c.post(path, "csrf=" + csrf + "&reason=evidence+for+case+7");
  REQUIRE(rep.status == 200);
  CHECK(rep.body == evil_file_bytes);
  CHECK(rep.header("content-type") == "application/octet-stream");
  CHECK(rep.header("x-injected").empty());
  const std::string cd = rep.header("content-disposition");
  CHECK(cd.starts_with("attachment; filename=\""));
  CHECK(cd.find('\r') == std::string::npos);
  CHECK(cd.find('\n') == std::string::npos);
  CHECK(cd.find("..") == std::string::npos);
  CHECK(cd.find('/') == std::string::npos);
  CHECK(cd ==
        "attachment; filename=\"passwd__X-Injected: yes___.txt\"; "
        "filename*=UTF-8''passwd__X-Injected%3A%20yes__%22.txt");
  CHECK(rep.headers.count("content-disposition") == 1);
  check_security_headers(rep);
  const auto audit = ui.store->audit(0, 1000);
  REQUIRE(!audit.empty());
  CHECK(audit.back().action == "download");
  CHECK(audit.back().actor == "rev");
  CHECK(audit.back().reason == "evidence for case 7");
  CHECK(audit.back().target.find(ui.store->get(ui.ids.held_evil)->attachments[0].sha256) !=
        std::string::npos);
}

TEST_CASE(
    "login throttling locks a user name after repeated failures, even for the right "
    "password, until the window passes",
    "[quarantine]") {
  webui_settings s;
  s.login_max_failures = 3;
  s.login_lockout = std::chrono::minutes(10);
  webui ui(s);
  auto c = ui.anonymous();
  for (int i = 0; i < 3; ++i) CHECK(c.login("admin", "wrong").status == 401);
  CHECK(c.login("admin").status == 429);
  CHECK(c.cookies().count("imcap_session") == 0);
  // The address is locked too: another account from the same client waits as well.
  CHECK(c.login("rev").status == 429);
  // The failures are audited.
  std::size_t failed = 0;
  for (const auto& a : ui.store->audit(0, 1000)) failed += a.action == "login_failed";
  CHECK(failed == 3);
  ui.advance(std::chrono::minutes(11));
  CHECK(c.login("admin").status == 303);
  CHECK(c.get("/").status == 200);
}

TEST_CASE(
    "sessions end after the idle time, after the absolute lifetime, at logout, and when "
    "the account is removed",
    "[quarantine]") {
  webui_settings s;
  s.session_idle = std::chrono::minutes(30);
  s.session_absolute = std::chrono::hours(2);
  webui ui(s);
  SECTION("idle") {
    auto c = ui.as("aud");
    ui.advance(std::chrono::minutes(29));
    CHECK(c.get("/").status == 200);  // restarts the idle clock
    ui.advance(std::chrono::minutes(29));
    CHECK(c.get("/").status == 200);
    ui.advance(std::chrono::minutes(31));
    CHECK(c.get("/").status == 303);
    CHECK(c.get("/api/dashboard").status == 401);
  }
  SECTION("absolute") {
    auto c = ui.as("aud");
    for (int i = 0; i < 7; ++i) {
      ui.advance(std::chrono::minutes(17));
      CHECK(c.get("/").status == 200);
    }
    ui.advance(std::chrono::minutes(2));  // 121 minutes after login
    CHECK(c.get("/").status == 303);
  }
  SECTION("logout") {
    auto c = ui.as("aud");
    const std::string id = c.cookies()["imcap_session"];
    const auto rep = c.post("/logout", "csrf=" + c.csrf());
    CHECK(rep.status == 303);
    CHECK(c.cookies().count("imcap_session") == 0);
    // The old cookie is dead on the server, not only in the browser.
    c.cookies()["imcap_session"] = id;
    CHECK(c.get("/").status == 303);
  }
  SECTION("account removed") {
    auto c = ui.as("rev");
    imcap::archive::audit_entry why;
    why.actor = "test";
    REQUIRE(!ui.store->remove_user("rev", why));
    CHECK(c.get("/").status == 303);
  }
}

TEST_CASE("session cookies are HttpOnly and SameSite=Strict; ids are random", "[quarantine]") {
  webui ui;
  auto a = ui.anonymous();
  const auto rep = a.login("admin");
  REQUIRE(rep.status == 303);
  std::string cookie;
  for (auto [it, end] = rep.headers.equal_range("set-cookie"); it != end; ++it)
    if (it->second.starts_with("imcap_session=")) cookie = it->second;
  CHECK(cookie.find("; HttpOnly") != std::string::npos);
  CHECK(cookie.find("; SameSite=Strict") != std::string::npos);
  CHECK(cookie.find("; Path=/") != std::string::npos);
  CHECK(cookie.find("Secure") == std::string::npos);  // plain HTTP here
  auto b = ui.as("admin");
  CHECK(a.cookies()["imcap_session"].size() == 64);
  CHECK(a.cookies()["imcap_session"] != b.cookies()["imcap_session"]);
  CHECK(a.csrf() != b.csrf());
}

TEST_CASE("pages show the archive: dashboard chart, queue filters, search paging, replay, packs",
          "[quarantine]") {
  webui ui;
  auto c = ui.as("aud");
  const auto dash = c.get("/?from=2026-11-19&to=2026-11-20");
  CHECK(dash.body.find("<svg class=\"chart\"") != std::string::npos);
  CHECK(dash.body.find("<rect") != std::string::npos);
  CHECK(dash.body.find("5 events from 2026-11-19 to 2026-11-20") != std::string::npos);
  const auto api = c.get("/api/dashboard?from=2026-11-19&to=2026-11-20");
  CHECK(api.header("content-type") == "application/json; charset=utf-8");
  CHECK(api.body.find("\"events\":5") != std::string::npos);
  // Queue: three held items; the app filter narrows to one.
  const auto q = c.get("/api/queue");
  CHECK(std::regex_search(q.body, std::regex("\"id\":" + std::to_string(ui.ids.held) + "\\b")));
  const auto qd = c.get("/api/queue?app=discord");
  CHECK(qd.body.find("\"app\":\"discord\"") != std::string::npos);
  CHECK(qd.body.find("\"app\":\"slack\"") == std::string::npos);
  // Search by text, then replay: both directions in time order.
  const auto s = c.get("/search?text=thanks");
  CHECK(s.body.find("#" + std::to_string(ui.ids.reply)) != std::string::npos);
  const auto conv = c.get("/conversation?app=slack&id=C-1");
  const auto out_at = conv.body.find("bubble out");
  const auto in_at = conv.body.find("bubble in");
  CHECK(out_at != std::string::npos);
  CHECK(in_at != std::string::npos);
  CHECK(out_at < in_at);
  CHECK(conv.body.find("b-quarantine") != std::string::npos);
  const auto packs = c.get("/packs");
  CHECK(packs.body.find("acme.card") != std::string::npos);
  CHECK(packs.body.find("monitor") != std::string::npos);
  CHECK(packs.body.find("acme-dlp@1.2.0") != std::string::npos);
  // The item page highlights the card number from the hit's byte range.
  const auto item = c.get("/item/" + std::to_string(ui.ids.held));
  CHECK(item.body.find("my card is <mark title=\"acme.card\">4111 1111 1111 1111</mark>, thanks") !=
        std::string::npos);
}

TEST_CASE("unknown paths, oversized bodies and malformed forms are refused cleanly",
          "[quarantine]") {
  webui ui;
  auto c = ui.as("admin");
  CHECK(c.get("/nope").status == 404);
  CHECK(c.get("/item/../etc/passwd").status == 404);
  CHECK(c.get("/item/abc").status == 404);
  CHECK(c.get("/item/99999").status == 404);
  CHECK(c.get("/attachment/1/99").status == 404);
  CHECK(c.post("/queue/bulk", std::string(70'000, 'a')).status == 413);
  CHECK(c.post("/queue/bulk", "csrf=%zz").status == 400);
  CHECK(c.get("/queue").status == 200);
}

TEST_CASE("the audit log pages newest first; API exports are audited", "[quarantine]") {
  webui ui;
  for (int i = 0; i < 450; ++i) {
    imcap::archive::audit_entry a;
    a.actor = i % 2 == 0 ? "even" : "odd";
    a.action = "note";
    a.target = "n:" + std::to_string(i);
    REQUIRE(!ui.store->add_audit(a));
  }
  auto c = ui.as("aud");
  const auto first = c.get("/audit");
  const auto at_newest = first.body.find("n:449");
  const auto at_older = first.body.find("n:448");
  REQUIRE(at_newest != std::string::npos);
  REQUIRE(at_older != std::string::npos);
  CHECK(at_newest < at_older);
  CHECK(first.body.find("n:200<") == std::string::npos);  // beyond the first 200 rows
  std::smatch m;
  REQUIRE(std::regex_search(first.body, m, std::regex("href=\"(/audit\\?before=[0-9]+)\"")));
  const auto second = c.get(m[1]);
  CHECK(second.body.find("n:200<") != std::string::npos);
  CHECK(second.body.find("n:449") == std::string::npos);
  const auto odd = c.get("/audit?actor=odd");
  CHECK(odd.body.find("n:449") != std::string::npos);
  CHECK(odd.body.find("n:448") == std::string::npos);

  CHECK(c.get("/api/conversation?app=slack&id=C-1").status == 200);
  const auto trail = ui.store->audit(0, 10'000);
  REQUIRE(!trail.empty());
  CHECK(trail.back().action == "export");
  CHECK(trail.back().actor == "aud");
  CHECK(trail.back().target == "conversation:slack/C-1");
}

TEST_CASE("the packs page lists the active packs of the store with their rules, mode and hits",
          "[quarantine]") {
  temp_dir packs;
  imcap::signatures::pack_store store(packs.path / "store");
  imcap::signatures::install_policy policy;
  policy.cache_dir = packs.path / "cache";
  store.install(IMCAP_SOURCE_DIR "/signatures/packs/baseline-dlp.toml", policy);
  webui ui({}, packs.path / "store");
  auto c = ui.as("aud");
  const auto page = c.get("/packs");
  REQUIRE(page.status == 200);
  const auto active = page.body.find(
      "<td>baseline-dlp</td><td>1.0.0</td><td><span class=\"badge "
      "b-enforce\">enforce</span>");
  CHECK(active != std::string::npos);
  // An installed rule with its action and severity, no hits yet.
  CHECK(std::regex_search(
      page.body,
      std::regex(
          R"(dlp\.card\.single</a></td><td>redact</td><td>high</td><td>enforce</td><td>0</td>)")));
  // A rule known only from archived hits (the sample pack is not installed).
  CHECK(std::regex_search(
      page.body,
      std::regex(
          R"(acme\.card</a></td><td>archive only</td><td></td><td>enforce</td><td>1</td>)")));
  CHECK(std::regex_search(
      page.body,
      std::regex(
          R"(acme\.secret</a></td><td>archive only</td><td></td><td>monitor</td><td>1</td>)")));
  const auto api = c.get("/api/packs");
  CHECK(api.body.find("\"name\":\"baseline-dlp\"") != std::string::npos);

  // A store that cannot be read is reported, the archive part still shows.
  webui broken({}, packs.path / "no-such-store");
  auto b = broken.as("aud");
  const auto bp = b.get("/packs");
  CHECK(bp.status == 200);
  CHECK(bp.body.find("acme.card") != std::string::npos);
}
