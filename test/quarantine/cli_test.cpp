// `imcapctl user`: accounts land in the archive with an argon2id hash that verifies, list and
// remove work, bad input is refused with usage errors, and every change is audited.

#include <fstream>
#include <iostream>
#include <sstream>

#include "quarantine/cli.hpp"
#include "test/quarantine/webui_test_util.hpp"

using namespace imcap::quarantine;
using namespace imcap::quarantine::test;

namespace {

struct run_result {
  int rc = 0;
  std::string out, err;
};

run_result run(std::vector<std::string> args, const std::string& stdin_text = "") {
  std::istringstream in(stdin_text);
  auto* old = std::cin.rdbuf(in.rdbuf());
  std::ostringstream out, err;
  run_result r;
  r.rc = user_command(args, out, err);
  std::cin.rdbuf(old);
  r.out = out.str();
  r.err = err.str();
  return r;
}

}  // namespace

TEST_CASE("imcapctl user add, list and remove", "[quarantine]") {
  temp_dir dir;
  const auto conf = (dir.path / "imcapd.toml").string();
  std::ofstream(conf) << "[archive]\npath = \"" << (dir.path / "archive").string() << "\"\n";

  auto r = run({"add", "alice", "--role", "admin", "--config", conf}, "s3cret pass\n");
  REQUIRE(r.rc == 0);
  CHECK(r.out == "user alice (admin) saved\n");
  CHECK(run({"add", "bob", "--role", "auditor", "--config", conf}, "other\r\n").rc == 0);

  r = run({"list", "--config", conf});
  CHECK(r.rc == 0);
  CHECK(r.out.starts_with("alice\tadmin\t"));
  CHECK(r.out.find("\nbob\tauditor\t") != std::string::npos);

  {
    imcap::archive::settings as;
    as.path = dir.path / "archive";
    auto st = imcap::archive::store::open(as, imcap::archive::store::open_mode::read_only);
    const auto alice = st->user("alice");
    REQUIRE(alice);
    CHECK(alice->password_hash.starts_with("$argon2id$"));
    CHECK(alice->password_hash.find("s3cret") == std::string::npos);
    CHECK(verify_password(alice->password_hash, "s3cret pass"));
    CHECK(!verify_password(alice->password_hash, "s3cret pas"));
    CHECK(verify_password(st->user("bob")->password_hash, "other"));  // CR of CRLF dropped
    std::size_t adds = 0;
    for (const auto& a : st->audit(0, 100)) {
      if (a.action == "user_add") {
        ++adds;
        CHECK(a.actor.starts_with("imcapctl:"));
        CHECK(a.reason.find("s3cret") == std::string::npos);
      }
    }
    CHECK(adds == 2);
  }

  CHECK(run({"remove", "bob", "--config", conf}).rc == 0);
  r = run({"remove", "bob", "--config", conf});
  CHECK(r.rc == 1);
  CHECK(r.err == "imcapctl user: cannot remove bob: not found\n");
  CHECK(run({"list", "--config", conf}).out.find("bob") == std::string::npos);
}

TEST_CASE("imcapctl user refuses bad input", "[quarantine]") {
  temp_dir dir;
  const auto conf = (dir.path / "imcapd.toml").string();
  std::ofstream(conf) << "[archive]\npath = \"" << (dir.path / "archive").string() << "\"\n";
  CHECK(run({}).rc == 2);
  CHECK(run({"add", "alice", "--config", conf}, "pw\n").rc == 2);  // no role
  CHECK(run({"add", "alice", "--role", "root", "--config", conf}, "pw\n").rc == 2);
  CHECK(run({"add", "al ice", "--role", "admin", "--config", conf}, "pw\n").rc == 2);
  CHECK(run({"add", "<script>", "--role", "admin", "--config", conf}, "pw\n").rc == 2);
  CHECK(run({"add", "alice", "--role", "admin", "--config", conf}, "").rc == 1);  // no password
  CHECK(run({"add", "alice", "--role", "admin", "--config", conf}, "\n").rc == 1);
  CHECK(run({"frobnicate"}).rc == 2);
}
