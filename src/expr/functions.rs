//! Built-in functions. (Being written.)
