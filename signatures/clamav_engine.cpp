// libclamav adapter. See clamav_engine.hpp for who owns what and which thread runs what.
//
// Why a timer thread: libclamav cannot be interrupted from outside a scan. The engine's own
// CL_ENGINE_MAX_SCANTIME bounds how long a pool thread stays busy, and the timer answers the
// caller at the deadline even when the scan (or its wait in the queue) is still going on; the
// late result is then dropped. The input's owner keeps the bytes alive until the pool thread is
// done with them.

#include "signatures/clamav_engine.hpp"

#include <clamav.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "common/thread_name.hpp"

namespace imcap::signatures {

std::string clamav_error_text(int code) {
  struct entry {
    cl_error_t code;
    const char* name;
  };
  static constexpr entry names[] = {
      {CL_CLEAN, "CL_CLEAN"},         {CL_VIRUS, "CL_VIRUS"},
      {CL_ENULLARG, "CL_ENULLARG"},   {CL_EARG, "CL_EARG"},
      {CL_EMALFDB, "CL_EMALFDB"},     {CL_ECVD, "CL_ECVD"},
      {CL_EVERIFY, "CL_EVERIFY"},     {CL_EUNPACK, "CL_EUNPACK"},
      {CL_EOPEN, "CL_EOPEN"},         {CL_ECREAT, "CL_ECREAT"},
      {CL_EUNLINK, "CL_EUNLINK"},     {CL_ESTAT, "CL_ESTAT"},
      {CL_EREAD, "CL_EREAD"},         {CL_ESEEK, "CL_ESEEK"},
      {CL_EWRITE, "CL_EWRITE"},       {CL_EDUP, "CL_EDUP"},
      {CL_EACCES, "CL_EACCES"},       {CL_ETMPFILE, "CL_ETMPFILE"},
      {CL_ETMPDIR, "CL_ETMPDIR"},     {CL_EMAP, "CL_EMAP"},
      {CL_EMEM, "CL_EMEM"},           {CL_ETIMEOUT, "CL_ETIMEOUT"},
      {CL_BREAK, "CL_BREAK"},         {CL_EMAXREC, "CL_EMAXREC"},
      {CL_EMAXSIZE, "CL_EMAXSIZE"},   {CL_EMAXFILES, "CL_EMAXFILES"},
      {CL_EFORMAT, "CL_EFORMAT"},     {CL_EPARSE, "CL_EPARSE"},
      {CL_EBYTECODE, "CL_EBYTECODE"}, {CL_EBYTECODE_TESTFAIL, "CL_EBYTECODE_TESTFAIL"},
      {CL_ELOCK, "CL_ELOCK"},         {CL_EBUSY, "CL_EBUSY"},
      {CL_ESTATE, "CL_ESTATE"},       {CL_VERIFIED, "CL_VERIFIED"},
      {CL_ERROR, "CL_ERROR"},
  };
  const auto c = static_cast<cl_error_t>(code);
  for (const auto& e : names) {
    if (e.code == c) return std::string(e.name) + " (" + cl_strerror(c) + ")";
  }
  return "libclamav code " + std::to_string(code);
}

namespace {

void clamav_message(enum cl_msg severity, const char* /*fullmsg*/, const char* msg,
                    void* /*context*/) {
  std::string_view text = msg != nullptr ? msg : "";
  while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  switch (severity) {
    case CL_MSG_ERROR:
      spdlog::error("libclamav: {}", text);
      break;
    case CL_MSG_WARN:
      spdlog::warn("libclamav: {}", text);
      break;
    default:
      spdlog::debug("libclamav: {}", text);
      break;
  }
}

void init_libclamav_once() {
  static std::once_flag once;
  static cl_error_t rc = CL_SUCCESS;
  std::call_once(once, [] {
    cl_set_clcb_msg(clamav_message);
    rc = cl_init(CL_INIT_DEFAULT);
  });
  if (rc != CL_SUCCESS) throw clamav_error("libclamav: cl_init: " + clamav_error_text(rc));
}

void check_settings(const clamav_settings& s) {
  if (s.database_dirs.empty()) throw clamav_error("clamav: no database directory configured");
  if (s.pool_threads == 0) throw clamav_error("clamav: pool_threads must be at least 1");
  if (s.timeout.count() <= 0) throw clamav_error("clamav: timeout must be positive");
}

}  // namespace

struct clamav_scanner::engine {
  cl_engine* e = nullptr;
  std::uint64_t generation = 0;
  unsigned signatures = 0;
  ~engine() {
    if (e != nullptr) cl_engine_free(e);
  }
};

namespace {

using engine_ptr = std::shared_ptr<const clamav_scanner::engine>;

engine_ptr build_engine(const clamav_settings& s, std::uint64_t generation) {
  init_libclamav_once();
  auto eng = std::make_shared<clamav_scanner::engine>();
  eng->generation = generation;
  eng->e = cl_engine_new();
  if (eng->e == nullptr) throw clamav_error("libclamav: cl_engine_new failed");
  auto set = [&](cl_engine_field field, long long value, const char* what) {
    const cl_error_t rc = cl_engine_set_num(eng->e, field, value);
    if (rc != CL_SUCCESS) {
      throw clamav_error(std::string("clamav: setting ") + what + ": " + clamav_error_text(rc));
    }
  };
  set(CL_ENGINE_MAX_SCANSIZE, static_cast<long long>(s.max_scan_size), "max_scan_size");
  set(CL_ENGINE_MAX_FILESIZE, static_cast<long long>(s.max_file_size), "max_file_size");
  set(CL_ENGINE_MAX_RECURSION, static_cast<long long>(s.max_recursion), "max_recursion");
  set(CL_ENGINE_MAX_FILES, static_cast<long long>(s.max_files), "max_files");
  set(CL_ENGINE_MAX_SCANTIME, static_cast<long long>(s.timeout.count()), "timeout");
  if (!s.temp_dir.empty()) {
    const cl_error_t rc = cl_engine_set_str(eng->e, CL_ENGINE_TMPDIR, s.temp_dir.c_str());
    if (rc != CL_SUCCESS) {
      throw clamav_error("clamav: temp_dir " + s.temp_dir.string() + ": " + clamav_error_text(rc));
    }
  }
  for (const auto& dir : s.database_dirs) {
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) {
      throw clamav_error("clamav database " + dir.string() + ": does not exist");
    }
    unsigned loaded = 0;
    const cl_error_t rc = cl_load(dir.c_str(), eng->e, &loaded, CL_DB_STDOPT);
    if (rc != CL_SUCCESS) {
      throw clamav_error("clamav database " + dir.string() + ": " + clamav_error_text(rc));
    }
    eng->signatures += loaded;
  }
  if (eng->signatures == 0)
    throw clamav_error("clamav: the database directories hold no signatures");
  const cl_error_t rc = cl_engine_compile(eng->e);
  if (rc != CL_SUCCESS)
    throw clamav_error("clamav: compiling the engine: " + clamav_error_text(rc));
  return eng;
}

// One scan with imcap's options: all-matches off, every parser (archives, mail, documents) on,
// heuristics off (their "Heuristics.*" names are not actionable for chat attachments).
cl_error_t scan_buffer(const clamav_scanner::engine& eng, std::span<const unsigned char> bytes,
                       const std::string& name, const char*& virname) {
  virname = nullptr;
  if (bytes.empty()) return CL_CLEAN;
  cl_fmap_t* map = cl_fmap_open_memory(bytes.data(), bytes.size());
  if (map == nullptr) return CL_EMAP;
  cl_scan_options opts{};
  opts.general = 0;
  opts.parse = ~0u;
  opts.heuristic = 0;
  opts.mail = 0;
  opts.dev = 0;
  unsigned long scanned = 0;
  const cl_error_t rc = cl_scanmap_callback(map, name.empty() ? nullptr : name.c_str(), &virname,
                                            &scanned, eng.e, &opts, nullptr);
  cl_fmap_close(map);
  return rc;
}

}  // namespace

