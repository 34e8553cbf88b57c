//! The runner: executes a scenario's steps on a running stack and records the moderator timeline.
//!
//! After each step it waits — with the step's deadline — until every participant still in the room sees
//! exactly who should be there, all observers agree, the scenario's expectations hold, and nothing has
//! changed for a short settle time; then it records what each observer saw. A deadline that passes is
//! recorded (`NOT CONVERGED`), not hidden. Only the runner knows both stacks and participants.
//! [`matrix`] runs many scenarios on many stacks; [`events`] is how it reports; [`cancel`] turns signals
//! into a cancellation every wait honours.

pub mod cancel;
pub mod error;
pub mod events;
pub mod matrix;
pub mod outcome;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

pub use error::{RunError, RunErrorKind, StepRef};
pub use events::{Reporter, RunEvent};

use crate::participant::jicofo::JicofoClient;
use crate::participant::{
    setup, Driver, Participant, ParticipantError, Setup, SetupError, Status, Waiting,
};
use crate::scenario::{
    Action, ModeratorAction, ParticipantSpec, PresenceUpdate, Scenario, Step, Transport,
};
use crate::stack::{ContainerEvent, ContainerWatch, Endpoints, Fault, FaultError, Stack, Variant};
use crate::timeline::{self, StepRecord, Timeline, View};

/// How to run one scenario.
#[derive(Clone)]
pub struct RunOptions {
    /// Folder for this scenario run's transcripts.
    pub artifacts: PathBuf,
    /// How long the room must stay unchanged before a step counts as settled.
    pub settle: Duration,
    /// Write per-participant XMPP transcripts.
    pub transcripts: bool,
    /// Cancelled on a signal: the scenario stops where it is.
    pub cancel: CancellationToken,
    /// Who hears of the scenario's steps.
    pub reporter: Option<Reporter>,
    /// After the last step, keep the participants connected until `cancel` fires (`--hold`).
    pub hold: bool,
}

impl std::fmt::Debug for RunOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunOptions")
            .field("artifacts", &self.artifacts)
            .field("settle", &self.settle)
            .field("transcripts", &self.transcripts)
            .field("cancel", &self.cancel.is_cancelled())
            .field("reporter", &self.reporter.is_some())
            .finish()
    }
}

