// Tests of the thread pool: coverage of the range, worker indices, exceptions, nesting, BLAS kept
// single-threaded, and layers giving the same results on one thread and two.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/blas.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "nn/batch_norm.hpp"
#include "nn/conv2d.hpp"
#include "nn/dense.hpp"
#include "nn/relu.hpp"
#include "optim/sgd.hpp"

using namespace bnlab;

TEST_CASE("parallel/every index runs exactly once in contiguous chunks", "[parallel][core]") {
  for (int threads : {1, 2, 3}) {
    core::set_threads(threads);
    CHECK(core::threads() == threads);
    for (std::size_t count : {0u, 1u, 2u, 5u, 128u}) {
      std::vector<int> hits(count, 0), worker_of(count, -1);
      core::parallel_for(count, [&](std::size_t b, std::size_t e, int w) {
        for (std::size_t i = b; i < e; ++i) {
          ++hits[i];
          worker_of[i] = w;
        }
      });
      for (std::size_t i = 0; i < count; ++i) {
        CHECK(hits[i] == 1);
        CHECK(worker_of[i] >= 0);
        CHECK(worker_of[i] < threads);
        if (i > 0) CHECK(worker_of[i] >= worker_of[i - 1]);
      }
    }
  }
  core::set_threads(1);
}

TEST_CASE("parallel/sleeping workers are woken and a slow worker is waited for", "[parallel][core]") {
  // Gaps longer than the pool's spin put the workers to sleep before each task; a worker that takes
  // longer than the spin puts the caller to sleep. A lost wake-up would hang here or miss a chunk.
  core::set_threads(3);
  for (int round = 0; round < 20; ++round) {
    std::this_thread::sleep_for(std::chrono::microseconds(round % 2 ? 600 : 50));
    std::vector<int> hits(6, 0);
    core::parallel_for(hits.size(), [&](std::size_t b, std::size_t e, int w) {
      if (w == 2 && round % 3 == 0) std::this_thread::sleep_for(std::chrono::microseconds(800));
      for (std::size_t i = b; i < e; ++i) ++hits[i];
    });
    for (int h : hits) CHECK(h == 1);
  }
  core::set_threads(1);
}

TEST_CASE("parallel/BLAS stays single-threaded inside and outside the pool", "[parallel][core]") {
  core::set_blas_threads(2);
  core::set_threads(2);
  CHECK(core::blas_threads() == 1);
  std::atomic<int> max_inside{0};
  core::parallel_for(4, [&](std::size_t, std::size_t, int) {
    const int t = core::blas_threads();
    int seen = max_inside.load();
    while (t > seen && !max_inside.compare_exchange_weak(seen, t)) {
    }
  });
  CHECK(max_inside.load() == 1);
  CHECK(core::blas_threads() == 1);
  core::set_threads(1);
  CHECK(core::blas_threads() == 1);
}

TEST_CASE("parallel/an exception in a chunk reaches the caller and nested calls run inline",
          "[parallel][core]") {
  core::set_threads(2);
  CHECK_THROWS_WITH(core::parallel_for(10,
                                       [](std::size_t b, std::size_t, int) {
                                         if (b > 0) throw std::runtime_error("chunk failed");
                                       }),
                    "chunk failed");
  std::atomic<int> inner_calls{0};
  core::parallel_for(2, [&](std::size_t, std::size_t, int) {
    core::parallel_for(3, [&](std::size_t b, std::size_t e, int w) {
      CHECK(b == 0);
      CHECK(e == 3);
      CHECK(w == 0);
      ++inner_calls;
    });
  });
  CHECK(inner_calls.load() == 2);
  // The pool still works after a failed call.
  int sum = 0;
  core::parallel_for(1, [&](std::size_t b, std::size_t e, int) { sum += static_cast<int>(e - b); });
  CHECK(sum == 1);
  core::set_threads(1);
}

