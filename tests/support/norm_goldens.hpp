// Access to tests/fixtures/norm_goldens.json (PyTorch reference values for the normalization layers).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/tensor.hpp"

namespace bnlab::test {

// The parsed fixture, read once; the failure names the file and the script that regenerates it.
const nlohmann::json& norm_goldens();

// The cases of one family ("batchnorm", "layernorm", "groupnorm"); REQUIREs at least one.
const nlohmann::json& golden_cases(const std::string& family);

// A flat JSON array of numbers as a tensor of the given shape (REQUIREs the element count to match).
Tensor golden_tensor(const nlohmann::json& values, const Shape& shape);

// Shape from a JSON array of sizes.
Shape golden_shape(const nlohmann::json& sizes);

// CHECKs |actual − expected| ≤ atol + rtol·|expected| everywhere, reporting the worst element.
void check_matches_golden(const Tensor& actual, const nlohmann::json& expected, const std::string& what,
                          double rtol = 1e-5, double atol = 1e-5);

}  // namespace bnlab::test