impl RunOptions {
    /// Options writing into `artifacts`: 300 ms settle, transcripts on, not cancelled, no reporter.
    pub fn new(artifacts: impl Into<PathBuf>) -> Self {
        RunOptions {
            artifacts: artifacts.into(),
            // Grants arrive milliseconds after a join on every stack measured; 300 ms of quiet is ample
            // and keeps a 5-step scenario under ~2 s.
            settle: Duration::from_millis(300),
            transcripts: true,
            cancel: CancellationToken::new(),
            reporter: None,
            hold: false,
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
    stack: &'a Stack,
    options: &'a RunOptions,
    room: String,
    live: BTreeMap<String, Participant>,
    /// How many times each participant joined (for transcript names).
    joins: BTreeMap<String, u32>,
    /// The WebDriver server, started when the first browser joins.
    driver: Option<Driver>,
    /// The faults the scenario asked for: their container events are no failure.
    asked: Arc<Mutex<Vec<Asked>>>,
    /// When the run started: role changes are timed from here.
    started: Instant,
    /// Bare real JID -> scenario name of everyone the participants saw (for the focus's grant lines).
    names_by_jid: BTreeMap<String, String>,
    /// jicofo's `chat_room_role_manager.class` for the room, from its REST view.
    jicofo_manager: Option<String>,
    /// Display names a `presence` step gave, to the scenario name of who took them.
    renamed: BTreeMap<String, String>,
    /// What a step on "whoever is moderator now" could not do, for its record.
    unmet_before: Vec<String>,
}

/// A fault a step asked for: events of these services between `from` and `until` are its own doing.
#[derive(Clone, Debug)]
struct Asked {
    services: Vec<String>,
    from: SystemTime,
    /// `None` while the fault is being carried out.
    until: Option<SystemTime>,
}

/// Slack on both sides of an asked-for fault's window. The engine stamps events with its own clock on
/// this host; its events of a `docker restart` follow the API call's return by milliseconds.
const ASKED_SLACK: Duration = Duration::from_secs(1);

/// After a participant failed, how long to wait for a container event that explains it: the engine
/// reports a `die` within milliseconds of the exit, and a participant may notice its closed socket first.
const CAUSE_GRACE: Duration = Duration::from_millis(1500);

/// Log lines quoted with a container fault.
const FAULT_TAIL_LINES: usize = 20;

/// How long a killed container's log follower may take to deliver its last frames (milliseconds on a
/// healthy engine).
const LAST_WORDS: Duration = Duration::from_millis(300);

/// Whether `event` is the doing of a fault the scenario asked for.
fn asked_for(asked: &Mutex<Vec<Asked>>, event: &ContainerEvent) -> bool {
    let Ok(asked) = asked.lock() else {
        return false;
    };
    asked.iter().any(|a| {
        let from = a.from.checked_sub(ASKED_SLACK).unwrap_or(a.from);
        a.services.contains(&event.service)
            && event.at >= from
            && a.until.is_none_or(|until| event.at <= until + ASKED_SLACK)
    })
}

/// The next container event the scenario did not ask for.
async fn unexpected(watch: &mut ContainerWatch, asked: &Mutex<Vec<Asked>>) -> ContainerEvent {
    loop {
        let event = watch.next().await;
        if !asked_for(asked, &event) {
            return event;
        }
        tracing::debug!("{event}: asked for by the scenario");
    }
}

/// The services a fault on `service` may touch while it is carried out: the name as written, the same
/// role's other name (`focus` / `jicofo`), and for Prosody the focus, whose connection it ends.
fn may_touch(service: &str) -> Vec<String> {
    let mut services = vec![service.to_owned()];
    match service {
        "focus" => services.push("jicofo".into()),
        "jicofo" => services.push("focus".into()),
        "prosody" => services.extend(["focus".into(), "jicofo".into()]),
        _ => {}
    }
    services
}

/// Of container events that came together, the cause: the one whose fault may touch every other's
/// service (Prosody killed ends the focus's connection, and the focus exits too; the cause is Prosody,
/// whichever event the engine delivered first). The first event when none covers the others.
fn root_cause(first: ContainerEvent, mut rest: Vec<ContainerEvent>) -> ContainerEvent {
    let covers = |c: &ContainerEvent, others: &mut dyn Iterator<Item = &ContainerEvent>| {
        let touched = may_touch(&c.service);
        for e in others {
            if !touched.contains(&e.service) {
                return false;
            }
        }
        true
    };
    if covers(&first, &mut rest.iter()) {
        return first;
    }
    let root = (0..rest.len()).find(|&i| {
        let mut others = std::iter::once(&first).chain(
            rest.iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, e)| e),
        );
        covers(&rest[i], &mut others)
    });
    match root {
        Some(i) => rest.swap_remove(i),
        None => first,
    }
}

/// The failure for a container event nobody asked for, with the service's last log lines: after the
/// killed container's last words, the events that came with it are read too, and the cause among them
/// named ([`root_cause`]).
async fn container_fault(
    stack: &Stack,
    scenario: &Scenario,
    step: &Step,
    first: ContainerEvent,
    watch: &mut ContainerWatch,
    asked: &Mutex<Vec<Asked>>,
) -> RunError {
    tokio::time::sleep(LAST_WORDS).await;
    let mut with_it = Vec::new();
    while let Some(more) = watch.try_next() {
        if !asked_for(asked, &more) {
            with_it.push(more);
        }
    }
    let event = root_cause(first, with_it);
    RunError::new(
        StepRef::new(scenario, step),
        None,
        RunErrorKind::ContainerFault {
            log_tail: stack.log_tail(&event.service, FAULT_TAIL_LINES),
            service: event.service.clone(),
            what: event.to_string(),
        },
    )
}

