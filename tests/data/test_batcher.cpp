// Batcher: seeded shuffling, drop_last, normalization statistics, crop and flip, no reallocation, gather.
#include "data/batcher.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>
#include <set>

#include "core/error.hpp"

using namespace bnlab;

namespace {

// n single-channel samples of h×w; sample i's first pixel is i (so batches reveal their order) and its
// label is i % classes.
data::Dataset numbered(std::size_t n, std::size_t h = 2, std::size_t w = 2, std::size_t classes = 3) {
  data::Dataset d;
  d.name = "numbered";
  d.channels = 1;
  d.height = h;
  d.width = w;
  for (std::size_t c = 0; c < classes; ++c) d.class_names.push_back(std::to_string(c));
  for (std::size_t i = 0; i < n; ++i) {
    d.labels.push_back(static_cast<std::int32_t>(i % classes));
    for (std::size_t j = 0; j < h * w; ++j)
      d.images.push_back(static_cast<std::uint8_t>(j == 0 ? i : 100 + j));
  }
  return d;
}

// Sample order of one epoch, read back from the first pixel of each sample (no normalization: ×255).
std::vector<std::size_t> epoch_order(data::Batcher& b) {
  Tensor images;
  std::vector<std::int32_t> labels;
  std::vector<std::size_t> order;
  b.start_epoch();
  while (b.next(images, labels)) {
    const std::size_t sample = images.size() / images.shape()[0];
    for (std::size_t k = 0; k < images.shape()[0]; ++k)
      order.push_back(static_cast<std::size_t>(std::lround(images.data()[k * sample] * 255.0f)));
  }
  return order;
}

}  // namespace

TEST_CASE("batcher/shuffling is a permutation determined by the seed", "[data][batcher]") {
  const data::Dataset d = numbered(50);
  data::BatcherOptions opt;
  opt.batch_size = 8;
  data::Batcher a(d, {}, opt, 42), b(d, {}, opt, 42), c(d, {}, opt, 43);
  const auto first = epoch_order(a);
  CHECK(first == epoch_order(b));
  CHECK(first != epoch_order(c));
  std::vector<std::size_t> sorted = first;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::size_t> all(50);
  std::iota(all.begin(), all.end(), 0);
  CHECK(sorted == all);
  CHECK(first != all);
  const auto second = epoch_order(a);  // a new epoch reshuffles
  CHECK(second != first);
  CHECK(second == epoch_order(b));

  opt.shuffle = false;
  data::Batcher plain(d, {}, opt, 42);
  CHECK(epoch_order(plain) == all);
}

TEST_CASE("batcher/drop_last skips only the short final batch", "[data][batcher]") {
  const data::Dataset d = numbered(50);
  data::BatcherOptions opt;
  opt.batch_size = 16;
  for (bool drop : {false, true}) {
    opt.drop_last = drop;
    data::Batcher b(d, {}, opt, 1);
    Tensor images;
    std::vector<std::int32_t> labels;
    std::vector<std::size_t> sizes;
    while (b.next(images, labels)) {
      sizes.push_back(images.shape()[0]);
      CHECK(labels.size() == images.shape()[0]);
    }
    CHECK(sizes.size() == b.batches_per_epoch());
    if (drop)
      CHECK(sizes == std::vector<std::size_t>{16, 16, 16});
    else
      CHECK(sizes == std::vector<std::size_t>{16, 16, 16, 2});
    CHECK_FALSE(b.next(images, labels));  // stays at the end until the next epoch starts
  }
}

TEST_CASE("batcher/labels travel with their images", "[data][batcher]") {
  const data::Dataset d = numbered(30, 2, 2, 4);
  data::BatcherOptions opt;
  opt.batch_size = 7;
  data::Batcher b(d, {}, opt, 5);
  Tensor images;
  std::vector<std::int32_t> labels;
  while (b.next(images, labels))
    for (std::size_t k = 0; k < labels.size(); ++k) {
      const auto i = static_cast<std::size_t>(std::lround(images.data()[k * 4] * 255.0f));
      REQUIRE(labels[k] == static_cast<std::int32_t>(i % 4));
    }
}

