//! `bisect`: the first release whose timeline differs from a good release's, found by binary search.
//!
//! In: the good and the bad tag, and optionally tags published after the versions table was written (the
//! `releases` cache). Out: the ordered releases from good to bad ([`releases_between`]) and a [`search`]
//! over them with a probe the caller supplies (the binary starts one stack per probe, closes it, and
//! returns the run's result). The search is pure: it knows nothing of stacks, only that probing index 0
//! gives the reference observation and that `differs` tells whether another observation differs from it.
//!
//! How many probes: the good release once, then a binary search over the n − 1 later releases for the
//! first one that differs, where "none differs" (the bad release is the same as the good one: nothing to
//! bisect) is one more outcome. That is n outcomes told apart by yes/no probes, so ⌈log2 n⌉ probes, and
//! ⌈log2 n⌉ + 1 in all ([`max_probes`]). The bad release is probed only when the search needs it: it is
//! trusted to be bad, as `git bisect` trusts it, and the search says "nothing to bisect" only once every
//! probe, the bad release's included, was the same as the good one.

use std::collections::BTreeMap;
use std::future::Future;

use crate::versions::{check_known, Release, UnknownRelease, KNOWN_RELEASES};

/// How one probed release compares with the good one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The good release itself: the reference every later probe is compared with.
    Reference,
    /// The same timeline as the good release.
    Same,
    /// A timeline that differs from the good release's.
    Differs,
}

impl Verdict {
    /// How the verdict is printed: `good (reference)`, `same`, `differs`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Reference => "good (reference)",
            Verdict::Same => "same",
            Verdict::Differs => "differs",
        }
    }
}

/// One probe as the search made it: which release (by index into the list) and its verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeRecord {
    /// Index of the release in the list the search ran over (0 = the good release).
    pub index: usize,
    /// How it compared with the good release.
    pub verdict: Verdict,
}

/// A probe just made, as the caller's `on_probe` hears of it.
#[derive(Debug)]
pub struct Probed<'a, O> {
    /// Which probe this is, from 1.
    pub number: usize,
    /// Index of the release in the list.
    pub index: usize,
    /// How it compared with the good release.
    pub verdict: Verdict,
    /// What the probe observed.
    pub seen: &'a O,
}

/// Where the search ended: the last release that is the same as the good one, and the next one, which
/// differs from it.
#[derive(Debug)]
pub struct Bisection<O> {
    /// Index of the last release whose timeline is the same as the good one's (0 when the first release
    /// after the good one already differs).
    pub last_same: usize,
    /// What the probe of `last_same` observed.
    pub last_same_seen: O,
    /// Index of the first release whose timeline differs (`last_same + 1`).
    pub first_differing: usize,
    /// What the probe of `first_differing` observed.
    pub first_differing_seen: O,
    /// Every probe, in the order made (never more than [`max_probes`] of the list's length).
    pub probes: Vec<ProbeRecord>,
}

/// Why the search found no first differing release.
#[derive(Debug)]
pub enum BisectError<O, E> {
    /// Fewer than two releases: nothing to search between.
    TooFew {
        /// How many there were.
        n: usize,
    },
    /// Every probe, the bad release's included, was the same as the good release.
    NothingToBisect {
        /// What the bad release's probe observed.
        bad_seen: O,
        /// Every probe, in the order made.
        probes: Vec<ProbeRecord>,
    },
    /// A probe could not observe a timeline (a stack that did not start, an interruption); the search
    /// stopped there.
    Probe {
        /// Index of the release whose probe failed.
        index: usize,
        /// The probe's error.
        error: E,
        /// The probes made before it.
        probes: Vec<ProbeRecord>,
    },
}

/// The most probes [`search`] makes over `n` releases (the good one included): ⌈log2 n⌉ + 1.
pub fn max_probes(n: usize) -> usize {
    if n <= 1 {
        return n;
    }
    (usize::BITS - (n - 1).leading_zeros()) as usize + 1
}

