// A process-wide map from load options to loaded datasets.
#include "experiment/data_cache.hpp"

#include <map>

#include <nlohmann/json.hpp>

#include "data/load.hpp"

namespace bnlab::experiment {

namespace {
std::map<std::string, std::shared_ptr<const LoadedData>>& cache() {
  static std::map<std::string, std::shared_ptr<const LoadedData>> entries;
  return entries;
}
}  // namespace

std::string data_cache_key(const DataSpec& spec) {
  const auto& l = spec.load;
  if (l.dataset == "synthetic") {
    const auto& s = spec.synthetic;
    return nlohmann::json{{"dataset", "synthetic"}, {"train", s.train},       {"test", s.test},
                          {"classes", s.classes},   {"channels", s.channels}, {"height", s.height},
                          {"width", s.width},       {"noise", s.noise},       {"seed", s.seed}}
        .dump();
  }
  nlohmann::json key{{"dataset", l.dataset}, {"dir", l.dir}, {"validation_fraction", l.validation_fraction}};
  key["train_limit"] = l.train_limit ? nlohmann::json(*l.train_limit) : nlohmann::json();
  key["test_limit"] = l.test_limit ? nlohmann::json(*l.test_limit) : nlohmann::json();
  // The seed only picks subsets and validation splits; without them every seed loads the same data.
  if (l.train_limit || l.test_limit || l.validation_fraction > 0.0) key["seed"] = l.seed;
  return key.dump();
}

std::shared_ptr<const LoadedData> load_data_cached(const DataSpec& spec) {
  const std::string key = data_cache_key(spec);
  auto found = cache().find(key);
  if (found != cache().end()) return found->second;
  auto loaded = std::make_shared<LoadedData>();
  loaded->sets =
      spec.load.dataset == "synthetic" ? data::make_synthetic(spec.synthetic) : data::load(spec.load);
  loaded->normalization = data::channel_statistics(loaded->sets.train);
  cache()[key] = loaded;
  return loaded;
}

void clear_data_cache() {
  cache().clear();
}

}  // namespace bnlab::experiment
