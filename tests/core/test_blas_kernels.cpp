// OpenBLAS kernel selection: an explicit OPENBLAS_CORETYPE is kept; without one, a CPU with AVX-512 gets
// AVX-512 kernels (bnlab re-executes itself when OpenBLAS chose AVX2 ones).
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

TEST_CASE("blas_kernels/without OPENBLAS_CORETYPE an AVX-512 CPU gets AVX-512 kernels", "[core][blas]") {
  const std::string name = kernels_line("env -u OPENBLAS_CORETYPE");
  CAPTURE(name);
  if (core::cpu_has_avx512_for_skylakex()) {
    CHECK(name != "Haswell");
    CHECK(name != "Zen");
  } else {
    CHECK(!name.empty());
  }
}
