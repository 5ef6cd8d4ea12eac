// CSV reading of run files: quoting, incomplete rows, numbers and errors that name the file.
#include "experiment/csv_reader.hpp"

#include <catch2/catch.hpp>

using namespace bnlab::experiment;

TEST_CASE("csv_reader/quoted cells and empty cells", "[report][csv]") {
  CsvTable t = parse_csv("trial,error,acc\r\nbn,\"bad, \"\"really\"\"\nbad\",0.5\nplain,,\n", "t.csv");
  REQUIRE(t.size() == 2);
  CHECK(t.text(0, "error") == "bad, \"really\"\nbad");
  CHECK(t.number(0, "acc") == Approx(0.5));
  CHECK_FALSE(t.number(1, "acc").has_value());
  CHECK(t.text(1, "nope").empty());
  CHECK_FALSE(t.has("nope"));
}

TEST_CASE("csv_reader/a row cut short is dropped and counted", "[report][csv]") {
  CsvTable t = parse_csv("a,b,c\n1,2,3\n4,5", "t.csv");
  CHECK(t.size() == 1);
  CHECK(t.malformed_rows == 1);
}

TEST_CASE("csv_reader/errors name the file, line and column", "[report][csv]") {
  CsvTable t = parse_csv("epoch,acc\n1,abc\n", "runs/x/epochs.csv");
  REQUIRE_THROWS_WITH(t.number(0, "acc"), Catch::Contains("runs/x/epochs.csv: line 2, column 'acc'"));
  CHECK(t.number(0, "epoch") == Approx(1));
  CHECK_THROWS_WITH(parse_csv("a\n\"open", "f.csv"), Catch::Contains("f.csv"));
  CHECK_THROWS_WITH(read_csv("/nonexistent/trials.csv"), Catch::Contains("/nonexistent/trials.csv"));
  // nan and inf are numbers (a diverged loss), not malformed cells.
  CsvTable d = parse_csv("loss\nnan\ninf\n", "d.csv");
  CHECK(std::isnan(*d.number(0, "loss")));
  CHECK(std::isinf(*d.number(1, "loss")));
}