TEST_CASE("batcher/channel statistics and normalized batches", "[data][batcher]") {
  // Two channels, 2 samples of 1×2: channel 0 holds 0, 255, 255, 255; channel 1 holds 51 everywhere
  // except one 102.
  data::Dataset d;
  d.name = "two-channel";
  d.channels = 2;
  d.height = 1;
  d.width = 2;
  d.class_names = {"a", "b"};
  d.images = {0, 255, 51, 51, 255, 255, 51, 102};
  d.labels = {0, 1};
  data::Normalization norm = data::channel_statistics(d);
  REQUIRE(norm.mean.size() == 2);
  CHECK(norm.mean[0] == Approx(0.75));
  CHECK(norm.stddev[0] == Approx(std::sqrt(0.1875)));  // population std of {0, 1, 1, 1}
  CHECK(norm.mean[1] == Approx((0.2 * 3 + 0.4) / 4));
  CHECK(norm.stddev[1] == Approx(std::sqrt(3.0 / 4 * 0.05 * 0.05 + 1.0 / 4 * 0.15 * 0.15)));

  data::BatcherOptions opt;
  opt.batch_size = 2;
  opt.shuffle = false;
  data::Batcher b(d, norm, opt, 1);
  Tensor images;
  std::vector<std::int32_t> labels;
  REQUIRE(b.next(images, labels));
  CHECK(shape_of(images) == Shape{2, 2, 1, 2});
  // Per channel, the normalized training batch has mean 0 and (population) std 1.
  for (std::size_t c = 0; c < 2; ++c) {
    double s = 0, s2 = 0;
    for (std::size_t i = 0; i < 2; ++i)
      for (std::size_t x = 0; x < 2; ++x) {
        const double v = images(i, c, 0, x);
        s += v;
        s2 += v * v;
      }
    CHECK(s / 4 == Approx(0.0).margin(1e-6));
    CHECK(s2 / 4 == Approx(1.0).epsilon(1e-5));
  }
  CHECK(images(0, 0, 0, 0) == Approx((0.0 - 0.75) / std::sqrt(0.1875)));

  CHECK_THROWS_AS(data::Batcher(d, data::Normalization{{0.5f}, {0.2f}}, opt, 1), Error);
  CHECK_THROWS_AS(data::Batcher(d, data::Normalization{{0.5f, 0.5f}, {0.2f, 0.0f}}, opt, 1), Error);
}

