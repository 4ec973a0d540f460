#pragma once
// JSON through Boost.JSON with imcap's limits: nesting depth bounded (a 10 000-deep array is an
// error, not a stack overflow), 64-bit integer ids kept exact, surrogate pairs decoded.
// Helpers read the loosely typed fields chat APIs send.

#include <optional>
#include <string>
#include <string_view>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include "modules/errors.hpp"

namespace imcap::modules::content {

// The document is allocated from out's storage (the default heap unless `out` was constructed
// with a storage, e.g. a json_arena's).
decode_error parse_json(std::string_view text, const limits& lim, boost::json::value& out);

// Memory for a JSON document that lives only during one decode call: a monotonic arena whose
// first block is inline (on the stack of the decode call), growing from the heap for bigger
// documents. Parsing into it costs no malloc per node and destroying the document frees nothing
// node by node. Usage, the arena declared first so it outlives the value:
//   content::json_arena arena;
//   boost::json::value v(arena.storage());
//   if (auto err = content::parse_json(body, lim, v)) return err;
// Nothing parsed into it may be moved into a value that outlives the arena (a copy is fine: it
// takes the destination's storage).
class json_arena {
 public:
  json_arena() = default;
  json_arena(const json_arena&) = delete;
  json_arena& operator=(const json_arena&) = delete;
  boost::json::storage_ptr storage() noexcept { return &resource_; }

 private:
  alignas(16) unsigned char inline_[4096];
  boost::json::monotonic_resource resource_{inline_, sizeof inline_};
};

// The same, allocating the document from `storage` (e.g. a boost::json::monotonic_resource for
// a document that lives only during one decode call). Give `out` the same storage, or the
// parsed document is copied into out's.
decode_error parse_json(std::string_view text, const limits& lim, boost::json::value& out,
                        boost::json::storage_ptr storage);

// The value at an RFC 6901 pointer, or nullptr.
const boost::json::value* at_pointer(const boost::json::value& v, std::string_view pointer);

// The string at `pointer`, if it is a string.
std::optional<std::string> string_at(const boost::json::value& v, std::string_view pointer);

// An id as text, whatever JSON type carried it: strings as is, integers exactly (int64/uint64),
// doubles only when integral. nullopt for anything else.
std::optional<std::string> id_at(const boost::json::value& v, std::string_view pointer);

// Escapes a key for use inside a JSON pointer ("~" -> "~0", "/" -> "~1").
std::string pointer_escape(std::string_view key);

// Replaces the string at `pointer` in the JSON document `text` and serialises the result.
decode_error replace_string(std::string& text, std::string_view pointer,
                            std::string_view replacement, const limits& lim);

}  // namespace imcap::modules::content
