// The LMDB store: open, the writer thread (group commit, map growth), the journal's applier
// thread and replay (strict durability, journal.hpp), reads, verify, purge.
//
// Ownership and threads:
// - submit() runs on the caller's thread: it checks and compresses the attachment contents there
//   (CPU only), then moves the event into queue_ under q_mutex_. The writer thread owns the items
//   it takes from the queue until their completions have run.
// - strict (journaled_): the writer journals a batch, syncs, runs the completions and moves the
//   items to applyq_ (a_mutex_); the applier thread commits them to LMDB and advances done_seq_.
//   relaxed: the writer commits to LMDB itself.
// - Synchronous writes (quarantine, audit, holds, purge) are posted as ops to the one thread that
//   commits to LMDB (applier under strict, writer under relaxed) and the caller waits for the
//   result, so one thread in this process writes and the map growth logic lives in one place.
// - map_mutex_: every transaction of this process holds it shared; changing the map size
//   (growth, or adopting another process's growth after MDB_MAP_RESIZED) holds it exclusively,
//   because LMDB requires that no transaction be active in the process at that moment.

#include <spdlog/spdlog.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>

#include <boost/json.hpp>

#include "archive/archive.hpp"
#include "archive/codec.hpp"
#include "archive/journal.hpp"
#include "archive/lmdb.hpp"
#include "common/thread_name.hpp"

