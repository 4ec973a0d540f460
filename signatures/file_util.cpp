#include "signatures/file_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace imcap::signatures {

namespace {

std::runtime_error file_error(const std::filesystem::path& file, const std::string& what) {
  return std::runtime_error(file.string() + ": " + what);
}

struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::vector<unsigned char> read_file_bytes(const std::filesystem::path& file,
                                           std::size_t max_bytes) {
  fd_guard g;
  // O_NONBLOCK: opening a FIFO or device named by mistake must not hang; regular files (the
  // only kind accepted below) ignore the flag.
  g.fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (g.fd < 0) throw file_error(file, std::strerror(errno));
  struct stat st {};
  if (::fstat(g.fd, &st) != 0) throw file_error(file, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw file_error(file, "not a regular file");
  if (static_cast<std::size_t>(st.st_size) > max_bytes) {
    throw file_error(file, "larger than the limit of " + std::to_string(max_bytes) + " bytes");
  }
  std::vector<unsigned char> out(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  // Bounded: each pass reads at least one byte or stops.
  while (done < out.size()) {
    const ssize_t n = ::read(g.fd, out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw file_error(file, std::strerror(errno));
    }
    if (n == 0) break;  // file shrank while reading
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

void write_file_atomically(const std::filesystem::path& file, std::span<const unsigned char> bytes,
                           unsigned mode) {
  const std::filesystem::path tmp =
      file.parent_path() / ("." + file.filename().string() + ".tmp." + std::to_string(::getpid()));
  {
    fd_guard g;
    g.fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(mode));
    if (g.fd < 0) throw file_error(tmp, std::strerror(errno));
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(g.fd, bytes.data() + done, bytes.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        const int e = errno;
        ::unlink(tmp.c_str());
        throw file_error(tmp, std::strerror(e));
      }
      done += static_cast<std::size_t>(n);
    }
    if (::fchmod(g.fd, static_cast<mode_t>(mode)) != 0 || ::fsync(g.fd) != 0) {
      const int e = errno;
      ::unlink(tmp.c_str());
      throw file_error(tmp, std::strerror(e));
    }
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    const int e = errno;
    ::unlink(tmp.c_str());
    throw file_error(file, std::string("rename: ") + std::strerror(e));
  }
}

void write_file_atomically(const std::filesystem::path& file, const std::string& text,
                           unsigned mode) {
  write_file_atomically(file,
                        std::span<const unsigned char>(
                            reinterpret_cast<const unsigned char*>(text.data()), text.size()),
                        mode);
}

}  // namespace imcap::signatures
