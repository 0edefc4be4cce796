//! Row pattern matching for `MATCH_RECOGNIZE` (ASA-SEMANTICS.md §1, §13.14):
//! a `PATTERN` compiled to an automaton over pattern variables, and a
//! per-partition matcher that takes rows one at a time, in event-time order,
//! and reports matches as soon as they are decided.
//!
//! # Semantics (docs/semantics.md, "MATCH_RECOGNIZE")
//! - Every row starts a match attempt (`AFTER MATCH SKIP TO NEXT ROW`: after
//!   the attempt at row S, the next starts at S + 1, so matches may overlap).
//! - An attempt finds the first non-empty match in *preference order*, as a
//!   backtracking regular-expression engine would: quantifiers are greedy
//!   (more repetitions first), alternatives are tried left to right, and
//!   `{n,m}` prefers the most repetitions. Empty matches are never reported.
//! - A match may only hold rows whose time is less than the start row's
//!   time plus `LIMIT DURATION`.
//! - Attempts are reported in start order, and a match that ends at or
//!   before the end of the previously reported match of the partition is
//!   nested in it and is not reported again (so `A+` over `A A A` reports
//!   one match, not three).
//!
//! # How
//! The pattern compiles to a Thompson-style program ([`Program`]) whose
//! `Split` instructions list the preferred branch first. Each open attempt
//! runs a Pike VM: its threads are kept in preference order, one per
//! instruction, each carrying the path of (row, variable) it took. A thread
//! that reaches `Accept` after consuming rows becomes the attempt's best
//! match and cuts every less-preferred thread; the attempt is decided once
//! no threads are left (no more-preferred continuation can still succeed).
//! Because `DEFINE` conditions only read the row itself, which variables a
//! row satisfies is a bit set computed once per row, and threads at the same
//! instruction behave identically from then on, so keeping the
//! most-preferred one per instruction loses nothing. Work per row is
//! O(open attempts × program length); state is the rows and attempts of the
//! last `LIMIT DURATION`.

use std::collections::VecDeque;
use std::rc::Rc;

/// Index of a pattern variable (at most 64 per pattern: a row's variables
/// are a `u64` bit set).
pub type VarId = u16;

/// The most pattern variables one pattern may have.
pub const MAX_VARIABLES: usize = 64;

/// The most instructions a compiled pattern may have (counted repetitions
/// are expanded, so `A{5000}` is 5000 instructions).
pub const MAX_PROGRAM_LEN: usize = 10_000;

