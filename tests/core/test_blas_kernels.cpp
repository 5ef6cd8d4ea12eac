// OpenBLAS kernel selection: an explicit OPENBLAS_CORETYPE is kept; without one, a CPU with AVX-512 gets
// AVX-512 kernels and one with AVX2 + FMA at least AVX2 ones (bnlab re-executes itself when OpenBLAS chose
// weaker ones, as it does on CPUs newer than it).
#include "core/blas_kernels.hpp"

#include <cstdio>
#include <string>

#include <catch2/catch.hpp>

using namespace bnlab;

namespace {

// The "OpenBLAS kernels: NAME" line of a tiny `bnlab bench`, run under the given environment prefix.
std::string kernels_line(const std::string& environment) {
  const std::string command = environment + " " + BNLAB_BINARY +
                              " bench --model mlp --norm none --batch 2 --rounds 1 --steps 1 --warmup 0 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  char buffer[256];
  while (fgets(buffer, sizeof buffer, pipe)) output += buffer;
  REQUIRE(pclose(pipe) == 0);
  const auto at = output.find("OpenBLAS kernels: ");
  REQUIRE(at != std::string::npos);
  const auto end = output.find(' ', at + 18);
  return output.substr(at + 18, end - at - 18);
}

}  // namespace

TEST_CASE("blas_kernels/an explicit OPENBLAS_CORETYPE is respected", "[core][blas]") {
  CHECK(!core::blas_core_name().empty());
  CHECK(kernels_line("env OPENBLAS_CORETYPE=Haswell") == "Haswell");
}

TEST_CASE("blas_kernels/without OPENBLAS_CORETYPE the CPU gets the widest kernels it can run",
          "[core][blas]") {
  const std::string name = kernels_line("env -u OPENBLAS_CORETYPE");
  CAPTURE(name);
  const core::CpuVectorLevel level = core::cpu_vector_level();
  // Whatever OpenBLAS picked by itself, nothing better is left to force.
  CHECK(core::blas_core_upgrade(name, level).empty());
  if (level == core::CpuVectorLevel::Avx512)
    CHECK((name == "SkylakeX" || name == "Cooperlake" || name == "SapphireRapids"));
  else
    CHECK(!name.empty());
}

TEST_CASE("blas_kernels/which kernels are forced over OpenBLAS's own choice", "[core][blas]") {
  using core::blas_core_upgrade;
  using Level = core::CpuVectorLevel;
  // AVX-512 CPUs: AVX2 picks (Zen 4/5) and unknown-CPU fallbacks (Emerald Rapids) are upgraded.
  CHECK(blas_core_upgrade("Haswell", Level::Avx512) == "SkylakeX");
  CHECK(blas_core_upgrade("Zen", Level::Avx512) == "SkylakeX");
  CHECK(blas_core_upgrade("Prescott", Level::Avx512) == "SkylakeX");
  CHECK(blas_core_upgrade("Sandybridge", Level::Avx512) == "SkylakeX");
  CHECK(blas_core_upgrade("SkylakeX", Level::Avx512).empty());
  CHECK(blas_core_upgrade("cooperlake", Level::Avx512).empty());
  CHECK(blas_core_upgrade("SapphireRapids", Level::Avx512).empty());
  // AVX2 + FMA CPUs: generic fallbacks get the Haswell kernels; AVX2 and AMD-specific picks stand.
  CHECK(blas_core_upgrade("Prescott", Level::Avx2Fma) == "Haswell");
  CHECK(blas_core_upgrade("Nehalem", Level::Avx2Fma) == "Haswell");
  CHECK(blas_core_upgrade("unknown", Level::Avx2Fma) == "Haswell");
  CHECK(blas_core_upgrade("Haswell", Level::Avx2Fma).empty());
  CHECK(blas_core_upgrade("Zen", Level::Avx2Fma).empty());
  CHECK(blas_core_upgrade("Excavator", Level::Avx2Fma).empty());
  // Never anything wider than the CPU runs.
  CHECK(blas_core_upgrade("Prescott", Level::Baseline).empty());
  CHECK(blas_core_upgrade("Sandybridge", Level::Baseline).empty());
}
