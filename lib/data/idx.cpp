// IDX reading through zlib's gz* API, which also reads uncompressed files transparently.
#include "data/idx.hpp"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"

namespace bnlab::data {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

// One IDX file opened for sequential reading, with errors that name it.
class IdxStream {
 public:
  explicit IdxStream(const std::string& path) : path_(path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) throw DataError("IDX file " + path + " not found");
    file_size_ = std::filesystem::file_size(path, ec);
    file_ = gzopen(path.c_str(), "rb");
    if (!file_) throw DataError("cannot open IDX file " + path + ": " + std::strerror(errno));
    gzbuffer(file_, 1 << 17);
    compressed_ = ends_with(path, ".gz");
  }
  ~IdxStream() { gzclose(file_); }
  IdxStream(const IdxStream&) = delete;
  IdxStream& operator=(const IdxStream&) = delete;

  // Reads up to n bytes; fewer only at the end of the data.
  std::size_t read(void* dst, std::size_t n) {
    auto* out = static_cast<unsigned char*>(dst);
    std::size_t done = 0;
    while (done < n) {
      // gzread takes an unsigned count; read in bounded chunks.
      unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, 1u << 30));
      int got = gzread(file_, out + done, chunk);
      if (got < 0) fail_decompression();
      if (!checked_format_) check_format();
      if (got == 0) {
        // zlib reports a gzip stream cut short only through the error state, not the return value.
        int code = Z_OK;
        gzerror(file_, &code);
        if (code == Z_BUF_ERROR) fail_decompression();
        break;
      }
      done += static_cast<std::size_t>(got);
    }
    return done;
  }

  std::uint32_t read_u32_be(const char* what) {
    unsigned char b[4];
    if (read(b, 4) != 4)
      throw DataError("IDX file " + path_ + " is truncated: it ends inside the header (" + what + ")");
    return (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8) | b[3];
  }

  // Upper bound on the decompressed size, so a corrupt header cannot make us allocate absurd amounts:
  // deflate never compresses better than 1032:1.
  std::uint64_t max_content_bytes() const { return compressed_ ? file_size_ * 1032 + 1024 : file_size_; }
  bool compressed() const { return compressed_; }
  std::uint64_t file_size() const { return file_size_; }
  const std::string& path() const { return path_; }

 private:
  [[noreturn]] void fail_decompression() {
    int code = Z_OK;
    std::string message = gzerror(file_, &code);
    // zlib prefixes its message with the path, which ours already names.
    if (message.rfind(path_ + ": ", 0) == 0) message.erase(0, path_.size() + 2);
    if (code == Z_BUF_ERROR)
      throw DataError("IDX file " + path_ + " is truncated: the gzip stream ends early (" + message + ")");
    throw DataError("IDX file " + path_ + " is a corrupt gzip file: " + message);
  }
  void check_format() {
    checked_format_ = true;
    // gzdirect is only meaningful after the first read: nonzero means the data is not gzip at all.
    if (compressed_ && gzdirect(file_))
      throw DataError("IDX file " + path_ + " is a corrupt gzip file: it has no gzip header");
  }

  std::string path_;
  gzFile file_ = nullptr;
  std::uint64_t file_size_ = 0;
  bool compressed_ = false, checked_format_ = false;
};

// Reads the magic and the dimensions, then exactly the payload the dimensions declare.
std::vector<std::uint8_t> read_idx(IdxStream& in, std::uint32_t magic, std::vector<std::size_t>& dims,
                                   const char* kind) {
  std::uint32_t found = in.read_u32_be("magic number");
  if (found != magic)
    throw DataError("IDX file " + in.path() + " has magic number " + hex32(found) + ", expected " +
                    hex32(magic) + " for " + kind + " (is it the right file, and " +
                    (in.compressed() ? "a gzip of an IDX file?)" : "uncompressed IDX?)"));
  std::string declared;
  for (auto& d : dims) {
    d = in.read_u32_be("dimension sizes");
    if (d == 0) throw DataError("IDX file " + in.path() + " declares a dimension of size 0");
    declared += (declared.empty() ? "" : "x") + std::to_string(d);
  }
  // Dividing before multiplying keeps the check free of overflow for any header.
  std::uint64_t payload = 1;
  for (auto d : dims) {
    if (payload > in.max_content_bytes() / d)
      throw DataError("IDX file " + in.path() + " is truncated: its header declares " + declared + " " +
                      kind + ", more than a " + std::to_string(in.file_size()) + "-byte file can hold");
    payload *= d;
  }
  const std::uint64_t header = 4 + 4 * dims.size();
  std::vector<std::uint8_t> data(payload);
  std::size_t got = in.read(data.data(), data.size());
  if (got != payload)
    throw DataError("IDX file " + in.path() + " is truncated: its header declares " +
                    std::to_string(payload) + " data bytes after the " + std::to_string(header) +
                    "-byte header, but only " + std::to_string(got) + " follow");
  unsigned char extra;
  if (in.read(&extra, 1) != 0)
    throw DataError("IDX file " + in.path() + " is longer than its header declares (" +
                    std::to_string(payload) + " data bytes): wrong or damaged file");
  return data;
}

}  // namespace

IdxImages read_idx_images(const std::string& path) {
  IdxStream in(path);
  std::vector<std::size_t> dims(3);
  IdxImages images;
  images.pixels = read_idx(in, kIdxImagesMagic, dims, "images");
  images.count = dims[0];
  images.rows = dims[1];
  images.cols = dims[2];
  return images;
}

std::vector<std::int32_t> read_idx_labels(const std::string& path, std::size_t classes) {
  IdxStream in(path);
  std::vector<std::size_t> dims(1);
  std::vector<std::uint8_t> raw = read_idx(in, kIdxLabelsMagic, dims, "labels");
  std::vector<std::int32_t> labels(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] >= classes)
      throw DataError("IDX file " + path + ": label " + std::to_string(raw[i]) + " of sample " +
                      std::to_string(i) + " is out of range [0, " + std::to_string(classes) + ")");
    labels[i] = raw[i];
  }
  return labels;
}

}  // namespace bnlab::data
