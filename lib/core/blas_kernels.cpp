// OpenBLAS kernel selection by re-exec (see blas_kernels.hpp for why).
#include "core/blas_kernels.hpp"

#include <unistd.h>

#include <strings.h>
#include <cstdlib>
#include <initializer_list>

extern "C" {
char* openblas_get_corename(void);
}

namespace bnlab::core {

namespace {

bool named(const std::string& core, std::initializer_list<const char*> names) {
  for (const char* name : names)
    if (strcasecmp(core.c_str(), name) == 0) return true;
  return false;
}

}  // namespace

bool cpu_has_avx512_for_skylakex() {
#if defined(__x86_64__) && defined(__GNUC__)
  // libgcc's checks include the OS's support (XCR0) for the wider registers.
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

CpuVectorLevel cpu_vector_level() {
  if (cpu_has_avx512_for_skylakex()) return CpuVectorLevel::Avx512;
#if defined(__x86_64__) && defined(__GNUC__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CpuVectorLevel::Avx2Fma;
#endif
  return CpuVectorLevel::Baseline;
}

std::string blas_core_upgrade(const std::string& chosen, CpuVectorLevel level) {
  if (level == CpuVectorLevel::Avx512)
    return named(chosen, {"SkylakeX", "Cooperlake", "SapphireRapids"}) ? "" : "SkylakeX";
  // OpenBLAS's fallbacks for CPUs it does not know, and the families before AVX2.
  const bool generic = named(chosen, {"unknown", "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem",
                                      "Atom", "Sandybridge", "Athlon", "Opteron", "Barcelona", "Bobcat"});
  if (level == CpuVectorLevel::Avx2Fma && generic) return "Haswell";
  return "";
}

std::string blas_core_name() {
  const char* name = openblas_get_corename();
  return name ? name : "unknown";
}

void prefer_fastest_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's (or our earlier) choice
  const std::string better = blas_core_upgrade(blas_core_name(), cpu_vector_level());
  if (better.empty()) return;
  if (setenv("OPENBLAS_CORETYPE", better.c_str(), 1) != 0) return;
  execv("/proc/self/exe", argv);
  // exec failed (no /proc, say): keep running with the kernels already loaded.
  unsetenv("OPENBLAS_CORETYPE");
}

}  // namespace bnlab::core