namespace imcap::archive {

namespace {

constexpr std::uint32_t schema_version = 1;
constexpr std::string_view k_schema = "schema_version";
constexpr std::string_view k_next_event = "next_event_id";
constexpr std::string_view k_next_audit = "next_audit_id";
constexpr std::string_view k_event_head = "event_chain_head";
constexpr std::string_view k_audit_head = "audit_chain_head";
const std::string genesis(codec::hash_size, '\0');

enum index_kind : std::size_t {
  ix_time,
  ix_user,
  ix_conv,
  ix_convid,
  ix_app,
  ix_verdict,
  ix_quarantine,
  ix_rule,
  ix_count
};
constexpr const char* index_names[ix_count] = {"idx_time",       "idx_user", "idx_conv",
                                               "idx_convid",     "idx_app",  "idx_verdict",
                                               "idx_quarantine", "idx_rule"};

struct dbis {
  MDB_dbi meta = 0, events = 0, qstate = 0, contents = 0, holds = 0, audit = 0, purged = 0;
  MDB_dbi users = 0;
  bool has_users = false;  // false: a read-only open of an archive without the users database
  MDB_dbi released = 0;
  bool has_released = false;  // the same for the released-content database
  MDB_dbi idx[ix_count] = {};
};

using index_key = std::pair<index_kind, std::string>;

std::string part_key(std::string_view v, std::uint64_t id) {
  std::string k;
  codec::append_part(k, v);
  lmdb::put_be64(k, id);
  return k;
}

// The key prefix of a release pass: part(user) ‖ part(app) ‖ raw digest; "" when there is no
// user or the digest is not a sha256.
std::string release_prefix(std::string_view user, std::string_view app, std::string_view digest) {
  std::string raw;
  if (user.empty() || !codec::from_hex(digest, raw) || raw.size() != codec::hash_size) return {};
  std::string k;
  codec::append_part(k, user);
  codec::append_part(k, app);
  k += raw;
  return k;
}

// The "released" key of an event (prefix ‖ id), "" when it has no release user.
std::string release_key(const event_record& e) {
  std::string k = release_prefix(release_user(e), e.app, release_digest(e));
  if (!k.empty()) lmdb::put_be64(k, e.id);
  return k;
}

// Every index entry an event has, given its current quarantine state.
std::vector<index_key> index_keys(const event_record& e, std::string_view qstate) {
  std::vector<index_key> keys;
  std::string t;
  codec::append_time(t, e.seen_us);
  lmdb::put_be64(t, e.id);
  keys.emplace_back(ix_time, std::move(t));
  std::set<std::string_view> parties;
  if (!e.proxy_user.empty()) parties.insert(e.proxy_user);
  if (!e.sender_id.empty()) parties.insert(e.sender_id);
  for (const auto& r : e.recipients)
    if (!r.first.empty()) parties.insert(r.first);
  for (auto p : parties) keys.emplace_back(ix_user, part_key(p, e.id));
  if (!e.conversation_id.empty()) {
    std::string k;
    codec::append_part(k, e.app);
    codec::append_part(k, e.conversation_id);
    lmdb::put_be64(k, e.id);
    keys.emplace_back(ix_conv, std::move(k));
    keys.emplace_back(ix_convid, part_key(e.conversation_id, e.id));
  }
  if (!e.app.empty()) keys.emplace_back(ix_app, part_key(e.app, e.id));
  if (!e.verdict.empty()) keys.emplace_back(ix_verdict, part_key(e.verdict, e.id));
  if (!qstate.empty()) keys.emplace_back(ix_quarantine, part_key(qstate, e.id));
  std::set<std::string_view> rules;
  for (const auto& h : e.hits)
    if (!h.rule_id.empty()) rules.insert(h.rule_id);
  for (auto r : rules) keys.emplace_back(ix_rule, part_key(r, e.id));
  return keys;
}

std::uint64_t meta_u64(lmdb::txn& t, const dbis& d, std::string_view key, std::uint64_t dflt) {
  std::string_view v;
  if (t.get(d.meta, key, v) && v.size() == 8) return lmdb::get_be64(v);
  return dflt;
}

std::string meta_hash(lmdb::txn& t, const dbis& d, std::string_view key) {
  std::string_view v;
  if (t.get(d.meta, key, v) && v.size() == codec::hash_size) return std::string(v);
  return genesis;
}

// Stored value: canonical bytes, then the raw 32-byte chain hash.
bool split_value(std::string_view v, std::string_view& canonical, std::string_view& hash) {
  if (v.size() <= codec::hash_size) return false;
  canonical = v.substr(0, v.size() - codec::hash_size);
  hash = v.substr(v.size() - codec::hash_size);
  return true;
}

std::error_code decode_stored_event(std::string_view v, event_record& e) {
  std::string_view canonical, hash;
  if (!split_value(v, canonical, hash)) return errc::corrupt;
  if (auto ec = codec::decode_event(canonical, e)) return ec;
  e.chain_hash = codec::to_hex(hash);
  return {};
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool contains_ci(std::string_view hay, std::string_view needle_lower) {
  if (needle_lower.empty()) return true;
  return lower(hay).find(needle_lower) != std::string::npos;
}

bool is_party(const event_record& e, std::string_view who) {
  return e.proxy_user == who || e.sender_id == who;
}
bool is_recipient(const event_record& e, std::string_view who) {
  return std::any_of(e.recipients.begin(), e.recipients.end(),
                     [&](const auto& r) { return r.first == who; });
}

// Everything a query asks, checked on the decoded record (the driving index may be a superset).
bool matches(const event_record& e, const query& q, const std::string& text_lower) {
  if (q.from_us && e.seen_us < *q.from_us) return false;
  if (q.to_us && e.seen_us >= *q.to_us) return false;
  if (!q.user.empty() && !q.peer.empty()) {
    const bool out = is_party(e, q.user) && is_recipient(e, q.peer);
    const bool in = is_recipient(e, q.user) && is_party(e, q.peer);
    if (!out && !in) return false;
  } else if (!q.user.empty()) {
    if (!is_party(e, q.user)) return false;
  } else if (!q.peer.empty()) {
    if (!is_recipient(e, q.peer)) return false;
  }
  if (!q.conversation.empty() && e.conversation_id != q.conversation) return false;
  if (!q.app.empty() && e.app != q.app) return false;
  if (!q.verdict.empty() && e.verdict != q.verdict) return false;
  if (!q.quarantine.empty() && e.quarantine != q.quarantine) return false;
  if (!q.rule.empty() && std::none_of(e.hits.begin(), e.hits.end(),
                                      [&](const rule_hit& h) { return h.rule_id == q.rule; }))
    return false;
  if (!text_lower.empty()) {
    bool found = contains_ci(e.text, text_lower) || contains_ci(e.html, text_lower);
    for (const auto& a : e.attachments) found = found || contains_ci(a.name, text_lower);
    if (!found) return false;
  }
  return true;
}

using journal::prepared_content;

// What an event's index entries and tree pages cost in the map beyond its record, roughly and on
// the high side: the journal writer sets this much aside for each event (map_room_).
constexpr std::uint64_t map_bytes_per_event = 2048;

struct pending {
  event_record e;
  std::vector<prepared_content> contents;
  completion done;
  std::uint64_t seq = 0;
  std::chrono::steady_clock::time_point submitted;
  bool preassigned = false;  // e.id was given by the journal: write_events keeps it
  bool failed = false;       // answered with an error by the journal writer: nothing to apply
  std::uint64_t reserved = 0;  // map bytes set aside for it when journaled (map_room_)
  // The canonical bytes the journal wrote, when write_events would produce the same ones (no
  // attachments: nothing in the record changes on the way into LMDB), so it does not encode
  // the event a second time.
  std::string canonical;
};

// A completion that throws must not take the writer thread (and every later event) with it.
void complete(completion& done, std::error_code ec, std::uint64_t id) noexcept {
  if (!done) return;
  try {
    done(ec, id);
  } catch (const std::exception& e) {
    spdlog::error("archive: a completion threw: {}", e.what());
  } catch (...) {
    spdlog::error("archive: a completion threw");
  }
}
void complete(pending& p, std::error_code ec, std::uint64_t id) noexcept { complete(p.done, ec, id); }

struct op_item {
  std::function<std::error_code(lmdb::txn&)> fn;
  std::promise<std::error_code> result;
};

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class lmdb_store final : public store {
 public:
  lmdb_store(const settings& s, open_mode mode) : s_(s), mode_(mode) {
    open_env();
    if (mode_ == open_mode::read_write) {
      open_journal();
    } else if (const auto left = journal::unowned_files(s_.path); !left.empty()) {
      spdlog::warn("archive: {}: {} journal file(s) hold events acknowledged by an imcapd that "
                   "stopped before committing them to LMDB; this read-only view lacks them "
                   "until imcapd (or any read-write open) starts on the archive and applies them",
                   s_.path.string(), left.size());
    }
  }

  ~lmdb_store() override {
    if (writer_.joinable()) {
      {
        std::lock_guard lk(q_mutex_);
        stopping_ = true;
      }
      q_cv_.notify_all();
      writer_.join();
    }
    if (applier_.joinable()) {
      {
        std::lock_guard lk(a_mutex_);
        a_stopping_ = true;
      }
      a_cv_.notify_all();
      applier_.join();
    }
    if (mode_ == open_mode::read_write && env_.get() != nullptr &&
        (s_.mode == durability::relaxed || journal_))
      mdb_env_sync(env_.get(), 1);
    // Everything journaled is in LMDB and synced now, unless applying stopped on an error: then
    // the files stay for the next read-write open.
    if (journal_ && apply_blocked_.load() == 0) journal_->remove(journal_->all_files());
  }

  void start() {
    if (mode_ != open_mode::read_write) return;
    if (journaled_) applier_ = std::thread([this] {
      name_this_thread("imcap-arc-apply");
      applier_loop();
    });
    writer_ = std::thread([this] {
      name_this_thread("imcap-arc-write");
      writer_loop();
    });
  }

  std::error_code submit(event_record e, std::vector<content> contents, completion done) override {
    if (mode_ == open_mode::read_only) return errc::read_only;
    if (!journal_) {
      // The journal's owner numbers its events ahead of LMDB; events from a second writer would
      // take the same ids. Reviewer actions, holds and purges (ops) are fine beside it.
      if (!warned_in_use_.exchange(true))
        spdlog::error("archive: {}: another process (imcapd) owns this archive's journal; events "
                      "submitted here are refused", s_.path.string());
      return errc::in_use;
    }
    pending p;
    p.contents.reserve(contents.size());
    for (auto& c : contents) {
      prepared_content pc;
      pc.sha_raw = codec::sha256(c.bytes);
      pc.sha_hex = codec::to_hex(pc.sha_raw);
      // Contents whose declared hash does not match their bytes are not stored under it.
      if (!c.sha256.empty() && lower(c.sha256) != pc.sha_hex) continue;
      pc.size = c.bytes.size();
      if (c.bytes.size() > s_.attachment_max_bytes) {
        pc.too_big = true;
      } else {
        pc.compressed.resize(ZSTD_compressBound(c.bytes.size()));
        const std::size_t n = ZSTD_compress(pc.compressed.data(), pc.compressed.size(),
                                            c.bytes.data(), c.bytes.size(), s_.zstd_level);
        if (ZSTD_isError(n)) continue;
        pc.compressed.resize(n);
      }
      p.contents.push_back(std::move(pc));
    }
    p.e = std::move(e);
    p.done = std::move(done);
    p.submitted = std::chrono::steady_clock::now();
    {
      std::lock_guard lk(q_mutex_);
      if (stopping_) return errc::shutting_down;
      if (queued_.load() >= s_.queue_limit) return errc::queue_full;
      p.seq = ++submitted_seq_;
      queue_.push_back(std::move(p));
      queued_.fetch_add(1);
    }
    q_cv_.notify_one();
    return {};
  }

  void flush() override {
    if (mode_ == open_mode::read_only) return;
    std::unique_lock lk(q_mutex_);
    const std::uint64_t target = submitted_seq_;
    if (!journaled_) {
      done_cv_.wait(lk, [&] { return done_seq_ >= target; });
      return;
    }
    // Events may still be on their way from the journal writer to the applier: keep asking.
    while (done_seq_ < target) {
      lk.unlock();
      {
        std::lock_guard a(a_mutex_);
        apply_now_ = true;
      }
      a_cv_.notify_one();
      lk.lock();
      done_cv_.wait_for(lk, std::chrono::milliseconds(1), [&] { return done_seq_ >= target; });
    }
  }

  std::optional<event_record> get(std::uint64_t id) const override {
    auto r = read_txn();
    if (!r.ok()) return std::nullopt;
    return load(r.t, id);
  }

  std::vector<event_record> search(const query& q) const override;
  std::optional<std::string> attachment_content(std::string_view sha256) const override;
  std::vector<event_record> conversation(std::string_view app, std::string_view conversation_id,
                                         std::size_t limit) const override;

  std::error_code set_quarantine(std::uint64_t id, std::string_view state,
                                 const audit_entry& why) override;
  std::optional<release_match> find_release(std::string_view user, std::string_view app,
                                            std::string_view digest,
                                            std::int64_t since_us) const override;
  std::error_code add_audit(audit_entry a) override {
    return run_op([this, a](lmdb::txn& t) {
      audit_entry copy = a;
      append_audit(t, copy);
      return std::error_code{};
    });
  }
  std::vector<audit_entry> audit(std::uint64_t after_id, std::size_t limit) const override;
  std::error_code add_hold(std::string_view subject, const audit_entry& why) override;
  std::error_code remove_hold(std::string_view subject, const audit_entry& why) override;
  std::vector<std::string> holds() const override;
  verify_report verify() const override;
  purge_report purge(std::int64_t now_us) override;
  std::error_code put_user(const user_record& u, const audit_entry& why) override;
  std::error_code remove_user(std::string_view name, const audit_entry& why) override;
  std::optional<user_record> user(std::string_view name) const override;
  std::vector<user_record> users() const override;

  bool writes_events() const override { return journal_ != nullptr; }

  stats statistics() const override {
    stats st;
    st.queued = queued_.load();
    st.committed_events = committed_events_.load();
    st.commits = commits_.load();
    st.commit_errors = commit_errors_.load();
    MDB_envinfo info{};
    {
      std::shared_lock map_lock(map_mutex_);  // mdb_env_info reads the map: not during a resize
      mdb_env_info(env_.get(), &info);
    }
    st.map_size = info.me_mapsize;
    st.map_grows = map_grows_.load();
    st.last_commit_us = last_commit_us_.load();
    return st;
  }

 private:
  // A transaction and the shared map lock it needs; the txn is destroyed first.
  struct locked_txn {
    std::shared_lock<std::shared_mutex> lock;
    lmdb::txn t;
    int rc = 0;
    bool ok() const { return rc == 0 && t.ok(); }
  };

  locked_txn begin(bool read_only) const {
    locked_txn r;
    for (int attempt = 0; attempt < 8; ++attempt) {
      r.lock = std::shared_lock(map_mutex_);
      r.rc = r.t.begin(env_.get(), read_only);
      if (r.rc != MDB_MAP_RESIZED) break;
      // Another process grew the map: adopt its size with no transaction active here.
      r.lock.unlock();
      std::unique_lock ex(map_mutex_);
      mdb_env_set_mapsize(env_.get(), 0);
    }
    if (r.rc != 0) spdlog::error("archive: cannot begin a transaction: {}", lmdb::describe(r.rc));
    return r;
  }
  locked_txn read_txn() const { return begin(true); }

  void open_env();
  void open_journal();
  void replay(const std::vector<std::filesystem::path>& files);
  void writer_loop();
  void applier_loop();
  void execute(op_item& op);
  void commit_batch(std::vector<pending>& batch);
  void journal_batch(std::vector<pending>& batch);
  void apply_batch(std::vector<pending>& batch);
  void stop_applying(int rc, std::size_t waiting);
  void measure_map_room();
  void sync_env() {
    std::shared_lock map_lock(map_mutex_);  // a reader may be adopting a resize
    mdb_env_sync(env_.get(), 1);
  }
  int write_events(std::vector<pending>& items, std::size_t from, std::size_t to,
                   std::vector<std::uint64_t>& ids);
  int write_growing(std::vector<pending>& batch, std::vector<std::uint64_t>& ids);
  bool grow();
  std::error_code run_op(std::function<std::error_code(lmdb::txn&)> fn);
  void append_audit(lmdb::txn& t, audit_entry& a);
  std::optional<event_record> load(lmdb::txn& t, std::uint64_t id) const;
  std::string qstate_of(lmdb::txn& t, std::uint64_t id) const {
    std::string_view v;
    return t.get(d_.qstate, lmdb::be64(id), v) ? std::string(v) : std::string();
  }
  bool held(const std::set<std::string, std::less<>>& holds, const event_record& e) const;

  settings s_;
  open_mode mode_;
  lmdb::env env_;
  dbis d_;
  mutable std::shared_mutex map_mutex_;

  std::mutex q_mutex_;
  std::condition_variable q_cv_, done_cv_;
  std::deque<pending> queue_;
  std::deque<op_item> ops_;
  std::uint64_t submitted_seq_ = 0, done_seq_ = 0;
  bool stopping_ = false;
  std::thread writer_;

  std::atomic<std::uint64_t> queued_{0}, committed_events_{0}, commits_{0}, commit_errors_{0},
      map_grows_{0}, last_commit_us_{0};

  // Strict durability through the journal (journal.hpp): the writer thread journals and
  // acknowledges, the applier thread commits to LMDB behind it and runs the ops.
  std::unique_ptr<journal::writer> journal_;  // set when this process owns the journal
  bool journaled_ = false;                    // strict and journal_: events go through it
  std::uint64_t next_id_ = 1;                 // writer thread: the next event id to journal
  std::string jbuf_;                          // writer thread: one batch's records
  std::mutex a_mutex_;
  std::condition_variable a_cv_;
  std::deque<pending> applyq_;
  std::deque<op_item> a_ops_;
  bool a_stopping_ = false;
  bool apply_now_ = false;  // flush() is waiting: apply without spacing
  std::thread applier_;
  std::atomic<bool> warned_in_use_{false};
  std::atomic<int> apply_blocked_{0};  // an errc value once applying stopped (until reopened)
  // How many bytes LMDB can still take up to map_size_max (free pages included), measured by the
  // applier, and how much of it journaled events not applied yet have set aside. An event is
  // journaled only if it fits, so a full map refuses it precisely instead of acknowledging it.
  std::atomic<std::uint64_t> map_room_{0}, reserved_{0};
};

void lmdb_store::open_env() {
  const bool ro = mode_ == open_mode::read_only;
  const std::string where = s_.path.string();
  auto fail = [&](const std::string& why) -> void { throw archive_error(where + ": " + why); };
  std::error_code fec;
  if (!ro) {
    std::filesystem::create_directories(s_.path, fec);
    if (fec) fail("cannot create the archive directory: " + fec.message());
  } else if (!std::filesystem::exists(s_.path / "data.mdb", fec)) {
    fail("no archive here (data.mdb not found)");
  }
  if (s_.map_size_initial == 0 || s_.map_size_max < s_.map_size_initial)
    fail("map_size_max must be at least map_size_initial");
  int rc = env_.create();
  if (rc == 0) rc = mdb_env_set_maxdbs(env_.get(), 32);
  if (rc == 0) rc = mdb_env_set_maxreaders(env_.get(), 510);
  if (rc == 0) rc = mdb_env_set_mapsize(env_.get(), static_cast<std::size_t>(s_.map_size_initial));
  if (rc != 0) fail("cannot create the LMDB environment: " + lmdb::describe(rc));
  unsigned flags = MDB_NOTLS;
  if (ro) flags |= MDB_RDONLY;
  if (!ro && s_.mode == durability::relaxed) flags |= MDB_NOSYNC;
  rc = mdb_env_open(env_.get(), where.c_str(), flags, 0640);
  if (rc != 0) fail("cannot open the LMDB environment: " + lmdb::describe(rc));

  lmdb::txn t;
  rc = t.begin(env_.get(), ro);
  if (rc == MDB_MAP_RESIZED) {
    mdb_env_set_mapsize(env_.get(), 0);
    rc = t.begin(env_.get(), ro);
  }
  if (rc != 0) fail("cannot begin a transaction: " + lmdb::describe(rc));
  auto open_db = [&](const char* name, MDB_dbi& dbi) {
    const int r = mdb_dbi_open(t.get(), name, ro ? 0u : MDB_CREATE, &dbi);
    if (r == MDB_NOTFOUND) fail(std::string("not an imcap archive (no '") + name + "' database)");
    if (r != 0) fail(std::string("cannot open database '") + name + "': " + lmdb::describe(r));
  };
  open_db("meta", d_.meta);
  open_db("events", d_.events);
  open_db("qstate", d_.qstate);
  open_db("contents", d_.contents);
  open_db("holds", d_.holds);
  open_db("audit", d_.audit);
  open_db("purged", d_.purged);
  for (std::size_t i = 0; i < ix_count; ++i) open_db(index_names[i], d_.idx[i]);
  {
    // Added after schema 1 without a version bump: absent in older archives opened read-only.
    const int r = mdb_dbi_open(t.get(), "users", ro ? 0u : MDB_CREATE, &d_.users);
    if (r != 0 && r != MDB_NOTFOUND) fail("cannot open database 'users': " + lmdb::describe(r));
    d_.has_users = r == 0;
  }
  {
    // Also added after schema 1 (archive/README.md, "Released content").
    const int r = mdb_dbi_open(t.get(), "released", ro ? 0u : MDB_CREATE, &d_.released);
    if (r != 0 && r != MDB_NOTFOUND) fail("cannot open database 'released': " + lmdb::describe(r));
    d_.has_released = r == 0;
  }
  std::string_view v;
  if (t.get(d_.meta, k_schema, v)) {
    if (v.size() != 4) fail("corrupt schema version record");
    const std::uint32_t found = (std::uint32_t{static_cast<unsigned char>(v[0])} << 24) |
                                (std::uint32_t{static_cast<unsigned char>(v[1])} << 16) |
                                (std::uint32_t{static_cast<unsigned char>(v[2])} << 8) |
                                std::uint32_t{static_cast<unsigned char>(v[3])};
    if (found != schema_version)
      fail("archive schema version " + std::to_string(found) + ", this build reads version " +
           std::to_string(schema_version));
  } else if (!t.ok()) {
    fail("cannot read the schema version: " + lmdb::describe(t.error()));
  } else if (ro) {
    fail("not an imcap archive (no schema version)");
  } else {
    const char ver[4] = {0, 0, 0, static_cast<char>(schema_version)};
    t.put(d_.meta, k_schema, std::string_view(ver, 4));
  }
  rc = t.commit();
  if (rc != 0) fail("cannot initialise the archive: " + lmdb::describe(rc));
}

void lmdb_store::writer_loop() {
  auto last_sync = std::chrono::steady_clock::now();
  bool dirty = false;
  const auto sync_every = std::chrono::milliseconds(1000);
  std::unique_lock lk(q_mutex_);
  for (;;) {
    auto ready = [&] { return stopping_ || !queue_.empty() || !ops_.empty(); };
    if (s_.mode == durability::relaxed && dirty) {
      if (!q_cv_.wait_until(lk, last_sync + sync_every, ready)) {
        lk.unlock();
        {
          std::shared_lock map_lock(map_mutex_);  // a reader may be adopting a resize
          mdb_env_sync(env_.get(), 1);
        }
        lk.lock();
        dirty = false;
        last_sync = std::chrono::steady_clock::now();
        continue;
      }
    } else {
      q_cv_.wait(lk, ready);
    }
    if (!ops_.empty()) {
      op_item op = std::move(ops_.front());
      ops_.pop_front();
      lk.unlock();
      execute(op);
      dirty = true;
      lk.lock();
      continue;
    }
    if (queue_.empty()) {
      if (stopping_) break;
      continue;
    }
    // Group commit: the oldest queued event waits at most max_batch_delay (counted from its
    // submission, so time spent in the previous commit counts) for companions, and the wait ends
    // early once arrivals pause for an eighth of the delay: a closed loop of waiting clients has
    // nobody left to wait for.
    if (queue_.size() < s_.max_batch && s_.max_batch_delay.count() > 0 && !stopping_) {
      const auto deadline = queue_.front().submitted + s_.max_batch_delay;
      const auto gap = std::max<std::chrono::microseconds>(s_.max_batch_delay / 8,
                                                           std::chrono::microseconds(20));
      while (!stopping_ && queue_.size() < s_.max_batch) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) break;
        const std::size_t before = queue_.size();
        q_cv_.wait_until(lk, std::min<std::chrono::steady_clock::time_point>(deadline, now + gap),
                         [&] { return stopping_ || queue_.size() >= s_.max_batch; });
        if (queue_.size() == before) break;
      }
    }
    std::vector<pending> batch;
    const std::size_t n = std::min(queue_.size(), std::max<std::size_t>(s_.max_batch, 1));
    batch.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lk.unlock();
    if (journaled_) {
      journal_batch(batch);  // the applier advances done_seq_
      lk.lock();
      continue;
    }
    commit_batch(batch);
    dirty = true;
    lk.lock();
    done_seq_ = std::max(done_seq_, batch.back().seq);
    done_cv_.notify_all();
  }
}

void lmdb_store::execute(op_item& op) {
  std::error_code ec;
  for (;;) {
    auto r = begin(false);
    if (r.rc != 0) {
      ec = lmdb::translate(r.rc);
      break;
    }
    ec = op.fn(r.t);
    if (r.t.error() == MDB_MAP_FULL) {
      r.t.abort();
      r.lock.unlock();
      if (grow()) continue;
      ec = errc::map_full;
      break;
    }
    if (ec) break;
    const int rc = r.t.commit();
    if (rc == MDB_MAP_FULL) {
      r.lock.unlock();
      if (grow()) continue;
    }
    ec = lmdb::translate(rc);
    break;
  }
  // Under the journal the environment skips the meta sync (MDB_NOMETASYNC); a reviewer's action
  // is not journaled, so it is made durable here before the caller hears it is done.
  if (!ec && journaled_) {
    sync_env();
    measure_map_room();  // a purge may have given pages back
  }
  op.result.set_value(ec);
}

// --- strict durability through the journal ----------------------------------------------------

void lmdb_store::open_journal() {
  try {
    journal_ = journal::writer::acquire(s_.path);
  } catch (const std::system_error& e) {
    throw archive_error(s_.path.string() + ": journal: " + e.what());
  }
  if (!journal_) {
    // Another process (imcapd) owns the journal and applies it; this one commits directly.
    spdlog::debug("archive: {}: the journal belongs to another process", s_.path.string());
    return;
  }
  replay(journal_->leftover());
  if (s_.mode == durability::strict) {
    journaled_ = true;
    // Data pages are still synced at every commit, so LMDB stays consistent after a machine
    // crash; the last commits may be undone, and the journal holds them (archive/README.md).
    const int rc = mdb_env_set_flags(env_.get(), MDB_NOMETASYNC, 1);
    if (rc != 0)
      throw archive_error(s_.path.string() + ": cannot set MDB_NOMETASYNC: " + lmdb::describe(rc));
  }
  {
    auto r = read_txn();
    if (!r.ok()) throw archive_error(s_.path.string() + ": cannot read the next event id");
    next_id_ = meta_u64(r.t, d_, k_next_event, 1);
  }
  measure_map_room();
}

// Applies what earlier processes journaled and LMDB does not hold yet (id >= next event id), in
// order, then syncs and deletes the files. A record cut short ends its file: its batch never
// finished syncing, so nobody was told it was archived.
void lmdb_store::replay(const std::vector<std::filesystem::path>& files) {
  if (files.empty()) return;
  std::uint64_t next = 1;
  {
    auto r = read_txn();
    if (!r.ok()) throw archive_error(s_.path.string() + ": cannot read the next event id");
    next = meta_u64(r.t, d_, k_next_event, 1);
  }
  std::uint64_t applied = 0, present = 0, unreadable = 0;
  std::vector<pending> batch;
  auto flush_batch = [&] {
    if (batch.empty() || apply_blocked_.load() != 0) return;
    queued_.fetch_add(batch.size());
    const std::size_t n = batch.size();
    apply_batch(batch);
    if (apply_blocked_.load() == 0) applied += n;
    batch.clear();
  };
  for (const auto& f : files) {
    auto fc = journal::read_file(f);
    if (!fc.problem.empty())
      spdlog::warn("archive: journal {}: {}; the {} bytes from there on were never acknowledged "
                   "and are not applied",
                   f.string(), fc.problem, fc.dropped_bytes);
    for (auto& rec : fc.records) {
      if (rec.id < next) {
        ++present;
        continue;
      }
      pending p;
      if (codec::decode_event(rec.event, p.e)) {
        ++unreadable;
        spdlog::error("archive: journal {}: event {} does not decode; skipped", f.string(), rec.id);
        continue;
      }
      p.e.id = rec.id;
      p.e.quarantine = std::move(rec.quarantine);
      p.contents = std::move(rec.contents);
      p.preassigned = true;
      next = rec.id + 1;
      batch.push_back(std::move(p));
      if (batch.size() >= 256) flush_batch();
    }
  }
  flush_batch();
  if (apply_blocked_.load() != 0) return;  // the files stay; stop_applying() said why
  sync_env();
  journal_->remove(files);
  spdlog::info("archive: journal: {} events applied from {} files ({} already in LMDB{})",
               applied, files.size(), present,
               unreadable != 0 ? ", " + std::to_string(unreadable) + " unreadable" : "");
}

void lmdb_store::journal_batch(std::vector<pending>& batch) {
  // The applier sleeps until its next commit is due; waking it for every batch only to find
  // that it is not due yet costs two context switches per batch. So it is woken when it waits
  // for work at all (the queue was empty) or when max_batch events are waiting.
  auto hand_off = [&] {
    bool wake = false;
    {
      std::lock_guard lk(a_mutex_);
      const std::size_t before = applyq_.size();
      for (auto& p : batch) applyq_.push_back(std::move(p));
      wake = before == 0 || (before < s_.max_batch && applyq_.size() >= s_.max_batch);
    }
    if (wake) a_cv_.notify_one();
  };
  // Refused items are still handed over, so flush() sees the sequence advance in order.
  auto refuse = [&](pending& p, std::error_code ec) {
    queued_.fetch_sub(1);
    complete(p, ec, 0);
    p.failed = true;
  };
  if (const int blocked = apply_blocked_.load(); blocked != 0) {
    for (auto& p : batch) refuse(p, static_cast<errc>(blocked));
    hand_off();
    return;
  }
  jbuf_.clear();
  const std::uint64_t first = next_id_;
  const std::uint64_t room = map_room_.load();
  std::uint64_t reserved = reserved_.load(), taken = 0;
  std::size_t journaled = 0;
  for (auto& p : batch) {
    const std::size_t at = jbuf_.size();
    p.e.id = next_id_;
    p.preassigned = true;
    p.e.chain_hash.clear();
    std::string canonical = codec::encode_event(p.e);
    journal::append_record(jbuf_, p.e.id, canonical, p.e.quarantine, p.contents);
    if (p.e.attachments.empty()) p.canonical = std::move(canonical);
    // In LMDB: the record's bytes on half-filled pages, plus its index entries.
    const std::uint64_t need = 2 * (jbuf_.size() - at) + map_bytes_per_event;
    if (reserved + taken + need > room) {
      jbuf_.resize(at);
      refuse(p, errc::map_full);
      continue;
    }
    p.reserved = need;
    taken += need;
    ++next_id_;
    ++journaled;
  }
  if (journaled == 0) {
    hand_off();
    return;
  }
  if (const auto ec = journal_->append(jbuf_, next_id_ - 1)) {
    next_id_ = first;  // the batch was cut off the file: its ids are free again
    commit_errors_.fetch_add(1);
    spdlog::error("archive: journal write of {} events failed: {}", journaled, ec.message());
    for (auto& p : batch)
      if (!p.failed) refuse(p, ec == std::errc::no_space_on_device ? errc::disk_full : errc::io_error);
    hand_off();
    return;
  }
  reserved_.fetch_add(taken);
  // Durable: acknowledge, and let the applier put the events into LMDB meanwhile.
  std::vector<std::pair<completion, std::uint64_t>> acks;
  acks.reserve(journaled);
  for (auto& p : batch)
    if (!p.failed) acks.emplace_back(std::move(p.done), p.e.id);
  hand_off();
  for (auto& [done, id] : acks) complete(done, {}, id);
}

// Room left in the map up to map_size_max: pages past the last one used, plus pages on LMDB's
// free list (what a purge gave back).
void lmdb_store::measure_map_room() {
  MDB_envinfo info{};
  MDB_stat st{};
  mdb_env_info(env_.get(), &info);
  mdb_env_stat(env_.get(), &st);
  std::uint64_t free_pages = 0;
  {
    auto r = read_txn();
    MDB_cursor* c = nullptr;
    if (r.ok() && mdb_cursor_open(r.t.get(), 0, &c) == 0) {  // dbi 0: the free list
      MDB_val k, v;
      for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
           rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (v.mv_size >= sizeof(std::size_t)) {
          std::size_t n = 0;  // each entry: a count, then that many page numbers
          std::memcpy(&n, v.mv_data, sizeof n);
          free_pages += n;
        }
      }
      mdb_cursor_close(c);
    }
  }
  const std::uint64_t pages = static_cast<std::uint64_t>(info.me_last_pgno) + 1;
  const std::uint64_t used = (pages > free_pages ? pages - free_pages : 0) * st.ms_psize;
  map_room_.store(s_.map_size_max > used ? s_.map_size_max - used : 0);
}

