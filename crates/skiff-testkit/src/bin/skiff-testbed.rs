//! `skiff-testbed`: bring the local test bed up and down.
fn main() {}
