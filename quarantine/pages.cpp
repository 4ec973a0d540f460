// Server-rendered pages. Every dynamic string reaches the HTML through h() (quarantine/escape);
// URLs are built from url_component() parts and escaped again as attribute values. Message HTML
// (Teams) is shown as text, never as markup. No script anywhere: forms and links only.

#include <algorithm>
#include <map>
#include <set>

#include "quarantine/escape.hpp"
#include "quarantine/handlers.hpp"

namespace imcap::quarantine::detail {

namespace {

std::string h(std::string_view s) {
  return html(s);
}

// "/path?k=v&..." with empty values left out, ready for an href (already escaped).
std::string href(std::string_view path, const pairs& params = {}) {
  std::string u(path);
  char sep = '?';
  for (const auto& [k, v] : params) {
    if (v.empty()) continue;
    u += sep;
    u += url_component(k);
    u += '=';
    u += url_component(v);
    sep = '&';
  }
  return html(u);
}

bool can_act(const context& c) {
  return c.who != nullptr && (c.who->role == role::admin || c.who->role == role::reviewer);
}
bool can_audit(const context& c) {
  return c.who != nullptr && (c.who->role == role::admin || c.who->role == role::auditor);
}

std::string csrf_field(const context& c) {
  return "<input type=\"hidden\" name=\"csrf\" value=\"" + h(c.who ? c.who->csrf : "") + "\">";
}

response html_page(const context& c, std::string_view title, const std::string& body,
                   unsigned status = 200) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>" +
      h(title) +
      " · imcap review</title><link rel=\"stylesheet\" href=\"/static/style.css\"></head><body>";
  if (c.who != nullptr) {
    out +=
        "<header><nav><strong>imcap</strong> <a href=\"/\">Dashboard</a> "
        "<a href=\"/queue\">Quarantine</a> <a href=\"/search\">Archive</a> "
        "<a href=\"/packs\">Packs</a>";
    if (can_audit(c)) out += " <a href=\"/audit\">Audit log</a>";
    if (c.who->role == role::admin) out += " <a href=\"/users\">Users</a>";
    out += "</nav><form class=\"logout\" method=\"post\" action=\"/logout\">" + csrf_field(c) +
           "<span>" + h(c.who->user) + " (" + h(role_name(c.who->role)) +
           ")</span> <button type=\"submit\">Log out</button></form></header>";
  }
  out += "<main><h1>" + h(title) + "</h1>" + body + "</main></body></html>\n";
  response r;
  r.status = status;
  r.body = std::move(out);
  return r;
}

std::string badge(std::string_view verdict) {
  static const std::set<std::string, std::less<>> known = {
      "allow", "warn",     "modify",  "block",   "quarantine",
      "held",  "released", "deleted", "enforce", "monitor"};
  const std::string cls = known.count(verdict) != 0 ? std::string(verdict) : "other";
  return "<span class=\"badge b-" + cls + "\">" + h(verdict.empty() ? "-" : verdict) + "</span>";
}

std::string who_of(const archive::event_record& e) {
  if (!e.proxy_user.empty()) return e.proxy_user;
  if (!e.sender_name.empty()) return e.sender_name;
  return e.sender_id;
}

std::string event_summary_row(const archive::event_record& e, bool checkbox) {
  std::string text = e.text.empty() ? e.html : e.text;
  if (text.size() > 160) text = text.substr(0, utf8_floor(text, 160)) + "…";
  std::string rules;
  for (const auto& hit : e.hits) {
    if (!rules.empty()) rules += ", ";
    rules += hit.rule_id;
  }
  std::string row = "<tr>";
  if (checkbox) {
    row += "<td><input type=\"checkbox\" name=\"id\" value=\"" + std::to_string(e.id) +
           "\" aria-label=\"select item " + std::to_string(e.id) + "\"></td>";
  }
  row += "<td><a href=\"/item/" + std::to_string(e.id) + "\">#" + std::to_string(e.id) +
         "</a></td><td>" + h(format_time(e.seen_us)) + "</td><td>" + h(e.app) + "</td><td>" +
         h(who_of(e)) + "</td><td>" + h(e.direction) + "</td><td class=\"text\">" + h(text) +
         "</td><td>" + h(rules) + "</td><td>" + badge(e.verdict) +
         (e.quarantine.empty() ? "" : " " + badge(e.quarantine)) + "</td></tr>";
  return row;
}

std::string field(std::string_view label, std::string_view name, std::string_view value,
                  std::string_view type = "text") {
  return "<label>" + h(label) + " <input type=\"" + std::string(type) + "\" name=\"" +
         std::string(name) + "\" value=\"" + h(value) + "\"></label> ";
}

// The message text with the byte ranges of text hits marked; each segment escaped on its own,
// boundaries moved to UTF-8 character starts so no escape ever sees half a character.
std::string highlighted(const archive::event_record& e) {
  std::vector<marked_range> ranges;
  for (const auto& hit : e.hits) {
    if (hit.part == "text") ranges.push_back({hit.begin, hit.end, hit.rule_id});
  }
  return mark_ranges(e.text, ranges);
}

std::string size_text(const std::optional<std::uint64_t>& n) {
  return n ? std::to_string(*n) + " bytes" : "unknown";
}

std::string clamav_text(const archive::attachment_record& a) {
  if (!a.virus_names.empty()) {
    std::string v = "infected: ";
    for (std::size_t i = 0; i < a.virus_names.size(); ++i) v += (i ? ", " : "") + a.virus_names[i];
    return v;
  }
  return a.content_stored || !a.true_type.empty() ? "no virus found" : "not scanned";
}

std::string attachments_table(const archive::event_record& e, bool links) {
  if (e.attachments.empty()) return "<p>No attachments.</p>";
  std::string out =
      "<table><thead><tr><th>Name</th><th>Declared type</th><th>True type</th><th>Size</th>"
      "<th>SHA-256</th><th>ClamAV</th></tr></thead><tbody>";
  for (std::size_t i = 0; i < e.attachments.size(); ++i) {
    const auto& a = e.attachments[i];
    std::string name = h(a.name.empty() ? "(no name)" : a.name);
    if (links && a.content_stored) {
      name = "<a href=\"/attachment/" + std::to_string(e.id) + "/" + std::to_string(i) + "\">" +
             name + "</a>";
    }
    out += "<tr><td>" + name + "</td><td>" + h(a.media_type) + "</td><td>" + h(a.true_type) +
           "</td><td>" + h(size_text(a.size)) + "</td><td class=\"hash\">" + h(a.sha256) +
           "</td><td>" + h(clamav_text(a)) + "</td></tr>";
  }
  return out + "</tbody></table>";
}

std::string bubbles(const context& c, const std::vector<archive::event_record>& events,
                    std::uint64_t current) {
  std::string out = "<ol class=\"timeline\">";
  for (const auto& e : events) {
    const bool out_dir = e.direction == "outbound";
    out += std::string("<li class=\"bubble ") + (out_dir ? "out" : "in") +
           (e.id == current ? " current" : "") + "\"><div class=\"meta\"><a href=\"/item/" +
           std::to_string(e.id) + "\">#" + std::to_string(e.id) + "</a> " +
           h(e.sender_name.empty() ? e.sender_id : e.sender_name) + " · " +
           h(format_time(e.seen_us)) + " " + badge(e.verdict) +
           (e.quarantine.empty() ? "" : " " + badge(e.quarantine)) + "</div><div class=\"body\">" +
           h(e.text.empty() ? e.html : e.text) + "</div>";
    if (!e.attachments.empty()) {
      out += "<ul class=\"files\">";
      for (std::size_t i = 0; i < e.attachments.size(); ++i) {
        const auto& a = e.attachments[i];
        const std::string name = h(a.name.empty() ? "(no name)" : a.name);
        if (can_act(c) && a.content_stored)
          out += "<li><a href=\"/attachment/" + std::to_string(e.id) + "/" + std::to_string(i) +
                 "\">" + name + "</a></li>";
        else
          out += "<li>" + name + "</li>";
      }
      out += "</ul>";
    }
    out += "</li>";
  }
  return out + "</ol>";
}

std::string reason_form(const context& c, std::uint64_t id, std::string_view action,
                        std::string_view label) {
  return "<form class=\"action\" method=\"post\" action=\"/item/" + std::to_string(id) + "/" +
         std::string(action) + "\">" + csrf_field(c) +
         "<label>Reason <textarea name=\"reason\" "
         "required maxlength=\"4000\"></textarea></label> <button type=\"submit\" name=\"do\" "
         "value=\"" +
         std::string(action) + "\">" + h(label) + "</button></form>";
}

// A chart as inline SVG: stacked bars per day, one colour per app, drawn on the server.
std::string bar_chart(const std::vector<std::string>& days, const std::vector<std::string>& series,
                      const std::vector<std::vector<std::uint64_t>>& values,
                      std::string_view title) {
  static constexpr const char* palette[] = {"#2b6cb0", "#c05621", "#2f855a", "#6b46c1",
                                            "#b83280", "#2c7a7b", "#975a16", "#4a5568",
                                            "#c53030", "#276749", "#553c9a", "#744210"};
  const std::size_t n = std::max<std::size_t>(days.size(), 1);
  std::uint64_t max = 1;
  for (std::size_t d = 0; d < days.size(); ++d) {
    std::uint64_t sum = 0;
    for (const auto& s : values) sum += s[d];
    max = std::max(max, sum);
  }
  const double w = 720, hgt = 200, left = 40, bottom = 30;
  const double bw = (w - left) / static_cast<double>(n);
  std::string svg = "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 720 " +
                    std::to_string(static_cast<int>(hgt + bottom + 10)) +
                    "\" xmlns=\"http://www.w3.org/2000/svg\"><title>" + h(title) + "</title>";
  svg += "<text x=\"0\" y=\"12\" font-size=\"11\">" + std::to_string(max) + "</text>";
  svg += "<line x1=\"" + std::to_string(static_cast<int>(left)) + "\" y1=\"" +
         std::to_string(static_cast<int>(hgt)) + "\" x2=\"720\" y2=\"" +
         std::to_string(static_cast<int>(hgt)) + "\" stroke=\"#888\"/>";
  for (std::size_t d = 0; d < days.size(); ++d) {
    double y = hgt;
    for (std::size_t s = 0; s < values.size(); ++s) {
      const double bh = hgt * static_cast<double>(values[s][d]) / static_cast<double>(max);
      if (bh <= 0) continue;
      y -= bh;
      svg += "<rect x=\"" + std::to_string(left + static_cast<double>(d) * bw + 2) + "\" y=\"" +
             std::to_string(y) + "\" width=\"" + std::to_string(std::max(bw - 4, 1.0)) +
             "\" height=\"" + std::to_string(bh) + "\" fill=\"" + palette[s % 12] + "\"><title>" +
             h(series[s]) + " " + h(days[d]) + ": " + std::to_string(values[s][d]) +
             "</title></rect>";
    }
    if (days.size() <= 14 || d % (days.size() / 7 + 1) == 0) {
      svg += "<text x=\"" + std::to_string(left + static_cast<double>(d) * bw + 2) + "\" y=\"" +
             std::to_string(static_cast<int>(hgt + 16)) + "\" font-size=\"10\">" +
             h(days[d].substr(5)) + "</text>";
    }
  }
  svg += "</svg><ul class=\"legend\">";
  for (std::size_t s = 0; s < series.size(); ++s) {
    svg += "<li><svg width=\"10\" height=\"10\"><rect width=\"10\" height=\"10\" fill=\"" +
           std::string(palette[s % 12]) + "\"/></svg> " + h(series[s]) + "</li>";
  }
  return svg + "</ul>";
}

std::string count_table(std::string_view head,
                        const std::vector<std::pair<std::string, std::uint64_t>>& rows,
                        std::string_view link_key = {}) {
  std::string out = "<table><thead><tr><th>" + h(head) + "</th><th>Count</th></tr></thead><tbody>";
  for (const auto& [k, n] : rows) {
    const std::string label =
        link_key.empty()
            ? h(k)
            : "<a href=\"" + href("/search", {{std::string(link_key), k}}) + "\">" + h(k) + "</a>";
    out += "<tr><td>" + label + "</td><td>" + std::to_string(n) + "</td></tr>";
  }
  if (rows.empty()) out += "<tr><td colspan=\"2\">none</td></tr>";
  return out + "</tbody></table>";
}

std::optional<archive::event_record> item_of(const context& c) {
  if (c.rq.captures.empty()) return std::nullopt;
  const auto id = parse_id(c.rq.captures[0]);
  if (!id) return std::nullopt;
  return c.archive.get(*id);
}

constexpr std::string_view stylesheet = R"CSS(
body{font-family:system-ui,sans-serif;margin:0;color:#1a202c;background:#f7fafc}
header{display:flex;justify-content:space-between;align-items:center;background:#1a365d;color:#fff;padding:.5em 1em}
header a{color:#fff;margin-right:1em}
header form.logout span{margin-right:.5em}
main{padding:1em 2em;max-width:1200px}
table{border-collapse:collapse;width:100%;margin:.5em 0 1.5em;background:#fff}
th,td{border:1px solid #cbd5e0;padding:.3em .5em;text-align:left;vertical-align:top}
td.text{white-space:pre-wrap;word-break:break-word;max-width:30em}
td.hash{font-family:monospace;font-size:.8em;word-break:break-all}
.badge{display:inline-block;padding:0 .4em;border-radius:.3em;font-size:.8em;background:#e2e8f0}
.b-block,.b-quarantine,.b-held{background:#fed7d7}.b-allow,.b-released{background:#c6f6d5}
.b-warn,.b-modify,.b-monitor{background:#fefcbf}.b-enforce{background:#bee3f8}.b-deleted{background:#cbd5e0}
mark{background:#fbd38d}
.message{white-space:pre-wrap;word-break:break-word;background:#fff;border:1px solid #cbd5e0;padding:1em}
ol.timeline{list-style:none;padding:0}
.bubble{max-width:60%;margin:.5em 0;padding:.5em .8em;border-radius:.8em;background:#fff;border:1px solid #cbd5e0}
.bubble.out{margin-left:auto;background:#ebf8ff}
.bubble.current{border:2px solid #c05621}
.bubble .meta{font-size:.8em;color:#4a5568}
.bubble .body{white-space:pre-wrap;word-break:break-word}
form.filters label,form.action label{margin-right:.8em}
textarea{width:30em;height:4em;display:block}
.error{background:#fed7d7;padding:.5em 1em;border:1px solid #c53030}
.notice{background:#c6f6d5;padding:.5em 1em}
svg.chart{width:100%;max-width:720px;background:#fff;border:1px solid #cbd5e0}
ul.legend{list-style:none;padding:0}ul.legend li{display:inline-block;margin-right:1em}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(280px,1fr));gap:1em}
)CSS";

std::string set_cookie(std::string_view name, std::string_view value, std::string_view path,
                       bool tls, bool expire) {
  std::string c = std::string(name) + "=" + std::string(value) + "; Path=" + std::string(path) +
                  "; HttpOnly; SameSite=Strict";
  if (tls) c += "; Secure";
  if (expire) c += "; Max-Age=0";
  return c;
}

response login_form(const context& c, std::string_view error, unsigned status) {
  // Login CSRF: a random token in a cookie that only /login sees, echoed by the form.
  std::string token = c.rq.login_cookie;
  response extra;
  if (token.size() != 64 || token.find_first_not_of("0123456789abcdef") != std::string::npos) {
    token = random_token();
    extra.headers.emplace_back("Set-Cookie",
                               set_cookie("imcap_login", token, "/login", c.rq.tls, false));
  }
  std::string body;
  if (!error.empty()) body += "<p class=\"error\">" + h(error) + "</p>";
  body +=
      "<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"login_token\" "
      "value=\"" +
      h(token) +
      "\"><label>User <input name=\"user\" autocomplete=\"username\" required></label> "
      "<label>Password <input type=\"password\" name=\"password\" "
      "autocomplete=\"current-password\" required></label> <button type=\"submit\">Log "
      "in</button></form>";
  auto r = html_page(c, "Log in", body, status);
  for (auto& hd : extra.headers) r.headers.push_back(std::move(hd));
  return r;
}

}  // namespace

response page_error(const context& c, unsigned status, std::string_view message) {
  return html_page(c, status == 404 ? "Not found" : "Refused",
                   "<p class=\"error\">" + h(message) + "</p>", status);
}

response page_style(const context&) {
  response r;
  r.content_type = "text/css; charset=utf-8";
  r.body = std::string(stylesheet);
  return r;
}

response page_login(const context& c) {
  return login_form(c, "", 200);
}

response page_login_post(const context& c) {
  const std::string user = c.rq.field("user");
  const std::string password = c.rq.field("password");
  if (!tokens_equal(c.rq.field("login_token"), c.rq.login_cookie)) {
    return login_form(c, "The login form expired; please try again.", 403);
  }
  // Names that cannot exist share one throttle entry, so junk names cannot grow the table.
  const std::string throttle_key = valid_user_name(user) ? user : "(invalid)";
  if (c.throttle.locked(throttle_key, c.rq.address)) {
    return login_form(c, "Too many failed logins; try again later.", 429);
  }
  const auto account = valid_user_name(user) ? c.archive.user(user) : std::nullopt;
  const bool ok = verify_password(account ? account->password_hash : "", password);
  const auto r = account ? parse_role(account->role) : std::nullopt;
  archive::audit_entry a;
  a.at_us = c.now_us;
  a.actor = valid_user_name(user) ? user : "(invalid name)";
  a.target = "webui:" + c.rq.address;
  if (!ok || !r) {
    c.throttle.failure(throttle_key, c.rq.address);
    a.action = "login_failed";
    (void)c.archive.add_audit(a);
    return login_form(c, "Wrong user name or password.", 401);
  }
  c.throttle.success(throttle_key);
  a.action = "login";
  (void)c.archive.add_audit(a);
  const session s = c.sessions.create(user, *r);
  auto resp = redirect("/");
  resp.headers.emplace_back("Set-Cookie", set_cookie("imcap_session", s.id, "/", c.rq.tls, false));
  resp.headers.emplace_back("Set-Cookie", set_cookie("imcap_login", "", "/login", c.rq.tls, true));
  return resp;
}

response page_logout(const context& c) {
  c.sessions.end(c.who->id);
  archive::audit_entry a;
  a.at_us = c.now_us;
  a.actor = c.who->user;
  a.action = "logout";
  a.target = "webui:" + c.rq.address;
  (void)c.archive.add_audit(a);
  auto r = redirect("/login");
  r.headers.emplace_back("Set-Cookie", set_cookie("imcap_session", "", "/", c.rq.tls, true));
  return r;
}

response page_dashboard(const context& c) {
  const auto d = dashboard_of(c);
  std::string b = "<form class=\"filters\" method=\"get\" action=\"/\">" +
                  field("From", "from", d.range.from, "date") +
                  field("To", "to", d.range.to, "date") +
                  "<button type=\"submit\">Show</button></form>";
  b += "<p>" + std::to_string(d.events) + " events from " + h(d.range.from) + " to " +
       h(d.range.to) + " (UTC)" + (d.truncated ? ", the newest 100000 shown" : "") + ".</p>";
  b += "<h2>Messages per day per app</h2>" +
       bar_chart(d.days, d.apps, d.messages, "Messages per day per app");
  b += "<h2>Attachments per day per app</h2>" +
       bar_chart(d.days, d.apps, d.attachments, "Attachments per day per app");
  b += "<div class=\"grid\"><section><h2>Apps in use</h2><table><thead><tr><th>App</th>"
       "<th>Users</th></tr></thead><tbody>";
  for (const auto& [app, users] : d.app_users) {
    std::string us;
    for (const auto& u : users) {
      if (!us.empty()) us += ", ";
      us += "<a href=\"" + href("/search", {{"app", app}, {"user", u}}) + "\">" + h(u) + "</a>";
    }
    b += "<tr><td><a href=\"" + href("/search", {{"app", app}}) + "\">" + h(app) + "</a></td><td>" +
         us + "</td></tr>";
  }
  if (d.app_users.empty()) b += "<tr><td colspan=\"2\">none</td></tr>";
  b += "</tbody></table></section><section><h2>Verdicts</h2>" +
       count_table("Verdict", d.verdicts, "verdict") +
       "</section><section><h2>Top policy hits</h2>" + count_table("Rule", d.rules) +
       "</section><section><h2>Top users</h2>" + count_table("User", d.users, "user") +
       "</section></div>";
  return html_page(c, "Dashboard", b);
}

response page_queue(const context& c) {
  const auto q = queue_query(c);
  auto items = c.archive.search(q);
  const bool more = items.size() > page_size;
  if (more) items.resize(page_size);
  const auto& a = c.rq;
  std::string b = "<form class=\"filters\" method=\"get\" action=\"/queue\">" +
                  field("App", "app", a.arg("app")) + field("User", "user", a.arg("user")) +
                  field("Rule", "rule", a.arg("rule")) +
                  field("From", "from", a.arg("from"), "date") +
                  field("To", "to", a.arg("to"), "date") + "<label>Status <select name=\"status\">";
  for (const char* s : {"held", "released", "deleted"}) {
    b += std::string("<option value=\"") + s + "\"" + (q.quarantine == s ? " selected" : "") + ">" +
         s + "</option>";
  }
  b += "</select></label> <button type=\"submit\">Filter</button></form>";
  if (const auto msg = a.arg("done"); !msg.empty()) b += "<p class=\"notice\">" + h(msg) + "</p>";
  const bool act = can_act(c) && q.quarantine != "deleted";
  if (act) b += "<form method=\"post\" action=\"/queue/bulk\">" + csrf_field(c);
  b += "<table><thead><tr>" + std::string(act ? "<th></th>" : "") +
       "<th>Item</th><th>Seen (UTC)</th><th>App</th><th>User</th><th>Direction</th><th>Text</th>"
       "<th>Rules</th><th>Verdict</th></tr></thead><tbody>";
  for (const auto& e : items) b += event_summary_row(e, act);
  if (items.empty()) b += "<tr><td colspan=\"9\">The queue is empty.</td></tr>";
  b += "</tbody></table>";
  if (act) {
    b += "<label>Reason <textarea name=\"reason\" required maxlength=\"4000\"></textarea></label>"
         "<button type=\"submit\" name=\"action\" value=\"release\">Release selected</button> "
         "<button type=\"submit\" name=\"action\" value=\"delete\">Delete selected</button></form>";
  }
  if (more) {
    pairs p = a.query;
    std::erase_if(p, [](const auto& kv) { return kv.first == "before" || kv.first == "done"; });
    p.emplace_back("before", std::to_string(items.back().id));
    b += "<p><a href=\"" + href("/queue", p) + "\">Older items</a></p>";
  }
  return html_page(c, "Quarantine queue", b);
}

response page_queue_bulk(const context& c) {
  const std::string action = c.rq.field("action");
  if (action != "release" && action != "delete") return page_error(c, 400, "unknown action");
  const auto ids = c.rq.fields("id");
  if (ids.empty()) return page_error(c, 400, "no items selected");
  if (ids.size() > page_size) return page_error(c, 400, "too many items at once");
  const std::string reason = c.rq.field("reason");
  std::string problems;
  std::size_t done = 0;
  for (const auto& s : ids) {
    const auto id = parse_id(s);
    const std::string why = id ? quarantine_action(c, *id, action, reason) : "not an item id";
    if (why.empty())
      ++done;
    else
      problems += "<li>#" + h(s) + ": " + h(why) + "</li>";
  }
  if (!problems.empty()) {
    return html_page(c, "Bulk " + action,
                     "<p>" + std::to_string(done) + " done.</p><ul class=\"error\">" + problems +
                         "</ul><p><a href=\"/queue\">Back to the queue</a></p>",
                     done == 0 ? 409 : 200);
  }
  return redirect("/queue?done=" + url_component(std::to_string(done) + " item(s): " + action));
}

response page_item(const context& c) {
  const auto e = item_of(c);
  if (!e) return page_error(c, 404, "no such item");
  std::string b = "<p>" + badge(e->verdict) +
                  (e->quarantine.empty() ? "" : " " + badge(e->quarantine)) + "</p>";
  if (const auto msg = c.rq.arg("done"); !msg.empty())
    b += "<p class=\"notice\">" + h(msg) + "</p>";
  b += "<table><tbody>";
  auto row = [&](std::string_view k, std::string_view v) {
    b += "<tr><th>" + h(k) + "</th><td>" + h(v) + "</td></tr>";
  };
  row("Seen (UTC)", format_time(e->seen_us));
  row("App", e->app);
  row("Transport", e->transport);
  row("Direction", e->direction);
  row("Kind", e->kind);
  row("Sender", e->sender_name.empty() ? e->sender_id : e->sender_name + " <" + e->sender_id + ">");
  std::string rcpt;
  for (const auto& [id, name] : e->recipients)
    rcpt += (rcpt.empty() ? "" : ", ") + (name.empty() ? id : name + " <" + id + ">");
  row("Recipients", rcpt);
  row("Proxy user", e->proxy_user);
  row("Client", e->client_ip);
  row("URL", e->url);
  row("User agent", e->user_agent);
  row("Conversation", e->conversation_id);
  row("Packs", e->pack_version);
  b += "</tbody></table><h2>Message</h2><div class=\"message\">" + highlighted(*e) + "</div>";
  if (!e->html.empty()) {
    b += "<h3>HTML as sent (shown as text)</h3><div class=\"message\">" + h(e->html) + "</div>";
  }
  b += "<h2>Rule hits</h2><table><thead><tr><th>Rule</th><th>Pack</th><th>Action</th>"
       "<th>Severity</th><th>Part</th><th>Bytes</th><th>Mode</th><th>Message</th></tr></"
       "thead><tbody>";
  for (const auto& hit : e->hits) {
    b += "<tr><td>" + h(hit.rule_id) + "</td><td>" + h(hit.pack + "@" + hit.pack_version) +
         "</td><td>" + h(hit.action) + "</td><td>" + h(hit.severity) + "</td><td>" + h(hit.part) +
         "</td><td>" + std::to_string(hit.begin) + "–" + std::to_string(hit.end) + "</td><td>" +
         (hit.monitor ? "monitor" : "enforce") + "</td><td>" + h(hit.message) + "</td></tr>";
  }
  if (e->hits.empty()) b += "<tr><td colspan=\"8\">none</td></tr>";
  b += "</tbody></table><h2>Attachments</h2>" + attachments_table(*e, can_act(c));
  if (can_act(c) && (e->quarantine == "held" || e->quarantine == "released")) {
    b += "<h2>Review</h2>";
    if (e->quarantine == "held") b += reason_form(c, e->id, "release", "Release");
    b += reason_form(c, e->id, "delete", "Delete");
  }
  if (!e->conversation_id.empty()) {
    auto conv = c.archive.conversation(e->app, e->conversation_id, 10'000);
    const auto pos =
        std::find_if(conv.begin(), conv.end(), [&](const auto& x) { return x.id == e->id; });
    const auto at = static_cast<std::ptrdiff_t>(pos - conv.begin());
    const auto from = std::max<std::ptrdiff_t>(0, at - 5);
    const auto to = std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(conv.size()), at + 6);
    std::vector<archive::event_record> around(conv.begin() + from, conv.begin() + to);
    b += "<h2>Surrounding conversation</h2><p><a href=\"" +
         href("/conversation", {{"app", e->app}, {"id", e->conversation_id}}) +
         "\">Replay the whole conversation</a></p>" + bubbles(c, around, e->id);
  }
  return html_page(c, "Item #" + std::to_string(e->id), b);
}

namespace {

response item_action(const context& c, std::string_view action) {
  const auto id = c.rq.captures.empty() ? std::nullopt : parse_id(c.rq.captures[0]);
  if (!id) return page_error(c, 404, "no such item");
  const std::string why = quarantine_action(c, *id, action, c.rq.field("reason"));
  if (!why.empty()) return page_error(c, why == "no such item" ? 404 : 409, why);
  return redirect("/item/" + std::to_string(*id) +
                  "?done=" + url_component(action == "release" ? "released" : "deleted"));
}

}  // namespace

response page_item_release(const context& c) {
  return item_action(c, "release");
}
response page_item_delete(const context& c) {
  return item_action(c, "delete");
}

response page_search(const context& c) {
  const auto& a = c.rq;
  std::string b =
      "<form class=\"filters\" method=\"get\" action=\"/search\">" +
      field("Text", "text", a.arg("text")) + field("User", "user", a.arg("user")) +
      field("Peer", "peer", a.arg("peer")) +
      field("Conversation", "conversation", a.arg("conversation")) +
      field("App", "app", a.arg("app")) + field("Verdict", "verdict", a.arg("verdict")) +
      field("Rule", "rule", a.arg("rule")) + field("From", "from", a.arg("from"), "date") +
      field("To", "to", a.arg("to"), "date") + "<button type=\"submit\">Search</button></form>";
  auto items = c.archive.search(search_query(c));
  const bool more = items.size() > page_size;
  if (more) items.resize(page_size);
  b += "<table><thead><tr><th>Item</th><th>Seen (UTC)</th><th>App</th><th>User</th>"
       "<th>Direction</th><th>Text</th><th>Rules</th><th>Verdict</th><th>Conversation</th></tr>"
       "</thead><tbody>";
  for (const auto& e : items) {
    std::string row = event_summary_row(e, false);
    row.resize(row.size() - 5);  // "</tr>"
    row += "<td>";
    if (!e.conversation_id.empty()) {
      row += "<a href=\"" + href("/conversation", {{"app", e.app}, {"id", e.conversation_id}}) +
             "\">replay</a>";
    }
    b += row + "</td></tr>";
  }
  if (items.empty()) b += "<tr><td colspan=\"9\">No events match.</td></tr>";
  b += "</tbody></table>";
  if (more) {
    pairs p = a.query;
    std::erase_if(p, [](const auto& kv) { return kv.first == "before"; });
    p.emplace_back("before", std::to_string(items.back().id));
    b += "<p><a href=\"" + href("/search", p) + "\">Older events</a></p>";
  }
  return html_page(c, "Archive search", b);
}

response page_conversation(const context& c) {
  const std::string app = c.rq.arg("app"), id = c.rq.arg("id");
  if (id.empty()) return page_error(c, 404, "no conversation given");
  const auto events = c.archive.conversation(app, id, 2000);
  if (events.empty()) return page_error(c, 404, "no such conversation");
  std::string b = "<p>" + h(app) + " · conversation " + h(id) + " · " +
                  std::to_string(events.size()) + " events</p>" + bubbles(c, events, 0);
  return html_page(c, "Conversation", b);
}

namespace {

struct attachment_ref {
  archive::event_record event;
  std::size_t index = 0;
};

std::optional<attachment_ref> attachment_of(const context& c) {
  if (c.rq.captures.size() != 2) return std::nullopt;
  const auto id = parse_id(c.rq.captures[0]);
  const auto n = parse_id(c.rq.captures[1]);
  if (!id || !n) return std::nullopt;
  auto e = c.archive.get(*id);
  if (!e || *n >= e->attachments.size()) return std::nullopt;
  return attachment_ref{std::move(*e), static_cast<std::size_t>(*n)};
}

}  // namespace

response page_attachment_confirm(const context& c) {
  const auto ref = attachment_of(c);
  if (!ref) return page_error(c, 404, "no such attachment");
  const auto& a = ref->event.attachments[ref->index];
  std::string b = attachments_table(ref->event, false);
  b += "<p>The file was sent by someone outside our control. It downloads as an opaque file "
       "(never opened in the browser) named <code>" +
       h(safe_file_name(a.name)) + "</code>; the download is recorded in the audit log.</p>";
  if (!a.virus_names.empty())
    b += "<p class=\"error\">ClamAV reported: " + h(clamav_text(a)) + "</p>";
  if (!a.content_stored) {
    b += "<p class=\"error\">The archive holds no content for this attachment.</p>";
  } else {
    b += "<form method=\"post\" action=\"/attachment/" + std::to_string(ref->event.id) + "/" +
         std::to_string(ref->index) + "\">" + csrf_field(c) +
         "<label>Reason <textarea name=\"reason\" maxlength=\"4000\"></textarea></label>"
         "<button type=\"submit\">Download</button></form>";
  }
  return html_page(c, "Download attachment", b);
}

response page_attachment_download(const context& c) {
  const auto ref = attachment_of(c);
  if (!ref) return page_error(c, 404, "no such attachment");
  const auto& a = ref->event.attachments[ref->index];
  const auto bytes = a.content_stored ? c.archive.attachment_content(a.sha256) : std::nullopt;
  if (!bytes) return page_error(c, 404, "the archive holds no content for this attachment");
  archive::audit_entry why;
  why.at_us = c.now_us;
  why.actor = c.who->user;
  why.action = "download";
  why.target = "attachment:" + a.sha256 + " event:" + std::to_string(ref->event.id);
  why.reason = c.rq.field("reason");
  if (const auto ec = c.archive.add_audit(why)) {
    return page_error(c, 503, "the download could not be audited: " + ec.message());
  }
  response r;
  r.content_type = "application/octet-stream";
  r.body = *bytes;
  r.headers.emplace_back("Content-Disposition", content_disposition(a.name));
  return r;
}

response page_packs(const context& c) {
  const auto p = packs_of(c);
  std::string b;
  if (!p.store_problem.empty()) {
    b += "<p class=\"error\">The pack store cannot be read: " + h(p.store_problem) + "</p>";
  }
  b += "<h2>Active packs</h2><table><thead><tr><th>Pack</th><th>Version</th><th>Mode</th>"
       "<th>Rules</th><th>Description</th></tr></thead><tbody>";
  for (const auto& a : p.active) {
    b += "<tr><td>" + h(a.name) + "</td><td>" + h(a.version) + "</td><td>" + badge(a.mode) +
         "</td><td>" + std::to_string(a.rules) + "</td><td>" + h(a.description) + "</td></tr>";
  }
  if (p.active.empty()) {
    b += "<tr><td colspan=\"5\">" +
         std::string(c.pack_store.empty() ? "No pack store configured for the UI."
                                          : "No active pack in the store.") +
         "</td></tr>";
  }
  b += "</tbody></table><p>The newest judged event was judged with <code>" +
       h(p.judged_with.empty() ? "(none yet)" : p.judged_with) +
       "</code>.</p><h2>Rules and hits</h2><p>Hit counts cover the newest 100000 archived "
       "events. Rules marked &ldquo;archive only&rdquo; hit in the past but are not in an active "
       "pack.</p><table><thead><tr><th>Pack</th><th>Version</th><th>Rule</th><th>Action</th>"
       "<th>Severity</th><th>Mode</th><th>Hits</th></tr></thead><tbody>";
  for (const auto& r : p.rows) {
    b += "<tr><td>" + h(r.pack) + "</td><td>" + h(r.version) + "</td><td><a href=\"" +
         href("/search", {{"rule", r.rule}}) + "\">" + h(r.rule) + "</a></td><td>" +
         h(r.installed ? r.action : "archive only") + "</td><td>" + h(r.severity) + "</td><td>" +
         h(r.mode) + "</td><td>" + std::to_string(r.hits) + "</td></tr>";
  }
  if (p.rows.empty()) b += "<tr><td colspan=\"7\">No rules and no rule hits yet.</td></tr>";
  return html_page(c, "Signature packs", b + "</tbody></table>");
}

response page_audit(const context& c) {
  const std::string actor = c.rq.arg("actor"), action = c.rq.arg("action");
  std::string b = "<form class=\"filters\" method=\"get\" action=\"/audit\">" +
                  field("Actor", "actor", actor) + field("Action", "action", action) +
                  "<button type=\"submit\">Filter</button></form><table><thead><tr><th>#</th>"
                  "<th>When (UTC)</th><th>Who</th><th>What</th><th>Target</th><th>Why</th></tr>"
                  "</thead><tbody>";
  const auto before = parse_id(c.rq.arg("before"));
  const auto rows = audit_page(c, before.value_or(0), actor, action, page_rows);
  for (const auto& a : rows) {
    b += "<tr><td>" + std::to_string(a.id) + "</td><td>" + h(format_time(a.at_us)) + "</td><td>" +
         h(a.actor) + "</td><td>" + h(a.action) + "</td><td>" + h(a.target) +
         "</td><td class=\"text\">" + h(a.reason) + "</td></tr>";
  }
  if (rows.empty()) b += "<tr><td colspan=\"6\">none</td></tr>";
  b += "</tbody></table>";
  if (rows.size() == page_rows && rows.back().id > 1) {
    b += "<p><a href=\"" +
         href("/audit",
              {{"actor", actor}, {"action", action}, {"before", std::to_string(rows.back().id)}}) +
         "\">Older entries</a></p>";
  }
  return html_page(c, "Audit log", b);
}

response page_users(const context& c) {
  std::string b =
      "<p>Accounts are managed with <code>imcapctl user add|list|remove</code>.</p>"
      "<table><thead><tr><th>User</th><th>Role</th><th>Created (UTC)</th></tr></thead><tbody>";
  for (const auto& u : c.archive.users()) {
    b += "<tr><td>" + h(u.name) + "</td><td>" + h(u.role) + "</td><td>" +
         h(format_time(u.created_us)) + "</td></tr>";
  }
  return html_page(c, "Users", b + "</tbody></table>");
}

}  // namespace imcap::quarantine::detail
