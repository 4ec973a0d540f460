// ClamAV through imcap's engine and pool, with real libclamav and the database shipped in
// signatures/clamav/.

#include <archive.h>
#include <archive_entry.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "signatures/clamav_engine.hpp"

namespace fs = std::filesystem;
using namespace imcap::signatures;
using namespace std::chrono_literals;

namespace {

const fs::path shipped_db = fs::path(IMCAP_SOURCE_DIR) / "signatures" / "clamav";

// Built at run time so this source file is not itself flagged by other scanners.
std::string eicar() {
  return std::string("X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR") + "-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
}
const std::string marker = "IMCAP-TEST-MALWARE-MARKER-5c1e0d7a9b";

clamav_settings shipped_settings() {
  clamav_settings s;
  s.database_dirs = {shipped_db};
  s.pool_threads = 2;
  s.queue_capacity = 16;
  s.timeout = 20s;
  return s;
}

clamav_input input_of(std::string bytes, std::string name = "attachment") {
  auto owner = std::make_shared<const std::string>(std::move(bytes));
  clamav_input in;
  in.bytes = std::span<const unsigned char>(reinterpret_cast<const unsigned char*>(owner->data()),
                                            owner->size());
  in.owner = owner;
  in.name = std::move(name);
  return in;
}

std::string zip_of(const std::string& member_name, const std::string& content) {
  std::vector<char> buf(content.size() + 4096);
  size_t used = 0;
  archive* a = archive_write_new();
  REQUIRE(archive_write_set_format_zip(a) == ARCHIVE_OK);
  REQUIRE(archive_write_open_memory(a, buf.data(), buf.size(), &used) == ARCHIVE_OK);
  archive_entry* e = archive_entry_new();
  archive_entry_set_pathname(e, member_name.c_str());
  archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
  archive_entry_set_filetype(e, AE_IFREG);
  archive_entry_set_perm(e, 0644);
  REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
  REQUIRE(archive_write_data(a, content.data(), content.size()) ==
          static_cast<la_ssize_t>(content.size()));
  archive_entry_free(e);
  REQUIRE(archive_write_close(a) == ARCHIVE_OK);
  archive_write_free(a);
  return std::string(buf.data(), used);
}

// Base64 with 76-column lines, as MIME writers produce it.
std::string base64_lines(const std::string& bin) {
  REQUIRE(sodium_init() >= 0);
  std::string b64(sodium_base64_ENCODED_LEN(bin.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(b64.data(), b64.size(), reinterpret_cast<const unsigned char*>(bin.data()),
                    bin.size(), sodium_base64_VARIANT_ORIGINAL);
  b64.resize(std::strlen(b64.c_str()));
  std::string out;
  for (std::size_t i = 0; i < b64.size(); i += 76) out += b64.substr(i, 76) + "\r\n";
  return out;
}

std::string random_bytes(std::size_t n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    const auto v = rng();
    std::memcpy(s.data() + i, &v, 8);
  }
  return s;
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::string tmpl = (fs::temp_directory_path() / "imcap-clamav-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

}  // namespace

TEST_CASE("clamav: the shipped test signatures are found in plain files") {
  clamav_scanner scanner(shipped_settings());
  CHECK(scanner.info().signatures >= 2);

  const auto e = scanner.scan(input_of(eicar(), "eicar.com"));
  REQUIRE(e.status == clamav_status::infected);
  CHECK_FALSE(e.pass);
  REQUIRE(e.viruses.size() == 1);
  CHECK(e.viruses[0].starts_with("Imcap.Test.EICAR"));

  const auto m = scanner.scan(input_of("report follows\n" + marker + "\nend\n", "report.txt"));
  REQUIRE(m.status == clamav_status::infected);
  CHECK(m.viruses[0].starts_with("Imcap.Test.Marker"));

  const auto c = scanner.scan(input_of("hello, nothing to see here\n", "hello.txt"));
  CHECK(c.status == clamav_status::clean);
  CHECK(c.pass);
  CHECK(c.viruses.empty());

  const auto empty = scanner.scan(input_of("", "empty"));
  CHECK(empty.status == clamav_status::clean);

  const auto counters = scanner.counters();
  CHECK(counters.scans == 4);
  CHECK(counters.infected == 2);
  CHECK(counters.clean == 2);
  CHECK(counters.errors == 0);
}

TEST_CASE("clamav: inside zip archives") {
  clamav_scanner scanner(shipped_settings());
  const auto r = scanner.scan(input_of(zip_of("doc.txt", "minutes\n" + marker + "\n"), "docs.zip"));
  REQUIRE(r.status == clamav_status::infected);
  CHECK(r.viruses[0].starts_with("Imcap.Test.Marker"));

  // Nested: a zip inside a zip.
  const auto nested = zip_of("inner.zip", zip_of("eicar.com", eicar()));
  const auto n = scanner.scan(input_of(nested, "outer.zip"));
  REQUIRE(n.status == clamav_status::infected);
  CHECK(n.viruses[0].starts_with("Imcap.Test.EICAR"));

  // The marker split across the compressed stream is not visible without unpacking: prove the
  // detection above came from the archive parser, not from the raw bytes.
  const auto zipped = zip_of("big.txt", std::string(4000, 'a') + marker + std::string(4000, 'b'));
  CHECK(zipped.find(marker) == std::string::npos);
  CHECK(scanner.scan(input_of(zipped, "big.zip")).status == clamav_status::infected);

  CHECK(scanner.scan(input_of(zip_of("ok.txt", "all fine\n"), "ok.zip")).status ==
        clamav_status::clean);
}

TEST_CASE("clamav: base64 MIME parts") {
  clamav_scanner scanner(shipped_settings());
  const std::string payload = "attached minutes\n" + marker + "\n";
  const std::string b64 = base64_lines(payload);
  REQUIRE(b64.find(marker) == std::string::npos);

  SECTION("a mail message: libclamav's mail parser decodes the base64 part") {
    const std::string mail =
        "From: alice@example.com\r\nTo: bob@example.com\r\nSubject: minutes\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
        "--b1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
        "--b1\r\nContent-Type: application/octet-stream\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename=\"minutes.txt\"\r\n\r\n" +
        b64 + "--b1--\r\n";
    const auto r = scanner.scan(input_of(mail, "message.eml"));
    REQUIRE(r.status == clamav_status::infected);
    CHECK(r.viruses[0].starts_with("Imcap.Test.Marker"));
    const auto zipped = base64_lines(zip_of("m.txt", payload));
    const std::string mail_zip =
        "From: alice@example.com\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
        "--b1\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
        zipped + "--b1--\r\n";
    CHECK(scanner.scan(input_of(mail_zip, "zip.eml")).status == clamav_status::infected);
  }

  SECTION("a multipart/form-data upload body is not parsed as MIME by libclamav") {
    // What a browser upload looks like on the wire. libclamav only enters its mail parser for
    // data that looks like a mail (header lines such as From:, Received:, MIME-Version:), so it
    // never decodes this part. imcap must therefore hand ClamAV the decoded part bytes (the
    // multipart decoder in modules/content produces them), which is tested next.
    const std::string form =
        "------WebKitFormBoundaryx8Yq\r\n"
        "Content-Disposition: form-data; name=\"file\"; filename=\"minutes.txt\"\r\n"
        "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
        b64 + "------WebKitFormBoundaryx8Yq--\r\n";
    CHECK(scanner.scan(input_of(form, "upload")).status == clamav_status::clean);
    // The decoded part, as imcap hands it over.
    const auto r = scanner.scan(input_of(payload, "minutes.txt"));
    REQUIRE(r.status == clamav_status::infected);
    CHECK(r.viruses[0].starts_with("Imcap.Test.Marker"));
  }
}

TEST_CASE("clamav: a scan over the timeout follows the fail policy and is counted") {
  // Random bytes take libclamav tens of milliseconds per 20 MiB (below max_file_size, so they
  // are scanned, not skipped); the limit is 1 ms.
  const std::string big = random_bytes(20u << 20, 7);
  for (const bool fail_open : {false, true}) {
    auto s = shipped_settings();
    s.timeout = 1ms;
    s.fail_open = fail_open;
    clamav_scanner scanner(s);
    const auto r = scanner.scan(input_of(big, "big.bin"));
    REQUIRE(r.status == clamav_status::error);
    CHECK(r.reason.find("time") != std::string::npos);
    CHECK(r.pass == fail_open);
    const auto c = scanner.counters();
    CHECK(c.timeouts == 1);
    CHECK(c.errors == 1);
    CHECK(c.failed_open == (fail_open ? 1u : 0u));
    CHECK(c.failed_closed == (fail_open ? 0u : 1u));
  }
}

TEST_CASE("clamav: a full queue follows the fail policy and is counted") {
  const std::string big = random_bytes(20u << 20, 11);
  for (const bool fail_open : {false, true}) {
    auto s = shipped_settings();
    s.pool_threads = 1;
    s.queue_capacity = 1;
    s.fail_open = fail_open;
    clamav_scanner scanner(s);
    constexpr int n = 6;
    std::mutex m;
    std::vector<clamav_result> results;
    std::promise<void> all_done;
    // The inputs are copied before any is submitted, so the six submissions follow each other
    // within microseconds; copying 20 MiB between them (slow under ASan on a busy machine) once
    // let the first scan finish and free its slot before the last submissions.
    std::vector<clamav_input> inputs;
    for (int i = 0; i < n; ++i) inputs.push_back(input_of(big, "big.bin"));
    for (int i = 0; i < n; ++i) {
      scanner.scan_async(std::move(inputs[static_cast<std::size_t>(i)]), [&](clamav_result r) {
        std::lock_guard lk(m);
        results.push_back(std::move(r));
        if (results.size() == n) all_done.set_value();
      });
    }
    all_done.get_future().wait();
    int refused = 0, scanned = 0;
    for (const auto& r : results) {
      if (r.status == clamav_status::error) {
        CHECK(r.reason.find("queue full") != std::string::npos);
        CHECK(r.pass == fail_open);
        ++refused;
      } else {
        CHECK(r.status == clamav_status::clean);
        ++scanned;
      }
    }
    // One scan runs, at most one waits: the other submissions are refused at once.
    CHECK(refused >= n - 2);
    CHECK(scanned >= 1);
    const auto c = scanner.counters();
    CHECK(c.queue_full == static_cast<std::uint64_t>(refused));
    CHECK((fail_open ? c.failed_open : c.failed_closed) == static_cast<std::uint64_t>(refused));
    CHECK(c.scans == static_cast<std::uint64_t>(n));
  }
}

TEST_CASE("clamav: reload swaps the engine while scans run") {
  clamav_scanner scanner(shipped_settings());
  REQUIRE(scanner.info().generation == 1);
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::mutex m;
  std::condition_variable scanned;
  std::vector<std::uint64_t> generations;
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&] {
      // Bounded: at most 100000 scans per thread even if stop never came.
      for (int i = 0; i < 100000 && !stop.load(); ++i) {
        const auto r = scanner.scan(input_of("x\n" + marker + "\n", "m.txt"));
        if (r.status != clamav_status::infected) ++wrong;
        std::lock_guard lk(m);
        generations.push_back(r.engine_generation);
        scanned.notify_all();
      }
    });
  }
  // Let scans start on generation 1, then reload twice while they continue.
  auto wait_for_scans = [&](std::size_t n) {
    std::unique_lock lk(m);
    REQUIRE(scanned.wait_for(lk, 60s, [&] { return generations.size() >= n; }));
  };
  wait_for_scans(5);
  CHECK(scanner.reload().generation == 2);
  CHECK(scanner.reload().generation == 3);
  std::size_t after_reload = 0;
  {
    std::lock_guard lk(m);
    after_reload = generations.size();
  }
  wait_for_scans(after_reload + 5);
  stop = true;
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);
  CHECK(scanner.info().generation == 3);
  CHECK(scanner.counters().reloads == 2);
  CHECK(std::count(generations.begin(), generations.end(), 1u) > 0);
  CHECK(std::count(generations.begin(), generations.end(), 3u) > 0);
}

