// One runner for every fixture folder test/modules/fixtures/<family>/<case>/ (convention in
// modules/README.md): the HTTP files are decoded exactly as `imcapctl decode` decodes them
// (modules::decode_files), and the events are compared, as JSON values and in order, with
// expected.jsonl; or the error code with expected_error.txt.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "modules/decode_files.hpp"

namespace fs = std::filesystem;
using namespace imcap::modules;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

std::string trimmed(std::string s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && ws(s.back())) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && ws(s[i])) ++i;
  return s.substr(i);
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> r;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!trimmed(line).empty()) r.push_back(line);
  }
  return r;
}

// The steps of a case: request.http (+ response.http), or NN-request.http (+ NN-response.http)
// in numeric order. Returns a problem description, empty when the folder is well formed.
std::string steps_of(const fs::path& dir, std::vector<decode_step>& steps) {
  if (fs::exists(dir / "request.http")) {
    decode_step s{(dir / "request.http").string(), std::nullopt};
    if (fs::exists(dir / "response.http")) s.response_file = (dir / "response.http").string();
    steps.push_back(std::move(s));
    return {};
  }
  std::vector<std::string> numbered;
  for (const auto& f : fs::directory_iterator(dir)) {
    auto name = f.path().filename().string();
    if (name.size() == 15 && name.substr(2) == "-request.http") numbered.push_back(name);
  }
  std::sort(numbered.begin(), numbered.end());
  for (const auto& name : numbered) {
    decode_step s{(dir / name).string(), std::nullopt};
    auto resp = dir / (name.substr(0, 2) + "-response.http");
    if (fs::exists(resp)) s.response_file = resp.string();
    steps.push_back(std::move(s));
  }
  if (steps.empty()) return "no request.http and no NN-request.http";
  return {};
}

std::vector<fs::path> case_dirs() {
  std::vector<fs::path> r;
  fs::path root = fs::path(IMCAP_SOURCE_DIR) / "test" / "modules" / "fixtures";
  if (!fs::exists(root)) return r;
  for (const auto& family : fs::directory_iterator(root)) {
    if (!family.is_directory()) continue;
    for (const auto& c : fs::directory_iterator(family.path()))
      if (c.is_directory()) r.push_back(c.path());
  }
  std::sort(r.begin(), r.end());
  return r;
}

}  // namespace

TEST_CASE("every fixture decodes to its expected events or error", "[fixtures]") {
  auto dirs = case_dirs();
  REQUIRE(!dirs.empty());
  for (const auto& dir : dirs) {
    auto name = dir.parent_path().filename().string() + "/" + dir.filename().string();
    INFO("fixture " << name);
    std::vector<decode_step> steps;
    if (auto problem = steps_of(dir, steps); !problem.empty()) {
      FAIL_CHECK(problem);
      continue;
    }
    bool has_events = fs::exists(dir / "expected.jsonl");
    bool has_error = fs::exists(dir / "expected_error.txt");
    if (!has_events && !has_error) {
      FAIL_CHECK("the folder has neither expected.jsonl nor expected_error.txt");
      continue;
    }

    decode_files_options opt;
    if (fs::exists(dir / "user.txt")) opt.proxy_user = trimmed(slurp(dir / "user.txt"));
    auto result = decode_files(steps, opt);

    std::string actual_text;
    std::vector<boost::json::value> actual;
    for (const auto& e : result.events) {
      auto j = to_json(e);
      actual_text += boost::json::serialize(j) + "\n";
      actual.emplace_back(std::move(j));
    }
    INFO("decoded events:\n" << actual_text);

    if (has_error) {
      auto want = trimmed(slurp(dir / "expected_error.txt"));
      INFO("error: " << result.error_file << ": " << to_string(result.error.code) << ": "
                     << result.error.detail);
      CHECK(std::string(to_string(result.error.code)) == want);
      // The error belongs to the last step's files.
      const auto& last = steps.back();
      CHECK((result.error_file == last.request_file ||
             (last.response_file && result.error_file == *last.response_file)));
    } else {
      INFO("error: " << result.error_file << ": " << result.error.message());
      CHECK(!result.error);
    }
    std::vector<std::string> expected_lines;
    if (has_events) expected_lines = lines_of(slurp(dir / "expected.jsonl"));
    CHECK(actual.size() == expected_lines.size());
    for (std::size_t i = 0; i < std::min(actual.size(), expected_lines.size()); ++i) {
      boost::system::error_code ec;
      auto want = boost::json::parse(expected_lines[i], ec);
      if (ec) {
        FAIL_CHECK("expected.jsonl line " << (i + 1) << " is not JSON: " << ec.message());
        continue;
      }
      INFO("event " << (i + 1) << "\n  expected: " << boost::json::serialize(want)
                    << "\n  actual:   " << boost::json::serialize(actual[i]));
      CHECK(actual[i] == want);
    }
  }
}
