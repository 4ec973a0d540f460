// `imcapctl sigpack keygen | sign | verify | install | list | rollback`.

#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "signatures/cli.hpp"
#include "signatures/signing.hpp"

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
  err << "imcapctl sigpack " << cmd << ": " << why << "\nusage: imcapctl sigpack " << usage
      << "\n";
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
    out << "wrote " << *name << ".key (secret, mode 0600) and " << *name
        << ".pub (public); key id " << pk.key_id() << "\n";
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
      verify_file(p.positional[0], keys, sig != nullptr ? std::filesystem::path(*sig)
                                                        : std::filesystem::path());
  if (r.ok()) {
    out << r.message << "\n";
    return 0;
  }
  err << "imcapctl sigpack verify: " << r.message << "\n";
  return 1;
}

}  // namespace

int sigpack_store_command(std::span<const std::string> args, std::ostream& out,
                          std::ostream& err) {
  if (args.empty()) {
    err << "imcapctl sigpack: missing subcommand\n";
    return 2;
  }
  const std::string& cmd = args[0];
  if (cmd == "keygen") return cmd_keygen(args, out, err);
  if (cmd == "sign") return cmd_sign(args, out, err);
  if (cmd == "verify") return cmd_verify(args, out, err);
  err << "imcapctl sigpack: unknown subcommand '" << cmd << "'\n";
  return 2;
}

}  // namespace imcap::signatures
