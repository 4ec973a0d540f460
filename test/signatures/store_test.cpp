// The pack store (install, list, rollback, refusals), the [signatures] settings and the
// service imcapd reloads on SIGHUP. Real packs (the shipped secrets pack), real files on disk.

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "signatures/cli.hpp"
#include "signatures/service.hpp"
#include "signatures/settings.hpp"
#include "signatures/signing.hpp"
#include "signatures/store.hpp"

namespace fs = std::filesystem;
using namespace imcap::signatures;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "imcap-store-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write(const fs::path& p, const std::string& s) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << s;
}

const fs::path shipped_secrets = fs::path(IMCAP_SOURCE_DIR) / "signatures/packs/secrets.toml";

// The shipped secrets pack with another version number.
fs::path secrets_version(const fs::path& dir, const std::string& version) {
  std::string text = slurp(shipped_secrets);
  const auto at = text.find("version = \"1.0.0\"");
  REQUIRE(at != std::string::npos);
  text.replace(at, std::string("version = \"1.0.0\"").size(), "version = \"" + version + "\"");
  const fs::path p = dir / ("secrets-" + version + ".toml");
  write(p, text);
  return p;
}

// A pack that does not load: an unknown top-level key on line 3.
fs::path broken_pack(const fs::path& dir) {
  const fs::path p = dir / "broken.toml";
  write(p, "name = \"secrets\"\nversion = \"9.9.9\"\nverison = \"typo\"\n" +
               slurp(shipped_secrets).substr(slurp(shipped_secrets).find("[[rule]]")));
  return p;
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

std::string active_of(const pack_store& s, const std::string& name) {
  for (const auto& p : s.list()) {
    if (p.name == name) return p.active;
  }
  return "<absent>";
}

}  // namespace

TEST_CASE("store: install, list, a second version, rollback") {
  temp_dir t;
  pack_store store(t.path / "packs");
  CHECK(store.list().empty());

  const auto o1 = store.install(secrets_version(t.path, "1.0.0"), {});
  CHECK(o1.name == "secrets");
  CHECK(o1.version == "1.0.0");
  CHECK(o1.rules > 0);
  CHECK(o1.signed_by.empty());
  CHECK(o1.previous_active.empty());
  CHECK(slurp(t.path / "packs/secrets/1.0.0/pack.toml") == slurp(t.path / "secrets-1.0.0.toml"));
  CHECK(active_of(store, "secrets") == "1.0.0");

  const auto o2 = store.install(secrets_version(t.path, "1.1.0"), {});
  CHECK(o2.previous_active == "1.0.0");
  const auto packs = store.list();
  REQUIRE(packs.size() == 1);
  REQUIRE(packs[0].versions.size() == 2);
  CHECK(packs[0].active == "1.1.0");
  CHECK_FALSE(packs[0].versions[0].active);
  CHECK(packs[0].versions[1].active);
  const auto active = store.active_files();
  REQUIRE(active.size() == 1);
  CHECK(active[0].file == t.path / "packs/secrets/1.1.0/pack.toml");

  CHECK(store.rollback("secrets") == "1.0.0");
  CHECK(active_of(store, "secrets") == "1.0.0");
  try {
    store.rollback("secrets");
    FAIL("expected store_error");
  } catch (const store_error& e) {
    CHECK(std::string(e.what()).find("no earlier version") != std::string::npos);
  }
  CHECK(active_of(store, "secrets") == "1.0.0");
  CHECK_THROWS_AS(store.rollback("nosuch"), store_error);

  // Installing 1.1.0 again re-activates it without copying anything.
  const auto again = store.install(t.path / "secrets-1.1.0.toml", {});
  CHECK(again.already_installed);
  CHECK(active_of(store, "secrets") == "1.1.0");
  CHECK(store.rollback("secrets") == "1.0.0");
}

