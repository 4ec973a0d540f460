// The strict-durability journal on its own and as the store replays it: what a crash leaves
// (a torn or corrupted tail, zero-filled space) is read up to the last whole record and the rest
// is reported, never applied; records LMDB already holds are skipped; one process owns the
// journal at a time; a failed append never resurfaces.

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/resource.h>

#include <fstream>

#include "archive/codec.hpp"
#include "archive/journal.hpp"
#include "archive_test_util.hpp"

using namespace imcap::archive;
using namespace imcap::archive::test;
namespace jr = imcap::archive::journal;

namespace {

std::string one_record(std::uint64_t id, const event_record& e,
                       const std::vector<jr::prepared_content>& contents = {}) {
  std::string out;
  event_record copy = e;
  copy.id = id;
  jr::append_record(out, id, codec::encode_event(copy), copy.quarantine, contents);
  return out;
}

void write_all(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << bytes;
  REQUIRE(f.good());
}

std::vector<fs::path> journal_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& de : fs::directory_iterator(dir)) {
    const auto name = de.path().filename().string();
    if (name.rfind("journal-", 0) == 0) out.push_back(de.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("journal records round-trip through a file, attachments included", "[archive][journal]") {
  const auto mode = GENERATE(jr::writer::io::direct, jr::writer::io::buffered);
  temp_dir dir;
  auto w = jr::writer::acquire(dir.path, mode);
  REQUIRE(w);
  jr::prepared_content c;
  c.sha_hex = std::string(64, 'a');
  c.size = 5;
  c.compressed = std::string("z\0z", 3);
  jr::prepared_content big;
  big.sha_hex = std::string(64, 'b');
  big.size = 1u << 30;
  big.too_big = true;
  auto e = sample_event(1);
  e.quarantine = "held";
  std::string batch = one_record(1, e, {c, big});
  batch += one_record(2, sample_event(2));
  REQUIRE(!w->append(batch, 2));
  REQUIRE(!w->append(one_record(3, sample_event(3)), 3));

  const auto files = w->all_files();
  REQUIRE(files.size() == 1);
  // Preallocated: the file is longer than its records, and the zeros are not a problem.
  CHECK(fs::file_size(files[0]) == jr::writer::prealloc_bytes);
  const auto fc = jr::read_file(files[0]);
  CHECK(fc.problem.empty());
  REQUIRE(fc.records.size() == 3);
  CHECK(fc.records[0].id == 1);
  CHECK(fc.records[0].quarantine == "held");
  REQUIRE(fc.records[0].contents.size() == 2);
  CHECK(fc.records[0].contents[0].sha_hex == c.sha_hex);
  CHECK(fc.records[0].contents[0].compressed == c.compressed);
  CHECK(fc.records[0].contents[1].too_big);
  CHECK(fc.records[0].contents[1].size == big.size);
  event_record back;
  REQUIRE(!codec::decode_event(fc.records[2].event, back));
  CHECK(back.text == sample_event(3).text);
  CHECK(back.id == 3);
  // The machine's file system takes direct writes (the fast path is the one measured).
  CHECK(w->direct() == (mode == jr::writer::io::direct));
}

TEST_CASE("batches of every size line up across blocks and preallocation steps",
          "[archive][journal]") {
  const auto mode = GENERATE(jr::writer::io::direct, jr::writer::io::buffered);
  temp_dir dir;
  auto w = jr::writer::acquire(dir.path, mode);
  REQUIRE(w);
  // Record sizes from a few bytes to several blocks, so batches end at every offset within a
  // block, straddle block and MiB boundaries, and the files pass one preallocation step.
  std::vector<std::string> texts;
  std::uint64_t id = 1, written = 0;
  unsigned seed = 7;
  while (written < jr::writer::prealloc_bytes + 3 * jr::writer::block_bytes) {
    std::string batch;
    const int n = 1 + static_cast<int>(seed % 4);
    for (int i = 0; i < n; ++i) {
      seed = seed * 1103515245u + 12345u;
      auto e = sample_event(static_cast<int>(id));
      e.text.assign(1 + (seed >> 8) % 9000, static_cast<char>('a' + id % 26));
      texts.push_back(e.text);
      batch += one_record(id, e);
      ++id;
    }
    written += batch.size();
    REQUIRE(!w->append(batch, id - 1));
  }
  std::vector<std::string> back;
  for (const auto& f : w->all_files()) {
    CHECK(fs::file_size(f) % jr::writer::prealloc_bytes == 0);
    const auto fc = jr::read_file(f);
    CHECK(fc.problem.empty());
    for (const auto& r : fc.records) {
      event_record e;
      REQUIRE(!codec::decode_event(r.event, e));
      CHECK(e.id == r.id);
      back.push_back(e.text);
    }
  }
  CHECK(back.size() == texts.size());
  CHECK(back == texts);
}

TEST_CASE("a torn or corrupted journal tail ends the file there and is reported",
          "[archive][journal]") {
  temp_dir dir;
  const std::string magic = "IMCAPJ1\n";
  const std::string r1 = one_record(1, sample_event(1));
  const std::string r2 = one_record(2, sample_event(2));
  const auto p = dir.path / "journal-1.log";

  SECTION("cut at every byte of the second record") {
    for (std::size_t cut = 1; cut < r2.size(); ++cut) {
      write_all(p, magic + r1 + r2.substr(0, cut));
      const auto fc = jr::read_file(p);
      REQUIRE(fc.records.size() == 1);
      CHECK(fc.records[0].id == 1);
      // A cut inside the length field that leaves it zero reads as the end of the records.
      if (cut >= 4 || r2.compare(0, cut, std::string(cut, '\0')) != 0) {
        CHECK(fc.problem == "offset " + std::to_string(magic.size() + r1.size()) +
                                ": record cut short");
        // Counted up to the last non-zero byte, as zero-filled space was never written.
        const auto last = r2.substr(0, cut).find_last_not_of('\0');
        CHECK(fc.dropped_bytes == (last == std::string::npos ? 0 : last + 1));
      }
    }
  }
  SECTION("a flipped bit in a payload") {
    std::string bad = r2;
    bad[bad.size() / 2] = static_cast<char>(bad[bad.size() / 2] ^ 0x10);
    write_all(p, magic + r1 + bad + one_record(3, sample_event(3)));
    const auto fc = jr::read_file(p);
    REQUIRE(fc.records.size() == 1);
    CHECK(fc.problem.find("CRC mismatch") != std::string::npos);
  }
  SECTION("an absurd length") {
    write_all(p, magic + r1 + std::string("\xff\xff\xff\xff\0\0\0\0", 8) + r2);
    const auto fc = jr::read_file(p);
    CHECK(fc.records.size() == 1);
    CHECK(fc.problem.find("record cut short") != std::string::npos);
  }
  SECTION("not a journal at all") {
    write_all(p, "hello world, not a journal");
    const auto fc = jr::read_file(p);
    CHECK(fc.records.empty());
    CHECK(fc.problem == "not a journal file (bad header)");
  }
  SECTION("an empty file") {
    write_all(p, "");
    const auto fc = jr::read_file(p);
    CHECK(fc.records.empty());
    CHECK(!fc.problem.empty());
  }
}

TEST_CASE("one process at a time owns the journal", "[archive][journal]") {
  temp_dir dir;
  auto first = jr::writer::acquire(dir.path);
  REQUIRE(first);
  // A second open file description conflicts like another process would.
  CHECK(jr::writer::acquire(dir.path) == nullptr);
  REQUIRE(!first->append(one_record(1, sample_event(1)), 1));
  // While the owner runs, its files are nobody's concern; once it is gone they are reported.
  CHECK(jr::unowned_files(dir.path).empty());
  first.reset();
  CHECK(jr::unowned_files(dir.path).size() == 1);
  auto second = jr::writer::acquire(dir.path);
  CHECK(second != nullptr);
  CHECK(jr::unowned_files(dir.path).empty());
}

TEST_CASE("opening read-write applies journaled events LMDB lacks, once, and skips the rest",
          "[archive][journal]") {
  temp_dir dir;
  const auto st = test_settings(dir.path);
  {
    auto s = store::open(st);
    CHECK(put(*s, sample_event(1)) == 1);
    CHECK(put(*s, sample_event(2)) == 2);
  }
  CHECK(journal_files(st.path).empty());  // a clean close leaves no journal behind

  // What a killed imcapd leaves: events 2..5 journaled (acknowledged), LMDB holding up to 2, and
  // a torn record after them that was never acknowledged.
  {
    auto w = jr::writer::acquire(st.path);
    REQUIRE(w);
    std::string batch;
    for (std::uint64_t id = 2; id <= 5; ++id) batch += one_record(id, sample_event(int(id)));
    REQUIRE(!w->append(batch, 5));
    const std::string torn = one_record(6, sample_event(6));
    REQUIRE(!w->append(torn.substr(0, torn.size() / 2), 6));
  }  // the writer closes without removing its file
  REQUIRE(journal_files(st.path).size() == 1);

  // A read-only opener (imcapctl while the daemon is down) neither applies nor deletes it.
  {
    auto ro = store::open(st, store::open_mode::read_only);
    CHECK(!ro->get(3));
  }
  REQUIRE(journal_files(st.path).size() == 1);

  {
    auto s = store::open(st);
    CHECK(journal_files(st.path).empty());
    for (int i = 1; i <= 5; ++i) {
      auto e = s->get(static_cast<std::uint64_t>(i));
      REQUIRE(e);
      CHECK(e->text == sample_event(i).text);
    }
    CHECK(!s->get(6));
    CHECK(s->verify().ok());
    // New events continue after the replayed ones.
    CHECK(put(*s, sample_event(7)) == 6);
  }
  auto ro = store::open(st, store::open_mode::read_only);
  CHECK(ro->verify().ok());
  CHECK(ro->get(6)->text == sample_event(7).text);
}

TEST_CASE("a second process opening read-write beside the owner acts but takes no events",
          "[archive][journal]") {
  temp_dir dir;
  const auto st = test_settings(dir.path);
  auto owner = store::open(st);
  CHECK(put(*owner, sample_event(1)) == 1);
  CHECK(owner->writes_events());
  // Like imcapctl acting on the quarantine while imcapd runs (LMDB wants another process, not a
  // second environment in this one). Exit status: 0 when all was as expected, else the step.
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int step = 10;
    try {
      auto other = store::open(st);
      if (!other->get(1)) ::_exit(step);
      ++step;
      if (other->writes_events()) ::_exit(step);
      ++step;
      // Its events would collide with the ids the owner journaled but did not apply yet.
      if (other->submit(sample_event(9), {}, [](std::error_code, std::uint64_t) {}) !=
          errc::in_use)
        ::_exit(step);
      ++step;
      audit_entry why;
      why.actor = "rev";
      if (other->set_quarantine(1, "held", why)) ::_exit(step);
      ++step;
      // A second imcapd on the directory is refused at start-up.
      bool refused = false;
      try {
        open_shared(st);
      } catch (const archive_error&) {
        refused = true;
      }
      if (!refused) ::_exit(step);
    } catch (...) {
      ::_exit(99);
    }
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(put(*owner, sample_event(2)) == 2);
  CHECK(owner->get(1)->quarantine == "held");
  owner.reset();
  auto ro = store::open(st, store::open_mode::read_only);
  CHECK(ro->get(2));
  CHECK(ro->verify().ok());
}

TEST_CASE("a failed journal append is refused and never applied later", "[archive][journal]") {
  const auto mode = GENERATE(jr::writer::io::direct, jr::writer::io::buffered);
  temp_dir dir;
  auto w = jr::writer::acquire(dir.path, mode);
  REQUIRE(w);
  REQUIRE(!w->append(one_record(1, sample_event(1)), 1));
  // The file may not grow past its first preallocated MiB: a batch that needs more fails.
  struct sigaction ignore {}, old{};
  ignore.sa_handler = SIG_IGN;
  REQUIRE(::sigaction(SIGXFSZ, &ignore, &old) == 0);
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  rlimit small = saved;
  small.rlim_cur = jr::writer::prealloc_bytes;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  auto e = sample_event(2);
  e.text.assign(jr::writer::prealloc_bytes, 'x');
  const auto ec = w->append(one_record(2, e), 2);
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &saved) == 0);
  REQUIRE(::sigaction(SIGXFSZ, &old, nullptr) == 0);
  CHECK(ec == std::errc::file_too_large);
  // The same id again, as the store reuses the ids of a refused batch: only this one is read back.
  REQUIRE(!w->append(one_record(2, sample_event(3)), 2));
  const auto files = w->all_files();
  REQUIRE(!files.empty());
  std::vector<std::uint64_t> ids;
  std::vector<std::string> texts;
  for (const auto& f : files) {
    const auto fc = jr::read_file(f);
    CHECK(fc.problem.empty());
    for (const auto& r : fc.records) {
      ids.push_back(r.id);
      event_record back;
      REQUIRE(!codec::decode_event(r.event, back));
      texts.push_back(back.text);
    }
  }
  CHECK(ids == std::vector<std::uint64_t>{1, 2});
  CHECK(texts.back() == sample_event(3).text);
}
