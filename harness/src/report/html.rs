//! `--html DIR`: one self-contained `index.html` (inline CSS, no script, nothing fetched): the verdict
//! matrix, and per scenario × variant a timeline picture — steps down, participants across, one column
//! group per stack side by side, each cell the participant's role in colour; cells that changed against
//! the golden snapshot or against the previous stack are highlighted, observer disagreements marked, and
//! each stack links to its run's artifacts folder (relative to DIR).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use crate::runner::outcome::{ScenarioResult, Verdict};
use crate::stack::StackTarget;

use super::compare::{self, Cell, Comparison};

/// The file written inside the `--html` folder.
pub const INDEX: &str = "index.html";

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}
.summary{color:#555;margin:0 0 16px}
table{border-collapse:separate;border-spacing:0}
th,td{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left;white-space:nowrap}
#matrix td.verdict{font-weight:600}
.v-same{color:#1b7f3b}.v-changed,.v-unmet,.v-failed{color:#c62828}.v-new{color:#8a6d00}
.legend{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0 4px;align-items:center}
.legend span.cell{display:inline-block;min-width:78px;text-align:center;border-radius:4px;padding:2px 6px}
table.timeline{margin-top:6px}
table.timeline th.stack{text-align:center;border-left:3px solid #888;background:#f6f6f6}
table.timeline th.step{max-width:260px;overflow:hidden;text-overflow:ellipsis}
table.timeline td.first,table.timeline th.first{border-left:3px solid #888}
td.cell,span.cell{text-align:center;font-weight:600;font-size:13px}
.owner{background:#1b5e20;color:#fff}.moderator{background:#43a047;color:#fff}
.participant{background:#bbdefb;color:#0d2a4a}.visitor{background:#e1bee7;color:#3b1846}
.absent{background:#f3f3f3;color:#999}.refused{background:#c62828;color:#fff}
.waiting{background:#fff3e0;color:#8a4b00;border:1px dashed #ef6c00}
.disagree{background:#ffd54f;color:#3a2a00}.notrun{background:repeating-linear-gradient(45deg,#eee,#eee 4px,#fff 4px,#fff 8px);color:#999}
td.cell{border-right:1px solid #fff;border-bottom:2px solid #fff}
td.changed-prev,span.changed-prev{outline:3px solid #ff6d00;outline-offset:-3px}
td.changed-golden,span.changed-golden{background-image:linear-gradient(225deg,#6a1b9a 12px,transparent 12px)}
tr.unmet th.step{color:#c62828}
.note{color:#555;font-size:13px}
.diffs{margin:4px 0 0 0;padding-left:18px;font-size:13px}
a{color:#0b57d0}
"#;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The id of a scenario × variant section (`s-handover--jwt-auto-owner`).
pub fn section_id(scenario: &str, variant: &str) -> String {
    let clean = |s: &str| {
        s.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
    };
    format!("s-{}--{}", clean(scenario), clean(variant))
}

fn mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Same => "✓",
        Verdict::New => "?",
        Verdict::Skipped => "–",
        _ => "✗",
    }
}

/// The short text of a cell in the picture (the full text is its tooltip).
fn short(cell: &Cell) -> String {
    match cell {
        Cell::Present { .. } => cell.kind().to_owned(),
        Cell::Absent => "—".into(),
        Cell::Refused => "refused".into(),
        Cell::Waiting => "waiting".into(),
        Cell::Disagree(_) => "⚠ disagree".into(),
        Cell::NotRun => "not run".into(),
    }
}

/// The golden seat of each participant per step number (from 1), read from the `-` lines of a snapshot
/// diff (`-  - "3. leave alice -> moderators: bob | room: bob:owner/moderator"`). A step whose golden line
/// cannot be read into seats maps to `None`: the whole row is marked changed.
fn golden_seats(diff: &str) -> BTreeMap<usize, Option<BTreeMap<String, String>>> {
    let mut out = BTreeMap::new();
    for line in diff.lines() {
        let (sign, rest) = line.split_at(line.len().min(1));
        let Some(quoted) = rest.trim_start().strip_prefix("- ") else {
            continue;
        };
        let Ok(text) = serde_json::from_str::<String>(quoted.trim()) else {
            continue;
        };
        let Some((number, body)) = text.split_once(". ") else {
            continue;
        };
        let Ok(step) = number.parse::<usize>() else {
            continue;
        };
        if sign == "+" {
            out.entry(step).or_insert(None);
            continue;
        }
        if sign != "-" {
            continue;
        }
        let seats = body
            .split(" | ")
            .find_map(|part| part.strip_prefix("room: "))
            .and_then(|room| {
                if room == "empty" {
                    return Some(BTreeMap::new());
                }
                room.split(", ")
                    .map(|seat| {
                        let (name, s) = seat.split_once(':')?;
                        let s = s.strip_prefix("?/").unwrap_or(s);
                        Some((name.to_owned(), s.to_owned()))
                    })
                    .collect::<Option<BTreeMap<_, _>>>()
            });
        out.insert(step, seats);
    }
    out
}

/// `to` relative to `from` (both made absolute against the working directory), for links that keep
/// working when the report folder and the artifacts are copied together.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let (from, to) = (abs(from), abs(to));
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c);
    }
    out
}

/// What a path segment of a link escapes: everything but letters, digits and `-_.`.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.');

fn link(dir: &Path, artifacts: &Path) -> String {
    let rel = relative(dir, artifacts);
    let href: String = rel
        .components()
        .map(|c| {
            percent_encoding::utf8_percent_encode(&c.as_os_str().to_string_lossy(), PATH_SEGMENT)
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("/");
    format!(
        "<a class=\"artifacts\" href=\"{}/\">artifacts</a>",
        esc(&href)
    )
}

/// The report page. `dir` is where it will be written (artifact links are relative to it); `stacks` the
/// order given on the command line.
pub fn render(results: &[ScenarioResult], stacks: &[StackTarget], dir: &Path) -> String {
    let comparisons = compare::comparisons(results, stacks);
    let mut order: Vec<StackTarget> = stacks.to_vec();
    for r in results {
        if !order.contains(&r.target) {
            order.push(r.target.clone());
        }
    }
    let cases: BTreeSet<(&str, &str)> = results
        .iter()
        .map(|r| (r.scenario.as_str(), r.variant.as_str()))
        .collect();
    let find = |s: &str, v: &str, t: &StackTarget| {
        results
            .iter()
            .find(|r| r.scenario == s && r.variant == v && &r.target == t)
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>jitsi-harness report</title>\
<style>{STYLE}</style></head><body>\n<h1>jitsi-harness report</h1>\n"
    );
    let count = |v: Verdict| results.iter().filter(|r| r.verdict() == v).count();
    let _ = writeln!(
        out,
        "<p class=\"summary\">{} same, {} changed, {} new, {} unmet, {} failed · stacks in the order given: {}</p>",
        count(Verdict::Same),
        count(Verdict::Changed),
        count(Verdict::New),
        count(Verdict::Unmet),
        count(Verdict::Failed),
        esc(&order.iter().map(ToString::to_string).collect::<Vec<_>>().join(" → "))
    );
    // The matrix.
    out.push_str("<table id=\"matrix\"><thead><tr><th>scenario</th><th>variant</th>");
    for t in &order {
        let _ = write!(out, "<th>{}</th>", esc(&t.to_string()));
    }
    out.push_str("<th>across stacks</th></tr></thead><tbody>\n");
    for (s, v) in &cases {
        let _ = write!(
            out,
            "<tr data-scenario=\"{}\" data-variant=\"{}\"><td><a href=\"#{}\">{}</a></td><td>{}</td>",
            esc(s),
            esc(v),
            section_id(s, v),
            esc(s),
            esc(v)
        );
        for t in &order {
            match find(s, v, t) {
                Some(r) => {
                    let verdict = r.verdict();
                    let _ = write!(
                        out,
                        "<td class=\"verdict v-{0}\" data-stack=\"{1}\">{2} {0}</td>",
                        verdict.as_str(),
                        esc(&t.to_string()),
                        mark(verdict)
                    );
                }
                None => out.push_str("<td class=\"verdict\">–</td>"),
            }
        }
        let across = comparisons
            .iter()
            .find(|c| c.scenario == *s && c.variant == *v)
            .map(|c| match &c.first_differing {
                Some(first) => format!("differs from {}", esc(first)),
                None => "same".into(),
            })
            .unwrap_or_default();
        let _ = writeln!(out, "<td>{across}</td></tr>");
    }
    out.push_str("</tbody></table>\n");
    // The legend.
    out.push_str("<div class=\"legend\" id=\"legend\">");
    for (class, text) in [
        ("owner", "owner (owner/moderator)"),
        ("moderator", "moderator"),
        ("participant", "participant"),
        ("visitor", "visitor"),
        ("absent", "— absent"),
        ("refused", "refused"),
        ("waiting", "waiting (lobby / for the host)"),
        ("disagree", "⚠ observers disagree"),
        ("participant changed-prev", "changed vs previous stack"),
        ("participant changed-golden", "changed vs golden"),
    ] {
        let _ = write!(out, "<span class=\"cell {class}\">{text}</span>");
    }
    out.push_str("</div>\n");
    for (s, v) in &cases {
        let runs: Vec<(&StackTarget, &ScenarioResult)> = order
            .iter()
            .filter_map(|t| find(s, v, t).map(|r| (t, r)))
            .collect();
        section(
            &mut out,
            s,
            v,
            &runs,
            comparisons
                .iter()
                .find(|c| c.scenario == *s && c.variant == *v),
            dir,
        );
    }
    out.push_str("</body></html>\n");
    out
}

fn section(
    out: &mut String,
    scenario: &str,
    variant: &str,
    runs: &[(&StackTarget, &ScenarioResult)],
    comparison: Option<&Comparison>,
    dir: &Path,
) {
    let _ = writeln!(
        out,
        "<section class=\"scenario\" id=\"{}\"><h2>{} · {}</h2>",
        section_id(scenario, variant),
        esc(scenario),
        esc(variant)
    );
    if let Some(c) = comparison {
        let line = match &c.first_differing {
            Some(first) => format!(
                "First stack whose timeline differs from the one before it: <b>{}</b>.",
                esc(first)
            ),
            None => format!("Same timeline on {}.", esc(&c.stacks.join(", "))),
        };
        let _ = writeln!(out, "<p class=\"note\">{line}</p>");
    }
    let people = compare::participants(runs.iter().filter_map(|(_, r)| r.timeline.as_ref()));
    let steps = runs
        .iter()
        .filter_map(|(_, r)| r.timeline.as_ref())
        .map(|t| t.steps.len())
        .max()
        .unwrap_or(0);
    let width = people.len().max(1);
    out.push_str("<table class=\"timeline\"><thead><tr><th rowspan=\"2\">step</th>");
    for (t, r) in runs {
        let verdict = r.verdict();
        let _ = write!(
            out,
            "<th class=\"stack\" colspan=\"{width}\" data-stack=\"{0}\">{0} <span class=\"v-{1}\">{2} {1}</span> · {3}</th>",
            esc(&t.to_string()),
            verdict.as_str(),
            mark(verdict),
            link(dir, &r.artifacts)
        );
    }
    out.push_str("</tr><tr>");
    for _ in runs {
        for (i, p) in people.iter().enumerate() {
            let first = if i == 0 { " class=\"first\"" } else { "" };
            let _ = write!(out, "<th{first}>{}</th>", esc(p));
        }
        if people.is_empty() {
            out.push_str("<th class=\"first\"></th>");
        }
    }
    out.push_str("</tr></thead><tbody>\n");
    let goldens: Vec<_> = runs
        .iter()
        .map(|(_, r)| r.outcome.diff().map(golden_seats).unwrap_or_default())
        .collect();
    for i in 0..steps {
        let label = runs
            .iter()
            .filter_map(|(_, r)| r.timeline.as_ref()?.steps.get(i))
            .map(|s| s.label.clone())
            .next()
            .unwrap_or_default();
        let unmet = runs.iter().any(|(_, r)| {
            r.timeline
                .as_ref()
                .and_then(|t| t.steps.get(i))
                .is_some_and(|s| !s.unmet.is_empty())
        });
        let _ = write!(
            out,
            "<tr data-step=\"{}\"{}><th class=\"step\" title=\"{}\">{}. {}</th>",
            i + 1,
            if unmet { " class=\"unmet\"" } else { "" },
            esc(&label),
            i + 1,
            esc(&label)
        );
        let mut previous: Option<BTreeMap<String, Cell>> = None;
        for ((t, r), golden) in runs.iter().zip(&goldens) {
            let row: Option<BTreeMap<String, Cell>> =
                r.timeline.as_ref().map(|tl| match tl.steps.get(i) {
                    Some(step) => compare::cells(step, &people),
                    None => people.iter().map(|p| (p.clone(), Cell::NotRun)).collect(),
                });
            for (j, p) in people.iter().enumerate() {
                let cell = row
                    .as_ref()
                    .and_then(|row| row.get(p).cloned())
                    .unwrap_or(Cell::NotRun);
                let mut class = vec!["cell", cell.kind()];
                if j == 0 {
                    class.push("first");
                }
                let mut title = format!("{p} on {t}: {cell}");
                if let (Some(prev), Some(_)) = (&previous, &row) {
                    if prev.get(p) != Some(&cell) {
                        class.push("changed-prev");
                        let _ = write!(
                            title,
                            " (previous stack: {})",
                            prev.get(p).map(Cell::to_string).unwrap_or_default()
                        );
                    }
                }
                match golden.get(&(i + 1)) {
                    Some(None) => {
                        class.push("changed-golden");
                        title.push_str(" (this step differs from the golden snapshot)");
                    }
                    Some(Some(seats)) => {
                        let was = seats.get(p).cloned().unwrap_or_else(|| "absent".into());
                        let now = match &cell {
                            // Golden lines name the room's occupants only.
                            Cell::Refused | Cell::Waiting => "absent".to_owned(),
                            c => c.to_string(),
                        };
                        if was != now {
                            class.push("changed-golden");
                            let _ = write!(title, " (golden: {was})");
                        }
                    }
                    None => {}
                }
                let _ = write!(
                    out,
                    "<td class=\"{}\" data-stack=\"{}\" data-participant=\"{}\" title=\"{}\">{}</td>",
                    class.join(" "),
                    esc(&t.to_string()),
                    esc(p),
                    esc(&title),
                    esc(&short(&cell))
                );
            }
            if people.is_empty() {
                out.push_str("<td class=\"cell absent first\">—</td>");
            }
            if row.is_some() {
                previous = row;
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
    // What a reader needs besides the picture: failures and unmet expectations, per stack.
    let mut notes = String::new();
    for (t, r) in runs {
        if let Some(e) = r.outcome.error() {
            let _ = write!(
                notes,
                "<li>{}: failed: {}</li>",
                esc(&t.to_string()),
                esc(e)
            );
        }
        for u in r.outcome.unmet() {
            let _ = write!(
                notes,
                "<li>{}: unmet: {}</li>",
                esc(&t.to_string()),
                esc(&u.to_string())
            );
        }
    }
    if !notes.is_empty() {
        let _ = write!(out, "<ul class=\"diffs\">{notes}</ul>");
    }
    // Every role change each observer saw, with its cause (crate::explain).
    for (t, r) in runs {
        if let Some(tl) = &r.timeline {
            out.push_str(&crate::explain::render_html(&t.to_string(), tl));
        }
    }
    out.push_str("</section>\n");
}

/// Writes `DIR/index.html`, creating DIR; returns the file written.
pub fn write(
    dir: &Path,
    results: &[ScenarioResult],
    stacks: &[StackTarget],
) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(INDEX);
    std::fs::write(&path, render(results, stacks, dir))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::compare::tests::result;
    use crate::runner::outcome::Outcome;

    #[test]
    fn golden_seats_are_read_from_the_minus_lines_of_a_diff() {
        let diff = "-  - \"3. leave alice -> moderators: bob | room: bob:owner/moderator\"\n\
+  - \"3. leave alice -> moderators: nobody | room: bob:none/participant\"\n";
        let g = golden_seats(diff);
        assert_eq!(
            g[&3],
            Some(BTreeMap::from([(
                "bob".to_owned(),
                "owner/moderator".to_owned()
            )]))
        );
    }

    #[test]
    fn the_page_marks_cells_changed_against_the_previous_stack_and_the_golden() {
        let diff = "-  - \"3. leave alice -> moderators: bob | room: bob:owner/moderator\"\n\
+  - \"3. leave alice -> moderators: nobody | room: bob:none/participant\"\n";
        let results = [
            result("fixture:0.12", ("owner", "moderator"), Outcome::Same),
            result(
                "fixture:13",
                ("none", "participant"),
                Outcome::Changed { diff: diff.into() },
            ),
        ];
        let stacks: Vec<StackTarget> = ["fixture:0.12", "fixture:13"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let page = render(&results, &stacks, Path::new("report"));
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "nothing fetched"
        );
        let changed: Vec<&str> = page
            .lines()
            .flat_map(|l| l.split("<td ").skip(1))
            .filter(|c| c.contains("changed-prev"))
            .collect();
        assert_eq!(changed.len(), 1, "{page}");
        assert!(changed[0].contains("changed-golden"), "{}", changed[0]);
        assert!(changed[0].contains("data-stack=\"fixture:13\" data-participant=\"bob\""));
        assert!(
            page.contains("href=\"../artifacts/run-1/fixture-13/\""),
            "{page}"
        );
    }
}
