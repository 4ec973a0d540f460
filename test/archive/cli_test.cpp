// `imcapctl archive ...` as an admin runs it: the real binary against a real archive on disk,
// while a writer holds the archive open in this process.

#include <lmdb.h>
#include <sodium.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "archive/cli.hpp"
#include "archive/codec.hpp"
#include "archive/export.hpp"
#include "archive_test_util.hpp"

using namespace imcap::archive;
using namespace imcap::archive::test;

namespace {

struct run_result {
  int status = -1;
  std::string out;
};

// Runs imcapctl with `args` (already shell-safe: temp paths and plain words), stdout captured.
run_result imcapctl(const std::string& args) {
  run_result r;
  const std::string cmd = std::string(IMCAPCTL_PATH) + " " + args + " 2>&1";
  FILE* f = ::popen(cmd.c_str(), "r");
  REQUIRE(f != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) r.out.append(buf, n);
  const int st = ::pclose(f);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::vector<boost::json::object> json_lines(const std::string& text) {
  std::vector<boost::json::object> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(boost::json::parse(line).as_object());
  return out;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::string unbase64(std::string b64) {
  std::string clean;
  for (char c : b64)
    if (c != '\r' && c != '\n') clean.push_back(c);
  std::string out(clean.size(), '\0');
  std::size_t len = 0;
  REQUIRE(sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), clean.data(),
                            clean.size(), nullptr, &len, nullptr,
                            sodium_base64_VARIANT_ORIGINAL) == 0);
  out.resize(len);
  return out;
}

struct fixture {
  temp_dir dir;
  settings st = test_settings(dir.path);
  std::string conf = (dir.path / "imcapd.toml").string();
  std::string pdf = "%PDF-1.4\n\x00\x01\x02 binary\xff attachment bytes";
  std::string sha;
  std::unique_ptr<store> writer;

  fixture() {
    pdf.assign("%PDF-1.4\n\0\1\2 binary\xff attachment bytes", 38);
    sha = codec::to_hex(codec::sha256(pdf));
    std::ofstream(conf) << "[archive]\npath = \"" << st.path.string() << "\"\n";
    writer = store::open(st);
    // Conversation C1 (slack): alice -> bob, bob -> alice with an attachment, alice blocked.
    auto e1 = sample_event(1);
    e1.seen_us = *parse_time("2023-11-14T10:00:00Z");
    e1.text = "hi bob";
    e1.attachments.clear();
    e1.hits.clear();
    e1.verdict = "allow";
    put(*writer, e1);
    auto e2 = sample_event(2);
    e2.seen_us = *parse_time("2023-11-14T10:01:00Z");
    e2.sender_id = "U-bob";
    e2.sender_name = "Bob";
    e2.proxy_user = "bob";
    e2.recipients = {{"U-alice", "Alice"}};
    e2.text = "here is the report";
    e2.attachments[0].name = "Q3 report \xc3\xa9.pdf";
    e2.attachments[0].sha256 = sha;
    e2.verdict = "allow";
    put(*writer, e2, {{sha, pdf}});
    auto e3 = sample_event(3);
    e3.seen_us = *parse_time("2023-11-15T09:00:00Z");
    e3.text = "Subject: injected\r\nthe falcon plan";
    e3.attachments.clear();
    e3.verdict = "block";
    put(*writer, e3);
    // Conversation D9 (teams).
    auto e4 = sample_event(4);
    e4.app = "teams";
    e4.conversation_id = "D9";
    e4.seen_us = *parse_time("2023-11-16T09:00:00Z");
    e4.text = "teams hello";
    e4.attachments.clear();
    e4.hits.clear();
    e4.verdict = "allow";
    put(*writer, e4);
  }
  std::string cfg() const { return " --config " + conf; }
};

}  // namespace

