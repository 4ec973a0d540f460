// `imcapctl sigpack keygen | sign | verify | install | list | rollback`.

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "signatures/cli.hpp"
#include "signatures/settings.hpp"
#include "signatures/signing.hpp"
#include "signatures/store.hpp"

namespace imcap::signatures {

namespace {

// "--name value" options and positional arguments; anything else is a usage error.
struct parsed_args {
  std::vector<std::string> positional;
  std::vector<std::pair<std::string, std::string>> options;
  std::vector<std::string> flags;
  std::string error;

  const std::string* option(std::string_view name) const {
    for (const auto& [k, v] : options) {
      if (k == name) return &v;
    }
    return nullptr;
  }
  bool flag(std::string_view name) const {
    for (const auto& f : flags) {
      if (f == name) return true;
    }
    return false;
  }
};

parsed_args parse(std::span<const std::string> args, std::initializer_list<std::string_view> opts,
                  std::initializer_list<std::string_view> flags = {}) {
  parsed_args p;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.starts_with("--")) {
      bool known = false;
      for (auto o : opts) {
        if (a == o) {
          known = true;
          if (i + 1 >= args.size()) {
            p.error = "option " + a + " needs a value";
            return p;
          }
          p.options.emplace_back(a, args[++i]);
        }
      }
      for (auto f : flags) {
        if (a == f) {
          known = true;
          p.flags.push_back(a);
        }
      }
      if (!known) {
        p.error = "unknown option " + a;
        return p;
      }
    } else {
      p.positional.push_back(a);
    }
  }
  return p;
}

int usage_error(std::ostream& err, std::string_view cmd, const std::string& why,
                std::string_view usage) {
  err << "imcapctl sigpack " << cmd << ": " << why << "\nusage: imcapctl sigpack " << usage << "\n";
  return 2;
}

int cmd_keygen(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  constexpr std::string_view usage = "keygen --out NAME   (writes NAME.key and NAME.pub)";
  const auto p = parse(args, {"--out"});
  if (!p.error.empty()) return usage_error(err, "keygen", p.error, usage);
  const std::string* name = p.option("--out");
  if (name == nullptr || !p.positional.empty()) {
    return usage_error(err, "keygen", "--out NAME is required", usage);
  }
  try {
    const public_key pk = write_key_pair(*name);
    out << "wrote " << *name << ".key (secret, mode 0600) and " << *name << ".pub (public); key id "
        << pk.key_id() << "\n";
    return 0;
  } catch (const signing_error& e) {
    err << "imcapctl sigpack keygen: " << e.what() << "\n";
    return 1;
  }
}

int cmd_sign(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  constexpr std::string_view usage = "sign FILE --key NAME.key";
  const auto p = parse(args, {"--key"});
  if (!p.error.empty()) return usage_error(err, "sign", p.error, usage);
  const std::string* key = p.option("--key");
  if (key == nullptr || p.positional.size() != 1) {
    return usage_error(err, "sign", "FILE and --key are required", usage);
  }
  try {
    const secret_key sk = read_secret_key(*key);
    const auto sig = sign_file(p.positional[0], sk);
    out << "wrote " << sig.string() << " (key id " << sk.public_part().key_id() << ")\n";
    return 0;
  } catch (const signing_error& e) {
    err << "imcapctl sigpack sign: " << e.what() << "\n";
    return 1;
  }
}

int cmd_verify(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  constexpr std::string_view usage =
      "verify FILE --pubkey KEY.pub|DIR [--sig FILE.sig]   (exit 0 good, 1 bad)";
  const auto p = parse(args, {"--pubkey", "--sig"});
  if (!p.error.empty()) return usage_error(err, "verify", p.error, usage);
  const std::string* pub = p.option("--pubkey");
  if (pub == nullptr || p.positional.size() != 1) {
    return usage_error(err, "verify", "FILE and --pubkey are required", usage);
  }
  std::vector<public_key> keys;
  try {
    keys = read_public_keys(*pub);
  } catch (const signing_error& e) {
    err << "imcapctl sigpack verify: " << e.what() << "\n";
    return 1;
  }
  const std::string* sig = p.option("--sig");
  const verify_result r =
      verify_file(p.positional[0], keys,
                  sig != nullptr ? std::filesystem::path(*sig) : std::filesystem::path());
  if (r.ok()) {
    out << r.message << "\n";
    return 0;
  }
  err << "imcapctl sigpack verify: " << r.message << "\n";
  return 1;
}