/// Binary search over `n` releases ordered oldest first, index 0 the good one and `n - 1` the bad one:
/// `probe(i)` observes release `i` (each index at most once), `differs(good, seen)` says whether an
/// observation differs from the good one's, and `on_probe` hears of each probe as soon as it is judged.
/// Returns the last release that is the same as the good one and the first that differs, after at most
/// [`max_probes`]`(n)` probes.
pub async fn search<O, E, P, Fut>(
    n: usize,
    mut probe: P,
    differs: impl Fn(&O, &O) -> bool,
    mut on_probe: impl FnMut(&Probed<'_, O>),
) -> Result<Bisection<O>, BisectError<O, E>>
where
    P: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<O, E>>,
{
    if n < 2 {
        return Err(BisectError::TooFew { n });
    }
    let mut probes = Vec::new();
    let mut seen: BTreeMap<usize, O> = BTreeMap::new();
    let good = match probe(0).await {
        Ok(o) => o,
        Err(error) => {
            return Err(BisectError::Probe {
                index: 0,
                error,
                probes,
            })
        }
    };
    probes.push(ProbeRecord {
        index: 0,
        verdict: Verdict::Reference,
    });
    on_probe(&Probed {
        number: 1,
        index: 0,
        verdict: Verdict::Reference,
        seen: &good,
    });
    // `lo` is known to be the same as the good release; `hi` is the first known to differ, or `n` while
    // none is known (the "nothing to bisect" outcome).
    let (mut lo, mut hi) = (0, n);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let o = match probe(mid).await {
            Ok(o) => o,
            Err(error) => {
                return Err(BisectError::Probe {
                    index: mid,
                    error,
                    probes,
                })
            }
        };
        let verdict = if differs(&good, &o) {
            Verdict::Differs
        } else {
            Verdict::Same
        };
        probes.push(ProbeRecord {
            index: mid,
            verdict,
        });
        on_probe(&Probed {
            number: probes.len(),
            index: mid,
            verdict,
            seen: &o,
        });
        seen.insert(mid, o);
        if verdict == Verdict::Differs {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    seen.insert(0, good);
    if hi == n {
        // Every probe was the same, the last one the bad release (`lo == n - 1`).
        let bad_seen = seen.remove(&lo);
        return match bad_seen {
            Some(bad_seen) => Err(BisectError::NothingToBisect { bad_seen, probes }),
            None => Err(BisectError::TooFew { n }),
        };
    }
    match (seen.remove(&lo), seen.remove(&hi)) {
        (Some(last_same_seen), Some(first_differing_seen)) => Ok(Bisection {
            last_same: lo,
            last_same_seen,
            first_differing: hi,
            first_differing_seen,
            probes,
        }),
        // Both ends of the final interval were probed: `lo` is 0 or a probed index, `hi` < n was probed.
        _ => Err(BisectError::TooFew { n }),
    }
}

/// Why the tags given cannot be bisected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// A moving tag or a nightly: no place in the order of stable releases.
    #[error("{flag} `{tag}`: bisect needs stable release tags (stable-NNNN or stable-NNNN-N); `{tag}` has no place among them (`jitsi-harness releases` lists them)")]
    NotStable {
        /// `--good` or `--bad`.
        flag: &'static str,
        /// The tag as given.
        tag: String,
    },
    /// A release number docker-jitsi-meet never published.
    #[error("{flag} {source}")]
    Unknown {
        /// `--good` or `--bad`.
        flag: &'static str,
        /// The tag and the nearest known releases.
        source: UnknownRelease,
    },
    /// The good release is not older than the bad one.
    #[error("--good {good} is not older than --bad {bad}: bisect searches forward from a good (older) release to a bad (newer) one; swap them or pick other tags")]
    Order {
        /// The good tag.
        good: String,
        /// The bad tag.
        bad: String,
    },
}

/// A stable release's place in the order: (number, hotfix), `stable-11146` < `stable-11146-1`.
fn key(release: &Release) -> Option<(u32, u32)> {
    match release {
        Release::Stable { number, hotfix } => Some((*number, hotfix.unwrap_or(0))),
        _ => None,
    }
}

/// The releases from `good` to `bad`, both included, oldest first: every known stable release
/// ([`KNOWN_RELEASES`]) and every tag of `published` (releases newer than the versions table, from the
/// `releases` cache) between them, each once. Errors: a tag that is not a stable release, a number
/// docker-jitsi-meet never published (naming the nearest known ones), or `good` not older than `bad`.
pub fn releases_between(
    good: &Release,
    bad: &Release,
    published: &[Release],
) -> Result<Vec<Release>, RangeError> {
    let mut ends = Vec::new();
    for (flag, release) in [("--good", good), ("--bad", bad)] {
        let Some(k) = key(release) else {
            return Err(RangeError::NotStable {
                flag,
                tag: release.tag(),
            });
        };
        check_known(release).map_err(|source| RangeError::Unknown { flag, source })?;
        ends.push(k);
    }
    let (from, to) = (ends[0], ends[1]);
    if from >= to {
        return Err(RangeError::Order {
            good: good.tag(),
            bad: bad.tag(),
        });
    }
    let known = KNOWN_RELEASES.iter().filter_map(|k| k.tag.parse().ok());
    let mut all: Vec<((u32, u32), Release)> = known
        .chain(published.iter().cloned())
        .chain([good.clone(), bad.clone()])
        .filter_map(|r| key(&r).map(|k| (k, r)))
        .filter(|(k, _)| (from..=to).contains(k))
        .collect();
    all.sort_by_key(|(k, _)| *k);
    all.dedup_by_key(|(k, _)| *k);
    Ok(all.into_iter().map(|(_, r)| r).collect())
}

/// docker-jitsi-meet's compare page between two tags: every commit from `last_good` to `first_bad`.
pub fn compare_url(last_good: &Release, first_bad: &Release) -> String {
    format!(
        "https://github.com/jitsi/docker-jitsi-meet/compare/{}...{}",
        last_good.tag(),
        first_bad.tag()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn r(tag: &str) -> Release {
        tag.parse().unwrap()
    }

    /// A search's result over booleans ("differs from the good release") with string errors.
    type Searched = Result<Bisection<bool>, BisectError<bool, String>>;

    /// Searches `n` releases where the timeline differs from `change` on (`change == n`: never); returns
    /// the result and the indices probed, in order.
    fn run(n: usize, change: usize) -> (Searched, Vec<usize>) {
        let mut probed = Vec::new();
        let mut heard = Vec::new();
        let result = futures::executor::block_on(search(
            n,
            |i| {
                probed.push(i);
                async move { Ok::<bool, String>(i >= change) }
            },
            |good, seen| good != seen,
            |p| heard.push((p.number, p.index)),
        ));
        let numbers: Vec<usize> = heard.iter().map(|(k, _)| *k).collect();
        assert_eq!(numbers, (1..=probed.len()).collect::<Vec<_>>());
        assert_eq!(
            heard.iter().map(|(_, i)| *i).collect::<Vec<_>>(),
            probed,
            "on_probe hears every probe, in order"
        );
        (result, probed)
    }

    #[test]
    fn max_probes_is_ceil_log2_plus_one() {
        let expected = [
            (2, 2),
            (3, 3),
            (4, 3),
            (5, 4),
            (8, 4),
            (9, 5),
            (16, 5),
            (17, 6),
            (50, 7),
        ];
        for (n, probes) in expected {
            assert_eq!(max_probes(n), probes, "n = {n}");
        }
    }

    #[test]
    fn every_change_position_is_found_within_the_probe_bound() {
        for n in 2..=50 {
            for change in 1..n {
                let (result, probed) = run(n, change);
                let b = result.unwrap_or_else(|e| panic!("n={n} change={change}: {e:?}"));
                assert_eq!(
                    (b.last_same, b.first_differing),
                    (change - 1, change),
                    "n={n}"
                );
                assert!(!b.last_same_seen && b.first_differing_seen);
                assert!(
                    probed.len() <= max_probes(n),
                    "n={n} change={change}: {} probes {probed:?}, bound {}",
                    probed.len(),
                    max_probes(n)
                );
                assert_eq!(probed[0], 0, "the good release is probed first");
                assert_eq!(
                    probed.iter().collect::<BTreeSet<_>>().len(),
                    probed.len(),
                    "no release is probed twice: {probed:?}"
                );
                assert!(probed.iter().all(|&i| i < n));
                assert_eq!(b.probes.len(), probed.len());
                assert_eq!(b.probes[0].verdict, Verdict::Reference);
                for p in &b.probes[1..] {
                    let expected = if p.index >= change {
                        Verdict::Differs
                    } else {
                        Verdict::Same
                    };
                    assert_eq!(p.verdict, expected);
                }
            }
        }
    }

    #[test]
    fn the_bound_is_reached_so_it_cannot_be_lowered() {
        for n in [4, 5, 9, 17, 33, 50] {
            let worst = (1..=n).map(|c| run(n, c).1.len()).max().unwrap_or(0);
            assert_eq!(worst, max_probes(n), "n = {n}");
        }
    }

    #[test]
    fn a_bad_release_the_same_as_the_good_one_is_nothing_to_bisect_after_probing_it() {
        for n in 2..=50 {
            let (result, probed) = run(n, n);
            match result {
                Err(BisectError::NothingToBisect { bad_seen, probes }) => {
                    assert!(!bad_seen);
                    assert_eq!(probed.last(), Some(&(n - 1)), "the bad release was probed");
                    assert!(probes.len() <= max_probes(n));
                    assert!(probes[1..].iter().all(|p| p.verdict == Verdict::Same));
                }
                other => panic!("n={n}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_failed_probe_stops_the_search_naming_the_release() {
        let mut calls = 0;
        let result = futures::executor::block_on(search(
            10,
            |i| {
                calls += 1;
                async move {
                    if i == 5 {
                        Err("stack did not start".to_owned())
                    } else {
                        Ok(false)
                    }
                }
            },
            |a: &bool, b: &bool| a != b,
            |_| {},
        ));
        match result {
            Err(BisectError::Probe {
                index,
                error,
                probes,
            }) => {
                assert_eq!(index, 5);
                assert_eq!(error, "stack did not start");
                assert_eq!(probes.len(), 1, "only the good release was judged");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(calls, 2);
        for n in [0, 1] {
            let (result, probed) = run(n, 0);
            assert!(matches!(result, Err(BisectError::TooFew { n: m }) if m == n));
            assert!(probed.is_empty());
        }
    }

    #[test]
    fn releases_between_two_tags_are_the_known_ones_in_order_with_hotfixes() {
        let list = releases_between(&r("stable-10978"), &r("stable-11146-2"), &[]).unwrap();
        let tags: Vec<String> = list.iter().map(Release::tag).collect();
        assert_eq!(
            tags,
            [
                "stable-10978",
                "stable-11031",
                "stable-11146",
                "stable-11146-1",
                "stable-11146-2"
            ]
        );
        // A hotfix newer than the table, and releases published after it (the `releases` cache).
        let published = [r("stable-11250"), r("stable-11300"), r("stable-11146-3")];
        let list = releases_between(&r("stable-11146-1"), &r("stable-11250"), &published).unwrap();
        let tags: Vec<String> = list.iter().map(Release::tag).collect();
        assert_eq!(
            tags,
            [
                "stable-11146-1",
                "stable-11146-2",
                "stable-11146-3",
                "stable-11250"
            ]
        );
    }

    #[test]
    fn bad_ranges_are_errors_that_say_what_to_do() {
        let e = releases_between(&r("stable-11146"), &r("stable-11031"), &[]).unwrap_err();
        assert!(matches!(e, RangeError::Order { .. }));
        assert!(e.to_string().contains("swap them"), "{e}");
        assert!(releases_between(&r("stable-11031"), &r("stable-11031"), &[]).is_err());
        let e = releases_between(&r("stable-11100"), &r("stable-11146"), &[]).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("--good `stable-11100` is not a docker-jitsi-meet release")
                && text.contains("stable-11031, stable-11146"),
            "{text}"
        );
        let e = releases_between(&r("stable-11031"), &r("unstable"), &[]).unwrap_err();
        assert!(
            matches!(&e, RangeError::NotStable { flag: "--bad", .. }),
            "{e:?}"
        );
    }

    #[test]
    fn the_compare_url_names_both_tags() {
        assert_eq!(
            compare_url(&r("stable-10888"), &r("stable-10978")),
            "https://github.com/jitsi/docker-jitsi-meet/compare/stable-10888...stable-10978"
        );
    }
}
