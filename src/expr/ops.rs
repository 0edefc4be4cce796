//! Operators. (Being written.)
