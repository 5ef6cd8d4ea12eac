// CIFAR-10 binary reader on generated batches: layout, class names and errors that name the file.
#include "data/cifar10.hpp"

#include <catch2/catch.hpp>

#include <filesystem>

#include "core/error.hpp"
#include "data/data_files.hpp"

using namespace bnlab;
using Catch::Matchers::Contains;

TEST_CASE("cifar10/reads all batches in order as uint8 CHW", "[data][cifar10]") {
  test::FixtureDir dir;
  test::write_cifar_dataset(dir.path().string(), 3, 4);
  data::TrainTest tt = data::read_cifar10(dir.path().string());
  REQUIRE(tt.train.size() == 15);
  REQUIRE(tt.test.size() == 4);
  CHECK(tt.train.sample_shape() == Shape{3, 32, 32});
  CHECK(tt.train.images.size() == 15 * 3072);
  CHECK(tt.train.images.capacity() == 15 * 3072);  // reserved once: never a doubled buffer
  for (std::size_t i = 0; i < 15; ++i) {
    CHECK(tt.train.labels[i] == static_cast<std::int32_t>(i % 10));
    // Records keep their file order across batches, and the 3,072 bytes are the R, G, B planes as stored.
    const std::uint8_t* sample = tt.train.images.data() + i * 3072;
    REQUIRE(test::pattern_index(sample) == i);
    CHECK(sample[1024 + 5 * 32 + 7] == test::pattern_pixel(i, 1024 + 5 * 32 + 7));
  }
  CHECK(test::pattern_index(tt.test.images.data() + 3 * 3072) == 18);
  CHECK(tt.train.class_names.size() == 10);
  CHECK(tt.train.class_names[0] == "airplane");
  CHECK(tt.test.class_names[9] == "truck");
}

TEST_CASE("cifar10/class names from batches.meta.txt", "[data][cifar10]") {
  test::FixtureDir dir;
  const std::filesystem::path nested = dir.path() / "cifar-10-batches-bin";
  std::filesystem::create_directory(nested);
  test::write_cifar_dataset(nested.string(), 1, 1);
  std::string meta;
  for (int c = 0; c < 10; ++c) meta += "name" + std::to_string(c) + "\n";
  meta += "\n\n";  // the official file ends with blank lines
  test::write_bytes((nested / "batches.meta.txt").string(), test::Bytes(meta.begin(), meta.end()));
  // The folder the official tarball unpacks into is found from its parent.
  data::TrainTest tt = data::read_cifar10(dir.path().string());
  CHECK(tt.train.class_names[3] == "name3");
  CHECK(tt.train.size() == 5);

  const std::string bad = "cat\ndog\n";
  test::write_bytes((nested / "batches.meta.txt").string(), test::Bytes(bad.begin(), bad.end()));
  CHECK_THROWS_WITH(data::read_cifar10(dir.path().string()),
                    Contains("batches.meta.txt") && Contains("2 names"));
}

TEST_CASE("cifar10/truncated batch is an error naming the file", "[data][cifar10]") {
  test::FixtureDir dir;
  test::write_cifar_dataset(dir.path().string(), 2, 2);
  test::Bytes batch = test::cifar_batch({1, 2});
  batch.resize(batch.size() - 100);
  test::write_bytes(dir.file("data_batch_4.bin"), batch);
  CHECK_THROWS_WITH(data::read_cifar10(dir.path().string()),
                    Contains("data_batch_4.bin") && Contains("truncated") && Contains("3,073-byte records"));
}

TEST_CASE("cifar10/unexpected image size is an error naming the file", "[data][cifar10]") {
  test::FixtureDir dir;
  // Records of a 3x28x28 image (2,353 bytes) cannot be read as 3,073-byte CIFAR records.
  test::Bytes records(4 * (1 + 3 * 28 * 28), 1);
  test::write_bytes(dir.file("test_batch.bin"), records);
  CHECK_THROWS_WITH(data::cifar10_record_count(dir.file("test_batch.bin")),
                    Contains("test_batch.bin") && Contains("unexpected image size"));
}

TEST_CASE("cifar10/label out of range names the file and the record", "[data][cifar10]") {
  test::FixtureDir dir;
  test::write_cifar_dataset(dir.path().string(), 2, 3);
  test::write_bytes(dir.file("test_batch.bin"), test::cifar_batch({0, 1, 12}));
  CHECK_THROWS_WITH(data::read_cifar10(dir.path().string()),
                    Contains("test_batch.bin") && Contains("label 12") && Contains("record 2"));
}

TEST_CASE("cifar10/missing or empty batch file", "[data][cifar10]") {
  test::FixtureDir dir;
  test::write_cifar_dataset(dir.path().string(), 1, 1);
  std::filesystem::remove(dir.path() / "data_batch_5.bin");
  CHECK_THROWS_WITH(data::read_cifar10(dir.path().string()),
                    Contains("data_batch_5.bin") && Contains("not found"));
  test::write_bytes(dir.file("data_batch_5.bin"), {});
  CHECK_THROWS_WITH(data::read_cifar10(dir.path().string()),
                    Contains("data_batch_5.bin") && Contains("empty"));
}
