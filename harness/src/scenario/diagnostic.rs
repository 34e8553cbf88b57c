//! Errors of the scenario module, as miette diagnostics.
//!
//! Every problem found in a file becomes one [`Problem`] (message, labelled spans, help, a stable
//! code); [`ScenarioError::Invalid`] carries them all as `related` diagnostics over one
//! `NamedSource` of the file. `Display` alone already says `path:line:col: message`, so a plain
//! `eprintln!("{err}")` in a CI log still points at the file.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

/// Why a scenario could not be loaded or listed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("cannot read scenario file `{}`", path.display())]
    Read {
        /// The file, as given.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The file name does not make a scenario name.
    #[error("{}: invalid scenario name `{stem}`", path.display())]
    Name {
        /// The file, as given.
        path: PathBuf,
        /// Its stem.
        stem: String,
    },
    /// The file has problems; all of them are listed.
    #[error(transparent)]
    Invalid(Box<InvalidScenario>),
    /// The scenario directory could not be listed.
    #[error("cannot list scenarios in `{}`", dir.display())]
    ListDir {
        /// The directory, as given.
        dir: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Two scenario files in different folders have the same name (file stem): snapshots, trials and
    /// report rows are named by it, so it must be unique under the scenarios folder.
    #[error(
        "two scenarios are named `{name}`: `{}` and `{}`",
        first.display(),
        second.display()
    )]
    DuplicateName {
        /// The shared file stem.
        name: String,
        /// The first file (in sorted order).
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// The `--filter` glob does not parse.
    #[error("invalid scenario filter `{glob}`")]
    Glob {
        /// The glob, as given.
        glob: String,
        /// What globset said.
        #[source]
        source: globset::Error,
    },
}

impl ScenarioError {
    /// The problems found in the file (empty unless [`ScenarioError::Invalid`]).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ScenarioError::Invalid(invalid) => &invalid.problems,
            _ => &[],
        }
    }
}

impl Diagnostic for ScenarioError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let code = match self {
            ScenarioError::Read { .. } => "scenario::read",
            ScenarioError::Name { .. } => "scenario::name",
            ScenarioError::Invalid(invalid) => return invalid.code(),
            ScenarioError::ListDir { .. } => "scenario::list_dir",
            ScenarioError::Glob { .. } => "scenario::glob",
            ScenarioError::DuplicateName { .. } => "scenario::duplicate_name",
        };
        Some(Box::new(code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        match self {
            ScenarioError::Name { .. } => Some(Box::new(
                "a scenario is named after its file: at most 64 lower-case letters, digits, `_` and `-`, \
                 starting with a letter or digit (`auto_owner_hands_over.toml`)",
            )),
            ScenarioError::Invalid(invalid) => invalid.help(),
            ScenarioError::Glob { .. } => Some(Box::new(
                "the filter matches scenario names (file stems), e.g. `auto_owner_*`",
            )),
            ScenarioError::DuplicateName { .. } => Some(Box::new(
                "a scenario's name is its file stem, whatever its folder; it names snapshots (snapshots/<family>/<name>@<variant>.snap), test trials and report rows: rename one file",
            )),
            _ => None,
        }
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        match self {
            ScenarioError::Invalid(invalid) => invalid.source_code(),
            _ => None,
        }
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        match self {
            ScenarioError::Invalid(invalid) => invalid.related(),
            _ => None,
        }
    }
}

/// A scenario file with at least one problem. `Display` is `path:line:col: <first problem>`,
/// plus how many more there are; the problems themselves are the `related` diagnostics.
#[derive(Debug)]
pub struct InvalidScenario {
    path: PathBuf,
    source_code: NamedSource<String>,
    problems: Vec<Problem>,
}

impl InvalidScenario {
    /// Sorts `problems` by position and gives each its line and column in `text`.
    ///
    /// `problems` must not be empty (the caller only builds this when something is wrong); an
    /// empty list still displays sensibly.
    pub(crate) fn new(path: PathBuf, text: &str, mut problems: Vec<Problem>) -> Self {
        for problem in &mut problems {
            problem.location = problem.span.as_ref().map(|span| line_col(text, span.start));
        }
        problems.sort_by_key(|p| p.span.as_ref().map_or(0, |s| s.start));
        let name = path.display().to_string();
        InvalidScenario {
            path,
            source_code: NamedSource::new(name, text.to_owned()).with_language("toml"),
            problems,
        }
    }