TEST_CASE("store: refusals leave the store unchanged") {
  temp_dir t;
  pack_store store(t.path / "packs");
  store.install(secrets_version(t.path, "1.0.0"), {});

  SECTION("a pack that does not load, with its file:line:column errors") {
    const fs::path bad = broken_pack(t.path);
    try {
      store.install(bad, {});
      FAIL("expected store_error");
    } catch (const store_error& e) {
      REQUIRE(e.problems().size() >= 2);
      CHECK(e.problems()[0].find("does not load") != std::string::npos);
      bool located = false;
      for (const auto& p : e.problems()) {
        located = located || p.find(bad.string() + ":3:") == 0;
      }
      CHECK(located);
    }
    CHECK_FALSE(fs::exists(t.path / "packs/secrets/9.9.9"));
  }
  SECTION("the same version with different bytes") {
    fs::path p = secrets_version(t.path, "1.0.0");
    write(p, slurp(p) + "\n# edited\n");
    try {
      store.install(p, {});
      FAIL("expected store_error");
    } catch (const store_error& e) {
      CHECK(std::string(e.what()).find("already installed with different content") !=
            std::string::npos);
    }
  }
  SECTION("a missing file") {
    CHECK_THROWS_AS(store.install(t.path / "nope.toml", {}), store_error);
  }
  CHECK(active_of(store, "secrets") == "1.0.0");
  CHECK(store.list()[0].versions.size() == 1);
}

TEST_CASE("store: the signing policy") {
  temp_dir t;
  REQUIRE(run({"keygen", "--out", (t.path / "team").string()}).rc == 0);
  REQUIRE(run({"keygen", "--out", (t.path / "rogue").string()}).rc == 0);
  install_policy strict;
  strict.require_signed = true;
  strict.trusted = {read_public_key(t.path / "team.pub")};
  pack_store store(t.path / "packs");
  const fs::path pack = secrets_version(t.path, "2.0.0");

  SECTION("unsigned is refused when signatures are required") {
    try {
      store.install(pack, strict);
      FAIL("expected store_error");
    } catch (const store_error& e) {
      CHECK(std::string(e.what()).find("unsigned") != std::string::npos);
    }
    CHECK(store.list().empty());
    // Without the requirement it installs.
    CHECK(store.install(pack, {}).version == "2.0.0");
  }
  SECTION("signed by a trusted key installs, with its .sig") {
    sign_file(pack, read_secret_key(t.path / "team.key"));
    const auto o = store.install(pack, strict);
    CHECK(o.signed_by == read_public_key(t.path / "team.pub").key_id());
    CHECK(fs::exists(t.path / "packs/secrets/2.0.0/pack.toml.sig"));
    CHECK(store.list()[0].versions[0].signed_by == o.signed_by);
    // What the store holds still verifies.
    CHECK(verify_file(t.path / "packs/secrets/2.0.0/pack.toml", strict.trusted).ok());
  }
  SECTION("signed by an untrusted key is refused") {
    sign_file(pack, read_secret_key(t.path / "rogue.key"));
    try {
      store.install(pack, strict);
      FAIL("expected store_error");
    } catch (const store_error& e) {
      CHECK(std::string(e.what()).find("not a trusted key") != std::string::npos);
    }
    CHECK(store.list().empty());
  }
  SECTION("a pack changed after signing is refused, even when signatures are optional") {
    sign_file(pack, read_secret_key(t.path / "team.key"));
    write(pack, slurp(pack) + "\n");
    install_policy optional = strict;
    optional.require_signed = false;
    try {
      store.install(pack, optional);
      FAIL("expected store_error");
    } catch (const store_error& e) {
      CHECK(std::string(e.what()).find("BAD signature") != std::string::npos);
    }
    CHECK(store.list().empty());
  }
}

