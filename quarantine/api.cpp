// The JSON API: the pages' data under /api/..., with the same access rules (server.cpp) and
// the same audited actions. Events are in the archive's JSON form (archive::to_json_line).

#include <boost/json.hpp>

#include "quarantine/handlers.hpp"

namespace imcap::quarantine::detail {

namespace {

namespace json = boost::json;

json::value event_json(const archive::event_record& e) {
  boost::system::error_code ec;
  auto v = json::parse(archive::to_json_line(e), ec);
  return ec ? json::value(nullptr) : v;
}

response ok(const json::value& v) {
  return json_response(200, json::serialize(v));
}

response error(unsigned status, std::string_view message) {
  json::object o;
  o["error"] = message;
  return json_response(status, json::serialize(o));
}

json::array counts(const std::vector<std::pair<std::string, std::uint64_t>>& rows) {
  json::array a;
  for (const auto& [k, n] : rows) a.push_back(json::object{{"name", k}, {"count", n}});
  return a;
}

response event_list(const context& c, const archive::query& q) {
  auto items = c.archive.search(q);
  const bool more = items.size() > page_size;
  if (more) items.resize(page_size);
  json::object o;
  json::array a;
  for (const auto& e : items) a.push_back(event_json(e));
  o["events"] = std::move(a);
  if (more) o["next_before"] = items.back().id;
  return ok(o);
}

response action(const context& c, std::string_view what) {
  const auto id = c.rq.captures.empty() ? std::nullopt : parse_id(c.rq.captures[0]);
  if (!id) return error(404, "no such item");
  const std::string why = quarantine_action(c, *id, what, c.rq.field("reason"));
  if (why == "no such item") return error(404, why);
  if (!why.empty()) return error(409, why);
  return ok(json::object{{"id", *id}, {"quarantine", what == "release" ? "released" : "deleted"}});
}

}  // namespace

response api_dashboard(const context& c) {
  const auto d = dashboard_of(c);
  json::object o;
  o["from"] = d.range.from;
  o["to"] = d.range.to;
  o["events"] = d.events;
  o["truncated"] = d.truncated;
  json::array days;
  for (const auto& day : d.days) days.push_back(json::value(day));
  o["days"] = std::move(days);
  json::array apps;
  for (std::size_t i = 0; i < d.apps.size(); ++i) {
    json::array users, msgs, atts;
    for (const auto& u : d.app_users[i].second) users.push_back(json::value(u));
    for (auto n : d.messages[i]) msgs.push_back(n);
    for (auto n : d.attachments[i]) atts.push_back(n);
    apps.push_back(json::object{{"app", d.apps[i]},
                                {"users", std::move(users)},
                                {"messages_per_day", std::move(msgs)},
                                {"attachments_per_day", std::move(atts)}});
  }
  o["apps"] = std::move(apps);
  o["verdicts"] = counts(d.verdicts);
  o["top_rules"] = counts(d.rules);
  o["top_users"] = counts(d.users);
  return ok(o);
}

response api_queue(const context& c) {
  return event_list(c, queue_query(c));
}
response api_search(const context& c) {
  return event_list(c, search_query(c));
}

response api_item(const context& c) {
  const auto id = c.rq.captures.empty() ? std::nullopt : parse_id(c.rq.captures[0]);
  const auto e = id ? c.archive.get(*id) : std::nullopt;
  if (!e) return error(404, "no such item");
  return ok(event_json(*e));
}

response api_item_release(const context& c) {
  return action(c, "release");
}
response api_item_delete(const context& c) {
  return action(c, "delete");
}

response api_conversation(const context& c) {
  const auto events = c.archive.conversation(c.rq.arg("app"), c.rq.arg("id"), 2000);
  if (events.empty()) return error(404, "no such conversation");
  audit_export(c, "conversation:" + c.rq.arg("app") + "/" + c.rq.arg("id"));
  json::array a;
  for (const auto& e : events) a.push_back(event_json(e));
  return ok(
      json::object{{"app", c.rq.arg("app")}, {"id", c.rq.arg("id")}, {"events", std::move(a)}});
}

response api_packs(const context& c) {
  const auto p = packs_of(c);
  json::array rows;
  for (const auto& r : p.rows) {
    rows.push_back(json::object{{"pack", r.pack},
                                {"version", r.version},
                                {"rule", r.rule},
                                {"action", r.action},
                                {"severity", r.severity},
                                {"mode", r.mode},
                                {"installed", r.installed},
                                {"hits", r.hits}});
  }
  json::array active;
  for (const auto& a : p.active) {
    active.push_back(json::object{{"name", a.name},
                                  {"version", a.version},
                                  {"mode", a.mode},
                                  {"rules", a.rules},
                                  {"description", a.description}});
  }
  json::object o{
      {"active", std::move(active)}, {"judged_with", p.judged_with}, {"rules", std::move(rows)}};
  if (!p.store_problem.empty()) o["store_problem"] = p.store_problem;
  return ok(o);
}

response api_audit(const context& c) {
  // ?after=ID: oldest first from there (for following the trail); otherwise newest first,
  // ?before=ID for older pages.
  const auto after = parse_id(c.rq.arg("after"));
  const auto rows = after ? c.archive.audit(*after, 500)
                          : audit_page(c, parse_id(c.rq.arg("before")).value_or(0), "", "", 500);
  json::array a;
  for (const auto& e : rows) {
    a.push_back(json::object{{"id", e.id},
                             {"at_us", e.at_us},
                             {"actor", e.actor},
                             {"action", e.action},
                             {"target", e.target},
                             {"reason", e.reason}});
  }
  return ok(json::object{{"audit", std::move(a)}});
}

response api_users(const context& c) {
  json::array a;
  for (const auto& u : c.archive.users()) {
    a.push_back(json::object{{"name", u.name}, {"role", u.role}, {"created_us", u.created_us}});
  }
  return ok(json::object{{"users", std::move(a)}});
}

}  // namespace imcap::quarantine::detail