void lmdb_store::applier_loop() {
  // Every LMDB commit syncs its data pages; the journal has made the events durable already, so
  // commits are spaced at least apply_interval apart (10 ms: at 20 000 events/s about 200 per
  // commit; 5 ms gave 10-15 % fewer messages/s in bench/run_pipeline_bench.py, 20 ms a higher
  // p99 from the larger syncs) (unless max_batch events wait, an op or a
  // flush() is waiting, or the store closes) to keep their syncs from queueing in front of the
  // journal's on the same disk. At low load an event is applied as soon as it arrives.
  constexpr auto apply_interval = std::chrono::milliseconds(10);
  auto next_due = std::chrono::steady_clock::now();
  std::unique_lock lk(a_mutex_);
  for (;;) {
    auto now_ready = [&] {
      return a_stopping_ || !a_ops_.empty() ||
             (!applyq_.empty() && (apply_now_ || applyq_.size() >= s_.max_batch ||
                                   std::chrono::steady_clock::now() >= next_due));
    };
    a_cv_.wait(lk, [&] { return a_stopping_ || !applyq_.empty() || !a_ops_.empty(); });
    if (!now_ready()) a_cv_.wait_until(lk, next_due, now_ready);
    apply_now_ = false;
    if (!a_ops_.empty()) {
      op_item op = std::move(a_ops_.front());
      a_ops_.pop_front();
      lk.unlock();
      execute(op);
      lk.lock();
      continue;
    }
    if (applyq_.empty()) {
      if (a_stopping_) break;
      continue;
    }
    std::vector<pending> batch;
    // Larger than the journal's batches: whatever queued while the last commit synced.
    const std::size_t n = std::min(applyq_.size(), std::max<std::size_t>(s_.max_batch, 1) * 4);
    batch.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(applyq_.front()));
      applyq_.pop_front();
    }
    lk.unlock();
    const std::uint64_t seq = batch.back().seq;
    std::erase_if(batch, [](const pending& p) { return p.failed; });
    if (!batch.empty()) apply_batch(batch);
    next_due = std::chrono::steady_clock::now() + apply_interval;
    {
      std::lock_guard q(q_mutex_);
      done_seq_ = std::max(done_seq_, seq);
    }
    done_cv_.notify_all();
    lk.lock();
  }
}

