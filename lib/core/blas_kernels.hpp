// Picks OpenBLAS's AVX-512 kernels on CPUs that have them but that Debian's OpenBLAS 0.3.21 does not
// recognise (AMD Zen 4 is detected as Zen and gets the AVX2 "Haswell" kernels, 1.3-1.6x slower for sgemm).
#pragma once

#include <string>

namespace bnlab::core {

// OpenBLAS chooses its kernels once, when the library is loaded, from OPENBLAS_CORETYPE or the CPU. When
// that variable is unset, the CPU has AVX-512 (F, BW, DQ, VL) and OpenBLAS chose AVX2 kernels, this sets
// OPENBLAS_CORETYPE=SkylakeX and re-executes the program with the same arguments, so OpenBLAS loads again
// with the faster kernels. Call it first thing in main(), before any thread or file exists. A user's own
// OPENBLAS_CORETYPE is always respected (set it to Haswell to keep the AVX2 kernels). Returns normally
// when nothing is to be done or the re-exec failed.
void prefer_avx512_blas_kernels(char** argv);

// Whether the CPU has the AVX-512 subsets OpenBLAS's SkylakeX kernels use (F, BW, DQ, VL).
bool cpu_has_avx512_for_skylakex();

// The kernel family OpenBLAS is using, e.g. "SkylakeX" or "Haswell" (for bench output and logs).
std::string blas_core_name();

}  // namespace bnlab::core