// Store and policy: --config FILE's [signatures] section (or the defaults), then --store.
bool store_settings(const parsed_args& p, std::string_view cmd, std::ostream& err,
                    signatures_settings& s) {
  try {
    if (const std::string* conf = p.option("--config")) s = load_signatures_settings(*conf);
  } catch (const std::exception& e) {
    err << "imcapctl sigpack " << cmd << ": " << e.what() << "\n";
    return false;
  }
  if (const std::string* dir = p.option("--store")) s.store_dir = *dir;
  return true;
}

int cmd_install(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  constexpr std::string_view usage =
      "install FILE [--config imcapd.toml] [--store DIR]\n"
      "  checks FILE.sig against signatures.trusted_keys (required when\n"
      "  signatures.require_signed is on), compiles the pack, copies it into the store and\n"
      "  makes it active; send SIGHUP to imcapd to load it";
  const auto p = parse(args, {"--config", "--store"});
  if (!p.error.empty()) return usage_error(err, "install", p.error, usage);
  if (p.positional.size() != 1) return usage_error(err, "install", "FILE is required", usage);
  signatures_settings s;
  if (!store_settings(p, "install", err, s)) return 1;
  install_policy policy;
  policy.require_signed = s.require_signed;
  policy.trusted = s.trusted_keys;
  policy.cache_dir = s.cache_dir;
  try {
    pack_store store(s.store_dir);
    const install_outcome o = store.install(p.positional[0], policy);
    out << (o.already_installed ? "already installed: " : "installed ") << o.name << " "
        << o.version << " (" << o.rules << " rules, sha256 " << o.sha256.substr(0, 16) << ", "
        << (o.signed_by.empty() ? std::string("unsigned") : "signed by " + o.signed_by) << ") into "
        << s.store_dir.string() << "; active";
    if (!o.previous_active.empty() && o.previous_active != o.version) {
      out << " (was " << o.previous_active << ")";
    }
    out << "\nsend SIGHUP to imcapd to load it\n";
    return 0;
  } catch (const store_error& e) {
    for (const auto& line : e.problems()) err << line << "\n";
    return 1;
  }
}

int cmd_list(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  constexpr std::string_view usage = "list [--config imcapd.toml] [--store DIR]";
  const auto p = parse(args, {"--config", "--store"});
  if (!p.error.empty() || !p.positional.empty()) {
    return usage_error(err, "list", p.error.empty() ? "unexpected argument" : p.error, usage);
  }
  signatures_settings s;
  if (!store_settings(p, "list", err, s)) return 1;
  try {
    const auto packs = pack_store(s.store_dir).list();
    if (packs.empty()) out << "no packs installed in " << s.store_dir.string() << "\n";
    for (const auto& pk : packs) {
      out << pk.name << " (active: " << (pk.active.empty() ? "none" : pk.active) << ")\n";
      for (const auto& v : pk.versions) {
        out << (v.active ? "  * " : "    ") << v.version << "  "
            << (v.signed_by.empty() ? std::string("unsigned") : "signed by " + v.signed_by) << "\n";
      }
    }
    return 0;
  } catch (const store_error& e) {
    err << "imcapctl sigpack list: " << e.what() << "\n";
    return 1;
  }
}

int cmd_rollback(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  constexpr std::string_view usage = "rollback NAME [--config imcapd.toml] [--store DIR]";
  const auto p = parse(args, {"--config", "--store"});
  if (!p.error.empty()) return usage_error(err, "rollback", p.error, usage);
  if (p.positional.size() != 1) return usage_error(err, "rollback", "NAME is required", usage);
  signatures_settings s;
  if (!store_settings(p, "rollback", err, s)) return 1;
  try {
    const std::string v = pack_store(s.store_dir).rollback(p.positional[0]);
    out << p.positional[0] << ": version " << v
        << " is active again\nsend SIGHUP to imcapd to load it\n";
    return 0;
  } catch (const store_error& e) {
    err << "imcapctl sigpack rollback: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace

int sigpack_store_command(std::span<const std::string> args, std::ostream& out, std::ostream& err) {
  if (args.empty()) {
    err << "imcapctl sigpack: missing subcommand\n";
    return 2;
  }
  const std::string& cmd = args[0];
  if (cmd == "keygen") return cmd_keygen(args, out, err);
  if (cmd == "sign") return cmd_sign(args, out, err);
  if (cmd == "verify") return cmd_verify(args, out, err);
  if (cmd == "install") return cmd_install(args, out, err);
  if (cmd == "list") return cmd_list(args, out, err);
  if (cmd == "rollback") return cmd_rollback(args, out, err);
  err << "imcapctl sigpack: unknown subcommand '" << cmd << "'\n";
  return 2;
}

}  // namespace imcap::signatures