TEST_CASE("imcapctl archive search prints JSON lines for each query field", "[archive][cli]") {
  fixture f;  // f.writer stays open: the CLI reads beside a live writer
  auto r = imcapctl("archive search" + f.cfg());
  REQUIRE(r.status == 0);
  auto lines = json_lines(r.out);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0]["id"].to_number<std::uint64_t>() == 4);  // newest first
  CHECK(lines[3]["text"].as_string() == "hi bob");

  auto ids = [&](const std::string& args) {
    auto res = imcapctl("archive search" + f.cfg() + " " + args);
    REQUIRE(res.status == 0);
    std::vector<std::uint64_t> v;
    for (auto& o : json_lines(res.out)) v.push_back(o["id"].to_number<std::uint64_t>());
    return v;
  };
  using V = std::vector<std::uint64_t>;
  CHECK(ids("--user bob") == V{2});
  CHECK(ids("--user U-alice --peer U-bob") == V{4, 3, 2, 1});
  CHECK(ids("--conversation C1 --oldest-first") == V{1, 2, 3});
  CHECK(ids("--app teams") == V{4});
  CHECK(ids("--verdict block") == V{3});
  CHECK(ids("--rule acme.codename") == V{3, 2});
  CHECK(ids("--text FALCON") == V{3});
  CHECK(ids("--text q3") == V{2});  // attachment name
  CHECK(ids("--from 2023-11-14 --to 2023-11-14") == V{2, 1});
  CHECK(ids("--from 2023-11-14T10:00:30Z --to 2023-11-16T09:00:00Z") == V{3, 2});
  CHECK(ids("--from 2023-11-14T11:00:30+01:00 --limit 1") == V{4});
  CHECK(ids("--before 3 --limit 1") == V{2});
  CHECK(ids("--after 2") == V{3, 4});

  auto bad = imcapctl("archive search" + f.cfg() + " --from yesterday");
  CHECK(bad.status == 2);
  CHECK(bad.out.find("--from: expected RFC 3339") != std::string::npos);
}

TEST_CASE("imcapctl archive show prints one event with hits and attachments", "[archive][cli]") {
  fixture f;
  auto r = imcapctl("archive show 2" + f.cfg());
  REQUIRE(r.status == 0);
  CHECK(r.out.find("\n  \"hits\": [\n") != std::string::npos);
  auto o = boost::json::parse(r.out).as_object();
  CHECK(o["id"].to_number<std::uint64_t>() == 2);
  CHECK(o["hits"].as_array()[0].as_object()["rule_id"].as_string() == "acme.codename");
  auto att = o["attachments"].as_array()[0].as_object();
  CHECK(att["sha256"].as_string() == f.sha);
  CHECK(att["content_stored"].as_bool());
  auto missing = imcapctl("archive show 99" + f.cfg());
  CHECK(missing.status == 1);
  CHECK(missing.out.find("no event 99") != std::string::npos);
}

TEST_CASE("imcapctl archive export writes JSON lines and one EML per conversation",
          "[archive][cli]") {
  fixture f;
  auto jl = imcapctl("archive export --format jsonl" + f.cfg());
  REQUIRE(jl.status == 0);
  auto lines = json_lines(jl.out);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0]["id"].to_number<std::uint64_t>() == 1);  // commit order

  const auto out = f.dir.path / "eml";
  auto r = imcapctl("archive export --format eml --out " + out.string() + f.cfg());
  REQUIRE(r.status == 0);
  CHECK(r.out.find("2 conversations written") != std::string::npos);
  const std::string c1 = slurp(out / "conversation-1.eml");  // (slack, C1)
  const std::string d9 = slurp(out / "conversation-2.eml");  // (teams, D9)
  REQUIRE(!c1.empty());
  const auto head_end = c1.find("\r\n\r\n");
  REQUIRE(head_end != std::string::npos);
  const std::string head = c1.substr(0, head_end + 2);
  CHECK(head.rfind("From: \"Alice \\\"A\\\" Liddell\" <U-alice@slack.imcap.invalid>\r\n", 0) == 0);
  CHECK(head.find("To: \"Bob\" <U-bob@slack.imcap.invalid>") != std::string::npos);
  CHECK(head.find("Subject: slack conversation C1 (3 events)\r\n") != std::string::npos);
  CHECK(head.find("Date: Tue, 14 Nov 2023 10:00:00 +0000\r\n") != std::string::npos);
  CHECK(head.find("Message-ID: <") != std::string::npos);
  CHECK(head.find("MIME-Version: 1.0\r\n") != std::string::npos);
  // The conversation as text lines; the injected CRLF stays inside its line.
  CHECK(c1.find("\r\n2023-11-14T10:00:00Z Alice \"A\" Liddell (U-alice): hi bob\r\n") !=
        std::string::npos);
  CHECK(c1.find("2023-11-14T10:01:00Z Bob (U-bob): here is the report\r\n") != std::string::npos);
  CHECK(c1.find("(U-alice): Subject: injected / the falcon plan [block]\r\n") != std::string::npos);
  CHECK(c1.find("\r\nSubject: injected") == std::string::npos);
  // The attachment as a base64 MIME part with an RFC 2231 file name.
  CHECK(c1.find("Content-Disposition: attachment; filename*=UTF-8''Q3%20report%20%C3%A9.pdf") !=
        std::string::npos);
  const auto part = c1.find("X-Imcap-Sha256: " + f.sha + "\r\n\r\n");
  REQUIRE(part != std::string::npos);
  const auto data_start = part + ("X-Imcap-Sha256: " + f.sha + "\r\n\r\n").size();
  const auto data_end = c1.find("\r\n--", data_start);
  REQUIRE(data_end != std::string::npos);
  CHECK(unbase64(c1.substr(data_start, data_end - data_start)) == f.pdf);
  CHECK(c1.size() >= 4);
  CHECK(c1.substr(c1.size() - 4) == "--\r\n");
  CHECK(d9.find("teams hello") != std::string::npos);
  CHECK(d9.find("hi bob") == std::string::npos);

  // Filtered to one conversation, on stdout (mbox framing).
  auto one = imcapctl("archive export --format eml --app teams" + f.cfg());
  REQUIRE(one.status == 0);
  CHECK(one.out.rfind("From imcap@imcap.invalid 2023-11-16T09:00:00Z\n", 0) == 0);
  CHECK(one.out.find("slack conversation") == std::string::npos);
}

