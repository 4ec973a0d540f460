// Pack signing: keygen, sign, verify through the same command function imcapctl runs.

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "signatures/cli.hpp"
#include "signatures/signing.hpp"

namespace fs = std::filesystem;
using namespace imcap::signatures;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "imcap-signing-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write(const fs::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << s;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct run_result {
  int rc;
  std::string out;
  std::string err;
};

run_result run(std::vector<std::string> args) {
  std::ostringstream out, err;
  const int rc = sigpack_store_command(args, out, err);
  return {rc, out.str(), err.str()};
}

const std::string pack_text =
    "name = \"demo\"\nversion = \"1.0.0\"\n[[rule]]\nid = \"r1\"\nkeywords = [\"secret\"]\n";

}  // namespace

TEST_CASE("keygen writes a 0600 secret key and a public key with the same key id") {
  temp_dir t;
  const auto r = run({"keygen", "--out", (t.path / "team").string()});
  REQUIRE(r.rc == 0);
  struct stat st {};
  REQUIRE(::stat((t.path / "team.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const public_key pub = read_public_key(t.path / "team.pub");
  const secret_key sec = read_secret_key(t.path / "team.key");
  CHECK(sec.public_part().bytes == pub.bytes);
  CHECK(r.out.find(pub.key_id()) != std::string::npos);
  CHECK(slurp(t.path / "team.pub").starts_with("imcap-sigpack-public-key v1 " + pub.key_id()));

  SECTION("an existing secret key is never overwritten") {
    const std::string before = slurp(t.path / "team.key");
    const auto again = run({"keygen", "--out", (t.path / "team").string()});
    CHECK(again.rc == 1);
    CHECK(again.err.find("team.key") != std::string::npos);
    CHECK(slurp(t.path / "team.key") == before);
  }
}

TEST_CASE("sign then verify: good, changed byte, wrong key, truncated signature") {
  temp_dir t;
  REQUIRE(run({"keygen", "--out", (t.path / "team").string()}).rc == 0);
  REQUIRE(run({"keygen", "--out", (t.path / "other").string()}).rc == 0);
  const fs::path pack = t.path / "demo.toml";
  write(pack, pack_text);
  const auto s = run({"sign", pack.string(), "--key", (t.path / "team.key").string()});
  REQUIRE(s.rc == 0);
  REQUIRE(fs::exists(t.path / "demo.toml.sig"));

  SECTION("good signature verifies") {
    const auto v = run({"verify", pack.string(), "--pubkey", (t.path / "team.pub").string()});
    CHECK(v.rc == 0);
    CHECK(v.out.find("good signature") != std::string::npos);
  }
  SECTION("a directory of trusted keys is accepted") {
    fs::create_directory(t.path / "trusted");
    fs::copy_file(t.path / "other.pub", t.path / "trusted" / "other.pub");
    fs::copy_file(t.path / "team.pub", t.path / "trusted" / "team.pub");
    CHECK(run({"verify", pack.string(), "--pubkey", (t.path / "trusted").string()}).rc == 0);
  }
  SECTION("one changed byte in the pack fails") {
    std::string changed = pack_text;
    changed[changed.find("1.0.0")] = '2';
    write(pack, changed);
    const auto v = run({"verify", pack.string(), "--pubkey", (t.path / "team.pub").string()});
    CHECK(v.rc == 1);
    CHECK(v.err.find("BAD signature") != std::string::npos);
    CHECK(verify_file(pack, std::vector{read_public_key(t.path / "team.pub")}).status ==
          verify_status::bad_signature);
  }
  SECTION("an appended byte fails") {
    write(pack, pack_text + "\n");
    CHECK(run({"verify", pack.string(), "--pubkey", (t.path / "team.pub").string()}).rc == 1);
  }
  SECTION("the wrong key fails and names the signing key") {
    const auto v = run({"verify", pack.string(), "--pubkey", (t.path / "other.pub").string()});
    CHECK(v.rc == 1);
    CHECK(v.err.find("not a trusted key") != std::string::npos);
    CHECK(v.err.find(read_public_key(t.path / "team.pub").key_id()) != std::string::npos);
  }
  SECTION("a truncated .sig gives a clear error") {
    const std::string sig = slurp(t.path / "demo.toml.sig");
    write(t.path / "demo.toml.sig", sig.substr(0, sig.size() - 20));
    const auto v = run({"verify", pack.string(), "--pubkey", (t.path / "team.pub").string()});
    CHECK(v.rc == 1);
    CHECK(v.err.find("truncated or corrupt") != std::string::npos);
    write(t.path / "demo.toml.sig", sig.substr(0, 10));
    const auto v2 = run({"verify", pack.string(), "--pubkey", (t.path / "team.pub").string()});
    CHECK(v2.rc == 1);
    CHECK(v2.err.find("truncated") != std::string::npos);
  }
  SECTION("a missing .sig is reported as missing") {
    fs::remove(t.path / "demo.toml.sig");
    const auto v = run({"verify", pack.string(), "--pubkey", (t.path / "team.pub").string()});
    CHECK(v.rc == 1);
    CHECK(v.err.find("no signature") != std::string::npos);
  }
  SECTION("a signature swapped in from another file fails") {
    const fs::path other_pack = t.path / "other.toml";
    write(other_pack, "name = \"other\"\n");
    REQUIRE(run({"sign", other_pack.string(), "--key", (t.path / "team.key").string()}).rc == 0);
    fs::copy_file(t.path / "other.toml.sig", t.path / "demo.toml.sig",
                  fs::copy_options::overwrite_existing);
    CHECK(run({"verify", pack.string(), "--pubkey", (t.path / "team.pub").string()}).rc == 1);
  }
}

TEST_CASE("signing commands report usage and key errors") {
  temp_dir t;
  // A FIFO named as a key is refused at once instead of blocking on open.
  REQUIRE(::mkfifo((t.path / "fifo.pub").c_str(), 0600) == 0);
  const auto fifo = run({"verify", "x.toml", "--pubkey", (t.path / "fifo.pub").string()});
  CHECK(fifo.rc == 1);
  CHECK(fifo.err.find("not a regular file") != std::string::npos);
  CHECK(run({"keygen"}).rc == 2);
  CHECK(run({"sign", "x.toml"}).rc == 2);
  CHECK(run({"verify", "x.toml"}).rc == 2);
  CHECK(run({"verify", "x.toml", "--bogus", "1"}).rc == 2);
  write(t.path / "bad.pub", "hello\n");
  const auto v = run({"verify", "x.toml", "--pubkey", (t.path / "bad.pub").string()});
  CHECK(v.rc == 1);
  CHECK(v.err.find("not an imcap public key") != std::string::npos);
  write(t.path / "demo.toml", pack_text);
  const auto s =
      run({"sign", (t.path / "demo.toml").string(), "--key", (t.path / "missing.key").string()});
  CHECK(s.rc == 1);
  CHECK(s.err.find("missing.key") != std::string::npos);
}
