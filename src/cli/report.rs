//! Rendering diagnostics for people: `file:line:col`, the source line and a
//! caret under the problem, then the help sentence.

use codespan_reporting::diagnostic::{Diagnostic as Report, Label as ReportLabel};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Config};

use crate::diag::{Diagnostic, Severity};

/// Renders `diagnostics` against `source` (named `file_name`) as plain text.
pub fn render(file_name: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    let file = SimpleFile::new(file_name, source);
    let config = Config::default();
    let mut out = String::new();
    for d in diagnostics {
        let mut report = match d.severity {
            Severity::Error => Report::error(),
            Severity::Warning => Report::warning(),
        }
        .with_code(d.code)
        .with_message(&d.message);
        let labels = d
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let start = l.span.start.min(source.len());
                let end = l.span.end.clamp(start, source.len());
                let label = if i == 0 {
                    ReportLabel::primary((), start..end)
                } else {
                    ReportLabel::secondary((), start..end)
                };
                label.with_message(&l.message)
            })
            .collect();
        report = report.with_labels(labels);
        if let Some(help) = &d.help {
            report = report.with_notes(vec![format!("help: {help}")]);
        }
        match term::emit_into_string(&config, &file, &report) {
            Ok(text) => out.push_str(&text),
            Err(_) => out.push_str(&format!("error[{}]: {}\n", d.code, d.message)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::{codes, Span};

    #[test]
    fn caret_points_at_the_span() {
        let source = "SELECT *\nFORM input\n";
        let d = Diagnostic::error(
            codes::SYNTAX,
            Span::new(9, 13),
            "expected FROM, found 'FORM'",
        )
        .with_help("Write FROM.");
        let text = render("q.asaql", source, &[d]);
        assert!(
            text.contains("error[E0001]: expected FROM, found 'FORM'"),
            "{text}"
        );
        assert!(text.contains("q.asaql:2:1"), "{text}");
        assert!(text.contains("FORM input"), "{text}");
        assert!(text.contains("^^^^"), "{text}");
        assert!(text.contains("help: Write FROM."), "{text}");
    }
}