    /// The file, as given.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Every problem, in file order.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl fmt::Display for InvalidScenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match self.problems.first() {
            None => write!(f, "{path}: invalid scenario"),
            Some(first) => {
                match first.location {
                    Some((line, col)) => write!(f, "{path}:{line}:{col}: {first}")?,
                    None => write!(f, "{path}: {first}")?,
                }
                match self.problems.len() {
                    1 => Ok(()),
                    2 => write!(f, " (and 1 more problem)"),
                    n => write!(f, " (and {} more problems)", n - 1),
                }
            }
        }
    }
}

impl std::error::Error for InvalidScenario {}

impl Diagnostic for InvalidScenario {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("scenario::invalid"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let n = self.problems.len();
        let what = if n == 1 { "problem" } else { "problems" };
        Some(Box::new(format!(
            "{n} {what} in this file; the format is documented in the `harness::scenario` module"
        )))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source_code)
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(
            self.problems.iter().map(|p| p as &'a dyn Diagnostic),
        ))
    }
}

/// One problem in a scenario file: a message, where (a primary span and maybe secondary ones),
/// and a hint. Rendered against the file's `NamedSource` as a related diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// A stable identifier of the kind of problem (`scenario::unknown_participant`).
    pub code: &'static str,
    /// The sentence (`unknown participant `bobb` in step 3`).
    pub message: String,
    /// Byte range of the primary label, if the problem has a place in the file.
    pub span: Option<Range<usize>>,
    /// Text of the primary label.
    pub label: String,
    /// Further places (e.g. "first used here"), byte range and text.
    pub secondary: Vec<(Range<usize>, String)>,
    /// How to fix it.
    pub help: Option<String>,
    /// 1-based line and column (in characters) of the primary span's start.
    pub location: Option<(usize, usize)>,
}

impl Problem {
    /// A problem at `span`, labelled `label`.
    pub(crate) fn at(
        code: &'static str,
        span: Range<usize>,
        label: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Problem {
            code,
            message: message.into(),
            span: Some(span),
            label: label.into(),
            secondary: Vec::new(),
            help: None,
            location: None,
        }
    }

    /// Adds the hint.
    pub(crate) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Adds a secondary label.
    pub(crate) fn also(mut self, span: Range<usize>, label: impl Into<String>) -> Self {
        self.secondary.push((span, label.into()));
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Problem {}

impl Diagnostic for Problem {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let primary = self
            .span
            .as_ref()
            .map(|span| LabeledSpan::new_primary_with_span(Some(self.label.clone()), span.clone()));
        let secondary = self
            .secondary
            .iter()
            .map(|(span, label)| LabeledSpan::new_with_span(Some(label.clone()), span.clone()));
        Some(Box::new(primary.into_iter().chain(secondary)))
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`; an offset past the end or
/// inside a character counts as the nearest character boundary before it.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// The candidate closest to `word` if it looks like a typo of it (edit distance at most 2, and
/// less than the word's length so `ab` does not suggest `xy`).
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = 2.min(word.chars().count().saturating_sub(1));
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            let deletion = previous[j + 1] + 1;
            let insertion = current[j] + 1;
            current.push(substitution.min(deletion).min(insertion));
        }
        previous = current;
    }
    previous[b.len()]
}

/// `a, b, c` with each name in backticks.
pub(crate) fn quoted_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_lines_and_characters() {
        let text = "ab\ncé d\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 6), (2, 3)); // after the 2-byte `é`
        assert_eq!(line_col(text, 5), (2, 2)); // inside `é`: its start
        assert_eq!(line_col(text, 99), (3, 1));
    }

    #[test]
    fn closest_suggests_near_typos_only() {
        let names = ["alice", "bob", "carol"];
        assert_eq!(closest("bobb", names), Some("bob"));
        assert_eq!(closest("alcie", names), Some("alice"));
        assert_eq!(closest("dave", names), None);
        assert_eq!(closest("x", ["y"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
