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
pub mod outcome;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use events::{Reporter, RunEvent};

use crate::participant::browser::{
    Browser, BrowserConfig, BrowserError, BrowserJoin, BrowserTimeouts, Driver, PagePhase, Profile,
};
use crate::participant::{
    Bot, BotConfig, BotError, BotJoin, BotTimeouts, Observation, ParticipantError, Phase,
};
use crate::scenario::{Action, Login, ParticipantSpec, Scenario, Step, Transport};
use crate::stack::{Endpoints, Family, Stack, Variant};
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
        source: Box<ParticipantError>,
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
    Browser(Browser),
}

/// Where a participant stands, as the runner needs it.
enum Status {
    InRoom(Observation),
    Kicked,
    Failed(String),
}

impl Live {
    async fn status(&self) -> Status {
        match self {
            Live::Bot(b) => b.with_roster(|phase, roster| match phase {
                Phase::Joined => Status::InRoom(Observation::from_roster(true, roster)),
                Phase::Kicked => Status::Kicked,
                Phase::Left => Status::Failed("left the room unexpectedly".into()),
                Phase::Failed(reason) => Status::Failed(reason.clone()),
            }),
            Live::Browser(b) => match b.page_state().await {
                Ok(state) => match state.phase {
                    PagePhase::Joined => Status::InRoom(state.observation),
                    PagePhase::Left { kicked: true } => Status::Kicked,
                    other => {
                        Status::Failed(format!("the page is no longer in the room: {other:?}"))
                    }
                },
                Err(e) => Status::Failed(e.to_string()),
            },
        }
    }

    /// Bots announce changes; browsers must be polled.
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        match self {
            Live::Bot(b) => Some(b.changes()),
            Live::Browser(_) => None,
        }
    }

    async fn leave(self) -> Result<(), ParticipantError> {
        match self {
            Live::Bot(b) => Ok(b.leave().await?),
            Live::Browser(b) => Ok(b.leave().await?),
        }
    }

    async fn disconnect(self) {
        match self {
            Live::Bot(b) => b.disconnect().await,
            Live::Browser(b) => {
                let _ = b.disconnect().await;
            }
        }
    }

    async fn kick(&self, nick: &str) -> Result<(), ParticipantError> {
        match self {
            Live::Bot(b) => Ok(b.kick(nick).await?),
            Live::Browser(b) => Ok(b.kick(nick).await?),
        }
    }

    async fn grant(&self, nick: &str) -> Result<(), ParticipantError> {
        match self {
            Live::Browser(b) => Ok(b.grant_owner(nick).await?),
            Live::Bot(b) => {
                // muc#admin grants by real JID (jicofo's grantOwnership does the same); rooms are
                // whois=anyone, so the granter sees it.
                let jid = b.with_roster(|_, roster| roster.bare_jid(nick));
                match jid {
                    Some(jid) => Ok(b.grant_owner(&jid).await?),
                    None => Err(BotError::RequestFailed {
                        what: format!("granting owner to {nick}"),
                        condition: "jid-hidden".into(),
                        text: Some(format!("the granter cannot see {nick}'s real JID")),
                    }
                    .into()),
                }
            }
        }
    }
}

