// a·b + c rounded once where the CPU has FMA: PyTorch's CPU kernels for "x.add_(y, alpha=a)" and addcmul_
// compute fmadd, so fusing the same operations (and no others) makes bnlab's updates match torch.optim bit
// for bit. Callers keep other products out of a·b + c shapes the compiler could contract on its own.
#pragma once

#include <cmath>

namespace bnlab::optim {

inline float multiply_add(float a, float b, float c) {
#ifdef __FMA__
  return std::fma(a, b, c);
#else
  // Without hardware FMA, std::fma is a slow library call; two roundings differ from PyTorch by a few ulps.
  return a * b + c;
#endif
}

}  // namespace bnlab::optim
