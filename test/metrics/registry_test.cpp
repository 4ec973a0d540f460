#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "metrics/metrics.hpp"

using namespace imcap::metrics;

TEST_CASE("exposition of a counter, a gauge and a histogram is the 0.0.4 text format") {
  registry r;
  r.counter_of("imcap_test_requests_total", "Requests seen.\nSecond line with a \\ backslash",
               {"service", "note"}, {"/imcap", "say \"hi\"\\now\nnext"})
      .inc(3);
  r.counter_of("imcap_test_requests_total", "Requests seen.\nSecond line with a \\ backslash",
               {"service", "note"}, {"/echo", ""})
      .inc();
  r.gauge_of("imcap_test_connections", "Open connections").set(-2);
  auto& h = r.histogram_of("imcap_test_latency_seconds", "Latency", {0.001, 0.5, 2}, {"service"},
                           {"/imcap"});
  h.observe(0.0005);
  h.observe(0.001);  // on the bound: in that bucket (le)
  h.observe(0.25);
  h.observe(10);

  const std::string expected =
      "# HELP imcap_test_connections Open connections\n"
      "# TYPE imcap_test_connections gauge\n"
      "imcap_test_connections -2\n"
      "# HELP imcap_test_latency_seconds Latency\n"
      "# TYPE imcap_test_latency_seconds histogram\n"
      "imcap_test_latency_seconds_bucket{service=\"/imcap\",le=\"0.001\"} 2\n"
      "imcap_test_latency_seconds_bucket{service=\"/imcap\",le=\"0.5\"} 3\n"
      "imcap_test_latency_seconds_bucket{service=\"/imcap\",le=\"2\"} 3\n"
      "imcap_test_latency_seconds_bucket{service=\"/imcap\",le=\"+Inf\"} 4\n"
      "imcap_test_latency_seconds_sum{service=\"/imcap\"} 10.2515\n"
      "imcap_test_latency_seconds_count{service=\"/imcap\"} 4\n"
      "# HELP imcap_test_requests_total Requests seen.\\nSecond line with a \\\\ backslash\n"
      "# TYPE imcap_test_requests_total counter\n"
      "imcap_test_requests_total{service=\"/echo\",note=\"\"} 1\n"
      "imcap_test_requests_total{service=\"/imcap\",note=\"say \\\"hi\\\"\\\\now\\nnext\"} 3\n";
  CHECK(r.expose() == expected);
}

TEST_CASE("a family without series shows its HELP and TYPE only; an empty registry nothing") {
  registry r;
  CHECK(r.expose().empty());
  r.counter_of("imcap_test_total", "x", {}, {});
  CHECK(r.expose() ==
        "# HELP imcap_test_total x\n# TYPE imcap_test_total counter\n"
        "imcap_test_total 0\n");
}

TEST_CASE("the same name returns the same series; a different definition is a logic error") {
  registry r;
  auto& a = r.counter_of("imcap_test_total", "help", {"k"}, {"v"});
  auto& b = r.counter_of("imcap_test_total", "help", {"k"}, {"v"});
  CHECK(&a == &b);
  CHECK(&a != &r.counter_of("imcap_test_total", "help", {"k"}, {"w"}));
  CHECK_THROWS_AS(r.counter_of("imcap_test_total", "other help", {"k"}, {"v"}), std::logic_error);
  CHECK_THROWS_AS(r.gauge_of("imcap_test_total", "help", {"k"}, {"v"}), std::logic_error);
  CHECK_THROWS_AS(r.counter_of("imcap_test_total", "help", {"k", "j"}, {"v", "w"}),
                  std::logic_error);
  CHECK_THROWS_AS(r.counter_of("imcap_test_total", "help", {"k"}, {}), std::logic_error);
  CHECK_THROWS_AS(r.counter_of("bad-name", "help"), std::logic_error);
  CHECK_THROWS_AS(r.histogram_of("imcap_h", "help", {1, 1}), std::logic_error);
  CHECK_THROWS_AS(r.histogram_of("imcap_h2", "help", {1}, {"le"}, {"x"}), std::logic_error);
}

TEST_CASE("increments from many threads all count") {
  registry r;
  // More threads than counter cells (metrics::detail::cells), so some threads share a cell.
  constexpr int threads = 12;
  constexpr int per_thread = 20000;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&r, t] {
      // Half the threads look the series up every time (the locked path), half keep it.
      auto& kept = r.counter_of("imcap_test_total", "h", {"k"}, {"shared"});
      auto& hist = r.histogram_of("imcap_test_seconds", "h", latency_buckets());
      for (int i = 0; i < per_thread; ++i) {
        if (t % 2 == 0)
          r.counter_of("imcap_test_total", "h", {"k"}, {"shared"}).inc();
        else
          kept.inc();
        r.counter_of("imcap_test_total", "h", {"k"}, {"t" + std::to_string(t)}).inc();
        hist.observe(0.001);
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(r.counter_of("imcap_test_total", "h", {"k"}, {"shared"}).value() ==
        std::uint64_t{threads} * per_thread);
  for (int t = 0; t < threads; ++t)
    CHECK(r.counter_of("imcap_test_total", "h", {"k"}, {"t" + std::to_string(t)}).value() ==
          per_thread);
  const auto snap = r.histogram_of("imcap_test_seconds", "h", latency_buckets()).read();
  CHECK(snap.count == std::uint64_t{threads} * per_thread);
  CHECK(snap.sum == Approx(0.001 * threads * per_thread));
}
