// Loading the PyTorch fixture and comparing tensors with it element by element.
#include "support/norm_goldens.hpp"

#include <cmath>
#include <fstream>
#include <limits>

#include <catch2/catch.hpp>

namespace bnlab::test {

namespace {
const char* kFixture = "/tests/fixtures/norm_goldens.json";
}

const nlohmann::json& norm_goldens() {
  static const nlohmann::json goldens = [] {
    const std::string path = std::string(BNLAB_SOURCE_DIR) + kFixture;
    std::ifstream in(path);
    if (!in)
      throw std::runtime_error("cannot open " + path +
                               "; regenerate it with /usr/bin/python3 scripts/golden/make_norm_goldens.py");
    return nlohmann::json::parse(in);
  }();
  return goldens;
}

const nlohmann::json& golden_cases(const std::string& family) {
  const nlohmann::json& all = norm_goldens();
  INFO("fixture family " << family);
  REQUIRE(all.contains(family));
  REQUIRE(all.at(family).is_array());
  REQUIRE(!all.at(family).empty());
  return all.at(family);
}

Shape golden_shape(const nlohmann::json& sizes) {
  return sizes.get<Shape>();
}

Tensor golden_tensor(const nlohmann::json& values, const Shape& shape) {
  REQUIRE(values.size() == element_count(shape));
  Tensor t = Tensor::from_shape(shape);
  for (std::size_t i = 0; i < values.size(); ++i) t.data()[i] = values[i].get<float>();
  return t;
}

void check_matches_golden(const Tensor& actual, const nlohmann::json& expected, const std::string& what,
                          double rtol, double atol) {
  INFO(what);
  REQUIRE(actual.size() == expected.size());
  std::size_t worst = 0;
  double worst_excess = -std::numeric_limits<double>::infinity();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double e = expected[i].get<double>(), a = actual.data()[i];
    const double excess = std::abs(a - e) - (atol + rtol * std::abs(e));
    if (excess > worst_excess || std::isnan(a)) {
      worst = i;
      worst_excess = std::isnan(a) ? std::numeric_limits<double>::infinity() : excess;
    }
  }
  INFO("worst element " << worst << ": bnlab " << actual.data()[worst] << ", PyTorch "
                        << expected[worst].get<double>());
  CHECK(worst_excess <= 0.0);
}

}  // namespace bnlab::test
