// OpenBLAS kernel selection by re-exec (see blas_kernels.hpp for why).
#include "core/blas_kernels.hpp"

#include <unistd.h>

#include <strings.h>
#include <cstdlib>

extern "C" {
char* openblas_get_corename(void);
}

namespace bnlab::core {

bool cpu_has_avx512_for_skylakex() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

std::string blas_core_name() {
  const char* name = openblas_get_corename();
  return name ? name : "unknown";
}

void prefer_avx512_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's (or our earlier) choice
  const std::string core = blas_core_name();
  if (strcasecmp(core.c_str(), "haswell") != 0 && strcasecmp(core.c_str(), "zen") != 0) return;
  if (!cpu_has_avx512_for_skylakex()) return;
  if (setenv("OPENBLAS_CORETYPE", "SkylakeX", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // exec failed (no /proc, say): keep running with the kernels already loaded.
  unsetenv("OPENBLAS_CORETYPE");
}

}  // namespace bnlab::core
