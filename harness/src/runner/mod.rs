//! The runner: executes a scenario's steps on a running stack and records the moderator timeline.
//!
//! After each step it waits — with the step's deadline — until every participant still in the room sees
//! exactly who should be there, all observers agree, the scenario's expectations hold, and nothing has
//! changed for a short settle time; then it records what each observer saw. A deadline that passes is
//! recorded (`NOT CONVERGED`), not hidden. Only the runner knows both stacks and participants.
//! [`matrix`] runs many scenarios on many stacks; [`events`] is how it reports; [`cancel`] turns signals
//! into a cancellation every wait honours.

pub mod cancel;
pub mod events;
pub mod matrix;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use events::{Reporter, RunEvent};

use crate::participant::{Bot, BotConfig, BotError, BotJoin, BotTimeouts, Observation, Phase};
use crate::scenario::{Action, Login, ParticipantSpec, Scenario, Step, Transport};
use crate::stack::{Endpoints, Stack, Variant};
use crate::timeline::{self, StepRecord, Timeline, View};
use crate::token::{self, Token, TokenRequest, UserInfo};
use crate::xmpp::transcript::Transcript;

/// How to run one scenario.
#[derive(Clone)]
pub struct RunOptions {
    /// Folder for this scenario run's transcripts.
    pub artifacts: PathBuf,
    /// How long the room must stay unchanged before a step counts as settled.
    pub settle: Duration,
    /// Write per-participant XMPP transcripts.
    pub transcripts: bool,
    pub cancel: CancellationToken,
    pub reporter: Option<Reporter>,
}

impl RunOptions {
    pub fn new(artifacts: impl Into<PathBuf>) -> Self {
        RunOptions {
            artifacts: artifacts.into(),
            // Grants arrive milliseconds after a join on every stack measured; 300 ms of quiet is ample
            // and keeps a 5-step scenario under ~2 s.
            settle: Duration::from_millis(300),
            transcripts: true,
            cancel: CancellationToken::new(),
            reporter: None,
        }
    }
}

/// Why a scenario could not be run to its end. A changed timeline is not an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("step {step} `{label}` ({location}): {who} failed: {source}")]
    Participant {
        step: usize,
        label: String,
        location: String,
        who: String,
        #[source]
        source: Box<BotError>,
    },
    #[error("step {step} `{label}` ({location}): {who}'s connection died: {reason}")]
    ConnectionLost {
        step: usize,
        label: String,
        location: String,
        who: String,
        reason: String,
    },
    #[error("step {step} `{label}` ({location}): {what}")]
    Unsupported {
        step: usize,
        label: String,
        location: String,
        what: String,
    },
    #[error("interrupted")]
    Cancelled,
}

impl RunError {
    /// Whether the harness or its infrastructure failed (as opposed to Jitsi behaving differently).
    pub fn is_infrastructure(&self) -> bool {
        !matches!(self, RunError::Cancelled)
    }
}

/// A participant in the room.
enum Live {
    Bot(Bot),
}

impl Live {
    fn observation(&self) -> Observation {
        match self {
            Live::Bot(b) => b.with_roster(|phase, roster| {
                Observation::from_roster(*phase == Phase::Joined, roster)
            }),
        }
    }

    fn phase(&self) -> Phase {
        match self {
            Live::Bot(b) => b.with_roster(|p, _| p.clone()),
        }
    }

    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        match self {
            Live::Bot(b) => Some(b.changes()),
        }
    }
}