struct clamav_scanner::impl {
  struct job {
    clamav_input input;
    completion done;
    std::atomic<bool> answered{false};
    std::multimap<std::chrono::steady_clock::time_point, std::weak_ptr<job>>::iterator deadline_it;
    bool has_deadline = false;
  };
  using job_ptr = std::shared_ptr<job>;

  const clamav_settings& settings;
  std::atomic<engine_ptr> current;
  std::atomic<std::uint64_t> next_generation{1};
  std::mutex reload_mutex;  // one reload at a time

  std::mutex m;
  std::condition_variable work_cv;
  std::condition_variable timer_cv;
  std::deque<job_ptr> queue;
  std::multimap<std::chrono::steady_clock::time_point, std::weak_ptr<job>> deadlines;
  bool stopping = false;
  std::vector<std::thread> workers;
  std::thread timer;

  struct {
    std::atomic<std::uint64_t> scans{0}, clean{0}, infected{0}, errors{0}, timeouts{0},
        queue_full{0}, engine_errors{0}, failed_open{0}, failed_closed{0}, reloads{0},
        reload_failures{0};
  } c;

  explicit impl(const clamav_settings& s) : settings(s) {}

  clamav_result error_result(std::string reason) const {
    clamav_result r;
    r.status = clamav_status::error;
    r.reason = std::move(reason);
    r.pass = settings.fail_open;
    return r;
  }

