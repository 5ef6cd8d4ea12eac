// OpenBLAS calls; the only file that includes cblas.h.
#include "core/blas.hpp"

#include <cblas.h>

extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
}

namespace bnlab::core {

void sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n,
              k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void set_blas_threads(int n) {
  openblas_set_num_threads(n);
}
int blas_threads() {
  return openblas_get_num_threads();
}

}  // namespace bnlab::core