/// A room name for one scenario run: the scenario's name plus random hex (scenarios run concurrently,
/// each in its own room).
pub fn room_name(scenario: &str) -> String {
    let base: String = scenario
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    format!("{base}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

struct Run<'a> {
    scenario: &'a Scenario,
    variant: &'a Variant,
    stack: &'a Stack,
    options: &'a RunOptions,
    room: String,
    live: BTreeMap<String, Live>,
    /// How many times each participant joined (for transcript names).
    joins: BTreeMap<String, u32>,
}

/// Runs `scenario` under `variant` on `stack` and returns its timeline.
pub async fn run_scenario(
    scenario: &Scenario,
    variant: &Variant,
    stack: &Stack,
    options: &RunOptions,
) -> Result<Timeline, RunError> {
    let room = room_name(&scenario.name);
    let mut run = Run {
        scenario,
        variant,
        stack,
        options,
        room: room.clone(),
        live: BTreeMap::new(),
        joins: BTreeMap::new(),
    };
    let mut steps = Vec::new();
    let outcome = async {
        for step in &scenario.steps {
            let record = run.step(step).await?;
            if let Some(r) = &options.reporter {
                r(&RunEvent::StepFinished {
                    scenario: &scenario.name,
                    variant: &variant.name,
                    target: stack.target(),
                    record: &record,
                });
            }
            steps.push(record);
        }
        Ok::<(), RunError>(())
    }
    .await;
    run.leave_all().await;
    outcome?;
    Ok(Timeline {
        scenario: scenario.name.clone(),
        variant: variant.name.clone(),
        stack: stack.target().clone(),
        room,
        steps,
    })
}

impl Run<'_> {
    fn endpoints(&self) -> &Endpoints {
        self.stack.endpoints()
    }

    fn location(&self, step: &Step) -> String {
        self.scenario.location(step)
    }

    fn spec(&self, name: &str) -> &ParticipantSpec {
        // Validation guarantees every name in a step is declared.
        self.scenario
            .participant(name)
            .unwrap_or(&self.scenario.participants[0])
    }

    fn participant_error(&self, step: &Step, who: &str, source: BotError) -> RunError {
        RunError::Participant {
            step: step.index + 1,
            label: step.label(),
            location: self.location(step),
            who: who.to_owned(),
            source: Box::new(source),
        }
    }

    fn token(&self, spec: &ParticipantSpec) -> Result<Option<Token>, BotError> {
        if spec.login != Login::Token {
            return Ok(None);
        }
        let ep = self.endpoints();
        let request = TokenRequest::new(
            ep.app_id.clone(),
            ep.domain.clone(),
            self.room.clone(),
            UserInfo::new(
                format!("{}-{}", spec.name, crate::stack::docker::run_id()),
                spec.name.clone(),
            ),
        );
        token::mint(&ep.signing, &request, &spec.token)
            .map(Some)
            .map_err(|e| BotError::RequestFailed {
                what: format!("minting {}'s token", spec.name),
                condition: "token".into(),
                text: Some(e.to_string()),
            })
    }

    fn bot_config(&self, spec: &ParticipantSpec) -> Result<BotConfig, BotError> {
        let ep = self.endpoints();
        let domain = match spec.login {
            Login::Guest => ep
                .guest_domain
                .clone()
                .ok_or_else(|| BotError::RequestFailed {
                    what: format!("{} joining as a guest", spec.name),
                    condition: "no guest domain".into(),
                    text: Some(format!(
                        "variant `{}` has no guests (set guests = true)",
                        self.variant.name
                    )),
                })?,
            Login::Token | Login::None => ep.domain.clone(),
        };
        Ok(BotConfig {
            websocket: ep.websocket.clone(),
            domain,
            muc_domain: ep.muc_domain.clone(),
            focus_domain: ep.focus_domain.clone(),
            insecure_tls: ep.insecure_tls,
            timeouts: BotTimeouts::default(),
            skip_focus: false,
        })
    }

    /// Everything one join needs, decided before the joins fan out.
    fn prepare(&mut self, step: &Step, name: &str) -> Result<(BotConfig, BotJoin), RunError> {
        let spec = self.spec(name).clone();
        if spec.transport == Transport::Browser {
            return Err(RunError::Unsupported {
                step: step.index + 1,
                label: step.label(),
                location: self.location(step),
                what: format!("{name}: the browser transport is not available in this build"),
            });
        }
        let count = self.joins.entry(name.to_owned()).or_insert(0);
        *count += 1;
        let file = if *count == 1 {
            format!("{name}.xmpp.log")
        } else {
            format!("{name}-{count}.xmpp.log")
        };
        let transcript = if self.options.transcripts {
            Transcript::create(&self.options.artifacts.join(file)).ok()
        } else {
            None
        };
        let prepared = self
            .bot_config(&spec)
            .and_then(|config| self.token(&spec).map(|t| (config, t)));
        let (config, token) = prepared.map_err(|e| self.participant_error(step, name, e))?;
        Ok((
            config,
            BotJoin {
                room: self.room.clone(),
                nick: spec.nick.clone(),
                token,
                machine_uid: format!("harness-{}-{}", spec.name, crate::stack::docker::run_id()),
                display_name: Some(spec.name.clone()),
                transcript,
            },
        ))
    }

    /// Everyone in the step joins at once, as a bug report's "bob and carol join" means. A join the
    /// deployment refuses is recorded; any other failure ends the run.
    async fn join(
        &mut self,
        step: &Step,
        names: &[String],
        record: &mut StepRecord,
    ) -> Result<(), RunError> {
        let mut prepared = Vec::new();
        for name in names {
            prepared.push((name.clone(), self.prepare(step, name)?));
        }
        let joins = prepared
            .into_iter()
            .map(|(name, (config, join))| async move { (name, Bot::join(&config, join).await) });
        for (name, result) in futures::future::join_all(joins).await {
            match result {
                Ok(bot) => {
                    self.live.insert(name, Live::Bot(bot));
                }
                Err(e) if e.is_refusal() => {
                    record.rejected.insert(name, e.to_string());
                }
                Err(e) => return Err(self.participant_error(step, &name, e)),
            }
        }
        Ok(())
    }

    async fn step(&mut self, step: &Step) -> Result<StepRecord, RunError> {
        let started = Instant::now();
        let mut record = timeline::record_for(step, self.location(step));
        if self.options.cancel.is_cancelled() {
            return Err(RunError::Cancelled);
        }
        match &step.action {
            Action::Join(names) => self.join(step, names, &mut record).await?,
            Action::Rejoin(name) => {
                self.join(step, std::slice::from_ref(name), &mut record)
                    .await?
            }
            Action::Leave(name) => {
                if let Some(Live::Bot(bot)) = self.live.remove(name) {
                    if let Err(e) = bot.leave().await {
                        return Err(self.participant_error(step, name, e));
                    }
                }
            }
            Action::Disconnect(name) => {
                if let Some(Live::Bot(bot)) = self.live.remove(name) {
                    bot.disconnect().await;
                }
            }
            Action::Wait(d) => {
                tokio::select! {
                    _ = tokio::time::sleep(*d) => {}
                    _ = self.options.cancel.cancelled() => return Err(RunError::Cancelled),
                }
            }
            Action::Grant { by, to } => {
                let target_nick = self.spec(to).nick.clone();
                if let Some(Live::Bot(granter)) = self.live.get(by) {
                    let jid = granter.with_roster(|_, roster| {
                        roster
                            .occupants
                            .get(&target_nick)
                            .and_then(|o| o.jid.as_ref().map(|j| j.to_bare()))
                    });
                    match jid {
                        None => record.refused.push(format!(
                            "grant {to} by {by}: {by} cannot see {to}'s real JID"
                        )),
                        Some(jid) => match granter.grant_owner(&jid).await {
                            Ok(()) => {}
                            Err(BotError::RequestFailed {
                                condition, text, ..
                            }) => record.refused.push(format!(
                                "grant {to} by {by}: {condition}{}",
                                text.map(|t| format!(" ({t})")).unwrap_or_default()
                            )),
                            Err(e) => return Err(self.participant_error(step, by, e)),
                        },
                    }
                }
            }
            Action::Kick { by, who } => {
                let nick = self.spec(who).nick.clone();
                if let Some(Live::Bot(kicker)) = self.live.get(by) {
                    match kicker.kick(&nick).await {
                        Ok(()) => {}
                        Err(BotError::RequestFailed {
                            condition, text, ..
                        }) => record.refused.push(format!(
                            "kick {who} by {by}: {condition}{}",
                            text.map(|t| format!(" ({t})")).unwrap_or_default()
                        )),
                        Err(e) => return Err(self.participant_error(step, by, e)),
                    }
                }
            }
        }
        self.settle(step, &mut record).await?;
        record.jicofo = self.jicofo_view().await;
        record.unmet = timeline::check(&step.expect, &record);
        record.took = started.elapsed();
        Ok(record)
    }

    /// Waits until the room settles or the step's deadline passes, and records the views.
    async fn settle(&mut self, step: &Step, record: &mut StepRecord) -> Result<(), RunError> {
        let deadline = Instant::now() + self.scenario.timeout_of(step);
        let mut last: Option<BTreeMap<String, View>> = None;
        let mut quiet_since = Instant::now();
        loop {
            // A kicked participant is out of the room: drop it from the live set.
            let kicked: Vec<String> = self
                .live
                .iter()
                .filter(|(_, l)| l.phase() == Phase::Kicked)
                .map(|(n, _)| n.clone())
                .collect();
            for n in kicked {
                self.live.remove(&n);
            }
            for (name, live) in &self.live {
                if let Phase::Failed(reason) = live.phase() {
                    return Err(RunError::ConnectionLost {
                        step: step.index + 1,
                        label: step.label(),
                        location: self.location(step),
                        who: name.clone(),
                        reason,
                    });
                }
            }
            let expected: BTreeSet<String> = self.live.keys().cloned().collect();
            let views: BTreeMap<String, View> = self
                .live
                .iter()
                .map(|(n, l)| {
                    (
                        n.clone(),
                        View::from_observation(&l.observation(), &self.scenario.participants),
                    )
                })
                .collect();
            if last.as_ref() != Some(&views) {
                last = Some(views.clone());
                quiet_since = Instant::now();
            }
            record.views = views;
            let complete = record.views.values().all(|v| v.names() == expected);
            let ok = complete
                && record.observers_agree()
                && timeline::check(&step.expect, record).is_empty();
            if ok && quiet_since.elapsed() >= self.options.settle {
                record.converged = true;
                return Ok(());
            }
            if Instant::now() >= deadline {
                record.converged = false;
                return Ok(());
            }
            let mut receivers: Vec<_> = self.live.values().filter_map(|l| l.changes()).collect();
            let any_change = async {
                if receivers.is_empty() {
                    std::future::pending::<()>().await;
                }
                let futs = receivers.iter_mut().map(|r| Box::pin(r.changed()));
                let _ = futures::future::select_all(futs).await;
            };
            let wake = if ok {
                self.options.settle.saturating_sub(quiet_since.elapsed())
            } else {
                Duration::from_millis(100)
            };
            tokio::select! {
                _ = any_change => {}
                _ = tokio::time::sleep(wake.max(Duration::from_millis(5))) => {}
                _ = self.options.cancel.cancelled() => return Err(RunError::Cancelled),
            }
        }
    }

    /// jicofo's own view of the room (REST `/debug/conference`), when the stack exposes it: the second
    /// observer of DESIGN.md. Unreachable or unknown: none (recorded in the log, not the timeline).
    async fn jicofo_view(&self) -> Option<View> {
        let base = self.endpoints().jicofo_rest.as_ref()?;
        let room = format!("{}@{}", self.room, self.endpoints().muc_domain);
        let client = match crate::stack::jicofo::JicofoClient::new(base) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("jicofo REST at {base}: {e}");
                return None;
            }
        };
        let view = match client.conference(&room).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("jicofo REST for {room}: {e}");
                return None;
            }
        };
        Some(jicofo_to_view(&view, &self.scenario.participants))
    }

    async fn leave_all(&mut self) {
        let all = std::mem::take(&mut self.live);
        let leaving = all.into_values().map(|l| async move {
            match l {
                Live::Bot(b) => {
                    let _ = b.leave().await;
                }
            }
        });
        futures::future::join_all(leaving).await;
    }
}