TEST_CASE("clamav: database errors name the directory; a failed reload keeps the old engine") {
  temp_dir t;
  SECTION("missing directory") {
    auto s = shipped_settings();
    s.database_dirs = {t.path / "nope"};
    try {
      clamav_scanner scanner(s);
      FAIL("expected clamav_error");
    } catch (const clamav_error& e) {
      CHECK(std::string(e.what()).find("nope") != std::string::npos);
    }
  }
  SECTION("no databases configured") {
    auto s = shipped_settings();
    s.database_dirs.clear();
    CHECK_THROWS_AS(clamav_scanner(s), clamav_error);
  }
  SECTION("malformed database, and reload failure") {
    fs::copy_file(shipped_db / "imcap-test.ndb", t.path / "imcap-test.ndb");
    auto s = shipped_settings();
    s.database_dirs = {t.path};
    clamav_scanner scanner(s);
    std::ofstream(t.path / "imcap-test.ndb", std::ios::app) << "Broken.Sig:0:*:zz-not-hex\n";
    try {
      scanner.reload();
      FAIL("expected clamav_error");
    } catch (const clamav_error& e) {
      CHECK(std::string(e.what()).find(t.path.string()) != std::string::npos);
      CHECK(std::string(e.what()).find("CL_EMALFDB") != std::string::npos);
    }
    CHECK(scanner.info().generation == 1);
    CHECK(scanner.counters().reload_failures == 1);
    CHECK(scanner.scan(input_of(marker, "m")).status == clamav_status::infected);
  }
}

TEST_CASE("clamav: error codes become words in one place") {
  CHECK(clamav_error_text(0).starts_with("CL_CLEAN"));
  CHECK(clamav_error_text(1).starts_with("CL_VIRUS"));
  CHECK(clamav_error_text(9999) == "libclamav code 9999");
}