  // Answers a job once; later answers (the scan finishing after the timeout) are dropped.
  // `also`: extra counters for this kind of answer, bumped before the completion runs so a
  // caller that was answered sees them.
  bool deliver(const job_ptr& j, clamav_result r,
               std::initializer_list<std::atomic<std::uint64_t>*> also = {}) {
    if (j->answered.exchange(true)) return false;
    for (auto* counter : also) counter->fetch_add(1, std::memory_order_relaxed);
    {
      std::lock_guard lk(m);
      if (j->has_deadline) {
        deadlines.erase(j->deadline_it);
        j->has_deadline = false;
      }
    }
    c.scans.fetch_add(1, std::memory_order_relaxed);
    switch (r.status) {
      case clamav_status::clean:
        c.clean.fetch_add(1, std::memory_order_relaxed);
        break;
      case clamav_status::infected:
        c.infected.fetch_add(1, std::memory_order_relaxed);
        break;
      case clamav_status::error:
        c.errors.fetch_add(1, std::memory_order_relaxed);
        (r.pass ? c.failed_open : c.failed_closed).fetch_add(1, std::memory_order_relaxed);
        spdlog::warn("clamav: {}: no answer ({}), {}", j->input.name, r.reason,
                     r.pass ? "passed (fail_open)" : "blocked (fail_closed)");
        break;
    }
    completion done = std::move(j->done);
    done(std::move(r));
    return true;
  }

  void run_worker() {
    for (;;) {
      job_ptr j;
      {
        std::unique_lock lk(m);
        work_cv.wait(lk, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) return;  // stopping and drained
        j = std::move(queue.front());
        queue.pop_front();
      }
      if (j->answered.load()) continue;  // timed out while waiting in the queue
      const engine_ptr eng = current.load();
      const char* virname = nullptr;
      const cl_error_t rc = scan_buffer(*eng, j->input.bytes, j->input.name, virname);
      clamav_result r;
      r.engine_generation = eng->generation;
      if (rc == CL_CLEAN) {
        r.status = clamav_status::clean;
        r.pass = true;
      } else if (rc == CL_VIRUS) {
        r.status = clamav_status::infected;
        r.viruses.emplace_back(virname != nullptr ? virname : "unknown");
        r.pass = false;
      } else {
        const auto gen = r.engine_generation;
        r = error_result("libclamav: " + clamav_error_text(rc));
        r.engine_generation = gen;
        if (rc == CL_ETIMEOUT) {
          deliver(j, std::move(r), {&c.engine_errors, &c.timeouts});
        } else {
          deliver(j, std::move(r), {&c.engine_errors});
        }
        continue;
      }
      deliver(j, std::move(r));
    }
  }

  void run_timer() {
    std::unique_lock lk(m);
    while (!stopping) {
      if (deadlines.empty()) {
        timer_cv.wait(lk);
        continue;
      }
      const auto first = deadlines.begin()->first;
      if (std::chrono::steady_clock::now() < first) {
        timer_cv.wait_until(lk, first);
        continue;
      }
      std::vector<job_ptr> expired;
      const auto now = std::chrono::steady_clock::now();
      while (!deadlines.empty() && deadlines.begin()->first <= now) {
        if (auto j = deadlines.begin()->second.lock()) {
          j->has_deadline = false;
          expired.push_back(std::move(j));
        }
        deadlines.erase(deadlines.begin());
      }
      lk.unlock();
      for (const auto& j : expired) {
        if (j->answered.load()) continue;
        deliver(j,
                error_result("timeout after " + std::to_string(settings.timeout.count()) + " ms"),
                {&c.timeouts});
      }
      lk.lock();
    }
  }
};

