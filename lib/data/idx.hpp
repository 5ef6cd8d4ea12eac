// Reads IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or raw, checking them against their
// header.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bnlab::data {

// Magic numbers: two zero bytes, type 0x08 (unsigned byte), then the number of dimensions.
constexpr std::uint32_t kIdxImagesMagic = 0x00000803;
constexpr std::uint32_t kIdxLabelsMagic = 0x00000801;

struct IdxImages {
  std::size_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // count × rows × cols, row-major
};

// Files ending in ".gz" must be gzip; others are read as they are. Every problem (missing file, wrong
// magic, truncated or overlong data, corrupt gzip) throws bnlab::DataError naming the file.
IdxImages read_idx_images(const std::string& path);
// Labels must lie in [0, classes).
std::vector<std::int32_t> read_idx_labels(const std::string& path, std::size_t classes);

}  // namespace bnlab::data
