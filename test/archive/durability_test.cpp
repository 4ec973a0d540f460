// What an admin would notice when the disk side goes wrong: the map grows instead of failing,
// a full map fails new events precisely and loses nothing acknowledged (what it could not take
// waits in the journal), a killed writer loses
// nothing it acknowledged, and a garbage data file is refused with its path named.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "archive_test_util.hpp"

using namespace imcap::archive;
using namespace imcap::archive::test;

namespace {

event_record big_event(int i, std::size_t text_bytes) {
  auto e = sample_event(i);
  e.text.assign(text_bytes, static_cast<char>('a' + i % 26));
  e.text += std::to_string(i);
  return e;
}

}  // namespace

TEST_CASE("the map grows from a tiny initial size and nothing is lost", "[archive][map]") {
  temp_dir dir;
  auto st = test_settings(dir.path);
  st.map_size_initial = 1u << 20;
  st.map_size_max = 64u << 20;
  st.max_batch = 64;
  auto s = store::open(st);
  constexpr int n = 400;  // ~8 MB of text: the 1 MiB map has to double several times
  std::atomic<int> ok{0}, failed{0};
  for (int i = 0; i < n; ++i) {
    REQUIRE(!s->submit(big_event(i, 20'000), {}, [&](std::error_code ec, std::uint64_t) {
      (ec ? failed : ok).fetch_add(1);
    }));
  }
  s->flush();
  CHECK(ok.load() == n);
  CHECK(failed.load() == 0);
  const auto stats = s->statistics();
  CHECK(stats.map_grows >= 3);
  CHECK(stats.map_size >= (8u << 20));
  CHECK(stats.commit_errors == 0);
  for (int i = 0; i < n; i += 37) {
    auto e = s->get(static_cast<std::uint64_t>(i + 1));
    REQUIRE(e);
    CHECK(e->text == big_event(i, 20'000).text);
  }
  CHECK(s->verify().ok());
}

TEST_CASE("at map_size_max new events fail with map_full and earlier ones stay intact",
          "[archive][map]") {
  temp_dir dir;
  auto st = test_settings(dir.path);
  st.map_size_initial = 1u << 20;
  st.map_size_max = 2u << 20;
  st.max_batch = 16;
  auto s = store::open(st);
  std::mutex m;
  std::vector<std::uint64_t> acked;
  std::vector<int> acked_index;
  int map_full = 0, other = 0;
  // 300 x 20 kB = 6 MB: cannot fit in 2 MiB. One at a time, each flushed into LMDB, so the map
  // fills at a known point: the event that does not fit is still acknowledged (it is in the
  // journal), every later one is refused with map_full.
  for (int i = 0; i < 300; ++i) {
    REQUIRE(!s->submit(big_event(i, 20'000), {}, [&, i](std::error_code ec, std::uint64_t id) {
      std::lock_guard g(m);
      if (!ec) {
        acked.push_back(id);
        acked_index.push_back(i);
      } else if (ec == errc::map_full) {
        ++map_full;
      } else {
        ++other;
      }
    }));
    s->flush();
  }
  CHECK(map_full > 0);
  CHECK(other == 0);
  REQUIRE(!acked.empty());
  CHECK(acked.size() + static_cast<std::size_t>(map_full) == 300);
  CHECK(s->statistics().map_size == (2u << 20));
  // A new event after the failures gets the same precise answer.
  std::error_code late;
  REQUIRE(!s->submit(big_event(999, 20'000), {},
                     [&](std::error_code ec, std::uint64_t) { late = ec; }));
  s->flush();
  CHECK(late == errc::map_full);
  s.reset();

  // Acknowledged events that the full map could not take wait in the journal (strict
  // durability): reopening read-write with room applies them, so every one of them is there.
  st.map_size_max = 64u << 20;
  store::open(st).reset();
  for (const auto& f : std::filesystem::directory_iterator(dir.path))
    CHECK(f.path().filename().string().rfind("journal-", 0) != 0);
  auto ro = store::open(st, store::open_mode::read_only);
  for (std::size_t k = 0; k < acked.size(); ++k) {
    auto e = ro->get(acked[k]);
    REQUIRE(e);
    CHECK(e->text == big_event(acked_index[k], 20'000).text);
  }
  CHECK(ro->verify().ok());
}

TEST_CASE("a reader in another process copes with the map having grown", "[archive][map]") {
  temp_dir dir;
  auto st = test_settings(dir.path);
  st.map_size_initial = 1u << 20;
  {
    auto w = store::open(st);
    put(*w, sample_event(0));
  }
  auto ro = store::open(st, store::open_mode::read_only);
  REQUIRE(ro->get(1));
  // Grow the map from a child process (a different LMDB environment handle in another process).
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 0;
    try {
      auto w = store::open(st);
      for (int i = 0; i < 300; ++i)
        if (w->submit(big_event(i, 20'000), {}, {})) code = 3;
      w->flush();
      if (w->statistics().map_grows == 0) code = 4;
    } catch (...) {
      code = 5;
    }
    ::_exit(code);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  auto last = ro->get(301);
  REQUIRE(last);
  CHECK(last->text == big_event(299, 20'000).text);
  CHECK(ro->verify().ok());
}

TEST_CASE("SIGKILL of the writer loses no acknowledged event", "[archive][crash]") {
  temp_dir dir;
  auto st = test_settings(dir.path);
  st.max_batch = 32;
  st.max_batch_delay = std::chrono::microseconds(200);
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    try {
      auto s = store::open(st);
      const int out = fds[1];
      for (int i = 0; i < 1'000'000; ++i) {
        auto e = big_event(i, 500);
        if (s->submit(std::move(e), {}, [out](std::error_code ec, std::uint64_t id) {
              if (ec) return;
              unsigned char b[8];
              for (int k = 0; k < 8; ++k) b[k] = static_cast<unsigned char>(id >> (56 - 8 * k));
              if (::write(out, b, 8) != 8) ::_exit(7);
            })) {
          while (s->statistics().queued > 100) std::this_thread::yield();
        }
      }
      s->flush();
    } catch (...) {
      ::_exit(6);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::set<std::uint64_t> acked;
  std::string buf;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool killed = false;
  for (;;) {
    if (!killed && acked.size() >= 2000) {
      REQUIRE(::kill(pid, SIGKILL) == 0);
      killed = true;
    }
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) continue;
    char chunk[4096];
    const ssize_t n = ::read(fds[0], chunk, sizeof chunk);
    if (n <= 0) break;  // the child is gone and the pipe drained
    buf.append(chunk, static_cast<std::size_t>(n));
    while (buf.size() >= 8) {
      std::uint64_t id = 0;
      for (int k = 0; k < 8; ++k)
        id = (id << 8) | static_cast<unsigned char>(buf[static_cast<std::size_t>(k)]);
      acked.insert(id);
      buf.erase(0, 8);
    }
  }
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CHECK(killed);
  CHECK(WIFSIGNALED(status));
  REQUIRE(acked.size() >= 2000);

  auto s = store::open(st);
  std::size_t present = 0;
  for (auto id : acked) present += s->get(id) ? 1u : 0u;
  CHECK(present == acked.size());
  const auto rep = s->verify();
  for (const auto& p : rep.problems) UNSCOPED_INFO(p);
  CHECK(rep.ok());
  CHECK(rep.events_checked >= acked.size());
  // The reopened archive keeps numbering after the last committed event.
  const auto next = put(*s, sample_event(1));
  CHECK(next == rep.events_checked + 1);
}

TEST_CASE("a garbage data.mdb is refused with an error naming the path", "[archive][corrupt]") {
  temp_dir dir;
  auto st = test_settings(dir.path);
  std::filesystem::create_directories(st.path);
  {
    std::ofstream f(st.path / "data.mdb", std::ios::binary);
    std::string junk(65536, '\0');
    std::uint32_t x = 12345;
    for (auto& c : junk) {
      x = x * 1103515245u + 12345u;
      c = static_cast<char>(x >> 24);
    }
    f << junk;
  }
  for (auto mode : {store::open_mode::read_write, store::open_mode::read_only}) {
    try {
      auto s = store::open(st, mode);
      FAIL("open succeeded on garbage");
    } catch (const archive_error& e) {
      CHECK(std::string(e.what()).find(st.path.string()) != std::string::npos);
    }
  }
  // A directory without an archive, read-only: also a named error.
  auto none = test_settings(dir.path / "nothing");
  CHECK_THROWS_AS(store::open(none, store::open_mode::read_only), archive_error);
  // A map_size_max below map_size_initial is a configuration error.
  auto bad = test_settings(dir.path / "bad");
  bad.map_size_max = 1;
  CHECK_THROWS_AS(store::open(bad), archive_error);
}

TEST_CASE("readers in this process keep working while the writer grows the map", "[archive][map]") {
  temp_dir dir;
  auto st = test_settings(dir.path);
  st.map_size_initial = 1u << 20;
  st.max_batch = 8;
  auto s = store::open(st);
  put(*s, big_event(0, 100));
  std::atomic<bool> stop{false};
  std::atomic<int> reads{0}, bad{0};
  std::thread reader([&] {
    while (!stop.load()) {
      auto e = s->get(1);
      if (!e || e->text != big_event(0, 100).text) bad.fetch_add(1);
      query q;
      q.limit = 5;
      if (s->search(q).empty()) bad.fetch_add(1);
      reads.fetch_add(1);
    }
  });
  for (int i = 1; i < 300; ++i) REQUIRE(!s->submit(big_event(i, 20'000), {}, {}));
  s->flush();
  stop.store(true);
  reader.join();
  CHECK(bad.load() == 0);
  CHECK(reads.load() > 0);
  CHECK(s->statistics().map_grows >= 2);
  CHECK(s->get(300)->text == big_event(299, 20'000).text);
}

TEST_CASE("relaxed durability commits and survives reopening", "[archive]") {
  temp_dir dir;
  auto st = test_settings(dir.path);
  st.mode = durability::relaxed;
  {
    auto s = store::open(st);
    for (int i = 0; i < 50; ++i) REQUIRE(!s->submit(sample_event(i), {}, {}));
    s->flush();
    CHECK(s->statistics().committed_events == 50);
  }
  auto ro = store::open(st, store::open_mode::read_only);
  REQUIRE(ro->get(50));
  CHECK(ro->get(50)->session_key == "sess-49");
  CHECK(ro->verify().ok());
}
