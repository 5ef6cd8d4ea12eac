// Reads tests/fixtures/optim_goldens.json (written by scripts/golden/make_optim_goldens.py from PyTorch).
#pragma once

#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.hpp"

namespace bnlab::test {

inline const nlohmann::json& optim_goldens() {
  static const nlohmann::json goldens = [] {
    const std::string path = std::string(BNLAB_SOURCE_DIR) + "/tests/fixtures/optim_goldens.json";
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open " + path + " (run scripts/golden/make_optim_goldens.py)");
    return nlohmann::json::parse(in);
  }();
  return goldens;
}

inline Tensor tensor_from_json(const nlohmann::json& values, const Shape& shape) {
  Tensor t = Tensor::from_shape(shape);
  const auto v = values.get<std::vector<float>>();
  if (v.size() != t.size()) throw std::runtime_error("golden tensor has the wrong number of values");
  std::copy(v.begin(), v.end(), t.data());
  return t;
}

}  // namespace bnlab::test
