//! Benchmarks of ivm against its peers; `cargo xtask bench` runs them. The
//! library target is empty: the benchmarks live in the bench targets.