TEST_CASE("store: imcapctl sigpack install / list / rollback") {
  temp_dir t;
  const std::string store = (t.path / "packs").string();
  const auto i1 = run({"install", secrets_version(t.path, "1.0.0").string(), "--store", store});
  CHECK(i1.rc == 0);
  CHECK(i1.out.find("installed secrets 1.0.0") != std::string::npos);
  CHECK(i1.out.find("SIGHUP") != std::string::npos);
  CHECK(run({"install", secrets_version(t.path, "1.2.0").string(), "--store", store}).rc == 0);
  const auto l = run({"list", "--store", store});
  CHECK(l.rc == 0);
  CHECK(l.out.find("secrets (active: 1.2.0)") != std::string::npos);
  CHECK(l.out.find("  * 1.2.0") != std::string::npos);
  CHECK(l.out.find("    1.0.0") != std::string::npos);
  const auto r = run({"rollback", "secrets", "--store", store});
  CHECK(r.rc == 0);
  CHECK(r.out.find("version 1.0.0 is active again") != std::string::npos);
  CHECK(run({"rollback", "secrets", "--store", store}).rc == 1);

  const auto bad = run({"install", broken_pack(t.path).string(), "--store", store});
  CHECK(bad.rc == 1);
  CHECK(bad.err.find(":3:") != std::string::npos);

  // The policy comes from the daemon's configuration file.
  REQUIRE(run({"keygen", "--out", (t.path / "team").string()}).rc == 0);
  const fs::path conf = t.path / "imcapd.toml";
  write(conf, "[signatures]\nstore = \"" + store + "\"\nrequire_signed = true\ntrusted_keys = [\"" +
                  (t.path / "team.pub").string() + "\"]\n");
  const fs::path p3 = secrets_version(t.path, "1.3.0");
  const auto refused = run({"install", p3.string(), "--config", conf.string()});
  CHECK(refused.rc == 1);
  CHECK(refused.err.find("unsigned") != std::string::npos);
  REQUIRE(run({"sign", p3.string(), "--key", (t.path / "team.key").string()}).rc == 0);
  CHECK(run({"install", p3.string(), "--config", conf.string()}).rc == 0);
  CHECK(run({"list", "--config", conf.string()}).out.find("secrets (active: 1.3.0)") !=
        std::string::npos);

  CHECK(run({"install"}).rc == 2);
  CHECK(run({"rollback"}).rc == 2);
  CHECK(run({"list", "extra"}).rc == 2);
}

TEST_CASE("settings: the struct defaults are conf/imcapd.toml's [signatures]") {
  const auto from_file = load_signatures_settings(fs::path(IMCAP_SOURCE_DIR) / "conf/imcapd.toml");
  const signatures_settings d;
  CHECK(from_file.store_dir == d.store_dir);
  CHECK(from_file.cache_dir == d.cache_dir);
  CHECK(from_file.require_signed == d.require_signed);
  CHECK(from_file.trusted_key_paths == d.trusted_key_paths);
  CHECK(from_file.clamav_enabled == d.clamav_enabled);
  CHECK(from_file.clamav.database_dirs == d.clamav.database_dirs);
  CHECK(from_file.clamav.max_scan_size == d.clamav.max_scan_size);
  CHECK(from_file.clamav.max_file_size == d.clamav.max_file_size);
  CHECK(from_file.clamav.max_recursion == d.clamav.max_recursion);
  CHECK(from_file.clamav.max_files == d.clamav.max_files);
  CHECK(from_file.clamav.temp_dir == d.clamav.temp_dir);
  CHECK(from_file.clamav.pool_threads == d.clamav.pool_threads);
  CHECK(from_file.clamav.queue_capacity == d.clamav.queue_capacity);
  CHECK(from_file.clamav.timeout == d.clamav.timeout);
  CHECK(from_file.clamav.fail_open == d.clamav.fail_open);
}

TEST_CASE("settings: errors name file:line:column and key") {
  temp_dir t;
  auto error_of = [&](const std::string& text) -> std::string {
    write(t.path / "c.toml", text);
    try {
      load_signatures_settings(t.path / "c.toml");
    } catch (const settings_error& e) {
      const std::string msg = e.what();
      const std::string name = (t.path / "c.toml").string();
      REQUIRE(msg.rfind(name, 0) == 0);
      return msg.substr(name.size());
    }
    FAIL("no error for: " << text);
    return {};
  };
  CHECK(error_of("[signatures]\nstroe = \"x\"\n") == ":2:9: signatures.stroe: unknown key");
  CHECK(error_of("[signatures]\nscan_threads = 0\n") ==
        ":2:16: signatures.scan_threads: expected an integer from 1 to 256");
  CHECK(error_of("[signatures]\nfail_open = \"yes\"\n") ==
        ":2:13: signatures.fail_open: expected true or false");
  CHECK(error_of("[signatures]\nclamav_databases = []\n")
            .find("signatures.clamav_databases: needs at least one directory") !=
        std::string::npos);
  CHECK(error_of("[signatures]\ntrusted_keys = [\"/nonexistent/k.pub\"]\n")
            .find(":2:17: signatures.trusted_keys: /nonexistent/k.pub") == 0);
  CHECK(error_of("[signatures]\nrequire_signed = true\n")
            .find("signatures.require_signed: true needs at least one key") != std::string::npos);
}

