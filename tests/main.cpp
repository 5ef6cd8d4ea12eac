// The single Catch2 test binary's entry point (one binary keeps the CI build short). It selects
// OpenBLAS's kernels the way bnlab does, so the tests check the numerics users get.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "core/blas_kernels.hpp"

int main(int argc, char** argv) {
  bnlab::core::prefer_fastest_blas_kernels(argv);
  return Catch::Session().run(argc, argv);
}
