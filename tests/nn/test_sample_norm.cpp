// SampleNorm (GroupNorm, LayerNorm fused with a ReLU and maybe a pooling): the fused backward refuses a dy it
// cannot route, naming the layer. The fused numbers themselves are tested in test_sequential.cpp.
#include "nn/sample_norm.hpp"

#include <algorithm>

#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "nn/group_norm.hpp"
#include "nn/layer_norm.hpp"
#include "nn/max_pool2d.hpp"

using namespace bnlab;

TEST_CASE("samplenorm/fused backward names a missing forward or a dy of the wrong shape",
          "[nn][samplenorm]") {
  nn::GroupNorm group_norm(2, 4);
  nn::LayerNorm layer_norm({4, 4, 4});
  for (nn::SampleNorm* norm :
       {static_cast<nn::SampleNorm*>(&group_norm), static_cast<nn::SampleNorm*>(&layer_norm)}) {
    CAPTURE(norm->type());
    const Tensor pooled_grad = Tensor::from_shape({2, 4, 2, 2});
    CHECK_THROWS_WITH(norm->begin_backward_relu(pooled_grad),
                      Catch::Contains(norm->type()) && Catch::Contains("before a fused forward"));
    nn::MaxPool2d pool(2);
    Tensor x = Tensor::from_shape({2, 4, 4, 4});
    core::Rng rng(3);
    for (auto& v : x) v = rng.normal();
    norm->begin_relu(shape_of(x), &pool);
    for (std::size_t n = 0; n < 2; ++n) norm->relu_sample(n, 0, x.data() + n * 64);
    CHECK(shape_of(norm->end_relu(x)) == Shape{2, 4, 2, 2});
    CHECK_NOTHROW(norm->begin_backward_relu(pooled_grad));
    CHECK_THROWS_AS(norm->begin_backward_relu(Tensor::from_shape({2, 4, 4, 4})), ShapeError);
    CHECK_THROWS_WITH(norm->begin_backward_relu(Tensor::from_shape({2, 4, 4, 4})),
                      Catch::Contains("[2, 4, 2, 2]") && Catch::Contains("[2, 4, 4, 4]"));
    // Without a pooling the block's output is this layer's, rectified.
    norm->begin_relu(shape_of(x), nullptr);
    for (std::size_t n = 0; n < 2; ++n) norm->relu_sample(n, 0, x.data() + n * 64);
    const Tensor& out = norm->end_relu(x);
    CHECK(shape_of(out) == Shape{2, 4, 4, 4});
    CHECK(std::all_of(out.begin(), out.end(), [](float v) { return v >= 0.0f; }));
    CHECK_NOTHROW(norm->begin_backward_relu(Tensor::from_shape({2, 4, 4, 4})));
    CHECK_THROWS_WITH(norm->begin_backward_relu(pooled_grad), Catch::Contains(norm->type()) &&
                                                                  Catch::Contains("ReLU") &&
                                                                  Catch::Contains("[2, 4, 4, 4]"));
  }
}