TEST_CASE("imcapctl archive verify exits 1 naming tampered records", "[archive][cli]") {
  fixture f;
  auto ok = imcapctl("archive verify" + f.cfg());
  CHECK(ok.status == 0);
  CHECK(ok.out.find("ok: 4 events") != std::string::npos);
  f.writer.reset();
  {
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 32) == 0);
    REQUIRE(mdb_env_open(env, f.st.path.c_str(), 0, 0640) == 0);
    MDB_txn* t = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &t) == 0);
    MDB_dbi events;
    REQUIRE(mdb_dbi_open(t, "events", 0, &events) == 0);
    std::string k(7, '\0');
    k.push_back('\2');
    MDB_val key{8, k.data()}, v;
    REQUIRE(mdb_get(t, events, &key, &v) == 0);
    std::string bytes(static_cast<char*>(v.mv_data), v.mv_size);
    bytes[bytes.find("here is")] = 'H';
    MDB_val nv{bytes.size(), bytes.data()};
    REQUIRE(mdb_put(t, events, &key, &nv, 0) == 0);
    REQUIRE(mdb_txn_commit(t) == 0);
    mdb_env_close(env);
  }
  auto bad = imcapctl("archive verify" + f.cfg());
  CHECK(bad.status == 1);
  CHECK(bad.out.find("event 2: modified (chain hash mismatch)\n") != std::string::npos);
  CHECK(bad.out.find("event 1:") == std::string::npos);
}

TEST_CASE("imcapctl archive hold, purge and configuration errors", "[archive][cli]") {
  fixture f;
  f.writer.reset();
  std::ostringstream out, err;
  auto run = [&](std::vector<std::string> args) {
    out.str("");
    err.str("");
    args.push_back("--config");
    args.push_back(f.conf);
    return archive_command(args, out, err);
  };
  CHECK(run({"hold", "add", "user:bob", "--reason", "case 7"}) == 0);
  CHECK(run({"hold", "add", "bob"}) == 2);  // no --reason
  CHECK(run({"hold", "add", "bob", "--reason", "x"}) == 1);
  CHECK(err.str().find("expected user:ID") != std::string::npos);
  CHECK(run({"hold", "list"}) == 0);
  CHECK(out.str() == "user:bob\n");
  // Retention is 7 years by default: ten years later everything but bob's event goes.
  CHECK(run({"purge", "--now", "2033-11-20"}) == 0);
  CHECK(out.str() == "purged 3 events, kept 1 under legal hold, removed 0 attachment contents\n");
  CHECK(run({"verify"}) == 0);
  CHECK(run({"hold", "remove", "user:bob", "--reason", "closed"}) == 0);
  CHECK(run({"purge", "--now", "2033-11-20"}) == 0);
  CHECK(out.str() == "purged 1 events, kept 0 under legal hold, removed 1 attachment contents\n");
  CHECK(run({"verify"}) == 0);

  const auto badconf = (f.dir.path / "bad.toml").string();
  std::ofstream(badconf) << "[archive]\nbogus = 1\n";
  auto r = imcapctl("archive search --config " + badconf);
  CHECK(r.status == 2);
  CHECK(r.out.find(badconf + ":2:9: archive.bogus: unknown key") != std::string::npos);
  auto missing = imcapctl("archive search --path " + (f.dir.path / "none").string());
  CHECK(missing.status == 1);
  CHECK(missing.out.find("no archive here") != std::string::npos);
  CHECK(imcapctl("archive frobnicate").status == 2);
}