/// Runs `scenario` under `variant` on `stack` and returns its timeline.
pub async fn run_scenario(
    scenario: &Scenario,
    variant: &Variant,
    stack: &Stack,
    options: &RunOptions,
) -> Result<Timeline, RunError> {
    // Per-variant expectations become the steps' own for this run.
    let scenario = &scenario.for_variant(&variant.name);
    let room = room_name(&scenario.name);
    let mut run = Run {
        scenario,
        stack,
        options,
        room: room.clone(),
        live: BTreeMap::new(),
        joins: BTreeMap::new(),
        driver: None,
        asked: Arc::new(Mutex::new(Vec::new())),
        started: Instant::now(),
        names_by_jid: BTreeMap::new(),
        jicofo_manager: None,
        renamed: BTreeMap::new(),
        unmet_before: Vec::new(),
    };
    let asked = run.asked.clone();
    let mut watch = match stack.watch().await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(
                "cannot watch the stack's containers ({e}); faults are named by their symptoms"
            );
            ContainerWatch::none()
        }
    };
    let mut steps = Vec::new();
    let outcome = async {
        for step in &scenario.steps {
            // A container that exits, restarts or is paused unasked fails the step at once, named by its
            // cause; a participant failure first waits briefly for such a cause.
            let faulted = tokio::select! {
                result = run.step(step) => Ok(result),
                event = unexpected(&mut watch, &asked) => Err(event),
            };
            let result = match faulted {
                Ok(result) => result,
                Err(event) => {
                    Err(container_fault(stack, scenario, step, event, &mut watch, &asked).await)
                }
            };
            let record = match result {
                Ok(record) => record,
                Err(e) if e.may_be_symptom() => {
                    match tokio::time::timeout(CAUSE_GRACE, unexpected(&mut watch, &asked)).await {
                        Ok(event) => {
                            return Err(container_fault(
                                stack, scenario, step, event, &mut watch, &asked,
                            )
                            .await)
                        }
                        Err(_) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            };
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
    } else if options.hold {
        run.hold().await;
    }
    run.explain(variant, &mut steps);
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

    fn at(&self, step: &Step) -> StepRef {
        StepRef::new(self.scenario, step)
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
        RunError::new(
            self.at(step),
            Some(who),
            RunErrorKind::Participant(Box::new(source.into())),
        )
    }

    fn setup_error(&self, step: &Step, who: &str, source: SetupError) -> RunError {
        RunError::new(self.at(step), Some(who), RunErrorKind::Setup(source))
    }

    fn cancelled(&self, step: &Step) -> RunError {
        RunError::new(self.at(step), None, RunErrorKind::Cancelled)
    }

    /// Everything one join needs, decided before the joins fan out.
    async fn prepare(&mut self, step: &Step, name: &str) -> Result<setup::Prepared, RunError> {
        let spec = self.spec(name).clone();
        let count = self.joins.entry(name.to_owned()).or_insert(0);
        *count += 1;
        let count = *count;
        let browser = if spec.transport == Transport::Browser {
            // Checked before the WebDriver server starts; the message names the stack.
            if self.endpoints().web.is_none() {
                return Err(RunError::new(
                    self.at(step),
                    Some(name),
                    RunErrorKind::Unsupported {
                        what: format!(
                            "{name} joins in a browser, but {} serves no web page",
                            self.stack.target()
                        ),
                    },
                ));
            }
            Some((self.driver(step, name).await?, self.stack.target().family))
        } else {
            None
        };
        let transcript = if self.options.transcripts && spec.transport == Transport::Bot {
            setup::transcript(&self.options.artifacts, name, count)
        } else {
            None
        };
        let mut prepared = Setup::new(self.stack.endpoints(), &self.room)
            .prepare(
                &spec,
                browser,
                transcript,
                Some(self.options.artifacts.clone()),
            )
            .map_err(|e| self.setup_error(step, name, e))?;
        // A registered account's password (internal_auth): the stack registers the account on first use.
        if spec.login == crate::scenario::Login::Password {
            let credentials = self.stack.account(name).await.map_err(|e| {
                RunError::new(
                    self.at(step),
                    Some(name),
                    RunErrorKind::Unsupported {
                        what: format!("{name}'s account: {e}"),
                    },
                )
            })?;
            if let setup::Prepared::Bot(bot) = &mut prepared {
                bot.1.credentials = Some(credentials);
            }
        }
        Ok(prepared)
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
        let joins = prepared
            .into_iter()
            .map(|(name, p)| async move { (name, p.join().await) });
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

    /// Breaks `service` as the step asks, telling the watch first. A Prosody restart or stop ends every
    /// session: the participants are dropped (they rejoin with `rejoin`), as their clients would be.
    async fn fault(&mut self, step: &Step, service: &str, fault: Fault) -> Result<(), RunError> {
        let index = {
            let mut asked = self.asked.lock().map_err(|_| self.cancelled(step))?;
            asked.push(Asked {
                services: may_touch(service),
                from: SystemTime::now(),
                until: None,
            });
            asked.len() - 1
        };
        let touched = self.stack.fault(service, fault).await;
        if let Ok(mut asked) = self.asked.lock() {
            if let Some(a) = asked.get_mut(index) {
                if let Ok(touched) = &touched {
                    a.services.extend(touched.iter().cloned());
                }
                a.until = Some(SystemTime::now());
            }
        }
        match touched {
            Ok(_) => {}
            Err(e @ FaultError::Unsupported { .. }) => {
                return Err(RunError::new(
                    self.at(step),
                    None,
                    RunErrorKind::Unsupported {
                        what: e.to_string(),
                    },
                ))
            }
            Err(e) => return Err(RunError::new(self.at(step), None, RunErrorKind::Fault(e))),
        }
        if service == "prosody" && matches!(fault, Fault::Restart | Fault::Stop) {
            let all = std::mem::take(&mut self.live);
            for live in all.into_values() {
                live.disconnect().await;
            }
        }
        Ok(())
    }

    /// On a failure: screenshot, console log and page source of every browser still open.
    async fn capture_browsers(&self) {
        for (name, live) in &self.live {
            if let Participant::Browser(_) = live {
                if let Err(e) = live
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
        let mut record = timeline::record_for(step, self.scenario.location(step));
        if self.options.cancel.is_cancelled() {
            return Err(self.cancelled(step));
        }
        // What the observers saw since the last step settled (a leaving participant takes its own along).
        self.drain_changes(&mut record.changes);
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
                    _ = self.options.cancel.cancelled() => return Err(self.cancelled(step)),
                }
            }
            Action::Grant { by, to } => {
                let nick = self.spec(to).nick.clone();
                if let Some(granter) = self.live.get(by) {
                    if let Err(e) = granter.grant(&nick).await {
                        match e.refused_request() {
                            Some(why) => record.refused.push(format!("grant {to} by {by}: {why}")),
                            None => return Err(self.participant_error(step, by, e)),
                        }
                    }
                }
            }
            Action::Restart(service) => self.fault(step, service, Fault::Restart).await?,
            Action::Stop(service) => self.fault(step, service, Fault::Stop).await?,
            Action::Pause { service, duration } => {
                self.fault(step, service, Fault::Pause(*duration)).await?
            }
            Action::EnableLobby { by } | Action::DisableLobby { by } => {
                let enabled = matches!(step.action, Action::EnableLobby { .. });
                if let Some(moderator) = self.live.get(by) {
                    if let Err(e) = moderator.set_lobby(enabled).await {
                        match e.refused_request() {
                            Some(why) => record.refused.push(format!(
                                "{} by {by}: {why}",
                                if enabled {
                                    "enable lobby"
                                } else {
                                    "disable lobby"
                                }
                            )),
                            None => return Err(self.participant_error(step, by, e)),
                        }
                    }
                }
            }
            Action::Admit { by, who } | Action::Deny { by, who } => {
                let admit = matches!(step.action, Action::Admit { .. });
                let verb = if admit { "admit" } else { "deny" };
                if let (Some(moderator), Some(waiting)) = (self.live.get(by), self.live.get(who)) {
                    let result = if admit {
                        moderator.admit(waiting).await
                    } else {
                        moderator.deny(waiting).await
                    };
                    if let Err(e) = result {
                        match e.refused_request() {
                            Some(why) => {
                                record.refused.push(format!("{verb} {who} by {by}: {why}"))
                            }
                            None => return Err(self.participant_error(step, by, e)),
                        }
                    }
                }
            }
            Action::Kick { by, who } => {
                let nick = self.spec(who).nick.clone();
                if let Some(kicker) = self.live.get(by) {
                    if let Err(e) = kicker.kick(&nick).await {
                        match e.refused_request() {
                            Some(why) => record.refused.push(format!("kick {who} by {by}: {why}")),
                            None => return Err(self.participant_error(step, by, e)),
                        }
                    }
                }
            }
            Action::Moderator(what) => self.moderator_step(step, what, &mut record).await?,
            Action::Presence(update) => self.presence(step, update).await?,
            Action::Reload(name) => self.reload(step, name, &mut record).await?,
        }
        self.settle(step, &mut record).await?;
        record.jicofo = self.jicofo_view().await;
        self.drain_changes(&mut record.changes);
        self.names_by_jid
            .extend(crate::participant::names_by_jid(&self.live));
        record.unmet = std::mem::take(&mut self.unmet_before);
        record.unmet.extend(timeline::check(&step.expect, &record));
        record
            .unmet
            .extend(timeline::unexpected_refusals(&step.expect, &record));
        if step.expect.no_flaps {
            record.unmet.extend(timeline::flaps(&record.changes));
        }
        record.took = started.elapsed();
        Ok(record)
    }

    /// Waits until the room settles or the step's deadline passes, and records the views.
    async fn settle(&mut self, step: &Step, record: &mut StepRecord) -> Result<(), RunError> {
        let deadline = Instant::now() + self.scenario.timeout_of(step);
        let mut last: Option<(BTreeMap<String, View>, BTreeMap<String, Waiting>)> = None;
        let mut quiet_since = Instant::now();
        // One receiver per bot for the whole step, each marked seen before its bot is read: a wake-up
        // then means a change since the last look, never an old one (issue 14: unmarked clones woke the
        // loop at once, and it spun for the whole deadline of every unmet step).
        let mut receivers: BTreeMap<String, tokio::sync::watch::Receiver<u64>> = BTreeMap::new();
        loop {
            receivers.retain(|name, _| self.live.contains_key(name));
            for (name, live) in &self.live {
                if !receivers.contains_key(name) {
                    if let Some(r) = live.changes() {
                        receivers.insert(name.clone(), r);
                    }
                }
            }
            for r in receivers.values_mut() {
                r.borrow_and_update();
            }
            let mut views = BTreeMap::new();
            let mut kicked = Vec::new();
            record.waiting.clear();
            for (name, live) in &self.live {
                match live.status().await {
                    Status::InRoom(observation) => {
                        views.insert(name.clone(), self.view_of(observation));
                    }
                    // Outside the room, observing nothing.
                    Status::Waiting(why) => {
                        record.waiting.insert(name.clone(), why);
                    }
                    // A kicked participant is out of the room.
                    Status::Kicked => kicked.push(name.clone()),
                    Status::Failed(reason) => {
                        return Err(RunError::new(
                            self.at(step),
                            Some(name),
                            RunErrorKind::ConnectionLost { reason },
                        ))
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
            let expected: BTreeSet<String> = self
                .live
                .keys()
                .filter(|n| !record.waiting.contains_key(*n))
                .cloned()
                .collect();
            let seen = (views.clone(), record.waiting.clone());
            if last.as_ref() != Some(&seen) {
                last = Some(seen);
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
            let polling = receivers.len() < self.live.len();
            let any_change = async {
                if receivers.is_empty() {
                    std::future::pending::<()>().await;
                }
                let futs = receivers.values_mut().map(|r| {
                    Box::pin(async move {
                        // A bot whose session ended announces nothing more; its status says why.
                        if r.changed().await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    })
                });
                futures::future::select_all(futs).await;
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
                _ = self.options.cancel.cancelled() => return Err(self.cancelled(step)),
            }
        }
    }

    /// Gives every role change of `steps` its cause ([`crate::explain`]), from the focus's log (fixture),
    /// jicofo's REST view (Jitsi) and the presences' actors.
    fn explain(&self, variant: &Variant, steps: &mut [StepRecord]) {
        let room = format!("{}@{}", self.room, self.endpoints().muc_domain);
        let mut modules = Vec::new();
        if variant.token_affiliation {
            modules.push("token_affiliation".to_owned());
        }
        if variant.wait_for_host {
            modules.push("wait_for_host".to_owned());
        }
        let evidence = crate::explain::Evidence {
            focus_grants: crate::explain::Evidence::grants_from_log(
                &self.stack.log_lines("focus"),
                &room,
            ),
            jicofo_manager: self.jicofo_manager.clone(),
            names_by_jid: self.names_by_jid.clone(),
            participants: self
                .scenario
                .participants
                .iter()
                .map(|p| p.name.clone())
                .collect(),
            modules,
        };
        crate::explain::attribute(steps, &evidence);
    }

    /// Moves every live participant's seat changes into `into`, in scenario names, in order of arrival.
    fn drain_changes(&self, into: &mut Vec<timeline::RoleChange>) {
        let participants = &self.scenario.participants;
        let name_of = |nick: &str, shown: Option<&str>| {
            shown
                .and_then(|n| participants.iter().find(|p| p.name == n))
                .or_else(|| participants.iter().find(|p| p.nick == nick))
                .map(|p| p.name.clone())
        };
        let mut fresh = Vec::new();
        for (observer, live) in &self.live {
            for c in live.take_seat_changes() {
                let actor = c.actor.as_deref().map(|a| {
                    if c.actor_is_focus {
                        "focus".to_owned()
                    } else {
                        name_of(a, Some(a)).unwrap_or_else(|| format!("?{a}"))
                    }
                });
                let seat = |(affiliation, role)| timeline::Seat {
                    role,
                    affiliation: Some(affiliation),
                };
                fresh.push(timeline::RoleChange {
                    at_ms: u64::try_from(c.at.saturating_duration_since(self.started).as_millis())
                        .unwrap_or(u64::MAX),
                    observer: observer.clone(),
                    who: name_of(&c.nick, c.name.as_deref())
                        .unwrap_or_else(|| format!("?{}", c.nick)),
                    from: c.from.map(seat),
                    to: seat(c.to),
                    actor,
                    cause: None,
                });
            }
        }
        fresh.sort_by(|a, b| (a.at_ms, &a.observer).cmp(&(b.at_ms, &b.observer)));
        into.extend(fresh);
    }

    /// jicofo's own view of the room (REST `/debug/conference`), when the stack exposes it: one more
    /// observer, mapped like the participants. Unreachable or unknown: none (recorded in the log, not the
    /// timeline).
    async fn jicofo_view(&mut self) -> Option<View> {
        let base = self.endpoints().jicofo_rest.as_ref()?;
        let room = format!("{}@{}", self.room, self.endpoints().muc_domain);
        let names = crate::participant::names_by_jid(&self.live);
        let conference = match JicofoClient::new(base) {
            Ok(client) => client.conference(&room).await,
            Err(e) => Err(e),
        };
        if let Ok(view) = &conference {
            if view.role_manager.is_some() {
                self.jicofo_manager = view.role_manager.clone();
            }
        }
        match conference.map(|v| v.observation_named(&names)) {
            Ok(mut o) => {
                // A browser's member is named by its own MUC nick (its endpoint id), which its page
                // reports: with no bot in the room, no roster names its JID.
                for (name, live) in &self.live {
                    if let (Participant::Browser(_), Status::InRoom(own)) =
                        (live, live.status().await)
                    {
                        if let Some(seen) = own.own.and_then(|nick| o.occupants.get_mut(&nick)) {
                            seen.name.get_or_insert_with(|| name.clone());
                        }
                    }
                }
                Some(View::from_observation(&o, &self.scenario.participants))
            }
            Err(e) => {
                tracing::warn!("jicofo REST for {room}: {e}");
                None
            }
        }
    }

    /// What an observation shows, in scenario names (display names a `presence` step gave included).
    fn view_of(&self, mut observation: crate::participant::Observation) -> View {
        for seen in observation.occupants.values_mut() {
            if let Some(name) = seen.name.as_ref().and_then(|n| self.renamed.get(n)) {
                seen.name = Some(name.clone());
            }
        }
        View::from_observation(&observation, &self.scenario.participants)
    }

    /// Whoever is moderator now, as every participant in the room sees it: exactly one, or why not.
    async fn moderator_now(&self) -> Result<String, String> {
        let mut seen: Option<BTreeSet<String>> = None;
        for live in self.live.values() {
            if let Status::InRoom(observation) = live.status().await {
                let moderators = self.view_of(observation).moderators();
                match &seen {
                    None => seen = Some(moderators),
                    Some(s) if *s == moderators => {}
                    Some(_) => return Err("the participants disagree on who is moderator".into()),
                }
            }
        }
        let moderators: Vec<String> = seen
            .unwrap_or_default()
            .into_iter()
            .filter(|m| self.live.contains_key(m))
            .collect();
        match moderators.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err("nobody is moderator".into()),
            many => Err(format!("{} moderators ({})", many.len(), many.join(", "))),
        }
    }

    /// A step on "whoever is moderator now": resolved to one participant, then done as the named step
    /// would be. Without exactly one moderator nothing happens, and the step records why as unmet.
    async fn moderator_step(
        &mut self,
        step: &Step,
        what: &ModeratorAction,
        record: &mut StepRecord,
    ) -> Result<(), RunError> {
        let moderator = match self.moderator_now().await {
            Ok(m) => m,
            Err(why) => {
                self.unmet_before.push(format!(
                    "`{}` needs exactly one moderator in the room: {why}",
                    step.label()
                ));
                return Ok(());
            }
        };
        tracing::info!("{}: the moderator is {moderator}", step.label());
        match what {
            ModeratorAction::Leave => {
                if let Some(live) = self.live.remove(&moderator) {
                    if let Err(e) = live.leave().await {
                        return Err(self.participant_error(step, &moderator, e));
                    }
                }
            }
            ModeratorAction::Disconnect => {
                if let Some(live) = self.live.remove(&moderator) {
                    live.disconnect().await;
                }
            }
            ModeratorAction::Kicks { who } => {
                self.kick_by(step, &moderator, who, "the moderator", who, record)
                    .await?
            }
            ModeratorAction::KickedBy { by } => {
                self.kick_by(step, by, &moderator, by, "the moderator", record)
                    .await?
            }
            ModeratorAction::Grants { to } => {
                let nick = self.spec(to).nick.clone();
                if let Some(granter) = self.live.get(&moderator) {
                    if let Err(e) = granter.grant(&nick).await {
                        match e.refused_request() {
                            Some(why) => record
                                .refused
                                .push(format!("grant {to} by the moderator: {why}")),
                            None => return Err(self.participant_error(step, &moderator, e)),
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// `by` kicks `who`; a refusal is recorded in the words of the step (`kick bob by the moderator`).
    async fn kick_by(
        &mut self,
        step: &Step,
        by: &str,
        who: &str,
        by_words: &str,
        who_words: &str,
        record: &mut StepRecord,
    ) -> Result<(), RunError> {
        let nick = self.spec(who).nick.clone();
        if let Some(kicker) = self.live.get(by) {
            if let Err(e) = kicker.kick(&nick).await {
                match e.refused_request() {
                    Some(why) => record
                        .refused
                        .push(format!("kick {who_words} by {by_words}: {why}")),
                    None => return Err(self.participant_error(step, by, e)),
                }
            }
        }
        Ok(())
    }

    /// A page reload: the connection drops, and the same user joins again with its `machine-uid` and the
    /// focus's `session-id` for it.
    async fn reload(
        &mut self,
        step: &Step,
        name: &str,
        record: &mut StepRecord,
    ) -> Result<(), RunError> {
        let Some(live) = self.live.remove(name) else {
            return Ok(());
        };
        if matches!(live, Participant::Browser(_)) {
            self.live.insert(name.to_owned(), live);
            return Err(RunError::new(
                self.at(step),
                Some(name),
                RunErrorKind::Unsupported {
                    what: format!("{name} joins in a browser; `reload` is done by bots only"),
                },
            ));
        }
        let session_id = live.session_id();
        live.disconnect().await;
        let mut prepared = self.prepare(step, name).await?;
        if let setup::Prepared::Bot(bot) = &mut prepared {
            bot.1.session_id = session_id;
        }
        match prepared.join().await {
            Ok(live) => {
                self.live.insert(name.to_owned(), live);
            }
            Err(e) if e.is_refusal() => {
                record.rejected.insert(name.to_owned(), e.to_string());
            }
            Err(e) => return Err(self.participant_error(step, name, e)),
        }
        Ok(())
    }

    /// A presence update (mute, hand, display name) from a participant in the room.
    async fn presence(&mut self, step: &Step, update: &PresenceUpdate) -> Result<(), RunError> {
        let change = crate::participant::PresenceChange {
            muted: update.muted,
            raise_hand: update.raise_hand,
            display_name: update.nick.clone(),
        };
        let Some(live) = self.live.get(&update.who) else {
            return Ok(());
        };
        match live.update_presence(&change).await {
            Ok(true) => {}
            Ok(false) => {
                return Err(RunError::new(
                    self.at(step),
                    Some(&update.who),
                    RunErrorKind::Unsupported {
                        what: format!(
                            "{} joins in a browser; presence updates are sent by bots only",
                            update.who
                        ),
                    },
                ))
            }
            Err(e) => return Err(self.participant_error(step, &update.who, e)),
        }
        if let Some(name) = &update.nick {
            self.renamed.retain(|_, who| who != &update.who);
            self.renamed.insert(name.clone(), update.who.clone());
        }
        Ok(())
    }

    /// `--hold`: the last step's participants stay connected until the run is cancelled (Ctrl-C).
    async fn hold(&self) {
        let who: Vec<&str> = self.live.keys().map(String::as_str).collect();
        let line = format!(
            "{}holding {} in room {} of {} until Ctrl-C",
            crate::stack::KEPT_PREFIX,
            if who.is_empty() {
                "nobody".to_owned()
            } else {
                who.join(", ")
            },
            self.room,
            self.stack.target()
        );
        tracing::info!("{line}");
        if let Some(r) = &self.options.reporter {
            r(&RunEvent::StackProgress { line: &line });
        }
        self.options.cancel.cancelled().await;
    }

    async fn leave_all(&mut self) {
        let all = std::mem::take(&mut self.live);
        let leaving = all.into_values().map(|l| async move {
            let _ = l.leave().await;
        });
        futures::future::join_all(leaving).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn died(service: &str, code: i64) -> ContainerEvent {
        ContainerEvent {
            service: service.into(),
            container: format!("jh-{service}"),
            change: crate::stack::watch::ContainerChange::Exited { code: Some(code) },
            at: std::time::SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_killed_prosody_is_the_cause_whichever_exit_the_engine_reports_first() {
        assert_eq!(
            root_cause(died("focus", 1), vec![died("prosody", 137)]).service,
            "prosody"
        );
        assert_eq!(
            root_cause(died("prosody", 137), vec![died("focus", 1)]).service,
            "prosody"
        );
        assert_eq!(root_cause(died("focus", 1), Vec::new()).service, "focus");
        // Neither explains the other: the first reported stays the one named.
        assert_eq!(
            root_cause(died("jvb", 1), vec![died("web", 1)]).service,
            "jvb"
        );
    }
    use crate::participant::jicofo::parse_conference;
    use crate::xmpp::Role;

    #[test]
    fn jicofo_roles_map_onto_seats_and_scenario_names() {
        let spec = ParticipantSpec::test_bot;
        let view = parse_conference(
            br#"{"chat_room": {"members": {"alice": {"role": "OWNER"}, "bob_2": {"role": "PARTICIPANT"}}}}"#,
        )
        .unwrap();
        let v = View::from_observation(
            &view.observation(),
            &[spec("alice", "alice"), spec("bob", "bob_2")],
        );
        assert_eq!(v.moderators().into_iter().collect::<Vec<_>>(), ["alice"]);
        assert_eq!(v.occupants["bob"].role, Role::Participant);
        assert_eq!(room_name("Auto Owner_x").len(), "auto-owner-x".len() + 9);
    }
}
