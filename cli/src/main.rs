//! The ap command-line tool
fn main() {}