// Commits journaled (already acknowledged) events to LMDB. On a failure that growing the map
// cannot fix, applying stops: the events stay in the journal for the next read-write open, and
// new events are refused with the error.
void lmdb_store::apply_batch(std::vector<pending>& batch) {
  if (apply_blocked_.load() != 0) {
    queued_.fetch_sub(batch.size());
    return;
  }
  std::vector<std::uint64_t> ids;
  int rc = write_growing(batch, ids);
  if (rc == MDB_MAP_FULL) {
    // At map_size_max: apply what still fits one event at a time.
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const int r = write_events(batch, i, i + 1, ids);
      if (r != 0) {
        queued_.fetch_sub(batch.size() - i);
        stop_applying(r, batch.size() - i);
        return;
      }
      queued_.fetch_sub(1);
      commits_.fetch_add(1);
      committed_events_.fetch_add(1);
    }
    rc = 0;
  } else if (rc != 0) {
    queued_.fetch_sub(batch.size());
    stop_applying(rc, batch.size());
    return;
  } else {
    queued_.fetch_sub(batch.size());
    commits_.fetch_add(1);
    committed_events_.fetch_add(batch.size());
  }
  if (!journaled_) return;  // replay at open: nothing reserved
  measure_map_room();
  std::uint64_t freed = 0;
  for (const auto& p : batch) freed += p.reserved;
  reserved_.fetch_sub(freed);
  journal_->release(batch.back().e.id + 1, [this] { sync_env(); });
}