TEST_CASE("batcher/crop and flip of a tiny image", "[data][batcher]") {
  // 3×3 image 1..9, normalized as the identity (scale 1, offset 0) so values read back as pixels.
  const std::uint8_t src[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  float out[9];
  auto plane = [&](std::size_t dy, std::size_t dx, bool flip) {
    data::write_plane(src, 3, 3, 1.0f, 0.0f, data::CropFlip{1, dy, dx, flip}, out);
    return std::vector<float>(out, out + 9);
  };
  CHECK(plane(1, 1, false) == std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9});  // centred: unchanged
  CHECK(plane(0, 0, false) == std::vector<float>{0, 0, 0, 0, 1, 2, 0, 4, 5});  // window at the top-left
  CHECK(plane(2, 2, false) == std::vector<float>{5, 6, 0, 8, 9, 0, 0, 0, 0});  // window at the bottom-right
  CHECK(plane(0, 2, false) == std::vector<float>{0, 0, 0, 2, 3, 0, 5, 6, 0});
  CHECK(plane(1, 1, true) == std::vector<float>{3, 2, 1, 6, 5, 4, 9, 8, 7});  // mirrored
  // Crop first, then mirror (torchvision's RandomCrop then RandomHorizontalFlip).
  CHECK(plane(0, 0, true) == std::vector<float>{0, 0, 0, 2, 1, 0, 5, 4, 0});
  CHECK(plane(2, 0, true) == std::vector<float>{5, 4, 0, 8, 7, 0, 0, 0, 0});
  // Padding pixels are zero before normalization: they come out as the offset.
  data::write_plane(src, 3, 3, 2.0f, -1.0f, data::CropFlip{1, 0, 0, false}, out);
  CHECK(out[0] == -1.0f);
  CHECK(out[4] == 1.0f);

  SECTION("the batcher draws every crop and flip, and only those") {
    data::Dataset d;
    d.name = "tiny";
    d.channels = 2;  // both channels must get the same window
    d.height = d.width = 3;
    d.class_names = {"x"};
    d.labels = {0};
    for (std::size_t c = 0; c < 2; ++c) d.images.insert(d.images.end(), src, src + 9);
    data::BatcherOptions opt;
    opt.batch_size = 1;
    opt.augment.crop_padding = 1;
    opt.augment.horizontal_flip = true;
    data::Batcher b(d, data::Normalization{{0.0f, 0.0f}, {1.0f / 255, 1.0f / 255}}, opt, 11);
    std::set<std::vector<float>> valid, seen;
    for (std::size_t dy = 0; dy < 3; ++dy)
      for (std::size_t dx = 0; dx < 3; ++dx)
        for (bool flip : {false, true}) valid.insert(plane(dy, dx, flip));
    REQUIRE(valid.size() == 18);
    Tensor images;
    std::vector<std::int32_t> labels;
    for (int epoch = 0; epoch < 400; ++epoch) {
      b.start_epoch();
      REQUIRE(b.next(images, labels));
      std::vector<float> c0(images.data(), images.data() + 9), c1(images.data() + 9, images.data() + 18);
      for (auto& v : c0) v = std::round(v);
      for (auto& v : c1) v = std::round(v);
      REQUIRE(valid.count(c0) == 1);
      REQUIRE(c0 == c1);
      seen.insert(c0);
    }
    CHECK(seen.size() == 18);
  }
}

TEST_CASE("batcher/no reallocation once the batch shape is known", "[data][batcher]") {
  const data::Dataset d = numbered(64, 4, 4);
  data::BatcherOptions opt;
  opt.batch_size = 16;
  opt.augment.crop_padding = 1;
  opt.augment.horizontal_flip = true;
  data::Batcher b(d, data::channel_statistics(d), opt, 3);
  Tensor images;
  std::vector<std::int32_t> labels;
  REQUIRE(b.next(images, labels));
  const float* buffer = images.data();
  const std::int32_t* label_buffer = labels.data();
  for (int epoch = 0; epoch < 3; ++epoch) {
    while (b.next(images, labels)) {
      REQUIRE(images.data() == buffer);
      REQUIRE(labels.data() == label_buffer);
    }
    b.start_epoch();
  }
}

TEST_CASE("batcher/gather matches an unshuffled batch and checks indices", "[data][batcher]") {
  const data::Dataset d = numbered(10, 3, 3);
  const data::Normalization norm = data::channel_statistics(d);
  data::BatcherOptions opt;
  opt.batch_size = 4;
  opt.shuffle = false;
  data::Batcher b(d, norm, opt, 1);
  Tensor from_batcher, from_gather;
  std::vector<std::int32_t> labels_b, labels_g;
  REQUIRE(b.next(from_batcher, labels_b));
  data::gather(d, norm, {0, 1, 2, 3}, from_gather, labels_g);
  CHECK(shape_of(from_gather) == Shape{4, 1, 3, 3});
  CHECK(labels_g == labels_b);
  for (std::size_t i = 0; i < from_gather.size(); ++i)
    REQUIRE(from_gather.data()[i] == from_batcher.data()[i]);
  CHECK_THROWS_AS(data::gather(d, norm, {3, 10}, from_gather, labels_g), Error);
}
