#pragma once
// The LMDB archive: every chat event imcap saw, its verdict and rule hits, attachments stored
// once by content hash, quarantine state, reviewer actions and legal holds. Schema and key
// layout: archive/README.md.
//
// Processes: imcapd writes; imcapctl and the reviewer UI read (and the UI writes quarantine
// actions) in other processes at the same time. LMDB allows any number of readers beside one
// writer per environment; writers from several processes serialise on LMDB's own lock.
//
// Threads: one writer thread per store batches submitted events into one transaction (group
// commit). submit() is safe from any thread and never blocks on disk; reads open their own
// read transaction and are safe from any thread.
//
// Errors: open() and configuration throw archive_error naming the path and the reason; the data
// path returns std::error_code values (archive::errc, LMDB codes translated in one place).
//
// This header is the contract the pipeline (writer side) and the reviewer UI / imcapctl (read
// side) are written against.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace imcap::archive {

class archive_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class errc {
  ok = 0,
  queue_full = 1,  // submit(): the writer queue is at its limit (overload policy applies)
  map_full,        // the map could not grow further (map_size_max reached)
  disk_full,       // the file system refused to grow the map or to sync
  io_error,        // any other LMDB / file system failure while committing
  not_found,       // no record with that id
  corrupt,         // a record failed to decode (schema or checksum)
  shutting_down,   // the store is closing; nothing more is accepted
  read_only,       // a write on a store opened read-only
  on_hold,         // purge or delete refused: the record is under a legal hold
  in_use,          // submit(): another process owns the archive's event writing (its journal)
};
const std::error_category& category() noexcept;
std::error_code make_error_code(errc e) noexcept;

enum class durability {
  strict,   // completion fires only once the event is fsynced (to the journal; README.md)
  relaxed,  // completion after commit; the OS syncs later (MDB_NOSYNC), data can be lost on crash
};

struct settings {
  std::filesystem::path path = "var/archive";  // directory holding data.mdb / lock.mdb
  durability mode = durability::strict;
  std::uint64_t map_size_initial = 256ull << 20;   // bytes; grows by doubling when full
  std::uint64_t map_size_max = 64ull << 30;        // growth stops here (errc::map_full)
  std::size_t max_batch = 1024;                    // events per group commit at most
  std::chrono::microseconds max_batch_delay{0};    // wait for more events before committing
  std::size_t queue_limit = 100'000;               // submitted but not committed events
  std::size_t attachment_max_bytes = 64u << 20;    // bigger contents: metadata only, flagged
  int zstd_level = 3;                              // attachment compression
  std::chrono::hours retention{24 * 365 * 7};      // purge() removes older unheld events
};

// One policy hit attached to an event.
struct rule_hit {
  std::string rule_id;
  std::string pack;
  std::string pack_version;
  std::string action;    // log | warn | redact | block | quarantine
  std::string severity;  // low | medium | high | critical
  std::string part;      // text | url | attachment_name | attachment_content | file | app | ...
  std::uint32_t attachment = 0;  // index into event_record::attachments for attachment parts
  std::uint64_t begin = 0, end = 0;
  bool monitor = false;  // recorded only (pack or policy in monitor mode)
  std::string message;
  std::string detail;
};

struct attachment_record {
  std::string name;
  std::string media_type;  // declared
  std::string true_type;   // libmagic, when scanned
  std::optional<std::uint64_t> size;
  std::string sha256;  // lowercase hex; the key of the stored content, when stored
  std::string ref;     // upload id / URL tying it to another request
  std::vector<std::string> virus_names;  // ClamAV
  bool content_stored = false;           // set by the store when the bytes are in the archive
};

// One chat event as archived: the decoder's normalised event (modules/event.hpp, copied field
// by field by the pipeline: archive does not depend on modules) plus what the pipeline knew.
struct event_record {
  std::uint64_t id = 0;      // assigned by the store at commit (monotonic, starts at 1)
  std::int64_t seen_us = 0;  // when imcap saw it: UTC microseconds since the epoch
  // From the decoder.
  std::string kind;  // message | upload | identity | app
  std::string app;
  std::string transport;
  std::string direction;  // outbound | inbound
  std::string session_key;
  std::string conversation_id;
  std::string sender_id;
  std::string sender_name;
  std::string sender_source;                                    // body | proxy | learned | unknown
  std::vector<std::pair<std::string, std::string>> recipients;  // id, display name
  std::string text;
  std::string html;
  std::string client_msg_id;
  std::string server_msg_id;
  std::string timestamp;  // the protocol's own time (RFC 3339), when it has one
  bool encrypted = false;
  std::vector<std::pair<std::string, std::string>> attributes;
  std::vector<attachment_record> attachments;
  // From the pipeline.
  std::string proxy_user;  // Squid's authenticated user
  std::vector<std::string> proxy_groups;
  std::string client_ip;
  std::string url;  // the HTTP request target
  std::string user_agent;
  std::uint64_t icap_transaction = 0;
  std::string verdict;  // allow | warn | modify | block | quarantine
  std::vector<rule_hit> hits;
  std::string pack_version;  // "<pack>@<version>[,...]" active when judged
  std::string quarantine;    // "" (not quarantined) | held | released | deleted
  // Set by the store.
  std::string chain_hash;  // hex sha256 over (previous chain_hash, this record's bytes)
};