/// Maps jicofo's `MemberRole`s onto the timeline's seats: OWNER is an owner moderator, MODERATOR a
/// moderator (admin or role only), PARTICIPANT and VISITOR as named (jicofo MemberRole.kt @7ebb13dc).
fn jicofo_to_view(
    view: &crate::stack::jicofo::JicofoView,
    participants: &[ParticipantSpec],
) -> View {
    let occupants = view
        .members
        .iter()
        .map(|(nick, member)| {
            let name = participants
                .iter()
                .find(|p| &p.nick == nick)
                .map(|p| p.name.clone())
                .unwrap_or_else(|| format!("?{nick}"));
            let (role, affiliation) = match member.role.as_deref() {
                Some("OWNER") => ("moderator", Some("owner")),
                Some("MODERATOR") => ("moderator", None),
                Some("VISITOR") => ("visitor", None),
                _ => ("participant", None),
            };
            (
                name,
                crate::timeline::Seat {
                    role: role.to_owned(),
                    affiliation: affiliation.map(str::to_owned),
                },
            )
        })
        .collect();
    View { occupants }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::jicofo::{JicofoMember, JicofoView};

    #[test]
    fn jicofo_roles_map_onto_seats_and_scenario_names() {
        let spec = |name: &str, nick: &str| ParticipantSpec {
            name: name.into(),
            nick: nick.into(),
            transport: Transport::Bot,
            login: Login::Token,
            token: Default::default(),
        };
        let member = |role: &str| JicofoMember {
            role: Some(role.into()),
            jid: None,
        };
        let view = JicofoView {
            found: true,
            role_manager: Some("AutoOwnerRoleManager".into()),
            owner: None,
            members: [
                ("alice".to_owned(), member("OWNER")),
                ("bob_2".to_owned(), member("PARTICIPANT")),
            ]
            .into_iter()
            .collect(),
        };
        let v = jicofo_to_view(&view, &[spec("alice", "alice"), spec("bob", "bob_2")]);
        assert_eq!(v.moderators().into_iter().collect::<Vec<_>>(), ["alice"]);
        assert_eq!(v.occupants["bob"].role, "participant");
        assert_eq!(room_name("Auto Owner_x").len(), "auto-owner-x".len() + 9);
    }
}
