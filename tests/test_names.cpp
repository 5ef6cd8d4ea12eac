// Guards the test suite itself: ctest learns the test names from Catch, and CMake reads a '[', ']' or ';'
// inside a name as list syntax, which silently merged about seventy tests into one entry that ran none.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

TEST_CASE("tests/no test name holds characters that break ctest's test list", "[tests]") {
  const std::regex test_case(R"re(TEST_CASE\(\s*"([^"]*)")re");
  int names = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(BNLAB_SOURCE_DIR "/tests")) {
    if (entry.path().extension() != ".cpp") continue;
    std::ifstream in(entry.path());
    std::stringstream text;
    text << in.rdbuf();
    const std::string source = text.str();
    for (std::sregex_iterator it(source.begin(), source.end(), test_case), end; it != end; ++it) {
      const std::string name = (*it)[1];
      CAPTURE(entry.path().string(), name);
      CHECK(name.find_first_of("[];") == std::string::npos);
      ++names;
    }
  }
  CHECK(names > 100);
}
