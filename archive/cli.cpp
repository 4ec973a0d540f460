// `imcapctl archive search | show | export | verify | purge | hold | help`.

#include "archive/cli.hpp"

#include <pwd.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <map>
#include <ostream>
#include <vector>

#include "archive/archive.hpp"
#include "archive/export.hpp"
#include "archive/settings.hpp"

namespace imcap::archive {

namespace {

constexpr std::string_view usage_text =
    "usage: imcapctl archive COMMAND [--config imcapd.toml] [--path DIR] ...\n"
    "  search [QUERY]                 matching events as JSON lines, newest first\n"
    "  show ID                        one event as indented JSON (hits, attachments)\n"
    "  export --format jsonl|eml [QUERY] [--out DIR] [--newest-first]\n"
    "                                 jsonl: every matching event; eml: one RFC 5322 message\n"
    "                                 per conversation with attachments (stdout: mbox)\n"
    "  verify                         check the hash chains and indexes; exit 1 and one line\n"
    "                                 per problem when records were modified or deleted\n"
    "  purge [--now TIME]             remove events older than archive.retention_days unless\n"
    "                                 under a legal hold\n"
    "  hold add SUBJECT --reason R    legal hold on user:ID, conversation:ID or event:ID\n"
    "  hold remove SUBJECT --reason R\n"
    "  hold list\n"
    "  help                           this text\n"
    "QUERY options: --user U  --peer P  --conversation C  --app A  --verdict V  --rule R\n"
    "  --text T (case-insensitive substring)  --quarantine STATE\n"
    "  --from TIME  --to TIME (RFC 3339 or YYYY-MM-DD; --to is exclusive, a bare date\n"
    "  includes that whole day)  --after ID  --before ID  --oldest-first  --limit N\n";

struct parsed_args {
  std::vector<std::string> positional;
  std::map<std::string, std::string, std::less<>> options;
  std::vector<std::string> flags;
  std::string error;

  const std::string* option(std::string_view name) const {
    auto it = options.find(name);
    return it == options.end() ? nullptr : &it->second;
  }
  bool flag(std::string_view name) const {
    return std::find(flags.begin(), flags.end(), name) != flags.end();
  }
};

constexpr std::string_view query_options[] = {
    "--user",       "--peer", "--conversation", "--app",   "--verdict", "--rule", "--text",
    "--quarantine", "--from", "--to",           "--after", "--before",  "--limit"};

parsed_args parse(std::span<const std::string> args, std::vector<std::string_view> opts,
                  std::vector<std::string_view> flags = {}) {
  opts.push_back("--config");
  opts.push_back("--path");
  parsed_args p;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!a.starts_with("--")) {
      p.positional.push_back(a);
      continue;
    }
    if (std::find(flags.begin(), flags.end(), a) != flags.end()) {
      p.flags.push_back(a);
    } else if (std::find(opts.begin(), opts.end(), a) != opts.end()) {
      if (i + 1 >= args.size()) {
        p.error = "option " + a + " needs a value";
        return p;
      }
      p.options[a] = args[++i];
    } else {
      p.error = "unknown option " + a;
      return p;
    }
  }
  return p;
}

int usage_error(std::ostream& err, std::string_view cmd, const std::string& why) {
  err << "imcapctl archive " << cmd << ": " << why << "\n" << usage_text;
  return 2;
}

// Settings from --config (or the defaults), then --path.
bool load_settings(const parsed_args& p, std::string_view cmd, std::ostream& err, settings& s) {
  try {
    if (const std::string* conf = p.option("--config")) s = load_archive_settings(*conf);
  } catch (const std::exception& e) {
    err << "imcapctl archive " << cmd << ": " << e.what() << "\n";
    return false;
  }
  if (const std::string* dir = p.option("--path")) s.path = *dir;
  return true;
}

std::unique_ptr<store> open_store(const settings& s, store::open_mode mode, std::string_view cmd,
                                  std::ostream& err) {
  try {
    return store::open(s, mode);
  } catch (const archive_error& e) {
    err << "imcapctl archive " << cmd << ": " << e.what() << "\n";
    return nullptr;
  }
}

