//! Per-participant XMPP transcripts for the artifacts folder, tokens redacted on write.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Which way a frame went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the harness to the server.
    Sent,
    /// From the server to the harness.
    Received,
    /// Something the harness notes (connect, close, timeouts).
    Note,
}

/// An append-only transcript file, shareable between tasks.
#[derive(Clone)]
pub struct Transcript {
    inner: Arc<Mutex<(std::io::BufWriter<std::fs::File>, Instant)>>,
}

impl std::fmt::Debug for Transcript {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transcript")
    }
}

impl Transcript {
    /// Creates (truncates) `path`.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = std::fs::File::create(path)?;
        Ok(Transcript {
            inner: Arc::new(Mutex::new((std::io::BufWriter::new(file), Instant::now()))),
        })
    }

    /// Appends one line: elapsed time, direction, the frame with every token shortened.
    pub fn record(&self, direction: Direction, text: &str) {
        let arrow = match direction {
            Direction::Sent => "->",
            Direction::Received => "<-",
            Direction::Note => "##",
        };
        let text = crate::redact::scrub(text);
        if let Ok(mut guard) = self.inner.lock() {
            let elapsed = guard.1.elapsed().as_secs_f64();
            let _ = writeln!(guard.0, "{elapsed:9.3} {arrow} {text}");
        }
    }

    /// Writes buffered lines to disk.
    pub fn flush(&self) {
        if let Ok(mut guard) = self.inner.lock() {
            let _ = guard.0.flush();
        }
    }
}

impl Drop for Transcript {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_never_reach_the_file() {
        let dir = std::env::temp_dir().join(format!("jh-transcript-{}", std::process::id()));
        let path = dir.join("t.log");
        let t = Transcript::create(&path).unwrap();
        t.record(
            Direction::Note,
            "connect ws://h/xmpp-websocket?room=r&token=eyJSECRETSECRET",
        );
        t.record(Direction::Sent, "<conference token='eyJSECRETSECRET'/>");
        // The focus request as bots send it (lib-jitsi-meet 1d19d5e7): a whole JWT in an attribute.
        t.record(
            Direction::Sent,
            "<conference xmlns='http://jitsi.org/protocol/focus' machine-uid='m' \
             token=\"eyJhbGciOiJIUzI1NiJ9.eyJTECRETPAYLOAD.SECRETSIGNATURE\" room='r@muc'/>",
        );
        drop(t);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("SECRETSECRET"), "{text}");
        assert!(!text.contains("SECRETSIGNATURE"), "{text}");
        assert!(!text.contains("TECRETPAYLOAD"), "{text}");
        assert_eq!(text.lines().count(), 3);
        let _ = std::fs::remove_dir_all(dir);
    }
}