void lmdb_store::stop_applying(int rc, std::size_t waiting) {
  commit_errors_.fetch_add(1);
  const std::error_code ec = lmdb::translate(rc);
  int expected = 0;
  apply_blocked_.compare_exchange_strong(expected, ec.category() == category()
                                                       ? ec.value()
                                                       : static_cast<int>(errc::io_error));
  spdlog::error("archive: cannot apply journaled events to LMDB: {}. {} acknowledged events stay in "
                "the journal under {} and are applied when the archive is next opened "
                "read-write{}; new events are refused until then",
                lmdb::describe(rc), waiting, s_.path.string(),
                rc == MDB_MAP_FULL ? " with a larger [archive] map_size_max" : "");
}

bool lmdb_store::grow() {
  std::unique_lock ex(map_mutex_);
  MDB_envinfo info{};
  mdb_env_info(env_.get(), &info);
  const std::uint64_t cur = info.me_mapsize;
  if (cur >= s_.map_size_max) return false;
  const std::uint64_t next = std::min<std::uint64_t>(cur * 2, s_.map_size_max);
  const int rc = mdb_env_set_mapsize(env_.get(), static_cast<std::size_t>(next));
  if (rc != 0) {
    spdlog::error("archive: cannot grow the map to {} bytes: {}", next, lmdb::describe(rc));
    return false;
  }
  map_grows_.fetch_add(1);
  spdlog::info("archive: map grown from {} to {} bytes", cur, next);
  return true;
}

// The whole batch in one transaction, growing the map and retrying while it is full and may
// grow; the commit's duration goes to statistics().
int lmdb_store::write_growing(std::vector<pending>& batch, std::vector<std::uint64_t>& ids) {
  const auto started = std::chrono::steady_clock::now();
  int rc = 0;
  for (;;) {
    rc = write_events(batch, 0, batch.size(), ids);
    if (rc != MDB_MAP_FULL || !grow()) break;
  }
  last_commit_us_.store(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                            started)
          .count()));
  return rc;
}

void lmdb_store::commit_batch(std::vector<pending>& batch) {
  std::vector<std::uint64_t> ids;
  const int rc = write_growing(batch, ids);
  if (rc == 0) {
    commits_.fetch_add(1);
    committed_events_.fetch_add(batch.size());
    queued_.fetch_sub(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) complete(batch[i], {}, ids[i]);
    return;
  }
  if (rc == MDB_MAP_FULL && batch.size() > 1) {
    // At map_size_max: commit what still fits one event at a time; the rest get map_full.
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const int r = write_events(batch, i, i + 1, ids);
      queued_.fetch_sub(1);
      if (r == 0) {
        commits_.fetch_add(1);
        committed_events_.fetch_add(1);
      } else {
        commit_errors_.fetch_add(1);
      }
      complete(batch[i], lmdb::translate(r), r == 0 ? ids[0] : 0);
    }
    return;
  }
  commit_errors_.fetch_add(1);
  spdlog::error("archive: commit of {} events failed: {}", batch.size(), lmdb::describe(rc));
  queued_.fetch_sub(batch.size());
  const auto ec = lmdb::translate(rc);
  for (auto& p : batch) complete(p, ec, 0);
}

int lmdb_store::write_events(std::vector<pending>& items, std::size_t from, std::size_t to,
                             std::vector<std::uint64_t>& ids) {
  ids.clear();
  auto r = begin(false);
  if (r.rc != 0) return r.rc;
  lmdb::txn& t = r.t;
  std::uint64_t next = meta_u64(t, d_, k_next_event, 1);
  std::string prev = meta_hash(t, d_, k_event_head);
  for (std::size_t i = from; i < to && t.ok(); ++i) {
    event_record e = items[i].e;  // a copy: a retry after map growth starts from the original
    if (items[i].preassigned) {
      if (e.id != next)
        spdlog::error("archive: journaled event {} applied where {} was expected", e.id, next);
      next = e.id;
    }
    e.id = next++;
    e.chain_hash.clear();
    for (auto& a : e.attachments) {
      a.content_stored = false;
      if (a.sha256.empty()) continue;
      const std::string hex = lower(a.sha256);
      std::string raw;
      if (!codec::from_hex(hex, raw) || raw.size() != codec::hash_size) continue;
      const prepared_content* pc = nullptr;
      for (const auto& c : items[i].contents)
        if (c.sha_hex == hex) pc = &c;
      std::string_view existing;
      if (t.get(d_.contents, raw, existing) && existing.size() >= 16) {
        // Stored before (another event, or an upload seen earlier): one more reference.
        std::string v(existing);
        std::string rc8 = lmdb::be64(lmdb::get_be64(v) + 1);
        v.replace(0, 8, rc8);
        t.put(d_.contents, raw, v);
        a.content_stored = true;
      } else if (pc != nullptr && !pc->too_big) {
        std::string v;
        lmdb::put_be64(v, 1);
        lmdb::put_be64(v, pc->size);
        v += pc->compressed;
        t.put(d_.contents, raw, v);
        a.content_stored = true;
      } else if (pc != nullptr && pc->too_big) {
        e.attributes.emplace_back("archive.content_omitted", hex + " (" + std::to_string(pc->size) +
                                                                 " bytes > attachment_max_bytes)");
      }
    }
    std::string encoded;
    const std::string_view canonical = !items[i].canonical.empty() && items[i].e.id == e.id
                                           ? std::string_view(items[i].canonical)
                                           : std::string_view(encoded = codec::encode_event(e));
    const std::string hash = codec::sha256_pair(prev, canonical);
    std::string record;
    record.reserve(canonical.size() + hash.size());
    record.append(canonical).append(hash);
    t.put(d_.events, lmdb::be64(e.id), record);
    if (!e.quarantine.empty()) t.put(d_.qstate, lmdb::be64(e.id), e.quarantine);
    for (const auto& [kind, key] : index_keys(e, e.quarantine)) t.put(d_.idx[kind], key, {});
    prev = hash;
    ids.push_back(e.id);
  }
  t.put(d_.meta, k_next_event, lmdb::be64(next));
  t.put(d_.meta, k_event_head, prev);
  return t.commit();
}

std::error_code lmdb_store::run_op(std::function<std::error_code(lmdb::txn&)> fn) {
  if (mode_ == open_mode::read_only) return errc::read_only;
  std::future<std::error_code> f;
  op_item op;
  op.fn = std::move(fn);
  f = op.result.get_future();
  {
    std::lock_guard lk(q_mutex_);
    if (stopping_) return errc::shutting_down;
    if (!journaled_) ops_.push_back(std::move(op));
  }
  if (journaled_) {
    // The applier runs ops between batches, so an op sees every event applied before it.
    {
      std::lock_guard lk(a_mutex_);
      a_ops_.push_back(std::move(op));
    }
    a_cv_.notify_one();
  } else {
    q_cv_.notify_one();
  }
  return f.get();
}

