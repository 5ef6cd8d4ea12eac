// Dataset loading by name: locate the files, read them, apply limits and the validation split, describe.
#include "data/load.hpp"

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/cifar10.hpp"
#include "data/idx.hpp"
#include "data/split.hpp"

namespace bnlab::data {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMnistSide = 28;

std::vector<std::string> idx_class_names(const std::string& dataset) {
  if (dataset == "fashion-mnist")
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  std::vector<std::string> digits;
  for (int d = 0; d < 10; ++d) digits.push_back(std::to_string(d));
  return digits;
}

void require_directory(const std::string& dir, const std::string& dataset) {
  std::error_code ec;
  if (dir.empty())
    throw DataError("no directory given for dataset " + dataset + " (fetch it with `" +
                    fetch_command(dataset) + "`)");
  if (!fs::is_directory(dir, ec))
    throw DataError("dataset directory " + dir + " not found: run `" + fetch_command(dataset) +
                    "` to fetch " + dataset);
}

// The gzip file when present, else the uncompressed one.
std::string find_idx_file(const std::string& dir, const std::string& stem, const std::string& dataset) {
  std::error_code ec;
  const fs::path gz = fs::path(dir) / (stem + ".gz"), raw = fs::path(dir) / stem;
  if (fs::exists(gz, ec)) return gz.string();
  if (fs::exists(raw, ec)) return raw.string();
  throw DataError("dataset file " + gz.string() + " (or uncompressed " + raw.string() + ") not found: run `" +
                  fetch_command(dataset) + "`");
}

Dataset read_idx_split(const std::string& dir, const std::string& prefix, const std::string& dataset) {
  const std::string images_path = find_idx_file(dir, prefix + "-images-idx3-ubyte", dataset);
  const std::string labels_path = find_idx_file(dir, prefix + "-labels-idx1-ubyte", dataset);
  Dataset d;
  d.name = dataset;
  d.class_names = idx_class_names(dataset);
  IdxImages images = read_idx_images(images_path);
  if (images.rows != kMnistSide || images.cols != kMnistSide)
    throw DataError("IDX file " + images_path + " holds " + std::to_string(images.rows) + "x" +
                    std::to_string(images.cols) + " images, but " + dataset + " images are 28x28");
  d.labels = read_idx_labels(labels_path, d.class_names.size());
  if (d.labels.size() != images.count)
    throw DataError("IDX files disagree: " + images_path + " holds " + std::to_string(images.count) +
                    " images but " + labels_path + " holds " + std::to_string(d.labels.size()) + " labels");
  d.channels = 1;
  d.height = images.rows;
  d.width = images.cols;
  d.images = std::move(images.pixels);
  return d;
}

void require_cifar_files(const std::string& dir) {
  std::error_code ec;
  for (const fs::path& base : {fs::path(dir), fs::path(dir) / "cifar-10-batches-bin"})
    if (fs::exists(base / "test_batch.bin", ec) && fs::exists(base / "data_batch_1.bin", ec)) return;
  throw DataError("CIFAR-10 binary files (data_batch_1..5.bin, test_batch.bin) not found in " + dir +
                  ": run `" + fetch_command("cifar10") + "`");
}

// The first non-empty line of dir/SOURCE, written by scripts/fetch_data.sh.
std::string origin_of(const std::string& dir, const std::string& dataset, const char* format) {
  std::ifstream in(fs::path(dir) / "SOURCE");
  for (std::string line; in && std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) return line + " (" + dir + ")";
  }
  return dataset + " " + format + " files in " + dir + " (no SOURCE file: origin unrecorded)";
}

std::string subset_note(std::size_t kept, std::size_t of, std::uint64_t seed) {
  if (kept == of) return "";
  return " (stratified subset of " + format_count(of) + ", seed " + std::to_string(seed) + ")";
}

}  // namespace

std::string fetch_command(const std::string& dataset) {
  return "bash scripts/fetch_data.sh " + dataset;
}

TrainTest load(const LoadOptions& options) {
  const std::string& name = options.dataset;
  if (!(options.validation_fraction >= 0.0 && options.validation_fraction < 1.0))
    throw DataError("validation fraction " + std::to_string(options.validation_fraction) +
                    " must lie in [0, 1)");
  TrainTest tt;
  std::string origin;
  if (name == "synthetic") {
    SyntheticOptions synthetic;
    tt = make_synthetic(synthetic);
    origin = synthetic_origin(synthetic);
  } else if (name == "mnist" || name == "fashion-mnist") {
    require_directory(options.dir, name);
    tt.train = read_idx_split(options.dir, "train", name);
    tt.test = read_idx_split(options.dir, "t10k", name);
    origin = origin_of(options.dir, name, "IDX");
  } else if (name == "cifar10") {
    require_directory(options.dir, name);
    require_cifar_files(options.dir);
    tt = read_cifar10(options.dir);
    origin = origin_of(options.dir, name, "CIFAR-10 binary");
  } else {
    throw DataError("unknown dataset '" + name + "' (known: mnist, fashion-mnist, cifar10, synthetic)");
  }

  // Independent streams, so changing one limit does not change the other subsets.
  core::Rng root(options.seed);
  core::Rng train_rng(root.split()), validation_rng(root.split()), test_rng(root.split());
  const std::size_t train_available = tt.train.size(), test_available = tt.test.size();
  if (options.train_limit && *options.train_limit == 0) throw DataError("train limit must be positive");
  if (options.test_limit && *options.test_limit == 0) throw DataError("test limit must be positive");

  if (options.train_limit && *options.train_limit < tt.train.size())
    keep_samples(tt.train,
                 stratified_subset(tt.train.labels, tt.train.classes(), *options.train_limit, train_rng));
  const std::size_t train_used = tt.train.size();
  std::string sizes;
  if (options.validation_fraction > 0.0) {
    const auto held =
        static_cast<std::size_t>(options.validation_fraction * static_cast<double>(train_used) + 0.5);
    if (held == 0 || held >= train_used)
      throw DataError("validation fraction " + std::to_string(options.validation_fraction) + " of " +
                      format_count(train_used) + " training samples leaves an empty split");
    tt.test = split_off(tt.train, held, validation_rng);
    sizes = "train " + format_count(tt.train.size()) +
            subset_note(train_used, train_available, options.seed) + ", validation " + format_count(held) +
            " carved from the training set (stratified, seed " + std::to_string(options.seed) +
            ") as the test split";
    if (options.test_limit && *options.test_limit < tt.test.size()) {
      keep_samples(tt.test,
                   stratified_subset(tt.test.labels, tt.test.classes(), *options.test_limit, test_rng));
      sizes += ", limited to " + format_count(tt.test.size());
    }
  } else {
    if (options.test_limit && *options.test_limit < tt.test.size())
      keep_samples(tt.test,
                   stratified_subset(tt.test.labels, tt.test.classes(), *options.test_limit, test_rng));
    sizes = "train " + format_count(train_used) + subset_note(train_used, train_available, options.seed) +
            ", test " + format_count(tt.test.size()) +
            subset_note(tt.test.size(), test_available, options.seed);
  }
  tt.train.source = tt.test.source = origin + "; samples used: " + sizes;
  return tt;
}

}  // namespace bnlab::data
