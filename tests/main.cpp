// The single Catch2 test binary's entry point (one binary keeps the CI build short).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
