// Data cache: one load per distinct dataset, keyed only by what changes the data.
#include "experiment/data_cache.hpp"

#include <catch2/catch.hpp>

using namespace bnlab::experiment;

TEST_CASE("data_cache/loads each dataset once", "[runner][data_cache]") {
  clear_data_cache();
  DataSpec a;
  a.load.dataset = "synthetic";
  a.synthetic.train = 64;
  a.synthetic.test = 32;
  DataSpec b = a;
  b.load.seed = 99;  // the trial seed does not change the synthetic set
  const auto first = load_data_cached(a);
  CHECK(first->sets.train.size() == 64);
  CHECK(first->normalization.mean.size() == 1);
  CHECK(load_data_cached(b).get() == first.get());
  b.synthetic.seed = 5;
  CHECK(load_data_cached(b).get() != first.get());
  clear_data_cache();
  CHECK(load_data_cached(a).get() != first.get());
}

TEST_CASE("data_cache/seed matters only with subsets", "[runner][data_cache]") {
  DataSpec a;
  a.load.dataset = "mnist";
  a.load.dir = "data/mnist";
  DataSpec b = a;
  b.load.seed = 7;
  CHECK(data_cache_key(a) == data_cache_key(b));
  a.load.train_limit = b.load.train_limit = 1000;
  CHECK(data_cache_key(a) != data_cache_key(b));
}
