//! Tokens with spans. (Being written.)