/// A bound row pattern.
#[derive(Clone, Debug, PartialEq)]
pub enum RowPattern {
    /// One row satisfying the variable's condition.
    Var(VarId),
    /// Patterns one after another.
    Seq(Vec<RowPattern>),
    /// Alternatives, the left one preferred.
    Alt(Vec<RowPattern>),
    /// Between `min` and `max` repetitions (`None`: unbounded), greedy.
    Repeat {
        /// What repeats.
        inner: Box<RowPattern>,
        /// Fewest repetitions.
        min: u32,
        /// Most repetitions.
        max: Option<u32>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Inst {
    /// Consume one row that satisfies the variable.
    Row(VarId),
    /// Continue at both targets, the first preferred.
    Split(usize, usize),
    /// Continue at the target.
    Jump(usize),
    /// The pattern is complete.
    Accept,
}

/// A compiled pattern.
#[derive(Clone, Debug)]
pub struct Program {
    insts: Vec<Inst>,
}

impl Program {
    /// Compiles `pattern`; fails when the expansion of counted repetitions
    /// exceeds [`MAX_PROGRAM_LEN`] instructions.
    pub fn compile(pattern: &RowPattern) -> Result<Program, String> {
        let mut insts = Vec::new();
        emit(pattern, &mut insts)?;
        insts.push(Inst::Accept);
        Ok(Program { insts })
    }

    /// Number of instructions.
    pub fn len(&self) -> usize {
        self.insts.len()
    }

    /// Never true: a program ends with `Accept`.
    pub fn is_empty(&self) -> bool {
        self.insts.is_empty()
    }
}

fn push(insts: &mut Vec<Inst>, inst: Inst) -> Result<usize, String> {
    if insts.len() >= MAX_PROGRAM_LEN {
        return Err(format!(
            "the pattern expands to more than {MAX_PROGRAM_LEN} steps; use smaller repetition counts"
        ));
    }
    insts.push(inst);
    Ok(insts.len() - 1)
}

fn emit(pattern: &RowPattern, insts: &mut Vec<Inst>) -> Result<(), String> {
    match pattern {
        RowPattern::Var(v) => {
            push(insts, Inst::Row(*v))?;
        }
        RowPattern::Seq(items) => {
            for item in items {
                emit(item, insts)?;
            }
        }
        RowPattern::Alt(branches) => {
            let mut jumps = Vec::new();
            for (i, branch) in branches.iter().enumerate() {
                if i + 1 < branches.len() {
                    let split = push(insts, Inst::Split(0, 0))?;
                    emit(branch, insts)?;
                    jumps.push(push(insts, Inst::Jump(0))?);
                    insts[split] = Inst::Split(split + 1, insts.len());
                } else {
                    emit(branch, insts)?;
                }
            }
            let end = insts.len();
            for j in jumps {
                insts[j] = Inst::Jump(end);
            }
        }
        RowPattern::Repeat { inner, min, max } => {
            for _ in 0..*min {
                emit(inner, insts)?;
            }
            match max {
                None => {
                    let split = push(insts, Inst::Split(0, 0))?;
                    emit(inner, insts)?;
                    push(insts, Inst::Jump(split))?;
                    insts[split] = Inst::Split(split + 1, insts.len());
                }
                Some(max) => {
                    // (inner (inner ...)?)?: each optional copy may be skipped
                    // to the end, preferring to take it.
                    let mut splits = Vec::new();
                    for _ in *min..*max {
                        splits.push(push(insts, Inst::Split(0, 0))?);
                        emit(inner, insts)?;
                    }
                    let end = insts.len();
                    for s in splits {
                        insts[s] = Inst::Split(s + 1, end);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Position of a row in its partition's sequence (0 for the first row ever).
pub type RowIndex = u64;

/// The rows an attempt consumed, newest first, shared between threads.
struct PathNode {
    row: RowIndex,
    var: VarId,
    prev: Path,
}

type Path = Option<Rc<PathNode>>;

fn extend(path: &Path, row: RowIndex, var: VarId) -> Path {
    Some(Rc::new(PathNode {
        row,
        var,
        prev: path.clone(),
    }))
}

struct Thread {
    pc: usize,
    path: Path,
}

/// One match attempt, started at row `start`.
struct Attempt {
    start: RowIndex,
    start_time: i64,
    /// Live threads, most preferred first, each waiting at a `Row`.
    threads: Vec<Thread>,
    /// The most preferred non-empty match found so far.
    best: Path,
}

/// A reported match: the rows it holds, in order, with the variable each
/// row was mapped to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Match {
    /// `(row, variable)` in row order.
    pub rows: Vec<(RowIndex, VarId)>,
}

impl Match {
    /// The first row.
    pub fn start(&self) -> RowIndex {
        self.rows.first().map_or(0, |r| r.0)
    }

    /// The last row.
    pub fn end(&self) -> RowIndex {
        self.rows.last().map_or(0, |r| r.0)
    }
}

/// Reusable marks for the epsilon closure ("instruction already added in
/// this step").
struct Marks {
    stamp: Vec<u32>,
    generation: u32,
}

impl Marks {
    fn new(len: usize) -> Self {
        Marks {
            stamp: vec![0; len],
            generation: 0,
        }
    }

    fn next(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.generation = 1;
        }
    }

    /// True the first time `pc` is seen in this generation.
    fn first_visit(&mut self, pc: usize) -> bool {
        let Some(s) = self.stamp.get_mut(pc) else {
            return false;
        };
        if *s == self.generation {
            false
        } else {
            *s = self.generation;
            true
        }
    }
}

/// Follows epsilon transitions from `pc`, adding the threads that wait for
/// a row to `list` in preference order. Returns true when a non-empty path
/// reaches `Accept`, which cuts every less-preferred continuation.
fn add_thread(
    program: &Program,
    marks: &mut Marks,
    list: &mut Vec<Thread>,
    pc: usize,
    path: Path,
    best: &mut Path,
) -> bool {
    if !marks.first_visit(pc) {
        return false;
    }
    match program.insts.get(pc).copied() {
        Some(Inst::Row(_)) => {
            list.push(Thread { pc, path });
            false
        }
        Some(Inst::Jump(target)) => add_thread(program, marks, list, target, path, best),
        Some(Inst::Split(a, b)) => {
            add_thread(program, marks, list, a, path.clone(), best)
                || add_thread(program, marks, list, b, path, best)
        }
        Some(Inst::Accept) if path.is_some() => {
            *best = path;
            true
        }
        Some(Inst::Accept) => false,
        None => false,
    }
}

/// The matcher of one partition: rows in event-time order, open attempts,
/// and the end of the last reported match. `T` is the caller's payload per
/// row, kept while an open attempt may still include the row.
pub struct PartitionMatcher<T> {
    /// Index of `rows[0]`.
    base: RowIndex,
    rows: VecDeque<(i64, T)>,
    attempts: VecDeque<Attempt>,
    last_reported_end: Option<RowIndex>,
    marks: Marks,
}

impl<T> PartitionMatcher<T> {
    /// An empty partition for `program`.
    pub fn new(program: &Program) -> Self {
        PartitionMatcher {
            base: 0,
            rows: VecDeque::new(),
            attempts: VecDeque::new(),
            last_reported_end: None,
            marks: Marks::new(program.len()),
        }
    }

    /// Takes the next row (its time is at or after every earlier row's),
    /// which satisfies the variables in `vars` (bit `v` for variable `v`),
    /// and appends the matches this decides to `out`, in start order.
    pub fn push(
        &mut self,
        program: &Program,
        limit: i64,
        time: i64,
        vars: u64,
        payload: T,
        out: &mut Vec<Match>,
    ) {
        let index = self.base + self.rows.len() as RowIndex;
        self.rows.push_back((time, payload));
        let mut fresh = Attempt {
            start: index,
            start_time: time,
            threads: Vec::new(),
            best: None,
        };
        self.marks.next();
        add_thread(
            program,
            &mut self.marks,
            &mut fresh.threads,
            0,
            None,
            &mut fresh.best,
        );
        self.attempts.push_back(fresh);
        for attempt in self.attempts.iter_mut() {
            if attempt.threads.is_empty() {
                continue;
            }
            if time.saturating_sub(attempt.start_time) >= limit {
                attempt.threads.clear();
                continue;
            }
            step(program, &mut self.marks, attempt, index, vars);
        }
        self.drain(out);
    }

    /// The input frontier is at `frontier`: no later row has an earlier
    /// time, so attempts that started `limit` or more before it can take no
    /// more rows and are decided.
    pub fn advance(&mut self, frontier: i64, limit: i64, out: &mut Vec<Match>) {
        for attempt in self.attempts.iter_mut() {
            if frontier.saturating_sub(attempt.start_time) >= limit {
                attempt.threads.clear();
            }
        }
        self.drain(out);
    }

    /// The input has ended: every attempt is decided.
    pub fn finish(&mut self, out: &mut Vec<Match>) {
        for attempt in self.attempts.iter_mut() {
            attempt.threads.clear();
        }
        self.drain(out);
    }

    /// A row's time and payload, while it is retained.
    pub fn row(&self, index: RowIndex) -> Option<&(i64, T)> {
        let offset = usize::try_from(index.checked_sub(self.base)?).ok()?;
        self.rows.get(offset)
    }

    /// Drops the rows no open attempt can include; call after the matches
    /// returned so far have been read.
    pub fn trim(&mut self) {
        let keep_from = self
            .attempts
            .front()
            .map_or(self.base + self.rows.len() as RowIndex, |a| a.start);
        while self.base < keep_from && self.rows.pop_front().is_some() {
            self.base += 1;
        }
    }

    /// The start time of the oldest open attempt: a match still to be
    /// reported ends at or after it.
    pub fn earliest_open(&self) -> Option<i64> {
        self.attempts.front().map(|a| a.start_time)
    }

    /// True when nothing is retained.
    pub fn is_idle(&self) -> bool {
        self.attempts.is_empty() && self.rows.is_empty()
    }

    /// Number of retained rows (state size).
    pub fn retained_rows(&self) -> usize {
        self.rows.len()
    }

    fn drain(&mut self, out: &mut Vec<Match>) {
        while self.attempts.front().is_some_and(|a| a.threads.is_empty()) {
            let Some(attempt) = self.attempts.pop_front() else {
                break;
            };
            let mut rows = Vec::new();
            let mut node = attempt.best.as_ref();
            while let Some(n) = node {
                rows.push((n.row, n.var));
                node = n.prev.as_ref();
            }
            if rows.is_empty() {
                continue;
            }
            rows.reverse();
            let found = Match { rows };
            if self.last_reported_end.is_some_and(|end| found.end() <= end) {
                continue;
            }
            self.last_reported_end = Some(found.end());
            out.push(found);
        }
    }
}

/// Advances an attempt's threads over one row.
fn step(program: &Program, marks: &mut Marks, attempt: &mut Attempt, index: RowIndex, vars: u64) {
    let mut next = Vec::with_capacity(attempt.threads.len());
    marks.next();
    for thread in attempt.threads.drain(..) {
        let Some(Inst::Row(var)) = program.insts.get(thread.pc).copied() else {
            continue;
        };
        if vars & (1u64 << var) == 0 {
            continue;
        }
        let path = extend(&thread.path, index, var);
        if add_thread(
            program,
            marks,
            &mut next,
            thread.pc + 1,
            path,
            &mut attempt.best,
        ) {
            break;
        }
    }
    attempt.threads = next;
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: VarId = 0;
    const B: VarId = 1;
    const C: VarId = 2;

    fn var(v: VarId) -> RowPattern {
        RowPattern::Var(v)
    }

    fn rep(p: RowPattern, min: u32, max: Option<u32>) -> RowPattern {
        RowPattern::Repeat {
            inner: Box::new(p),
            min,
            max,
        }
    }

    fn seq(items: Vec<RowPattern>) -> RowPattern {
        RowPattern::Seq(items)
    }

    /// Runs `pattern` over rows given as letters ('a' satisfies A, 'b'
    /// B, 'c' C, 'x' none), one time unit apart, and returns each match as
    /// (start, end, variables as letters).
    fn run(pattern: &RowPattern, rows: &str, limit: i64) -> Vec<(u64, u64, String)> {
        let program = Program::compile(pattern).expect("compiles");
        let mut matcher = PartitionMatcher::new(&program);
        let mut out = Vec::new();
        for (i, ch) in rows.chars().enumerate() {
            let vars = match ch {
                'a' => 1 << A,
                'b' => 1 << B,
                'c' => 1 << C,
                _ => 0,
            };
            matcher.push(&program, limit, i as i64, vars, (), &mut out);
        }
        matcher.finish(&mut out);
        out.iter()
            .map(|m| {
                let vars: String = m
                    .rows
                    .iter()
                    .map(|(_, v)| (b'A' + *v as u8) as char)
                    .collect();
                (m.start(), m.end(), vars)
            })
            .collect()
    }

    fn m(start: u64, end: u64, vars: &str) -> (u64, u64, String) {
        (start, end, vars.to_string())
    }

    #[test]
    fn plus_is_greedy_and_nested_matches_are_not_repeated() {
        let p = seq(vec![rep(var(A), 1, None), var(B)]);
        assert_eq!(run(&p, "aaab", 100), vec![m(0, 3, "AAAB")]);
        assert_eq!(run(&p, "abab", 100), vec![m(0, 1, "AB"), m(2, 3, "AB")]);
    }

    #[test]
    fn star_may_match_nothing_but_empty_matches_are_not_reported() {
        let p = seq(vec![var(A), rep(var(B), 0, None)]);
        assert_eq!(run(&p, "abbx", 100), vec![m(0, 2, "ABB")]);
        assert_eq!(run(&p, "ax", 100), vec![m(0, 0, "A")]);
        assert_eq!(run(&rep(var(A), 0, None), "xx", 100), vec![]);
    }

    #[test]
    fn question_mark_prefers_one() {
        let p = seq(vec![var(A), rep(var(B), 0, Some(1)), var(C)]);
        assert_eq!(run(&p, "abc", 100), vec![m(0, 2, "ABC")]);
        assert_eq!(run(&p, "ac", 100), vec![m(0, 1, "AC")]);
        assert_eq!(run(&p, "abbc", 100), vec![]);
    }

    #[test]
    fn exact_and_bounded_counts() {
        let exactly_two = seq(vec![rep(var(A), 2, Some(2)), var(B)]);
        // SKIP TO NEXT ROW: the attempt at row 1 matches rows 1..3.
        assert_eq!(run(&exactly_two, "aaab", 100), vec![m(1, 3, "AAB")]);
        let two_or_more = rep(var(A), 2, None);
        assert_eq!(run(&two_or_more, "axaaaxa", 100), vec![m(2, 4, "AAA")]);
        let two_to_three = rep(var(A), 2, Some(3));
        // Greedy: three rows, then the attempt at row 1 (rows 1..3) is
        // nested, the one at row 2 takes rows 2..4, ...
        assert_eq!(
            run(&two_to_three, "aaaaa", 100),
            vec![m(0, 2, "AAA"), m(1, 3, "AAA"), m(2, 4, "AAA")]
        );
    }

    #[test]
    fn alternation_prefers_the_left_branch_and_grouping_repeats_a_sequence() {
        // (A | A B) C over a b c: the left branch fails at 'b', then A B C.
        let p = seq(vec![
            RowPattern::Alt(vec![var(A), seq(vec![var(A), var(B)])]),
            var(C),
        ]);
        assert_eq!(run(&p, "abc", 100), vec![m(0, 2, "ABC")]);
        // (A B)+ C
        let g = seq(vec![rep(seq(vec![var(A), var(B)]), 1, None), var(C)]);
        assert_eq!(run(&g, "ababc", 100), vec![m(0, 4, "ABABC")]);
        // Left-preferred: A | A A takes one row and the second attempt's
        // match is nested only if it ends no later.
        let alt = RowPattern::Alt(vec![var(A), seq(vec![var(A), var(A)])]);
        assert_eq!(run(&alt, "aa", 100), vec![m(0, 0, "A"), m(1, 1, "A")]);
    }

    #[test]
    fn skip_to_next_row_reports_overlapping_matches() {
        // A B* C over a b a c: the attempt at 0 takes rows 0..?; it fails at
        // row 2 ('a' is not B or C), the attempt at 2 matches 2..3.
        let p = seq(vec![var(A), rep(var(B), 0, None), var(C)]);
        assert_eq!(run(&p, "abac", 100), vec![m(2, 3, "AC")]);
        // A B | B C over a b c: the attempt at 0 matches rows 0..1, the
        // attempt at 1 rows 1..2; they share row 1 and end apart.
        let p2 = RowPattern::Alt(vec![seq(vec![var(A), var(B)]), seq(vec![var(B), var(C)])]);
        assert_eq!(run(&p2, "abc", 100), vec![m(0, 1, "AB"), m(1, 2, "BC")]);
    }

    #[test]
    fn limit_duration_bounds_a_match() {
        let p = seq(vec![rep(var(A), 1, None), var(B)]);
        // Rows at 0,1,2,3: a limit of 3 excludes row 3 from the attempt at
        // 0 (3 - 0 >= 3), so the attempt at 1 reports rows 1..3.
        assert_eq!(run(&p, "aaab", 3), vec![m(1, 3, "AAB")]);
        // A greedy A+ that is cut by the limit still reports what it has.
        assert_eq!(
            run(&rep(var(A), 1, None), "aaaa", 2),
            vec![m(0, 1, "AA"), m(1, 2, "AA"), m(2, 3, "AA")]
        );
    }

    #[test]
    fn decisions_wait_for_rows_that_could_extend_a_greedy_match() {
        let program = Program::compile(&rep(var(A), 1, None)).expect("compiles");
        let mut matcher = PartitionMatcher::new(&program);
        let mut out = Vec::new();
        matcher.push(&program, 10, 0, 1, (), &mut out);
        matcher.push(&program, 10, 1, 1, (), &mut out);
        assert!(out.is_empty(), "A+ may still grow");
        matcher.advance(5, 10, &mut out);
        assert!(out.is_empty(), "rows before time 10 may still come");
        matcher.advance(10, 10, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].rows, vec![(0, A), (1, A)]);
        matcher.trim();
        // The attempt at row 1 may still take rows before time 11.
        assert_eq!(matcher.retained_rows(), 1);
        assert_eq!(matcher.earliest_open(), Some(1));
        matcher.advance(11, 10, &mut out);
        assert_eq!(
            out.len(),
            1,
            "the attempt at row 1 is nested in the first match"
        );
        matcher.trim();
        assert_eq!(matcher.retained_rows(), 0);
        assert!(matcher.is_idle());
    }

    #[test]
    fn huge_counts_are_rejected() {
        assert!(Program::compile(&rep(var(A), 20_000, None)).is_err());
    }
}