bool parse_u64(const std::string& s, std::uint64_t& v) {
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Builds the query from the QUERY options; "" on success, else the problem.
std::string query_of(const parsed_args& p, query& q) {
  auto str = [&](std::string_view name, std::string& field) {
    if (const std::string* v = p.option(name)) field = *v;
  };
  str("--user", q.user);
  str("--peer", q.peer);
  str("--conversation", q.conversation);
  str("--app", q.app);
  str("--verdict", q.verdict);
  str("--rule", q.rule);
  str("--text", q.text);
  str("--quarantine", q.quarantine);
  if (const std::string* v = p.option("--from")) {
    q.from_us = parse_time(*v);
    if (!q.from_us) return "--from: expected RFC 3339 or YYYY-MM-DD, got '" + *v + "'";
  }
  if (const std::string* v = p.option("--to")) {
    q.to_us = parse_time(*v, true);
    if (!q.to_us) return "--to: expected RFC 3339 or YYYY-MM-DD, got '" + *v + "'";
  }
  if (const std::string* v = p.option("--after"); v && !parse_u64(*v, q.after_id))
    return "--after: expected an event id";
  if (const std::string* v = p.option("--before"); v && !parse_u64(*v, q.before_id))
    return "--before: expected an event id";
  if (q.after_id != 0 && q.before_id != 0) return "--after and --before exclude each other";
  q.newest_first = !p.flag("--oldest-first");
  if (const std::string* v = p.option("--limit")) {
    std::uint64_t n = 0;
    if (!parse_u64(*v, n) || n == 0) return "--limit: expected a positive number";
    q.limit = static_cast<std::size_t>(n);
  }
  return {};
}

std::vector<std::string_view> with_query(std::vector<std::string_view> extra = {}) {
  std::vector<std::string_view> v(std::begin(query_options), std::end(query_options));
  v.insert(v.end(), extra.begin(), extra.end());
  return v;
}

// Every event matching `q` (paging through the store), calling `each` in order.
template <typename Each>
void for_each_match(const store& s, query q, std::uint64_t max, Each each) {
  const bool newest_first = q.after_id == 0 && (q.before_id != 0 || q.newest_first);
  std::uint64_t seen = 0;
  for (;;) {
    query page = q;
    page.limit = static_cast<std::size_t>(std::min<std::uint64_t>(1000, max - seen));
    if (page.limit == 0) return;
    const auto r = s.search(page);
    for (const auto& e : r) each(e);
    seen += r.size();
    if (r.size() < page.limit) return;
    if (newest_first) {
      q.before_id = r.back().id;
      q.after_id = 0;
    } else {
      q.after_id = r.back().id;
      q.before_id = 0;
      q.newest_first = false;
    }
  }
}

int cmd_search(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  const auto p = parse(args, with_query(), {"--oldest-first"});
  if (!p.error.empty()) return usage_error(err, "search", p.error);
  if (!p.positional.empty()) return usage_error(err, "search", "unexpected " + p.positional[0]);
  query q;
  if (auto why = query_of(p, q); !why.empty()) return usage_error(err, "search", why);
  settings s;
  if (!load_settings(p, "search", err, s)) return 2;
  auto st = open_store(s, store::open_mode::read_only, "search", err);
  if (!st) return 1;
  for (const auto& e : st->search(q)) out << to_json_line(e) << '\n';
  return 0;
}

int cmd_show(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  const auto p = parse(args, {});
  if (!p.error.empty()) return usage_error(err, "show", p.error);
  std::uint64_t id = 0;
  if (p.positional.size() != 1 || !parse_u64(p.positional[0], id))
    return usage_error(err, "show", "expected one event id");
  settings s;
  if (!load_settings(p, "show", err, s)) return 2;
  auto st = open_store(s, store::open_mode::read_only, "show", err);
  if (!st) return 1;
  auto e = st->get(id);
  if (!e) {
    err << "imcapctl archive show: no event " << id << "\n";
    return 1;
  }
  out << pretty_json(to_json_line(*e)) << '\n';
  return 0;
}

// mboxrd framing for several messages on standard output.
void write_mbox(std::ostream& out, const std::string& msg, std::int64_t at_us) {
  out << "From imcap@imcap.invalid " << rfc3339(at_us) << "\n";
  std::size_t start = 0;
  while (start < msg.size()) {
    auto end = msg.find('\n', start);
    if (end == std::string::npos) end = msg.size() - 1;
    std::string_view line(msg.data() + start, end + 1 - start);
    std::size_t k = 0;
    while (k < line.size() && line[k] == '>') ++k;
    if (line.substr(k).starts_with("From ")) out << '>';
    out << line;
    start = end + 1;
  }
  out << "\n";
}

int cmd_export(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  const auto p = parse(args, with_query({"--format", "--out"}), {"--newest-first"});
  if (!p.error.empty()) return usage_error(err, "export", p.error);
  if (!p.positional.empty()) return usage_error(err, "export", "unexpected " + p.positional[0]);
  const std::string* format = p.option("--format");
  if (format == nullptr || (*format != "jsonl" && *format != "eml"))
    return usage_error(err, "export", "--format jsonl or --format eml is required");
  query q;
  if (auto why = query_of(p, q); !why.empty()) return usage_error(err, "export", why);
  const std::uint64_t max =
      p.option("--limit") != nullptr ? q.limit : std::numeric_limits<std::uint64_t>::max();
  q.newest_first = p.flag("--newest-first");  // exports run in id (commit) order by default
  settings s;
  if (!load_settings(p, "export", err, s)) return 2;
  auto st = open_store(s, store::open_mode::read_only, "export", err);
  if (!st) return 1;
  const std::string* dir = p.option("--out");
  if (dir != nullptr) {
    std::error_code ec;
    std::filesystem::create_directories(*dir, ec);
    if (ec) {
      err << "imcapctl archive export: " << *dir << ": " << ec.message() << "\n";
      return 1;
    }
  }
  if (*format == "jsonl") {
    std::ofstream file;
    std::ostream* o = &out;
    if (dir != nullptr) {
      file.open(std::filesystem::path(*dir) / "events.jsonl", std::ios::binary);
      o = &file;
    }
    std::uint64_t n = 0;
    for_each_match(*st, q, max, [&](const event_record& e) {
      *o << to_json_line(e) << '\n';
      ++n;
    });
    if (dir != nullptr) {
      file.close();
      if (!file) {
        err << "imcapctl archive export: cannot write " << *dir << "/events.jsonl\n";
        return 1;
      }
      out << n << " events written to " << *dir << "/events.jsonl\n";
    }
    return 0;
  }
  // EML: the matching events grouped by conversation, each group in time order.
  std::map<std::pair<std::string, std::string>, std::vector<event_record>> groups;
  for_each_match(*st, q, max, [&](const event_record& e) {
    groups[{e.app, e.conversation_id}].push_back(e);
  });
  const content_lookup lookup = [&](std::string_view sha) { return st->attachment_content(sha); };
  std::size_t index = 0;
  for (auto& [key, events] : groups) {
    std::stable_sort(events.begin(), events.end(),
                     [](const auto& a, const auto& b) { return a.seen_us < b.seen_us; });
    const std::string msg = conversation_eml(events, lookup);
    ++index;
    if (dir == nullptr) {
      write_mbox(out, msg, events.front().seen_us);
      continue;
    }
    const auto file =
        std::filesystem::path(*dir) / ("conversation-" + std::to_string(index) + ".eml");
    std::ofstream f(file, std::ios::binary);
    f << msg;
    f.close();
    if (!f) {
      err << "imcapctl archive export: cannot write " << file.string() << "\n";
      return 1;
    }
  }
  if (dir != nullptr) out << groups.size() << " conversations written to " << *dir << "\n";
  return 0;
}

int cmd_verify(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  const auto p = parse(args, {});
  if (!p.error.empty()) return usage_error(err, "verify", p.error);
  settings s;
  if (!load_settings(p, "verify", err, s)) return 2;
  auto st = open_store(s, store::open_mode::read_only, "verify", err);
  if (!st) return 1;
  const auto rep = st->verify();
  for (const auto& problem : rep.problems) out << problem << '\n';
  if (!rep.ok()) {
    err << "imcapctl archive verify: " << rep.problems.size() << " problem"
        << (rep.problems.size() == 1 ? "" : "s") << " in " << s.path.string() << "\n";
    return 1;
  }
  out << "ok: " << rep.events_checked << " events and " << rep.audit_checked
      << " audit entries verified\n";
  return 0;
}

std::string actor() {
  std::string name = std::to_string(::geteuid());
  if (const passwd* pw = ::getpwuid(::geteuid()); pw != nullptr && pw->pw_name != nullptr)
    name = pw->pw_name;
  return "imcapctl:" + name;
}

int cmd_purge(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  const auto p = parse(args, {"--now"});
  if (!p.error.empty()) return usage_error(err, "purge", p.error);
  std::int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  if (const std::string* v = p.option("--now")) {
    auto t = parse_time(*v);
    if (!t) return usage_error(err, "purge", "--now: expected RFC 3339 or YYYY-MM-DD");
    now = *t;
  }
  settings s;
  if (!load_settings(p, "purge", err, s)) return 2;
  auto st = open_store(s, store::open_mode::read_write, "purge", err);
  if (!st) return 1;
  const auto r = st->purge(now);
  out << "purged " << r.events_removed << " events, kept " << r.events_held
      << " under legal hold, removed " << r.contents_removed << " attachment contents\n";
  return 0;
}

int cmd_hold(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  const auto p = parse(args, {"--reason"});
  if (!p.error.empty()) return usage_error(err, "hold", p.error);
  if (p.positional.empty()) return usage_error(err, "hold", "expected add, remove or list");
  const std::string& sub = p.positional[0];
  settings s;
  if (!load_settings(p, "hold", err, s)) return 2;
  if (sub == "list") {
    auto st = open_store(s, store::open_mode::read_only, "hold", err);
    if (!st) return 1;
    for (const auto& h : st->holds()) out << h << '\n';
    return 0;
  }
  if ((sub != "add" && sub != "remove") || p.positional.size() != 2)
    return usage_error(err, "hold", "expected hold add|remove SUBJECT --reason R");
  const std::string* reason = p.option("--reason");
  if (reason == nullptr || reason->empty())
    return usage_error(err, "hold", "--reason is required (it goes into the audit trail)");
  auto st = open_store(s, store::open_mode::read_write, "hold", err);
  if (!st) return 1;
  audit_entry why;
  why.actor = actor();
  why.reason = *reason;
  const auto ec =
      sub == "add" ? st->add_hold(p.positional[1], why) : st->remove_hold(p.positional[1], why);
  if (ec) {
    err << "imcapctl archive hold " << sub << " " << p.positional[1] << ": "
        << (ec == std::errc::invalid_argument
                ? std::string("expected user:ID, conversation:ID or event:ID")
                : ec.message())
        << "\n";
    return 1;
  }
  out << (sub == "add" ? "hold added: " : "hold removed: ") << p.positional[1] << '\n';
  return 0;
}

}  // namespace

int archive_command(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  if (args.empty() || args[0] == "help" || args[0] == "--help") {
    (args.empty() ? err : out) << usage_text;
    return args.empty() ? 2 : 0;
  }
  const std::string& cmd = args[0];
  if (cmd == "search") return cmd_search(args, out, err);
  if (cmd == "show") return cmd_show(args, out, err);
  if (cmd == "export") return cmd_export(args, out, err);
  if (cmd == "verify") return cmd_verify(args, out, err);
  if (cmd == "purge") return cmd_purge(args, out, err);
  if (cmd == "hold") return cmd_hold(args, out, err);
  err << "imcapctl archive: unknown command '" << cmd << "'\n" << usage_text;
  return 2;
}

}  // namespace imcap::archive