void lmdb_store::append_audit(lmdb::txn& t, audit_entry& a) {
  a.id = meta_u64(t, d_, k_next_audit, 1);
  if (a.at_us == 0) a.at_us = now_us();
  const std::string canonical = codec::encode_audit(a);
  const std::string hash = codec::sha256_pair(meta_hash(t, d_, k_audit_head), canonical);
  t.put(d_.audit, lmdb::be64(a.id), canonical + hash);
  t.put(d_.meta, k_next_audit, lmdb::be64(a.id + 1));
  t.put(d_.meta, k_audit_head, hash);
}

std::optional<event_record> lmdb_store::load(lmdb::txn& t, std::uint64_t id) const {
  std::string_view v;
  if (!t.get(d_.events, lmdb::be64(id), v)) return std::nullopt;
  event_record e;
  if (auto ec = decode_stored_event(v, e)) {
    spdlog::warn("archive: event {} does not decode", id);
    return std::nullopt;
  }
  e.quarantine = qstate_of(t, id);
  return e;
}

std::vector<event_record> lmdb_store::search(const query& q) const {
  std::vector<event_record> out;
  if (q.limit == 0) return out;
  auto r = read_txn();
  if (!r.ok()) return out;
  lmdb::txn& t = r.t;
  const std::string text_lower = lower(q.text);
  const bool desc = q.before_id != 0 || (q.after_id == 0 && q.newest_first);
  auto in_page = [&](std::uint64_t id) {
    return (q.after_id == 0 || id > q.after_id) && (q.before_id == 0 || id < q.before_id);
  };
  auto take = [&](std::uint64_t id) {
    if (!in_page(id)) return;
    auto e = load(t, id);
    if (e && matches(*e, q, text_lower)) out.push_back(std::move(*e));
  };

  // The driving index: the most selective criterion the query has.
  std::optional<index_kind> ix;
  std::string prefix;
  if (!q.conversation.empty() && !q.app.empty()) {
    ix = ix_conv;
    codec::append_part(prefix, q.app);
    codec::append_part(prefix, q.conversation);
  } else if (!q.conversation.empty()) {
    ix = ix_convid, codec::append_part(prefix, q.conversation);
  } else if (!q.rule.empty()) {
    ix = ix_rule, codec::append_part(prefix, q.rule);
  } else if (!q.user.empty()) {
    ix = ix_user, codec::append_part(prefix, q.user);
  } else if (!q.peer.empty()) {
    ix = ix_user, codec::append_part(prefix, q.peer);
  } else if (!q.quarantine.empty()) {
    ix = ix_quarantine, codec::append_part(prefix, q.quarantine);
  } else if (!q.verdict.empty()) {
    ix = ix_verdict, codec::append_part(prefix, q.verdict);
  } else if (!q.app.empty()) {
    ix = ix_app, codec::append_part(prefix, q.app);
  }

  if (ix) {
    lmdb::cursor c(t, d_.idx[*ix]);
    auto id_of = [&](std::string_view k) { return lmdb::get_be64(k.substr(k.size() - 8)); };
    bool on;
    if (desc) {
      on = c.seek_before(prefix + lmdb::be64(q.before_id != 0 ? q.before_id : ~std::uint64_t{0}));
    } else {
      on = c.seek(prefix + lmdb::be64(q.after_id + 1));
    }
    while (on && out.size() < q.limit && c.at_prefix(prefix, 8)) {
      take(id_of(c.key()));
      on = desc ? c.prev() : c.next();
    }
    return out;
  }
  if (q.from_us || q.to_us) {
    // Time range alone: the time index gives the candidates, paging is by id.
    lmdb::cursor c(t, d_.idx[ix_time]);
    std::string start;
    codec::append_time(start, q.from_us.value_or(std::numeric_limits<std::int64_t>::min()));
    std::vector<std::uint64_t> ids;
    for (bool on = c.seek(start); on; on = c.next()) {
      const auto k = c.key();
      if (k.size() != 16) continue;
      if (q.to_us && codec::read_time(k) >= *q.to_us) break;
      const std::uint64_t id = lmdb::get_be64(k.substr(8));
      if (in_page(id)) ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    if (desc) std::reverse(ids.begin(), ids.end());
    for (auto id : ids) {
      if (out.size() >= q.limit) break;
      take(id);
    }
    return out;
  }
  lmdb::cursor c(t, d_.events);
  bool on = desc ? c.seek_before(lmdb::be64(q.before_id != 0 ? q.before_id : ~std::uint64_t{0}))
                 : c.seek(lmdb::be64(q.after_id + 1));
  while (on && out.size() < q.limit) {
    if (c.key().size() == 8) take(lmdb::get_be64(c.key()));
    on = desc ? c.prev() : c.next();
  }
  return out;
}

std::vector<event_record> lmdb_store::conversation(std::string_view app,
                                                   std::string_view conversation_id,
                                                   std::size_t limit) const {
  std::vector<event_record> out;
  auto r = read_txn();
  if (!r.ok()) return out;
  std::string prefix;
  codec::append_part(prefix, app);
  codec::append_part(prefix, conversation_id);
  lmdb::cursor c(r.t, d_.idx[ix_conv]);
  for (bool on = c.seek(prefix); on && out.size() < limit; on = c.next()) {
    const auto k = c.key();
    if (!c.at_prefix(prefix, 8)) break;
    if (auto e = load(r.t, lmdb::get_be64(k.substr(prefix.size())))) out.push_back(std::move(*e));
  }
  std::stable_sort(out.begin(), out.end(), [](const event_record& a, const event_record& b) {
    return a.seen_us < b.seen_us;
  });
  return out;
}

std::optional<std::string> lmdb_store::attachment_content(std::string_view sha256) const {
  std::string raw;
  if (!codec::from_hex(sha256, raw) || raw.size() != codec::hash_size) return std::nullopt;
  auto r = read_txn();
  if (!r.ok()) return std::nullopt;
  std::string_view v;
  if (!r.t.get(d_.contents, raw, v) || v.size() < 16) return std::nullopt;
  const std::uint64_t size = lmdb::get_be64(v.substr(8));
  const auto frame = v.substr(16);
  const unsigned long long declared = ZSTD_getFrameContentSize(frame.data(), frame.size());
  if (declared != size || size > (std::uint64_t{1} << 40)) return std::nullopt;
  std::string out(static_cast<std::size_t>(size), '\0');
  const std::size_t n = ZSTD_decompress(out.data(), out.size(), frame.data(), frame.size());
  if (ZSTD_isError(n) || n != size) return std::nullopt;
  return out;
}

std::error_code lmdb_store::set_quarantine(std::uint64_t id, std::string_view state,
                                           const audit_entry& why) {
  if (state != "" && state != "held" && state != "released" && state != "deleted")
    return std::make_error_code(std::errc::invalid_argument);
  return run_op([this, id, st = std::string(state), why](lmdb::txn& t) -> std::error_code {
    auto e = load(t, id);
    if (!e) return t.ok() ? make_error_code(errc::not_found) : lmdb::translate(t.error());
    if (st == "deleted") {
      std::set<std::string, std::less<>> hs;
      lmdb::cursor c(t, d_.holds);
      for (bool on = c.first(); on; on = c.next()) hs.emplace(c.key());
      if (held(hs, *e)) return errc::on_hold;
    }
    if (!e->quarantine.empty()) t.del(d_.idx[ix_quarantine], part_key(e->quarantine, id));
    if (st.empty()) {
      t.del(d_.qstate, lmdb::be64(id));
    } else {
      t.put(d_.qstate, lmdb::be64(id), st);
      t.put(d_.idx[ix_quarantine], part_key(st, id), {});
    }
    audit_entry a = why;
    if (a.action.empty()) a.action = st.empty() ? "unquarantine" : st;
    if (a.target.empty()) a.target = "event:" + std::to_string(id);
    append_audit(t, a);
    // The released-content entry follows the state: there while "released", at the time of
    // the release (a release repeated later moves it).
    e->id = id;
    const std::string rk = release_key(*e);
    if (!rk.empty()) {
      if (e->quarantine == "released" && st != "released" && t.exists(d_.released, rk))
        t.del(d_.released, rk);
      if (st == "released") t.put(d_.released, rk, lmdb::be64(static_cast<std::uint64_t>(a.at_us)));
    }
    return {};
  });
}

std::optional<store::release_match> lmdb_store::find_release(std::string_view user,
                                                             std::string_view app,
                                                             std::string_view digest,
                                                             std::int64_t since_us) const {
  if (!d_.has_released) return std::nullopt;
  const std::string prefix = release_prefix(user, app, digest);
  if (prefix.empty()) return std::nullopt;
  auto r = read_txn();
  if (!r.ok()) return std::nullopt;
  std::optional<release_match> best;
  lmdb::cursor c(r.t, d_.released);
  // One entry per released event with this content: a handful at most.
  for (bool on = c.seek(prefix); on && c.at_prefix(prefix, 8); on = c.next()) {
    if (c.value().size() != 8) continue;
    const auto at = static_cast<std::int64_t>(lmdb::get_be64(c.value()));
    const std::uint64_t id = lmdb::get_be64(c.key().substr(prefix.size()));
    if (at < since_us || (best && best->released_us >= at)) continue;
    if (qstate_of(r.t, id) != "released") continue;  // belt and braces: the state is the truth
    best = release_match{id, at};
  }
  return best;
}

std::vector<audit_entry> lmdb_store::audit(std::uint64_t after_id, std::size_t limit) const {
  std::vector<audit_entry> out;
  auto r = read_txn();
  if (!r.ok()) return out;
  lmdb::cursor c(r.t, d_.audit);
  for (bool on = c.seek(lmdb::be64(after_id + 1)); on && out.size() < limit; on = c.next()) {
    std::string_view canonical, hash;
    audit_entry a;
    if (split_value(c.value(), canonical, hash) && !codec::decode_audit(canonical, a))
      out.push_back(std::move(a));
  }
  return out;
}

std::error_code lmdb_store::add_hold(std::string_view subject, const audit_entry& why) {
  const bool valid = (subject.starts_with("user:") && subject.size() > 5) ||
                     (subject.starts_with("conversation:") && subject.size() > 13) ||
                     (subject.starts_with("event:") && subject.size() > 6);
  // LMDB keys are at most 511 bytes; no real user or conversation id comes near 400.
  if (!valid || subject.size() > 400) return std::make_error_code(std::errc::invalid_argument);
  return run_op([this, s = std::string(subject), why](lmdb::txn& t) {
    audit_entry a = why;
    a.action = "hold";
    a.target = s;
    append_audit(t, a);
    t.put(d_.holds, s, codec::encode_audit(a));
    return std::error_code{};
  });
}

std::error_code lmdb_store::remove_hold(std::string_view subject, const audit_entry& why) {
  if (subject.empty() || subject.size() > 400) return errc::not_found;  // add_hold's limits
  return run_op([this, s = std::string(subject), why](lmdb::txn& t) -> std::error_code {
    if (!t.exists(d_.holds, s))
      return t.ok() ? make_error_code(errc::not_found) : lmdb::translate(t.error());
    t.del(d_.holds, s);
    audit_entry a = why;
    a.action = "unhold";
    a.target = s;
    append_audit(t, a);
    return {};
  });
}

std::vector<std::string> lmdb_store::holds() const {
  std::vector<std::string> out;
  auto r = read_txn();
  if (!r.ok()) return out;
  lmdb::cursor c(r.t, d_.holds);
  for (bool on = c.first(); on; on = c.next()) out.emplace_back(c.key());
  return out;
}

bool lmdb_store::held(const std::set<std::string, std::less<>>& hs, const event_record& e) const {
  if (hs.empty()) return false;
  auto has = [&](std::string_view kind, std::string_view v) {
    return !v.empty() && hs.count(std::string(kind) + std::string(v)) != 0;
  };
  // A custodian's hold keeps what they sent and what they received: over-preserving is the
  // safe side of a legal hold.
  if (has("event:", std::to_string(e.id)) || has("user:", e.proxy_user) ||
      has("user:", e.sender_id) || has("conversation:", e.conversation_id))
    return true;
  return std::any_of(e.recipients.begin(), e.recipients.end(),
                     [&](const auto& r) { return has("user:", r.first); });
}

purge_report lmdb_store::purge(std::int64_t now) {
  purge_report total;
  if (mode_ == open_mode::read_only) return total;
  const std::int64_t cutoff =
      now - std::chrono::duration_cast<std::chrono::microseconds>(s_.retention).count();
  std::string resume;
  codec::append_time(resume, std::numeric_limits<std::int64_t>::min());
  constexpr std::size_t chunk = 2000;
  for (int round = 0; round < 1'000'000; ++round) {
    purge_report part;
    std::string next_resume;
    bool done = false;
    const auto ec = run_op([&](lmdb::txn& t) -> std::error_code {
      part = {};
      done = false;
      std::set<std::string, std::less<>> hs;
      {
        lmdb::cursor hc(t, d_.holds);
        for (bool on = hc.first(); on; on = hc.next()) hs.emplace(hc.key());
      }
      std::vector<std::pair<std::uint64_t, std::string>> victims;  // id, stored hash
      std::vector<event_record> records;
      {
        lmdb::cursor c(t, d_.idx[ix_time]);
        bool on = c.seek(resume);
        for (; on && victims.size() < chunk; on = c.next()) {
          const auto k = c.key();
          if (k.size() != 16) continue;
          if (codec::read_time(k) >= cutoff) break;
          const std::uint64_t id = lmdb::get_be64(k.substr(8));
          std::string_view v;
          if (!t.get(d_.events, lmdb::be64(id), v)) continue;
          event_record e;
          if (decode_stored_event(v, e)) continue;  // verify() reports it; never purged blind
          if (held(hs, e)) {
            ++part.events_held;
            continue;
          }
          victims.emplace_back(id, std::string(v.substr(v.size() - codec::hash_size)));
          e.quarantine = qstate_of(t, id);
          records.push_back(std::move(e));
        }
        if (on && t.ok() && c.key().size() == 16 && codec::read_time(c.key()) < cutoff) {
          next_resume = std::string(c.key());
        } else {
          done = true;
        }
      }
      if (victims.empty()) return {};
      audit_entry a;
      a.actor = "imcap:retention";
      a.action = "purge";
      a.target = "events";
      a.reason = "removed " + std::to_string(victims.size()) +
                 " events older than the retention period (cutoff " + std::to_string(cutoff) +
                 " us)";
      append_audit(t, a);
      for (std::size_t i = 0; i < victims.size(); ++i) {
        const auto& e = records[i];
        for (const auto& [kind, key] : index_keys(e, e.quarantine)) t.del(d_.idx[kind], key);
        if (e.quarantine == "released") {
          const std::string rk = release_key(e);
          if (!rk.empty() && t.exists(d_.released, rk)) t.del(d_.released, rk);
        }
        t.del(d_.qstate, lmdb::be64(e.id));
        t.del(d_.events, lmdb::be64(e.id));
        for (const auto& att : e.attachments) {
          std::string raw;
          if (!att.content_stored || !codec::from_hex(att.sha256, raw)) continue;
          std::string_view cv;
          if (!t.get(d_.contents, raw, cv) || cv.size() < 16) continue;
          const std::uint64_t refs = lmdb::get_be64(cv);
          if (refs <= 1) {
            t.del(d_.contents, raw);
            ++part.contents_removed;
          } else {
            std::string nv(cv);
            nv.replace(0, 8, lmdb::be64(refs - 1));
            t.put(d_.contents, raw, nv);
          }
        }
        t.put(d_.purged, lmdb::be64(e.id), victims[i].second + lmdb::be64(a.id));
        ++part.events_removed;
      }
      return {};
    });
    if (ec) {
      spdlog::error("archive: purge failed: {}", ec.message());
      break;
    }
    total.events_removed += part.events_removed;
    total.events_held += part.events_held;
    total.contents_removed += part.contents_removed;
    if (done) break;
    resume = next_resume;
  }
  return total;
}

verify_report lmdb_store::verify() const {
  verify_report rep;
  auto r = read_txn();
  if (!r.ok()) {
    rep.problems.push_back("archive: cannot read: " + lmdb::describe(r.rc ? r.rc : r.t.error()));
    return rep;
  }
  lmdb::txn& t = r.t;
  auto problem = [&](std::string s) { rep.problems.push_back(std::move(s)); };

  // Purge markers: removed ids, their chain hash and the audit entry that removed them.
  auto purged_hash = [&](std::uint64_t id, std::string& hash) {
    std::string_view v;
    if (!t.get(d_.purged, lmdb::be64(id), v) || v.size() != codec::hash_size + 8) return false;
    hash.assign(v.substr(0, codec::hash_size));
    return true;
  };

  std::string prev = genesis;
  bool prev_known = true;
  std::uint64_t expect = 1;
  // Ids [expect, upto) are absent from events: each must have a purge record. The walk follows
  // the purged entries with a cursor, so a huge gap (or a tampered next_event_id) costs one
  // line per run of missing ids, not one step per id.
  auto missing = [&](std::uint64_t from, std::uint64_t to) {  // [from, to)
    if (from >= to) return;
    if (to - from == 1)
      problem("event " + std::to_string(from) + ": missing (deleted without a purge record)");
    else
      problem("events " + std::to_string(from) + " to " + std::to_string(to - 1) + ": missing (" +
              std::to_string(to - from) + " ids deleted without a purge record)");
    prev_known = false;
  };
  auto walk_gap = [&](std::uint64_t upto) {
    if (expect >= upto) return;
    lmdb::cursor pc(t, d_.purged);
    std::uint64_t at = expect;
    for (bool on = pc.seek(lmdb::be64(expect)); on && at < upto; on = pc.next()) {
      if (pc.key().size() != 8) continue;
      const std::uint64_t id = lmdb::get_be64(pc.key());
      if (id >= upto) break;
      missing(at, id);
      std::string h;
      if (purged_hash(id, h)) {
        prev = h;
        prev_known = true;
      } else {
        problem("event " + std::to_string(id) + ": malformed purge record");
        prev_known = false;
      }
      at = id + 1;
    }
    missing(at, upto);
  };
  {
    lmdb::cursor c(t, d_.events);
    for (bool on = c.first(); on; on = c.next()) {
      if (c.key().size() != 8) {
        problem("events: malformed key");
        continue;
      }
      const std::uint64_t id = lmdb::get_be64(c.key());
      const std::string name = "event " + std::to_string(id);
      walk_gap(id);
      expect = id + 1;
      ++rep.events_checked;
      std::string_view canonical, hash;
      if (!split_value(c.value(), canonical, hash)) {
        problem(name + ": modified (record truncated)");
        prev_known = false;
        continue;
      }
      event_record e;
      const bool decoded = !codec::decode_event(canonical, e);
      if (prev_known && codec::sha256_pair(prev, canonical) != hash) {
        problem(name + ": modified (chain hash mismatch)");
      } else if (!decoded) {
        problem(name + ": modified (record does not decode)");
      } else if (e.id != id) {
        problem(name + ": modified (record says id " + std::to_string(e.id) + ")");
      }
      prev.assign(hash);
      prev_known = true;
      if (!decoded) continue;
      e.id = id;
      for (const auto& [kind, key] : index_keys(e, qstate_of(t, id)))
        if (!t.exists(d_.idx[kind], key))
          problem(name + ": index inconsistent (" + index_names[kind] + " entry missing)");
      for (const auto& a : e.attachments) {
        std::string raw;
        if (a.content_stored && (!codec::from_hex(a.sha256, raw) || !t.exists(d_.contents, raw)))
          problem(name + ": attachment content " + a.sha256 + " missing");
      }
    }
  }
  const std::uint64_t next = meta_u64(t, d_, k_next_event, 1);
  walk_gap(next);
  if (prev_known && meta_hash(t, d_, k_event_head) != prev)
    problem("event chain: head does not match the last event");

  // Index entries must point at events that exist.
  for (std::size_t i = 0; i < ix_count; ++i) {
    lmdb::cursor c(t, d_.idx[i]);
    for (bool on = c.first(); on; on = c.next()) {
      const auto k = c.key();
      if (k.size() < 8) {
        problem(std::string("index ") + index_names[i] + ": malformed key");
        continue;
      }
      const std::uint64_t id = lmdb::get_be64(k.substr(k.size() - 8));
      if (!t.exists(d_.events, lmdb::be64(id)))
        problem("event " + std::to_string(id) + ": index inconsistent (" + index_names[i] +
                " entry for an absent event)");
    }
  }

  // The audit trail: contiguous ids, chained, never purged.
  std::set<std::uint64_t> purge_audits;
  {
    std::string aprev = genesis;
    bool aknown = true;
    std::uint64_t aexpect = 1;
    lmdb::cursor c(t, d_.audit);
    for (bool on = c.first(); on; on = c.next()) {
      if (c.key().size() != 8) continue;
      const std::uint64_t id = lmdb::get_be64(c.key());
      for (; aexpect < id; ++aexpect) {
        problem("audit " + std::to_string(aexpect) + ": missing");
        aknown = false;
      }
      aexpect = id + 1;
      ++rep.audit_checked;
      std::string_view canonical, hash;
      if (!split_value(c.value(), canonical, hash)) {
        problem("audit " + std::to_string(id) + ": modified (record truncated)");
        aknown = false;
        continue;
      }
      audit_entry a;
      const bool decoded = !codec::decode_audit(canonical, a);
      if (aknown && codec::sha256_pair(aprev, canonical) != hash)
        problem("audit " + std::to_string(id) + ": modified (chain hash mismatch)");
      else if (!decoded)
        problem("audit " + std::to_string(id) + ": modified (record does not decode)");
      if (decoded && a.action == "purge") purge_audits.insert(id);
      aprev.assign(hash);
      aknown = true;
    }
    for (const std::uint64_t anext = meta_u64(t, d_, k_next_audit, 1); aexpect < anext; ++aexpect)
      problem("audit " + std::to_string(aexpect) + ": missing");
  }
  {
    lmdb::cursor c(t, d_.purged);
    for (bool on = c.first(); on; on = c.next()) {
      if (c.key().size() != 8 || c.value().size() != codec::hash_size + 8) continue;
      const std::uint64_t aid = lmdb::get_be64(c.value().substr(codec::hash_size));
      if (purge_audits.count(aid) == 0)
        problem("event " + std::to_string(lmdb::get_be64(c.key())) +
                ": purge record without its purge audit entry");
    }
  }
  if (!t.ok()) problem("archive: read failed: " + lmdb::describe(t.error()));
  return rep;
}

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "imcap.archive"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::ok:
        return "ok";
      case errc::queue_full:
        return "archive queue full";
      case errc::map_full:
        return "archive map full (map_size_max reached)";
      case errc::disk_full:
        return "disk full";
      case errc::io_error:
        return "archive I/O error";
      case errc::not_found:
        return "not found";
      case errc::corrupt:
        return "archive record corrupt";
      case errc::shutting_down:
        return "archive shutting down";
      case errc::read_only:
        return "archive opened read-only";
      case errc::on_hold:
        return "under a legal hold";
      case errc::in_use:
        return "another process writes events to this archive";
    }
    return "unknown archive error";
  }
};

}  // namespace

