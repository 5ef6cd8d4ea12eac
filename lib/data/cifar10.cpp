// CIFAR-10 binary reading in record chunks straight into the caller's uint8 storage.
#include "data/cifar10.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"

namespace bnlab::data {
namespace {

const std::vector<std::string> kStandardNames = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                 "dog",      "frog",       "horse", "ship", "truck"};

std::string trim(const std::string& s) {
  auto first = s.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(" \t\r\n") - first + 1);
}

// The official tarball unpacks into cifar-10-batches-bin/; accept either that folder or its parent.
std::string batches_dir(const std::string& dir) {
  std::filesystem::path nested = std::filesystem::path(dir) / "cifar-10-batches-bin";
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(dir) / "test_batch.bin", ec) &&
      std::filesystem::exists(nested / "test_batch.bin", ec))
    return nested.string();
  return dir;
}

}  // namespace

std::size_t cifar10_record_count(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw DataError("CIFAR-10 file " + path + " not found");
  std::uintmax_t bytes = std::filesystem::file_size(path, ec);
  if (ec) throw DataError("cannot read the size of CIFAR-10 file " + path + ": " + ec.message());
  if (bytes == 0) throw DataError("CIFAR-10 file " + path + " is empty");
  if (bytes % kCifarRecordBytes != 0)
    throw DataError("CIFAR-10 file " + path + " is truncated or has an unexpected image size: its " +
                    std::to_string(bytes) + " bytes are not a whole number of 3,073-byte records " +
                    "(1 label byte + 3x32x32 image); is it the binary version?");
  return bytes / kCifarRecordBytes;
}

void read_cifar10_batch(const std::string& path, std::size_t classes, std::vector<std::uint8_t>& images,
                        std::vector<std::int32_t>& labels) {
  const std::size_t records = cifar10_record_count(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("cannot open CIFAR-10 file " + path);
  // Chunks of records keep the temporary buffer small (~3 MB) whatever the file size.
  constexpr std::size_t kChunkRecords = 1024;
  std::vector<std::uint8_t> chunk(std::min(records, kChunkRecords) * kCifarRecordBytes);
  std::size_t done = 0;
  while (done < records) {
    const std::size_t n = std::min(records - done, kChunkRecords);
    in.read(reinterpret_cast<char*>(chunk.data()), static_cast<std::streamsize>(n * kCifarRecordBytes));
    if (static_cast<std::size_t>(in.gcount()) != n * kCifarRecordBytes)
      throw DataError("CIFAR-10 file " + path + " is truncated: reading record " + std::to_string(done) +
                      " failed");
    for (std::size_t r = 0; r < n; ++r) {
      const std::uint8_t* record = chunk.data() + r * kCifarRecordBytes;
      if (record[0] >= classes)
        throw DataError("CIFAR-10 file " + path + ": label " + std::to_string(record[0]) + " of record " +
                        std::to_string(done + r) + " is out of range [0, " + std::to_string(classes) + ")");
      labels.push_back(record[0]);
      images.insert(images.end(), record + 1, record + kCifarRecordBytes);
    }
    done += n;
  }
}

std::vector<std::string> cifar10_class_names(const std::string& dir) {
  const std::string path = (std::filesystem::path(batches_dir(dir)) / "batches.meta.txt").string();
  std::ifstream in(path);
  if (!in) return kStandardNames;
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);)
    if (auto name = trim(line); !name.empty()) names.push_back(name);
  if (names.size() != kStandardNames.size())
    throw DataError("CIFAR-10 class-name file " + path + " lists " + std::to_string(names.size()) +
                    " names, expected 10");
  return names;
}

TrainTest read_cifar10(const std::string& dir) {
  const std::filesystem::path base = batches_dir(dir);
  std::vector<std::string> train_files;
  for (int i = 1; i <= 5; ++i)
    train_files.push_back((base / ("data_batch_" + std::to_string(i) + ".bin")).string());
  const std::string test_file = (base / "test_batch.bin").string();

  TrainTest out;
  const std::vector<std::string> names = cifar10_class_names(dir);
  for (Dataset* d : {&out.train, &out.test}) {
    d->name = "cifar10";
    d->channels = kCifarChannels;
    d->height = d->width = kCifarSide;
    d->class_names = names;
  }
  // Reserving the exact size first means the uint8 set is allocated once, never doubled while growing.
  std::size_t train_records = 0;
  for (const auto& f : train_files) train_records += cifar10_record_count(f);
  const std::size_t test_records = cifar10_record_count(test_file);
  out.train.images.reserve(train_records * kCifarImageBytes);
  out.train.labels.reserve(train_records);
  out.test.images.reserve(test_records * kCifarImageBytes);
  out.test.labels.reserve(test_records);
  for (const auto& f : train_files) read_cifar10_batch(f, names.size(), out.train.images, out.train.labels);
  read_cifar10_batch(test_file, names.size(), out.test.images, out.test.labels);
  return out;
}

}  // namespace bnlab::data
