//! # jitsi-harness
//!
//! Rechecks, for every Jitsi Meet release, **who holds moderator** after each step of a join/leave
//! scenario. Read top to bottom, the modules are the data flow:
//!
//! ```text
//! scenarios/*.toml ─► scenario ─► runner ─► stack (containers) ─► Endpoints
//!                                   │                                │
//!                                   ├─► participant (bot | browser) ◄┘   token signs the JWTs they carry
//!                                   ▼
//!                                 timeline (who is owner/moderator after each step, per observer)
//!                                   ├─► snapshot (insta YAML under snapshots/)
//!                                   └─► report (progress, verdict table, JSON)
//! ```
//!
//! `stack` never imports `participant`; only `runner` knows both. Only the binary writes to the terminal.

#![warn(missing_docs, missing_debug_implementations)]

pub mod bisect;
pub mod explain;
pub mod http;
pub mod participant;
pub mod paths;
pub mod process;
pub mod redact;
pub mod releases;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod snapshot;
pub mod stack;
pub mod standin;
pub mod sweep;
pub mod timeline;
pub mod tls;
pub mod token;
pub mod versions;
pub mod xmpp;
