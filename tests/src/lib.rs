//! Integration tests live in `tests/`: each file there is one suite (`cargo test -p netstack-tests`).