std::string_view release_user(const event_record& e) noexcept {
  return e.proxy_user.empty() ? std::string_view(e.sender_id) : std::string_view(e.proxy_user);
}

std::string release_digest(std::string_view direction, std::string_view text,
                           std::vector<std::string> attachment_sha256) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  std::string norm;
  norm.reserve(text.size());
  bool gap = false;
  for (char c : text) {
    if (space(c)) {
      gap = !norm.empty();
      continue;
    }
    if (gap) norm += ' ';
    gap = false;
    norm += c;
  }
  for (auto& h : attachment_sha256) h = h.empty() ? "-" : lower(h);
  std::sort(attachment_sha256.begin(), attachment_sha256.end());
  attachment_sha256.erase(std::unique(attachment_sha256.begin(), attachment_sha256.end()),
                          attachment_sha256.end());
  std::string in = "imcap-release-1";
  auto field = [&](std::string_view v) {
    in += '\n';
    in += std::to_string(v.size());
    in += ':';
    in.append(v);
  };
  field(direction);
  field(norm);
  for (const auto& h : attachment_sha256) field(h);
  return codec::to_hex(codec::sha256(in));
}

std::string release_digest(const event_record& e) {
  std::vector<std::string> hashes;
  for (const auto& a : e.attachments) hashes.push_back(a.sha256);
  return release_digest(e.direction, e.text, std::move(hashes));
}

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