TEST_CASE("service: loads the active packs; a failed reload keeps them") {
  temp_dir t;
  signatures_settings s;
  s.store_dir = t.path / "packs";
  s.cache_dir = t.path / "cache";
  s.clamav.database_dirs = {fs::path(IMCAP_SOURCE_DIR) / "signatures/clamav"};
  pack_store store(s.store_dir);
  store.install(secrets_version(t.path, "1.0.0"), {});

  signature_service svc(s);
  REQUIRE(svc.packs()->identities.size() == 1);
  CHECK(svc.packs()->identities[0].version == "1.0.0");
  REQUIRE(svc.clamav() != nullptr);
  const std::string c1 = svc.packs()->istag_contribution;

  // Unchanged store: same contribution (the ISTag stays).
  CHECK(svc.reload(s) == c1);

  store.install(secrets_version(t.path, "1.1.0"), {});
  const std::string c2 = svc.reload(s);
  CHECK(c2 != c1);
  CHECK(svc.packs()->identities[0].version == "1.1.0");

  // The active version is damaged on disk (imcapctl would have refused it): reload throws, the
  // 1.1.0 snapshot stays in service.
  const auto held = svc.packs();
  write(t.path / "packs/secrets/1.1.0/pack.toml", slurp(broken_pack(t.path)));
  CHECK_THROWS_AS(svc.reload(s), std::exception);
  CHECK(svc.packs() == held);
  CHECK(svc.packs()->istag_contribution == c2);

  // Requiring signatures applies to what is already in the store.
  store.rollback("secrets");
  REQUIRE(run({"keygen", "--out", (t.path / "team").string()}).rc == 0);
  auto strict = s;
  strict.require_signed = true;
  strict.trusted_keys = {read_public_key(t.path / "team.pub")};
  try {
    svc.reload(strict);
    FAIL("expected a refusal");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).find("no signature") != std::string::npos);
  }
  CHECK(svc.packs() == held);
  // Without the requirement, the rollback to 1.0.0 loads and gives the first contribution back.
  CHECK(svc.reload(s) == c1);
}

TEST_CASE("service: a changed ClamAV database is reloaded on the next reload") {
  temp_dir t;
  fs::create_directories(t.path / "db");
  fs::copy_file(fs::path(IMCAP_SOURCE_DIR) / "signatures/clamav/imcap-test.ndb",
                t.path / "db/imcap-test.ndb");
  signatures_settings s;
  s.store_dir = t.path / "packs";
  s.cache_dir = "";
  s.clamav.database_dirs = {t.path / "db"};
  signature_service svc(s);
  REQUIRE(svc.clamav() != nullptr);
  const std::string before = svc.packs()->istag_contribution;
  const std::string sample = "quarterly numbers IMCAP-SECOND-DB-MARKER attached";
  auto scan = [&] {
    auto owner = std::make_shared<const std::string>(sample);
    clamav_input in;
    in.bytes = std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(owner->data()),
                                              owner->size());
    in.owner = owner;
    in.name = "note.txt";
    return svc.clamav()->scan(std::move(in));
  };
  CHECK(scan().status == clamav_status::clean);
  CHECK(svc.reload(s) == before);  // nothing changed: same engine, same contribution
  CHECK(svc.clamav()->info().generation == 1);

  // "IMCAP-SECOND-DB-MARKER" in hex, as sigtool --hex-dump writes it.
  write(t.path / "db/second.ndb",
        "Imcap.Test.Second:0:*:494d4341502d5345434f4e442d44422d4d41524b4552\n");
  const std::string after = svc.reload(s);
  CHECK(after != before);
  CHECK(svc.clamav()->info().generation == 2);
  const auto r = scan();
  REQUIRE(r.status == clamav_status::infected);
  CHECK(r.viruses[0].starts_with("Imcap.Test.Second"));
}
