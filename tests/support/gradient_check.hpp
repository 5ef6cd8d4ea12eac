// Generic finite-difference gradient checker that every layer's test runs (dlib's test_layer style).
#pragma once

#include <cstdint>
#include <functional>

#include "core/rng.hpp"
#include "core/tensor.hpp"
#include "nn/layer.hpp"

namespace bnlab::test {

struct GradCheckOptions {
  nn::Mode mode = nn::Mode::Train;
  float eps = 1e-2f;   // central-difference step (float32 forward passes)
  double rtol = 2e-2;  // |analytic − numeric| ≤ atol + rtol·max(|analytic|, |numeric|)
  double atol = 2e-3;
  std::size_t max_coords = 150;  // coordinates checked per tensor (random subset when larger)
  // Fills the input; default N(0, 1). Layers with kinks (ReLU, max-pool) keep inputs away from them.
  std::function<void(Tensor&, core::Rng&)> fill_input;
  // Called before every forward pass, e.g. to reseed dropout so each pass draws the same mask.
  std::function<void()> before_forward;
};

// Checks, for L = Σ y ⊙ G with a random G: dL/dx and dL/dθ for every parameter against central
// differences, and that backward ADDS into parameter gradients (two backward passes give twice the
// gradient). Reports failures through Catch with the tensor name and coordinate.
void check_layer_gradients(nn::Layer& layer, const Shape& input_shape, std::uint64_t seed,
                           const GradCheckOptions& options = {});

// Fills t with N(0, 1) values whose magnitude is at least `gap`, so max/ReLU kinks are not crossed by
// a finite-difference step smaller than gap.
void fill_away_from_zero(Tensor& t, core::Rng& rng, float gap = 0.05f);

// Fills t with a random permutation of evenly spaced values (spacing apart, centred on 0), so no two
// elements tie and a max/argmax does not change under a finite-difference step smaller than spacing/2.
void fill_distinct(Tensor& t, core::Rng& rng, float spacing = 0.05f);

}  // namespace bnlab::test
