// Picks OpenBLAS's fastest kernels on CPUs that Debian's OpenBLAS 0.3.21 does not recognise: AMD Zen 4/5
// are detected as Zen and get the AVX2 "Haswell" kernels (1.3-1.6x slower for sgemm than its AVX-512
// ones), and Intel CPUs newer than it (Emerald Rapids, model 207) fall back to SSE3 "Prescott" kernels
// (3-4x slower).
#pragma once

#include <string>

namespace bnlab::core {

// The widest vector instructions of OpenBLAS's kernels that this CPU (and its OS) can run.
enum class CpuVectorLevel { Baseline, Avx2Fma, Avx512 };
CpuVectorLevel cpu_vector_level();

// The OPENBLAS_CORETYPE to force when OpenBLAS chose kernels `chosen` (its core name, any case) on a CPU
// of `level`: "SkylakeX" when the CPU has AVX-512 and `chosen` is not an AVX-512 family, "Haswell" when it
// has AVX2 + FMA and `chosen` is a generic pre-AVX2 fallback (OpenBLAS's own picks for AMD's Bulldozer
// line are kept); empty when the choice stands.
std::string blas_core_upgrade(const std::string& chosen, CpuVectorLevel level);

// OpenBLAS chooses its kernels once, when the library is loaded, from OPENBLAS_CORETYPE or the CPU. When
// that variable is unset and blas_core_upgrade names a better core, this sets OPENBLAS_CORETYPE to it and
// re-executes the program with the same arguments, so OpenBLAS loads again with the faster kernels. Call
// it first thing in main(), before any thread or file exists. A user's own OPENBLAS_CORETYPE is always
// respected (set it to Haswell to keep the AVX2 kernels). Returns normally when nothing is to be done or
// the re-exec failed.
void prefer_fastest_blas_kernels(char** argv);

// Whether the CPU has the AVX-512 subsets OpenBLAS's SkylakeX kernels use (F, BW, DQ, VL).
bool cpu_has_avx512_for_skylakex();

// The kernel family OpenBLAS is using, e.g. "SkylakeX" or "Haswell" (for bench output and logs).
std::string blas_core_name();

}  // namespace bnlab::core