/// A refused request (grant, kick) is an observation; anything else a failure.
fn refusal_text(e: &ParticipantError) -> Option<String> {
    match e {
        ParticipantError::Bot(BotError::RequestFailed {
            condition, text, ..
        }) => Some(format!(
            "{condition}{}",
            text.as_ref().map(|t| format!(" ({t})")).unwrap_or_default()
        )),
        ParticipantError::Browser(BrowserError::RequestFailed { reason, .. }) => {
            Some(reason.clone())
        }
        _ => None,
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
    /// The WebDriver server, started when the first browser joins.
    driver: Option<Driver>,
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
        driver: None,
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
    if outcome.is_err() {
        run.capture_browsers().await;
    }
    run.leave_all().await;
    if let Some(driver) = run.driver.take() {
        if let Err(e) = driver.close().await {
            tracing::warn!("closing the WebDriver server: {e}");
        }
    }
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

    fn participant_error(
        &self,
        step: &Step,
        who: &str,
        source: impl Into<ParticipantError>,
    ) -> RunError {
        RunError::Participant {
            step: step.index + 1,
            label: step.label(),
            location: self.location(step),
            who: who.to_owned(),
            source: Box::new(source.into()),
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
    async fn prepare(&mut self, step: &Step, name: &str) -> Result<Prepared, RunError> {
        let spec = self.spec(name).clone();
        let count = self.joins.entry(name.to_owned()).or_insert(0);
        *count += 1;
        let suffix = if *count == 1 {
            String::new()
        } else {
            format!("-{count}")
        };
        let config = self
            .bot_config(&spec)
            .map_err(|e| self.participant_error(step, name, e))?;
        let token = self
            .token(&spec)
            .map_err(|e| self.participant_error(step, name, e))?;
        let machine_uid = format!("harness-{}-{}", spec.name, crate::stack::docker::run_id());
        if spec.transport == Transport::Browser {
            let driver = self.driver(step, name).await?;
            let ep = self.endpoints();
            let Some(web) = ep.web.clone() else {
                return Err(RunError::Unsupported {
                    step: step.index + 1,
                    label: step.label(),
                    location: self.location(step),
                    what: format!(
                        "{name} joins in a browser, but {} serves no web page",
                        self.stack.target()
                    ),
                });
            };
            let profile = match self.stack.target().family {
                Family::Fixture => Profile::Fixture,
                Family::Jitsi | Family::External => Profile::JitsiMeet,
            };
            let browser_config = BrowserConfig {
                driver,
                profile,
                web,
                websocket: ep.websocket.clone(),
                domain: config.domain.clone(),
                muc_domain: ep.muc_domain.clone(),
                focus_domain: ep.focus_domain.clone(),
                skip_focus: false,
                insecure_tls: ep.insecure_tls,
                timeouts: BrowserTimeouts::for_profile(profile),
                artifacts: Some(self.options.artifacts.clone()),
            };
            let join = BrowserJoin {
                room: self.room.clone(),
                nick: spec.nick.clone(),
                display_name: Some(spec.name.clone()),
                token,
                machine_uid,
            };
            return Ok(Prepared::Browser(Box::new((browser_config, join))));
        }
        let transcript = if self.options.transcripts {
            Transcript::create(
                &self
                    .options
                    .artifacts
                    .join(format!("{name}{suffix}.xmpp.log")),
            )
            .ok()
        } else {
            None
        };
        Ok(Prepared::Bot(Box::new((
            config,
            BotJoin {
                room: self.room.clone(),
                nick: spec.nick.clone(),
                token,
                machine_uid,
                display_name: Some(spec.name.clone()),
                transcript,
            },
        ))))
    }

    /// The run's WebDriver server (chromedriver, or `JITSI_HARNESS_WEBDRIVER`), started on first use.
    async fn driver(&mut self, step: &Step, name: &str) -> Result<Driver, RunError> {
        if let Some(d) = &self.driver {
            return Ok(d.clone());
        }
        let driver = Driver::from_env()
            .await
            .map_err(|e| self.participant_error(step, name, e))?;
        self.driver = Some(driver.clone());
        Ok(driver)
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
            prepared.push((name.clone(), self.prepare(step, name).await?));
        }
        let joins = prepared.into_iter().map(|(name, p)| async move {
            let result = match p {
                Prepared::Bot(p) => Bot::join(&p.0, p.1)
                    .await
                    .map(Live::Bot)
                    .map_err(ParticipantError::from),
                Prepared::Browser(p) => Browser::join(&p.0, p.1)
                    .await
                    .map(Live::Browser)
                    .map_err(ParticipantError::from),
            };
            (name, result)
        });
        for (name, result) in futures::future::join_all(joins).await {
            match result {
                Ok(live) => {
                    self.live.insert(name, live);
                }
                Err(e) if e.is_refusal() => {
                    record.rejected.insert(name, e.to_string());
                }
                Err(e) => return Err(self.participant_error(step, &name, e)),
            }
        }
        Ok(())
    }

    /// On a failure: screenshot, console log and page source of every browser still open.
    async fn capture_browsers(&self) {
        for (name, live) in &self.live {
            if let Live::Browser(b) = live {
                if let Err(e) = b
                    .capture(&self.options.artifacts, &format!("{name}-failure"))
                    .await
                {
                    tracing::warn!("capturing {name}'s page: {e}");
                }
            }
        }
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
                if let Some(live) = self.live.remove(name) {
                    if let Err(e) = live.leave().await {
                        return Err(self.participant_error(step, name, e));
                    }
                }
            }
            Action::Disconnect(name) => {
                if let Some(live) = self.live.remove(name) {
                    live.disconnect().await;
                }
            }
            Action::Wait(d) => {
                tokio::select! {
                    _ = tokio::time::sleep(*d) => {}
                    _ = self.options.cancel.cancelled() => return Err(RunError::Cancelled),
                }
            }
            Action::Grant { by, to } => {
                let nick = self.spec(to).nick.clone();
                if let Some(granter) = self.live.get(by) {
                    if let Err(e) = granter.grant(&nick).await {
                        match refusal_text(&e) {
                            Some(why) => record.refused.push(format!("grant {to} by {by}: {why}")),
                            None => return Err(self.participant_error(step, by, e)),
                        }
                    }
                }
            }
            Action::Kick { by, who } => {
                let nick = self.spec(who).nick.clone();
                if let Some(kicker) = self.live.get(by) {
                    if let Err(e) = kicker.kick(&nick).await {
                        match refusal_text(&e) {
                            Some(why) => record.refused.push(format!("kick {who} by {by}: {why}")),
                            None => return Err(self.participant_error(step, by, e)),
                        }
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
            let mut views = BTreeMap::new();
            let mut kicked = Vec::new();
            for (name, live) in &self.live {
                match live.status().await {
                    Status::InRoom(observation) => {
                        views.insert(
                            name.clone(),
                            View::from_observation(&observation, &self.scenario.participants),
                        );
                    }
                    // A kicked participant is out of the room.
                    Status::Kicked => kicked.push(name.clone()),
                    Status::Failed(reason) => {
                        return Err(RunError::ConnectionLost {
                            step: step.index + 1,
                            label: step.label(),
                            location: self.location(step),
                            who: name.clone(),
                            reason,
                        })
                    }
                }
            }
            if !kicked.is_empty() {
                for n in kicked {
                    if let Some(live) = self.live.remove(&n) {
                        live.disconnect().await;
                    }
                }
                continue;
            }
            let expected: BTreeSet<String> = self.live.keys().cloned().collect();
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
            let polling = self.live.values().any(|l| l.changes().is_none());
            let mut receivers: Vec<_> = self.live.values().filter_map(|l| l.changes()).collect();
            let any_change = async {
                if receivers.is_empty() {
                    std::future::pending::<()>().await;
                }
                let futs = receivers.iter_mut().map(|r| Box::pin(r.changed()));
                let _ = futures::future::select_all(futs).await;
            };
            // Browsers are polled (one observe is one WebDriver round trip, ~10 ms).
            let poll = if polling {
                Duration::from_millis(100)
            } else {
                Duration::from_millis(250)
            };
            let wake = if ok {
                self.options
                    .settle
                    .saturating_sub(quiet_since.elapsed())
                    .min(poll)
            } else {
                poll
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
            let _ = l.leave().await;
        });
        futures::future::join_all(leaving).await;
    }
}

/// One prepared join.
enum Prepared {
    Bot(Box<(BotConfig, BotJoin)>),
    Browser(Box<(BrowserConfig, BrowserJoin)>),
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
        let spec = ParticipantSpec::test_bot;
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
