//! Casts. (Being written.)
