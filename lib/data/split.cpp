// Largest-remainder class quotas with partial Fisher–Yates draws inside each class.
#include "data/split.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "core/error.hpp"

namespace bnlab::data {

std::vector<std::size_t> stratified_subset(const std::vector<std::int32_t>& labels, std::size_t classes,
                                           std::size_t count, core::Rng& rng) {
  const std::size_t total = labels.size();
  if (count >= total) {
    std::vector<std::size_t> all(total);
    std::iota(all.begin(), all.end(), 0);
    return all;
  }
  std::vector<std::vector<std::size_t>> members(classes);
  for (std::size_t i = 0; i < total; ++i) {
    if (labels[i] < 0 || static_cast<std::size_t>(labels[i]) >= classes)
      throw DataError("label " + std::to_string(labels[i]) + " of sample " + std::to_string(i) +
                      " is out of range [0, " + std::to_string(classes) + ")");
    members[labels[i]].push_back(i);
  }
  // Quota of class c is count·n_c/total rounded down; the leftover goes to the largest remainders,
  // ties to the lower class, so the result depends only on the labels and the count.
  std::vector<std::size_t> quota(classes);
  std::vector<std::pair<std::uint64_t, std::size_t>> remainders;
  std::size_t assigned = 0;
  for (std::size_t c = 0; c < classes; ++c) {
    const std::uint64_t scaled = static_cast<std::uint64_t>(count) * members[c].size();
    quota[c] = scaled / total;
    assigned += quota[c];
    remainders.push_back({scaled % total, c});
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (std::size_t i = 0; assigned < count; ++i, ++assigned) ++quota[remainders[i].second];

  std::vector<std::size_t> chosen;
  chosen.reserve(count);
  for (std::size_t c = 0; c < classes; ++c) {
    auto& m = members[c];
    for (std::size_t i = 0; i < quota[c]; ++i) {
      std::swap(m[i], m[i + rng.below(m.size() - i)]);
      chosen.push_back(m[i]);
    }
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

void keep_samples(Dataset& dataset, const std::vector<std::size_t>& ascending) {
  const std::size_t sample = dataset.sample_size();
  std::uint8_t* pixels = dataset.images.data();
  for (std::size_t k = 0; k < ascending.size(); ++k) {
    const std::size_t i = ascending[k];
    if (i >= dataset.size() || (k > 0 && i <= ascending[k - 1]))
      throw Error("keep_samples: indices must be ascending and below " + std::to_string(dataset.size()));
    // Destination k never passes source i, so moving forward in place is safe.
    if (i != k) {
      std::memmove(pixels + k * sample, pixels + i * sample, sample);
      dataset.labels[k] = dataset.labels[i];
    }
  }
  dataset.images.resize(ascending.size() * sample);
  dataset.labels.resize(ascending.size());
  // Give memory back only when that is worth the temporary copy shrink_to_fit makes.
  if (dataset.images.size() < dataset.images.capacity() / 2) {
    dataset.images.shrink_to_fit();
    dataset.labels.shrink_to_fit();
  }
}

Dataset split_off(Dataset& dataset, std::size_t held_out, core::Rng& rng) {
  const std::vector<std::size_t> picked = stratified_subset(dataset.labels, dataset.classes(), held_out, rng);
  Dataset out;
  out.name = dataset.name;
  out.source = dataset.source;
  out.channels = dataset.channels;
  out.height = dataset.height;
  out.width = dataset.width;
  out.class_names = dataset.class_names;
  const std::size_t sample = dataset.sample_size();
  out.images.resize(picked.size() * sample);
  out.labels.resize(picked.size());
  std::vector<std::size_t> rest;
  rest.reserve(dataset.size() - picked.size());
  for (std::size_t i = 0, k = 0; i < dataset.size(); ++i) {
    if (k < picked.size() && picked[k] == i) {
      std::memcpy(out.images.data() + k * sample, dataset.images.data() + i * sample, sample);
      out.labels[k] = dataset.labels[i];
      ++k;
    } else {
      rest.push_back(i);
    }
  }
  keep_samples(dataset, rest);
  return out;
}

}  // namespace bnlab::data