clamav_scanner::clamav_scanner(clamav_settings settings)
    : settings_(std::move(settings)), impl_(std::make_unique<impl>(settings_)) {
  check_settings(settings_);
  impl_->current.store(build_engine(settings_, impl_->next_generation.fetch_add(1)));
  impl_->workers.reserve(settings_.pool_threads);
  for (std::size_t i = 0; i < settings_.pool_threads; ++i) {
    impl_->workers.emplace_back([this, i] {
      name_this_thread("imcap-clam-" + std::to_string(i));
      impl_->run_worker();
    });
  }
  impl_->timer = std::thread([this] {
    name_this_thread("imcap-clam-time");
    impl_->run_timer();
  });
}

clamav_scanner::~clamav_scanner() {
  std::deque<impl::job_ptr> left;
  {
    std::lock_guard lk(impl_->m);
    impl_->stopping = true;
    left.swap(impl_->queue);
  }
  impl_->work_cv.notify_all();
  impl_->timer_cv.notify_all();
  for (auto& t : impl_->workers) t.join();
  impl_->timer.join();
  for (const auto& j : left) impl_->deliver(j, impl_->error_result("scanner stopped"));
}

void clamav_scanner::scan_async(clamav_input input, completion done) {
  auto j = std::make_shared<impl::job>();
  j->input = std::move(input);
  j->done = std::move(done);
  const char* refused = nullptr;
  {
    std::lock_guard lk(impl_->m);
    if (impl_->stopping) {
      refused = "scanner stopped";
    } else if (impl_->queue.size() >= settings_.queue_capacity) {
      refused = "queue full";
    } else {
      j->deadline_it =
          impl_->deadlines.emplace(std::chrono::steady_clock::now() + settings_.timeout, j);
      j->has_deadline = true;
      impl_->queue.push_back(j);
    }
  }
  if (refused != nullptr) {
    if (std::string_view(refused) == "queue full") {
      impl_->deliver(j,
                     impl_->error_result("queue full (" + std::to_string(settings_.queue_capacity) +
                                         " scans waiting)"),
                     {&impl_->c.queue_full});
    } else {
      impl_->deliver(j, impl_->error_result(refused));
    }
    return;
  }
  impl_->work_cv.notify_one();
  impl_->timer_cv.notify_one();
}

clamav_result clamav_scanner::scan(clamav_input input) {
  auto p = std::make_shared<std::promise<clamav_result>>();
  auto f = p->get_future();
  scan_async(std::move(input), [p](clamav_result r) { p->set_value(std::move(r)); });
  return f.get();
}

clamav_engine_info clamav_scanner::reload() {
  std::lock_guard lk(impl_->reload_mutex);
  engine_ptr fresh;
  try {
    fresh = build_engine(settings_, impl_->next_generation.load());
  } catch (const clamav_error& e) {
    impl_->c.reload_failures.fetch_add(1, std::memory_order_relaxed);
    throw;
  }
  impl_->next_generation.fetch_add(1);
  impl_->current.store(std::move(fresh));
  impl_->c.reloads.fetch_add(1, std::memory_order_relaxed);
  return info();
}

clamav_engine_info clamav_scanner::info() const {
  const engine_ptr eng = impl_->current.load();
  clamav_engine_info i;
  i.generation = eng->generation;
  i.signatures = eng->signatures;
  i.identity = "g" + std::to_string(i.generation) + "-" + std::to_string(i.signatures);
  return i;
}

clamav_counters clamav_scanner::counters() const {
  const auto& c = impl_->c;
  clamav_counters out;
  out.scans = c.scans.load();
  out.clean = c.clean.load();
  out.infected = c.infected.load();
  out.errors = c.errors.load();
  out.timeouts = c.timeouts.load();
  out.queue_full = c.queue_full.load();
  out.engine_errors = c.engine_errors.load();
  out.failed_open = c.failed_open.load();
  out.failed_closed = c.failed_closed.load();
  out.reloads = c.reloads.load();
  out.reload_failures = c.reload_failures.load();
  return out;
}

clamav_direct::clamav_direct(const clamav_settings& settings) {
  check_settings(settings);
  engine_ = build_engine(settings, 1);
}

clamav_direct::~clamav_direct() = default;

int clamav_direct::scan(std::span<const unsigned char> bytes, std::string& virus) const {
  const char* virname = nullptr;
  const cl_error_t rc = scan_buffer(*engine_, bytes, {}, virname);
  if (rc == CL_VIRUS && virname != nullptr) virus = virname;
  return static_cast<int>(rc);
}

}  // namespace imcap::signatures
