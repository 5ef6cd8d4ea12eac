// Reads the CIFAR-10 binary version: data_batch_1..5.bin and test_batch.bin of 3,073-byte records.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.hpp"

namespace bnlab::data {

constexpr std::size_t kCifarChannels = 3, kCifarSide = 32;
constexpr std::size_t kCifarImageBytes =
    kCifarChannels * kCifarSide * kCifarSide;                    // R, G, B planes, row-major
constexpr std::size_t kCifarRecordBytes = 1 + kCifarImageBytes;  // label byte + image

// Records in a batch file, from its size; throws bnlab::DataError naming the file when it is missing,
// empty or not a whole number of records.
std::size_t cifar10_record_count(const std::string& path);

// Appends the records of one batch file (images CHW uint8, labels in [0, classes)) without reallocating
// when the caller reserved room. Throws bnlab::DataError naming the file.
void read_cifar10_batch(const std::string& path, std::size_t classes, std::vector<std::uint8_t>& images,
                        std::vector<std::int32_t>& labels);

// The class names in batches.meta.txt (one per line) when dir holds it, else the standard ten.
std::vector<std::string> cifar10_class_names(const std::string& dir);

// The whole set from dir (or dir/cifar-10-batches-bin): 5 training batches and the test batch, uint8.
// Dataset::source is left for the caller to fill.
TrainTest read_cifar10(const std::string& dir);

}  // namespace bnlab::data
