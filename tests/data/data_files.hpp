// Test fixtures: small IDX and CIFAR-10 files generated in a private temporary directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "support/temp_dir.hpp"

namespace bnlab::test {

// A fresh directory for generated dataset files, removed with its contents when the object goes out of scope.
class FixtureDir : public TempDir {
 public:
  FixtureDir() : TempDir("bnlab-data-test") {}
  std::string file(const std::string& name) const { return (path() / name).string(); }
};

using Bytes = std::vector<std::uint8_t>;

void write_bytes(const std::string& path, const Bytes& bytes);
void write_gzip(const std::string& path, const Bytes& bytes);
Bytes read_bytes(const std::string& path);

// IDX file contents (header + payload). Image pixels: the pixel value of sample i at offset j is
// pattern_pixel(i, j), so every sample is recognizable after shuffling or splitting.
std::uint8_t pattern_pixel(std::size_t sample, std::size_t offset);
// The sample index that pattern_pixel encoded in the first two pixels.
std::size_t pattern_index(const std::uint8_t* sample_pixels);
Bytes idx_images(std::size_t count, std::size_t rows, std::size_t cols, std::uint32_t magic = 0x00000803);
Bytes idx_labels(const std::vector<std::uint8_t>& labels, std::uint32_t magic = 0x00000801);

// Labels 0..classes−1 repeating, with class c holding counts[c] samples, in interleaved order.
std::vector<std::uint8_t> labels_with_counts(const std::vector<std::size_t>& counts);

// Writes the four gzip IDX files of an MNIST-style dataset (28x28) into dir.
void write_idx_dataset(const std::string& dir, const std::vector<std::uint8_t>& train_labels,
                       const std::vector<std::uint8_t>& test_labels);

// One CIFAR-10 binary batch of records with the given labels; pixels follow pattern_pixel.
Bytes cifar_batch(const std::vector<std::uint8_t>& labels, std::size_t first_index = 0);
// data_batch_1..5.bin with `per_batch` records each and test_batch.bin with `test` records in dir.
void write_cifar_dataset(const std::string& dir, std::size_t per_batch, std::size_t test);

}  // namespace bnlab::test
