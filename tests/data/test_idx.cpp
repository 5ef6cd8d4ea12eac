// IDX reader: round trips through gzip and raw files, and every kind of bad file gives an error naming it.
#include "data/idx.hpp"

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "data/data_files.hpp"

using namespace bnlab;
using Catch::Matchers::Contains;

TEST_CASE("idx/reads gzip and raw images and labels", "[data][idx]") {
  test::FixtureDir dir;
  const test::Bytes images = test::idx_images(5, 3, 4);
  const std::vector<std::uint8_t> labels = {3, 1, 4, 1, 5};
  test::write_gzip(dir.file("img.gz"), images);
  test::write_bytes(dir.file("img"), images);
  test::write_gzip(dir.file("lab.gz"), test::idx_labels(labels));
  test::write_bytes(dir.file("lab"), test::idx_labels(labels));

  for (const char* suffix : {"", ".gz"}) {
    data::IdxImages read = data::read_idx_images(dir.file(std::string("img") + suffix));
    CHECK(read.count == 5);
    CHECK(read.rows == 3);
    CHECK(read.cols == 4);
    REQUIRE(read.pixels.size() == 5 * 12);
    for (std::size_t i = 0; i < 5; ++i)
      for (std::size_t j = 0; j < 12; ++j) REQUIRE(read.pixels[i * 12 + j] == test::pattern_pixel(i, j));
    std::vector<std::int32_t> read_labels = data::read_idx_labels(dir.file(std::string("lab") + suffix), 10);
    CHECK(read_labels == std::vector<std::int32_t>{3, 1, 4, 1, 5});
  }
}

TEST_CASE("idx/wrong magic names the file and both numbers", "[data][idx]") {
  test::FixtureDir dir;
  test::write_gzip(dir.file("labels-as-images.gz"), test::idx_labels({1, 2}));
  test::write_bytes(dir.file("images-as-labels"), test::idx_images(2, 2, 2));
  CHECK_THROWS_WITH(data::read_idx_images(dir.file("labels-as-images.gz")),
                    Contains("labels-as-images.gz") && Contains("0x00000801") && Contains("0x00000803"));
  CHECK_THROWS_AS(data::read_idx_labels(dir.file("images-as-labels"), 10), DataError);
  CHECK_THROWS_WITH(data::read_idx_labels(dir.file("images-as-labels"), 10), Contains("images-as-labels"));
}

TEST_CASE("idx/truncated files are errors", "[data][idx]") {
  test::FixtureDir dir;
  test::Bytes images = test::idx_images(4, 5, 5);
  test::Bytes short_images(images.begin(), images.end() - 7);
  test::write_bytes(dir.file("short"), short_images);
  test::write_gzip(dir.file("short.gz"), short_images);
  test::write_bytes(dir.file("header-only"), test::Bytes(images.begin(), images.begin() + 10));
  CHECK_THROWS_WITH(data::read_idx_images(dir.file("short")), Contains("short") && Contains("truncated"));
  CHECK_THROWS_WITH(data::read_idx_images(dir.file("short.gz")),
                    Contains("short.gz") && Contains("truncated"));
  CHECK_THROWS_WITH(data::read_idx_images(dir.file("header-only")),
                    Contains("header-only") && Contains("header"));

  SECTION("a gzip stream cut short") {
    // Large enough that the cut removes compressed data, not only the gzip trailer.
    test::Bytes big = test::idx_images(200, 28, 28);
    test::write_gzip(dir.file("cut.gz"), big);
    test::Bytes compressed = test::read_bytes(dir.file("cut.gz"));
    compressed.resize(compressed.size() / 2);
    test::write_bytes(dir.file("cut.gz"), compressed);
    CHECK_THROWS_WITH(data::read_idx_images(dir.file("cut.gz")),
                      Contains("cut.gz") && Contains("truncated") && Contains("gzip stream ends early"));
  }
  SECTION("a header declaring far more data than the file can hold") {
    test::Bytes huge = test::idx_images(1, 28, 28);
    huge[4] = 0x7f;  // count ≈ 2 billion images
    test::write_gzip(dir.file("huge.gz"), huge);
    CHECK_THROWS_WITH(data::read_idx_images(dir.file("huge.gz")),
                      Contains("huge.gz") && Contains("truncated"));
  }
}

TEST_CASE("idx/data beyond what the header declares is an error", "[data][idx]") {
  test::FixtureDir dir;
  test::Bytes labels = test::idx_labels({0, 1, 2});
  labels.push_back(7);
  test::write_gzip(dir.file("long.gz"), labels);
  CHECK_THROWS_WITH(data::read_idx_labels(dir.file("long.gz"), 10),
                    Contains("long.gz") && Contains("longer"));
}

TEST_CASE("idx/label out of range names the file and the sample", "[data][idx]") {
  test::FixtureDir dir;
  test::write_gzip(dir.file("labels.gz"), test::idx_labels({0, 9, 10, 2}));
  CHECK_THROWS_WITH(data::read_idx_labels(dir.file("labels.gz"), 10),
                    Contains("labels.gz") && Contains("label 10") && Contains("sample 2"));
  CHECK(data::read_idx_labels(dir.file("labels.gz"), 11).size() == 4);
}

TEST_CASE("idx/corrupt gzip is an error naming the file", "[data][idx]") {
  test::FixtureDir dir;
  SECTION("damaged compressed data") {
    test::write_gzip(dir.file("bad.gz"), test::idx_images(50, 28, 28));
    test::Bytes compressed = test::read_bytes(dir.file("bad.gz"));
    for (std::size_t i = 20; i < compressed.size() - 20; i += 5) compressed[i] ^= 0x5a;
    test::write_bytes(dir.file("bad.gz"), compressed);
    CHECK_THROWS_WITH(data::read_idx_images(dir.file("bad.gz")),
                      Contains("bad.gz") && Contains("corrupt gzip"));
  }
  SECTION("a .gz file that is not gzip at all") {
    test::write_bytes(dir.file("plain.gz"), test::idx_images(2, 28, 28));
    CHECK_THROWS_WITH(data::read_idx_images(dir.file("plain.gz")),
                      Contains("plain.gz") && Contains("corrupt gzip") && Contains("no gzip header"));
  }
}

TEST_CASE("idx/missing file and empty dimension", "[data][idx]") {
  test::FixtureDir dir;
  CHECK_THROWS_WITH(data::read_idx_images(dir.file("nothing.gz")),
                    Contains("nothing.gz") && Contains("not found"));
  test::write_bytes(dir.file("zero"), test::idx_images(0, 28, 28));
  CHECK_THROWS_WITH(data::read_idx_images(dir.file("zero")), Contains("zero") && Contains("size 0"));
}
