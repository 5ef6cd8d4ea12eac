// Fixture file generation for the data tests.
#include "data/data_files.hpp"

#include <zlib.h>

#include <fstream>
#include <stdexcept>

namespace bnlab::test {

void write_bytes(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path);
}

void write_gzip(const std::string& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write " + path);
  if (!bytes.empty() &&
      gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) != static_cast<int>(bytes.size()))
    throw std::runtime_error("cannot compress into " + path);
  gzclose(f);
}

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::uint8_t pattern_pixel(std::size_t sample, std::size_t offset) {
  if (offset == 0) return static_cast<std::uint8_t>(sample & 0xff);
  if (offset == 1) return static_cast<std::uint8_t>((sample >> 8) & 0xff);
  return static_cast<std::uint8_t>((sample * 7 + offset * 13) & 0xff);
}

std::size_t pattern_index(const std::uint8_t* p) {
  return p[0] | (std::size_t(p[1]) << 8);
}

namespace {
void put_u32(Bytes& b, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<std::uint8_t>(v >> shift));
}
}  // namespace

Bytes idx_images(std::size_t count, std::size_t rows, std::size_t cols, std::uint32_t magic) {
  Bytes b;
  put_u32(b, magic);
  put_u32(b, static_cast<std::uint32_t>(count));
  put_u32(b, static_cast<std::uint32_t>(rows));
  put_u32(b, static_cast<std::uint32_t>(cols));
  for (std::size_t i = 0; i < count; ++i)
    for (std::size_t j = 0; j < rows * cols; ++j) b.push_back(pattern_pixel(i, j));
  return b;
}

Bytes idx_labels(const std::vector<std::uint8_t>& labels, std::uint32_t magic) {
  Bytes b;
  put_u32(b, magic);
  put_u32(b, static_cast<std::uint32_t>(labels.size()));
  b.insert(b.end(), labels.begin(), labels.end());
  return b;
}

std::vector<std::uint8_t> labels_with_counts(const std::vector<std::size_t>& counts) {
  std::vector<std::size_t> left = counts;
  std::vector<std::uint8_t> labels;
  for (bool any = true; any;) {
    any = false;
    for (std::size_t c = 0; c < left.size(); ++c)
      if (left[c] > 0) {
        labels.push_back(static_cast<std::uint8_t>(c));
        --left[c];
        any = true;
      }
  }
  return labels;
}

void write_idx_dataset(const std::string& dir, const std::vector<std::uint8_t>& train_labels,
                       const std::vector<std::uint8_t>& test_labels) {
  const std::filesystem::path d(dir);
  write_gzip((d / "train-images-idx3-ubyte.gz").string(), idx_images(train_labels.size(), 28, 28));
  write_gzip((d / "train-labels-idx1-ubyte.gz").string(), idx_labels(train_labels));
  write_gzip((d / "t10k-images-idx3-ubyte.gz").string(), idx_images(test_labels.size(), 28, 28));
  write_gzip((d / "t10k-labels-idx1-ubyte.gz").string(), idx_labels(test_labels));
}

Bytes cifar_batch(const std::vector<std::uint8_t>& labels, std::size_t first_index) {
  Bytes b;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    b.push_back(labels[i]);
    for (std::size_t j = 0; j < 3072; ++j) b.push_back(pattern_pixel(first_index + i, j));
  }
  return b;
}

void write_cifar_dataset(const std::string& dir, std::size_t per_batch, std::size_t test) {
  const std::filesystem::path d(dir);
  for (std::size_t batch = 0; batch < 5; ++batch) {
    std::vector<std::uint8_t> labels;
    for (std::size_t i = 0; i < per_batch; ++i)
      labels.push_back(static_cast<std::uint8_t>((batch * per_batch + i) % 10));
    write_bytes((d / ("data_batch_" + std::to_string(batch + 1) + ".bin")).string(),
                cifar_batch(labels, batch * per_batch));
  }
  std::vector<std::uint8_t> labels;
  for (std::size_t i = 0; i < test; ++i) labels.push_back(static_cast<std::uint8_t>(i % 10));
  write_bytes((d / "test_batch.bin").string(), cifar_batch(labels, 5 * per_batch));
}

}  // namespace bnlab::test