// Reviewer UI accounts: key = name, value = JSON {"role","hash","created_us"} (small, rare,
// readable with mdb_dump).
namespace {

std::string encode_user(const user_record& u) {
  boost::json::object o;
  o["role"] = u.role;
  o["hash"] = u.password_hash;
  o["created_us"] = u.created_us;
  return boost::json::serialize(o);
}

std::optional<user_record> decode_user(std::string_view name, std::string_view v) {
  boost::system::error_code ec;
  const auto doc = boost::json::parse(v, ec);
  if (ec || !doc.is_object()) return std::nullopt;
  const auto& o = doc.as_object();
  const auto* role = o.if_contains("role");
  const auto* hash = o.if_contains("hash");
  const auto* created = o.if_contains("created_us");
  if (role == nullptr || !role->is_string() || hash == nullptr || !hash->is_string()) {
    return std::nullopt;
  }
  user_record u;
  u.name = std::string(name);
  u.role = std::string(role->as_string());
  u.password_hash = std::string(hash->as_string());
  if (created != nullptr && created->is_int64()) u.created_us = created->as_int64();
  return u;
}

}  // namespace

std::error_code lmdb_store::put_user(const user_record& u, const audit_entry& why) {
  if (u.name.empty() || u.name.size() > 64) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  return run_op([this, u, why](lmdb::txn& t) {
    user_record stored = u;
    if (stored.created_us == 0) stored.created_us = now_us();
    t.put(d_.users, stored.name, encode_user(stored));
    audit_entry a = why;
    if (a.action.empty()) a.action = "user_add";
    if (a.target.empty()) a.target = "user:" + stored.name;
    append_audit(t, a);
    return std::error_code{};
  });
}

std::error_code lmdb_store::remove_user(std::string_view name, const audit_entry& why) {
  return run_op([this, n = std::string(name), why](lmdb::txn& t) -> std::error_code {
    if (!t.exists(d_.users, n))
      return t.ok() ? make_error_code(errc::not_found) : lmdb::translate(t.error());
    t.del(d_.users, n);
    audit_entry a = why;
    if (a.action.empty()) a.action = "user_remove";
    if (a.target.empty()) a.target = "user:" + n;
    append_audit(t, a);
    return {};
  });
}

std::optional<user_record> lmdb_store::user(std::string_view name) const {
  if (!d_.has_users || name.empty() || name.size() > 64) return std::nullopt;
  auto r = read_txn();
  if (!r.ok()) return std::nullopt;
  std::string_view v;
  if (!r.t.get(d_.users, name, v)) return std::nullopt;
  return decode_user(name, v);
}

std::vector<user_record> lmdb_store::users() const {
  std::vector<user_record> out;
  if (!d_.has_users) return out;
  auto r = read_txn();
  if (!r.ok()) return out;
  lmdb::cursor c(r.t, d_.users);
  for (bool on = c.first(); on; on = c.next()) {
    if (auto u = decode_user(c.key(), c.value())) out.push_back(std::move(*u));
  }
  return out;
}

std::unique_ptr<store> store::open(const settings& s, open_mode mode) {
  auto st = std::make_unique<lmdb_store>(s, mode);
  st->start();
  return st;
}

}  // namespace imcap::archive
