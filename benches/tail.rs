//! Placeholder until the tail sink's benchmark lands (keeps the manifest's `[[bench]] tail`
//! buildable meanwhile).

fn main() {}