// Attachment bytes handed over with an event; stored once per sha256 (zstd compressed).
struct content {
  std::string sha256;  // lowercase hex of `bytes`
  std::string bytes;
};

// Called on the writer thread once the event is durable (strict: journaled and synced; relaxed:
// committed to LMDB), or with an error. Must be quick and must not call back into the store's write side (post elsewhere).
using completion = std::function<void(std::error_code, std::uint64_t id)>;

struct query {
  std::optional<std::int64_t> from_us, to_us;  // seen_us range [from, to)
  std::string user;                            // proxy_user or sender_id equals
  std::string peer;          // a recipient id, or the sender when `user` is a recipient
  std::string conversation;  // conversation_id equals
  std::string app;
  std::string verdict;
  std::string rule;             // has a hit with this rule id
  std::string text;             // case-insensitive substring of text, html or attachment names
  std::string quarantine;       // quarantine state equals ("held", ...)
  std::uint64_t after_id = 0;   // paging: only ids greater than this (ascending order) ...
  std::uint64_t before_id = 0;  // ... or only ids smaller than this (descending order), 0 = none
  bool newest_first = true;
  std::size_t limit = 100;
};

// A reviewer or admin action, kept forever in the audit trail (also chained).
struct audit_entry {
  std::uint64_t id = 0;  // assigned by the store
  std::int64_t at_us = 0;
  std::string actor;   // reviewer user name, or "imcapctl:<unix user>"
  std::string action;  // release | delete | hold | unhold | export | download | login ...
  std::string target;  // e.g. "event:42", "conversation:...", "attachment:<sha256>"
  std::string reason;
};

// A reviewer UI account (quarantine/). Stored in the archive environment so that the daemon's UI
// and `imcapctl user` (another process) see the same accounts. The store keeps what it is given:
// hashing and role checks belong to the caller (quarantine/users.hpp).
struct user_record {
  std::string name;           // login name, 1..64 bytes (the caller validates the characters)
  std::string role;           // admin | reviewer | auditor
  std::string password_hash;  // libsodium crypto_pwhash_str (argon2id) string
  std::int64_t created_us = 0;
};

struct verify_report {
  std::uint64_t events_checked = 0;
  std::uint64_t audit_checked = 0;
  // One line per problem: "event 42: modified (chain hash mismatch)", "event 43: missing".
  std::vector<std::string> problems;
  bool ok() const noexcept { return problems.empty(); }
};

struct purge_report {
  std::uint64_t events_removed = 0;
  std::uint64_t events_held = 0;       // older than retention but under a legal hold
  std::uint64_t contents_removed = 0;  // attachment contents no longer referenced
};

class store {
 public:
  enum class open_mode { read_write, read_only };

  // Opens (creating the directory and environment when read_write) and checks the schema
  // version. Starts the writer thread in read_write mode. Throws archive_error.
  static std::unique_ptr<store> open(const settings& s, open_mode mode = open_mode::read_write);
  virtual ~store() = default;  // stops accepting, commits what is queued, joins the writer

  // Queues one event with the attachment contents it carries. Returns errc::queue_full or
  // errc::shutting_down at once (done is then not called); otherwise `done` is called exactly
  // once, when the event is durable or with the error (errc::map_full when map_size_max leaves
  // no room, errc::disk_full, errc::io_error). Under strict durability readers see the event
  // shortly after `done` (when the applier has committed it to LMDB; flush() waits for that). errc::read_only on a read-only store.
  // Contents: an attachment whose sha256 names a content in `contents` (bytes checked against
  // the hash; a mismatching content is ignored) or one already stored gets content_stored = true
  // and one more reference; e.quarantine, when set, is the event's initial quarantine state.
  virtual std::error_code submit(event_record e, std::vector<content> contents,
                                 completion done) = 0;

  // Blocks until everything submitted so far is committed to LMDB, so readers see it (tests,
  // shutdown, imcapctl).
  virtual void flush() = 0;

