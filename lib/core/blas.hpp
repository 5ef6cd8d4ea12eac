// Thin wrapper over OpenBLAS sgemm writing into caller-owned buffers, and BLAS thread control.
#pragma once

namespace bnlab::core {

// C[M×N] = alpha · op(A)[M×K] · op(B)[K×N] + beta · C, all row-major.
void sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
           const float* b, int ldb, float beta, float* c, int ldc);

void set_blas_threads(int n);
int blas_threads();

}  // namespace bnlab::core
