//! `LIKE` patterns, shared by the `LIKE` operator and `PATINDEX`
//! (ASA-SEMANTICS.md §6 String).
//!
//! The T-SQL wildcards: `%` (any run of characters, also none), `_` (one
//! character), `[abc]` and `[a-z]` (one character of a set), `[^abc]` (one
//! character not in it). A `[` without a closing `]` is a literal `[`;
//! `[%]`, `[_]` and `[[]` match the literal character. Matching is ordinal
//! (case-sensitive) and counts Unicode characters.
//!
//! # Contract
//! Matching never panics and takes at most O(pattern × text) steps per
//! start position (the classic greedy matcher with backtracking to the last
//! `%` only).

#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::indexing_slicing))]

/// One element of a compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// `%`.
    Any,
    /// `_`.
    One,
    /// A literal character.
    Char(char),
    /// `[...]`: inclusive ranges (a single character is `(c, c)`).
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Token {
    /// True when this single-character token accepts `c`; `%` never does.
    fn accepts(&self, c: char) -> bool {
        match self {
            Token::Any => false,
            Token::One => true,
            Token::Char(p) => *p == c,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
        }
    }
}

/// A compiled `LIKE` pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LikePattern {
    tokens: Vec<Token>,
}

impl LikePattern {
    /// Compiles `pattern`; every string is a valid pattern.
    pub fn new(pattern: &str) -> LikePattern {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        while let Some(&c) = chars.get(i) {
            i += 1;
            match c {
                '%' => {
                    if tokens.last() != Some(&Token::Any) {
                        tokens.push(Token::Any);
                    }
                }
                '_' => tokens.push(Token::One),
                '[' => match parse_class(&chars, i) {
                    Some((token, next)) => {
                        tokens.push(token);
                        i = next;
                    }
                    None => tokens.push(Token::Char('[')),
                },
                _ => tokens.push(Token::Char(c)),
            }
        }
        LikePattern { tokens }
    }

    /// True when the whole of `text` matches the pattern.
    pub fn matches(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        match_tokens(&self.tokens, &chars)
    }

    /// `PATINDEX`: the 1-based character position where the pattern's
    /// first non-`%` element matches, or 0. A pattern that does not start
    /// with `%` must match the whole text (position 1); a pattern of only
    /// `%` gives 1 for any non-empty text.
    pub fn position(&self, text: &str) -> usize {
        let chars: Vec<char> = text.chars().collect();
        let lead = self.tokens.iter().take_while(|t| **t == Token::Any).count();
        let rest = self.tokens.get(lead..).unwrap_or(&[]);
        if lead == 0 {
            return usize::from(match_tokens(rest, &chars));
        }
        if rest.is_empty() {
            return usize::from(!chars.is_empty());
        }
        (0..chars.len())
            .find(|&start| match_tokens(rest, chars.get(start..).unwrap_or(&[])))
            .map_or(0, |start| start + 1)
    }
}

/// Parses a `[...]` class whose content starts at `start` (just after the
/// `[`); returns the token and the index after the closing `]`, or `None`
/// when there is no closing bracket.
fn parse_class(chars: &[char], start: usize) -> Option<(Token, usize)> {
    let mut i = start;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    // The class ends at the first `]` after at least one member, so `[]]`
    // is the set containing `]`.
    let content_start = i;
    let mut end = None;
    let mut j = content_start;
    while let Some(&c) = chars.get(j) {
        if c == ']' && j > content_start {
            end = Some(j);
            break;
        }
        j += 1;
    }
    let end = end?;
    let members = chars.get(content_start..end)?;
    let mut ranges = Vec::new();
    let mut k = 0;
    while let Some(&lo) = members.get(k) {
        match (members.get(k + 1), members.get(k + 2)) {
            (Some('-'), Some(&hi)) => {
                ranges.push((lo.min(hi), lo.max(hi)));
                k += 3;
            }
            _ => {
                ranges.push((lo, lo));
                k += 1;
            }
        }
    }
    Some((Token::Class { negated, ranges }, end + 1))
}

/// Greedy wildcard matching with backtracking to the most recent `%`.
fn match_tokens(tokens: &[Token], text: &[char]) -> bool {
    let (mut ti, mut si) = (0usize, 0usize);
    // (token index after the last `%`, text index that `%` resumes from)
    let mut star: Option<(usize, usize)> = None;
    while let Some(&c) = text.get(si) {
        match tokens.get(ti) {
            Some(Token::Any) => {
                star = Some((ti + 1, si));
                ti += 1;
            }
            Some(t) if t.accepts(c) => {
                ti += 1;
                si += 1;
            }
            _ => match star {
                Some((after, from)) => {
                    ti = after;
                    si = from + 1;
                    star = Some((after, from + 1));
                }
                None => return false,
            },
        }
    }
    tokens
        .get(ti..)
        .unwrap_or(&[])
        .iter()
        .all(|t| *t == Token::Any)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(text: &str, pattern: &str) -> bool {
        LikePattern::new(pattern).matches(text)
    }

    #[test]
    fn wildcards() {
        assert!(like("abc", "abc"));
        assert!(!like("abc", "ab"));
        assert!(like("abc", "a%"));
        assert!(like("abc", "%c"));
        assert!(like("abc", "%b%"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
        assert!(like("abc", "a_c"));
        assert!(like("aXbXc", "a%b%c"));
        assert!(!like("aXbXd", "a%b%c"));
        assert!(like("mississippi", "%iss%ppi"));
        assert!(like("茶葉", "_葉"));
        assert!(!like("ABC", "abc"), "ordinal, case-sensitive");
    }

    #[test]
    fn classes() {
        assert!(like("b1", "[abc][0-9]"));
        assert!(!like("d1", "[abc][0-9]"));
        assert!(like("d", "[^abc]"));
        assert!(!like("a", "[^abc]"));
        assert!(like("50%", "50[%]"));
        assert!(!like("500", "50[%]"));
        assert!(like("[x", "[x"), "unclosed bracket is literal");
        assert!(like("]", "[]]"));
        assert!(like("-", "[a-]"));
    }

    #[test]
    fn patindex_positions() {
        let p = LikePattern::new("%100%");
        assert_eq!(p.position("AB 100 C"), 4);
        assert_eq!(p.position("AB 10 C"), 0);
        assert_eq!(LikePattern::new("ab%").position("abc"), 1);
        assert_eq!(LikePattern::new("ab%").position("cab"), 0);
        assert_eq!(LikePattern::new("%c").position("abc"), 3);
        assert_eq!(LikePattern::new("%").position("abc"), 1);
        assert_eq!(LikePattern::new("%茶_").position("ab茶葉"), 3);
    }
}