  // Reads.
  virtual std::optional<event_record> get(std::uint64_t id) const = 0;
  virtual std::vector<event_record> search(const query& q) const = 0;
  virtual std::optional<std::string> attachment_content(std::string_view sha256) const = 0;
  // The whole conversation in time order (replay), at most `limit` events.
  virtual std::vector<event_record> conversation(std::string_view app,
                                                 std::string_view conversation_id,
                                                 std::size_t limit = 10'000) const = 0;

  // Quarantine and review (synchronous write transactions; also audited). The quarantine state
  // lives beside the chained record, so changing it never breaks verify(); set_quarantine
  // returns errc::not_found for an unknown id, errc::on_hold for "deleted" on a held event and
  // std::errc::invalid_argument for a state other than "", held, released, deleted.
  // An audit_entry's empty action/target are filled in ("<state>", "event:<id>").
  virtual std::error_code set_quarantine(std::uint64_t id, std::string_view state,
                                         const audit_entry& why) = 0;
  // Released content (the pipeline's policy.release_pass_hours; archive/README.md, "Released
  // content"): the latest release of an event with the same pass key (user, app, digest) that
  // happened at or after `since_us`, or nullopt. user is the event's proxy_user, or its sender_id
  // when it has no proxy user; digest is release_digest(event). The "released" database behind
  // it is maintained by set_quarantine (an entry when the state becomes "released", at the audit
  // entry's time; removed when the state changes again) and by purge. Releases made before the
  // database existed are not in it. One indexed read; safe from any thread. The default (a store
  // without the index) finds nothing.
  struct release_match {
    std::uint64_t event_id = 0;    // the released event
    std::int64_t released_us = 0;  // when it was released (the audit entry's at_us)
  };
  virtual std::optional<release_match> find_release(std::string_view user, std::string_view app,
                                                    std::string_view digest,
                                                    std::int64_t since_us) const {
    (void)user, (void)app, (void)digest, (void)since_us;
    return std::nullopt;
  }
  virtual std::error_code add_audit(audit_entry a) = 0;
  virtual std::vector<audit_entry> audit(std::uint64_t after_id, std::size_t limit) const = 0;

  // Legal holds: by user, conversation or event ("user:alice", "conversation:C1", "event:42").
  // A user hold matches proxy_user, sender_id or a recipient id. Another subject form (or one
  // longer than 400 bytes) gives std::errc::invalid_argument; removing an absent hold gives
  // errc::not_found.
  virtual std::error_code add_hold(std::string_view subject, const audit_entry& why) = 0;
  virtual std::error_code remove_hold(std::string_view subject, const audit_entry& why) = 0;
  virtual std::vector<std::string> holds() const = 0;

  // Reviewer UI accounts ("users" database; archive/README.md). put_user creates or replaces
  // the account named u.name; remove_user gives errc::not_found for an unknown name. Both are
  // synchronous write transactions and append `why` to the audit trail (action "user_add" /
  // "user_remove" unless set, target "user:<name>"); the password hash is never audited.
  // Reads of an archive written before the users database existed find no users.
  virtual std::error_code put_user(const user_record& u, const audit_entry& why) = 0;
  virtual std::error_code remove_user(std::string_view name, const audit_entry& why) = 0;
  virtual std::optional<user_record> user(std::string_view name) const = 0;
  virtual std::vector<user_record> users() const = 0;  // sorted by name

  // verify(): both hash chains, id gaps not explained by a purge, index consistency
  // (archive/README.md, "Tamper evidence"). purge(): retention with holds; a read-only store
  // purges nothing.
  virtual verify_report verify() const = 0;
  virtual purge_report purge(std::int64_t now_us) = 0;

  // Counters for metrics: queue depth, commits, batch sizes, map size, errors.
  struct stats {
    std::uint64_t queued = 0;
    std::uint64_t committed_events = 0;
    std::uint64_t commits = 0;
    std::uint64_t commit_errors = 0;
    std::uint64_t map_size = 0;
    std::uint64_t map_grows = 0;
    std::uint64_t last_commit_us = 0;  // duration of the last commit incl. fsync
  };
  virtual stats statistics() const = 0;

  // Whether submit() may take events here: opened read-write and owner of the archive's journal
  // (no other process writes events to it; README.md, "The journal").
  virtual bool writes_events() const = 0;
};

// One store per archive directory per process. LMDB must not open one environment twice in a
// process (closing either handle drops the other's locks), so every component of one process
// that works on the archive (imcapd: the pipeline and the reviewer UI) opens it through here:
// the store already open for the same directory (canonical path) is returned as long as anyone
// holds it; otherwise it is opened read_write with `s`. Thread-safe. Throws archive_error, also
// when another process already writes events to the archive (a second imcapd on the directory).
std::shared_ptr<store> open_shared(const settings& s);

// The content digest of a release pass key (store::find_release): lowercase hex sha256 over the
// direction, the text with every run of ASCII white space turned into one space and the ends
// trimmed, and the set of attachment sha256 values (lowercased, sorted, duplicates dropped; an
// attachment without a hash counts as "-", so it never matches a known file). Each part is
// length-prefixed, so no two different inputs share an encoding.
std::string release_digest(std::string_view direction, std::string_view text,
                           std::vector<std::string> attachment_sha256);
std::string release_digest(const event_record& e);
// The user of a release pass key: proxy_user, or sender_id when there is no proxy user.
std::string_view release_user(const event_record& e) noexcept;

// The archive's JSON form (one event), as `imcapctl archive search/show/export` print it.
std::string to_json_line(const event_record& e);

}  // namespace imcap::archive

template <>
struct std::is_error_code_enum<imcap::archive::errc> : std::true_type {};