TEST_CASE("parallel/conv2d on two threads matches one thread", "[parallel][core]") {
  // Forward and input gradient are per sample, so exactly equal; weight and bias gradients add the
  // second worker's partial sum last, so they agree to rounding.
  auto run = [](int threads) {
    core::set_threads(threads);
    nn::Conv2d conv(3, 4, 3, 1, 1, true);
    core::Rng rng(7);
    conv.initialize(rng);
    Tensor x = xt::zeros<float>({5, 3, 6, 6}), dy = xt::zeros<float>({5, 4, 6, 6});
    for (auto& v : x) v = rng.normal();
    for (auto& v : dy) v = rng.normal();
    const Tensor y = conv.forward(x, nn::Mode::Train);
    const Tensor dx = conv.backward(dy);
    core::set_threads(1);
    return std::vector<Tensor>{y, dx, conv.weight_grad, conv.bias_grad};
  };
  const auto one = run(1), two = run(2);
  CHECK(one[0] == two[0]);
  CHECK(one[1] == two[1]);
  for (int i : {2, 3}) {
    REQUIRE(one[i].size() == two[i].size());
    for (std::size_t j = 0; j < one[i].size(); ++j)
      CHECK(two[i].data()[j] == Approx(one[i].data()[j]).margin(1e-5));
  }
}

TEST_CASE("parallel/batchnorm, relu and sgd on two threads match one thread exactly", "[parallel][core]") {
  // Big enough to cross every layer's threshold for using the pool. These layers keep each value's
  // arithmetic in the same order whatever the split, so they must agree bit for bit.
  auto run = [](int threads) {
    core::set_threads(threads);
    core::Rng rng(5);
    nn::BatchNorm1d norm1d(384);
    nn::BatchNorm2d norm2d(6);
    nn::ReLU relu;
    Tensor x = xt::zeros<float>({64, 384}), image = xt::zeros<float>({16, 6, 24, 24});
    Tensor dr = xt::zeros<float>({64, 384}), dn2 = xt::zeros<float>({16, 6, 24, 24});
    for (Tensor* t : {&x, &image, &dr, &dn2})
      for (auto& v : *t) v = rng.normal(0.5f, 2.0f);
    std::vector<Tensor> out;
    const Tensor& n1 = norm1d.forward(x, nn::Mode::Train);
    out.push_back(n1);
    out.push_back(relu.forward(n1, nn::Mode::Train));
    out.push_back(norm2d.forward(image, nn::Mode::Train));
    out.push_back(norm1d.backward(relu.backward(dr)));
    out.push_back(norm2d.backward(dn2));
    for (nn::BatchNorm* norm : {static_cast<nn::BatchNorm*>(&norm1d), static_cast<nn::BatchNorm*>(&norm2d)})
      for (const auto& p : norm->params()) out.push_back(*p.grad);
    out.push_back(norm2d.running_var);
    // A parameter of 100k values, updated twice with momentum.
    Tensor weight = xt::zeros<float>({100000}), grad = xt::zeros<float>({100000});
    for (Tensor* t : {&weight, &grad})
      for (auto& v : *t) v = rng.normal();
    optim::SgdOptions options;
    options.momentum = 0.9;
    options.weight_decay = 1e-4;
    optim::Sgd sgd({{"weight", &weight, &grad, nn::ParamKind::Weight}}, options);
    sgd.step(0.1);
    sgd.step(0.1);
    out.push_back(weight);
    core::set_threads(1);
    return out;
  };
  const auto one = run(1), two = run(2);
  REQUIRE(one.size() == two.size());
  for (std::size_t i = 0; i < one.size(); ++i) {
    CAPTURE(i);
    CHECK(one[i] == two[i]);
  }
}

TEST_CASE("parallel/dense on two threads matches one thread", "[parallel][core]") {
  // Dense splits its GEMMs by rows of the output, so each dot product stays whole, but OpenBLAS may block
  // a smaller GEMM differently: equal to rounding.
  auto run = [](int threads) {
    core::set_threads(threads);
    core::Rng rng(5);
    nn::Dense dense(96, 384);
    dense.initialize(rng);
    Tensor x = xt::zeros<float>({64, 96}), dy = xt::zeros<float>({64, 384});
    for (Tensor* t : {&x, &dy})
      for (auto& v : *t) v = rng.normal();
    std::vector<Tensor> out{dense.forward(x, nn::Mode::Train), dense.backward(dy), dense.weight_grad,
                            dense.bias_grad};
    core::set_threads(1);
    return out;
  };
  const auto one = run(1), two = run(2);
  for (std::size_t i = 0; i < one.size(); ++i) {
    CAPTURE(i);
    REQUIRE(one[i].size() == two[i].size());
    for (std::size_t j = 0; j < one[i].size(); ++j)
      CHECK(two[i].data()[j] == Approx(one[i].data()[j]).epsilon(1e-5).margin(1e-6));
  }
}
