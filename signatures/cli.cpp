// `imcapctl sigpack validate | test | scan | help`; the store commands are handed to
// sigpack_store_command (signatures/store_cli.cpp).

#include "signatures/cli.hpp"

#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>

#include "signatures/engine.hpp"
#include "signatures/scanner.hpp"

namespace imcap::signatures {

namespace {

constexpr std::string_view usage_text =
    "usage: imcapctl sigpack COMMAND ...\n"
    "  validate FILE                 check a pack; every problem as file:line:column: reason\n"
    "  test FILE                     run every rule's must_match / must_not_match examples\n"
    "  scan FILE --text TEXT         scan a message text with the pack and show the hits\n"
    "  scan FILE --file PATH         scan a file as an attachment (streamed in 64 KiB chunks)\n"
    "      scan options: --url URL  --name ATTACHMENT_NAME  --app ID  --category CAT\n"
    "                    --transport T  --user U  --group G (repeatable)\n"
    "                    --direction outbound|inbound  --user-agent UA\n"
    "  keygen --out PREFIX           create an ed25519 key pair for signing packs\n"
    "  sign FILE --key K             sign a pack\n"
    "  verify FILE --pubkey P        check a pack's signature\n"
    "  install FILE                  install a pack into the pack store\n"
    "  list                          installed pack versions and the active one\n"
    "  rollback                      make the previously active version active again\n"
    "  help                          this text\n";

std::string printable(std::string_view s, std::size_t max) {
  std::string out;
  for (char ch : s) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(ch);
    if (u == '\n')
      out += "\\n";
    else if (u < 0x20 || u == 0x7F)
      out += '.';
    else
      out += ch;
  }
  return out;
}

std::shared_ptr<const compiled_pack> load_or_report(const std::string& file, std::ostream& err) {
  try {
    return load_pack(file);
  } catch (const pack_error& e) {
    for (const auto& p : e.problems()) err << p << '\n';
    err << file << ": " << e.problems().size() << " problem"
        << (e.problems().size() == 1 ? "" : "s") << ", pack not loaded\n";
    return nullptr;
  }
}

int cmd_validate(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  if (args.size() != 2) {
    err << "usage: imcapctl sigpack validate FILE\n";
    return 2;
  }
  auto p = load_or_report(args[1], err);
  if (!p) return 1;
  const auto id = identity_of(*p);
  out << args[1] << ": ok: pack " << id.name << " " << id.version << ", " << id.rules << " rule"
      << (id.rules == 1 ? "" : "s") << ", mode " << to_string(model_of(*p).mode) << ", sha256 "
      << id.sha256 << '\n';
  return 0;
}

int cmd_test(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  if (args.size() != 2) {
    err << "usage: imcapctl sigpack test FILE\n";
    return 2;
  }
  auto p = load_or_report(args[1], err);
  if (!p) return 1;
  const auto outcomes = run_examples(*p);
  std::size_t width = 4;
  for (const auto& o : outcomes) width = std::max(width, o.rule_id.size());
  out << std::left << std::setw(6) << "result"
      << "  " << std::setw(static_cast<int>(width)) << "rule"
      << "  " << std::setw(14) << "example"
      << "  line  input\n";
  std::size_t failed = 0;
  for (const auto& o : outcomes) {
    if (!o.passed) ++failed;
    const std::string which =
        std::string(o.must_match ? "must_match" : "must_not") + "[" + std::to_string(o.index) + "]";
    out << std::setw(6) << (o.passed ? "pass" : "FAIL") << "  "
        << std::setw(static_cast<int>(width)) << o.rule_id << "  " << std::setw(14) << which << "  "
        << std::setw(4) << o.where.line << "  " << o.shown << '\n';
  }
  for (const auto& r : model_of(*p).rules)
    if (r.must_match.empty() && r.must_not_match.empty())
      out << "note: rule '" << r.id << "' has no examples\n";
  out << outcomes.size() - failed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}

int cmd_scan(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  if (args.size() < 2) {
    err << "usage: imcapctl sigpack scan FILE (--text TEXT | --file PATH) [options]\n";
    return 2;
  }
  std::optional<std::string> text, file, url, name;
  scan_context ctx;
  for (std::size_t i = 2; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (i + 1 >= args.size()) {
      err << "sigpack scan: '" << a << "' needs a value\n";
      return 2;
    }
    const std::string& v = args[++i];
    if (a == "--text")
      text = v;
    else if (a == "--file")
      file = v;
    else if (a == "--url")
      url = v;
    else if (a == "--name")
      name = v;
    else if (a == "--app")
      ctx.app = v;
    else if (a == "--category")
      ctx.app_category = v;
    else if (a == "--transport")
      ctx.transport = v;
    else if (a == "--user")
      ctx.user = v;
    else if (a == "--group")
      ctx.groups.push_back(v);
    else if (a == "--user-agent")
      ctx.user_agent = v;
    else if (a == "--direction") {
      if (v == "outbound")
        ctx.dir = direction::outbound;
      else if (v == "inbound")
        ctx.dir = direction::inbound;
      else {
        err << "sigpack scan: --direction is outbound or inbound, not '" << v << "'\n";
        return 2;
      }
    } else {
      err << "sigpack scan: unknown option '" << a << "'\n";
      return 2;
    }
  }
  if (!text && !file && !url && !name && ctx.app.empty() && ctx.app_category.empty() &&
      ctx.user_agent.empty()) {
    err << "sigpack scan: nothing to scan (--text, --file, --url, --name, --app or --user-agent)\n";
    return 2;
  }
  auto p = load_or_report(args[1], err);
  if (!p) return 1;

  scan_input in;
  in.context = ctx;
  if (text) in.text = *text;
  if (url) in.url = *url;
  scan_result res = scan(*p, in);

  std::string content;  // the file's bytes, kept for excerpts
  if (file || name) {
    std::string shown_name = name ? *name : std::filesystem::path(*file).filename().string();
    attachment_stream st(p, ctx, shown_name, 0);
    if (file) {
      std::ifstream f(*file, std::ios::binary);
      if (!f) {
        err << "sigpack scan: cannot read " << *file << '\n';
        return 2;
      }
      std::string chunk(64 * 1024, '\0');
      while (f) {
        f.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
        const auto n = static_cast<std::size_t>(f.gcount());
        if (n == 0) break;
        st.write(std::string_view(chunk.data(), n));
        if (content.size() < 16 * 1024 * 1024) content.append(chunk.data(), n);
      }
    }
    auto r = st.finish();
    for (auto& h : r.hits) res.hits.push_back(std::move(h));
    if (r.status != scan_status::ok && res.status == scan_status::ok) {
      res.status = r.status;
      res.error = r.error;
    }
    name = shown_name;
  }

  for (const auto& h : res.hits) {
    std::string_view bytes;
    switch (h.where) {
      case part::text:
        bytes = in.text;
        break;
      case part::url:
        bytes = in.url;
        break;
      case part::attachment_name:
        bytes = *name;
        break;
      case part::attachment_content:
        bytes = content;
        break;
      case part::app:
        bytes = ctx.app;
        break;
      case part::user_agent:
        bytes = ctx.user_agent;
        break;
    }
    std::string excerpt;
    if (!h.detail.empty())
      excerpt = h.detail;
    else if (h.end <= bytes.size())
      excerpt = "\"" + printable(bytes.substr(h.begin, h.end - h.begin), 60) + "\"";
    out << h.rule_id << "  " << to_string(h.act) << (h.monitor ? " (monitor)" : "") << "  "
        << to_string(h.sev) << "  " << to_string(h.where) << " [" << h.begin << ", " << h.end
        << ")  " << excerpt << '\n';
  }
  out << res.hits.size() << " hit" << (res.hits.size() == 1 ? "" : "s") << " (pack "
      << model_of(*p).name << " " << model_of(*p).version << ")\n";
  if (res.status == scan_status::engine_error) {
    err << "sigpack scan: " << res.error << '\n';
    return 1;
  }
  if (res.status == scan_status::limit_reached) err << "sigpack scan: a scan limit was reached\n";
  return 0;
}

}  // namespace

int sigpack_command(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << usage_text;
    return 2;
  }
  const std::string& cmd = args[0];
  if (cmd == "help" || cmd == "--help" || cmd == "-h") {
    out << usage_text;
    return 0;
  }
  if (cmd == "validate") return cmd_validate(args, out, err);
  if (cmd == "test") return cmd_test(args, out, err);
  if (cmd == "scan") return cmd_scan(args, out, err);
  if (cmd == "keygen" || cmd == "sign" || cmd == "verify" || cmd == "install" || cmd == "list" ||
      cmd == "rollback")
    return sigpack_store_command(args, out, err);
  err << "imcapctl sigpack: unknown command '" << cmd << "'\n" << usage_text;
  return 2;
}

}  // namespace imcap::signatures
