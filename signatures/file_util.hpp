#pragma once
// Small file helpers shared by signing and the pack store. Errors throw std::runtime_error
// whose what() names the file and the reason (strerror).

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace imcap::signatures {

// Reads the whole file; refuses files larger than max_bytes (a clear error, not a partial read).
std::vector<unsigned char> read_file_bytes(const std::filesystem::path& file,
                                           std::size_t max_bytes);

// Writes `bytes` to a temporary file next to `file`, fsyncs it, sets `mode` and renames it over
// `file`, so readers see either the old or the new content, never a mix. One writer per file at
// a time (the temporary name is derived from the process id).
void write_file_atomically(const std::filesystem::path& file, std::span<const unsigned char> bytes,
                           unsigned mode = 0644);
void write_file_atomically(const std::filesystem::path& file, const std::string& text,
                           unsigned mode = 0644);

}  // namespace imcap::signatures
