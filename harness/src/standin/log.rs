//! Log lines on stdout, in the shape each stand-in's original prints.
//!
//! jicofo and jvb log through jitsi-utils' `JitsiLogFormatter` to the console (docker-jitsi-meet
//! `jicofo/rootfs/defaults/logging.properties@stable-11146`, `programname=Jicofo`; the jvb's with
//! `programname=JVB`): `Jicofo 2026-08-03 10:00:00.123 INFO: [27] BridgeSelector.addJvbAddress#99: Added new
//! videobridge: …`. The thread number is fixed here (one task does the work) and the line number is 0: only
//! the program, level, class, method and message are meant to be read. Times are UTC (the images' default
//! time zone).

/// How a stand-in writes its log lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Logger {
    /// `<prefix>: <message>` (the fixture focus).
    Plain(&'static str),
    /// `JitsiLogFormatter`'s console line with this program name (`Jicofo`, `JVB`).
    Jitsi(&'static str),
}

/// A log level, as `java.util.logging` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// `INFO`.
    Info,
    /// `WARNING`.
    Warning,
    /// `SEVERE`.
    Severe,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warning => "WARNING",
            Level::Severe => "SEVERE",
        }
    }
}

impl Logger {
    /// The line for `message` logged by `class.method` (`site`, e.g. `BridgeSelector.addJvbAddress`).
    pub fn format(&self, level: Level, site: &str, message: &str) -> String {
        match self {
            Logger::Plain(prefix) => format!("{prefix}: {message}"),
            Logger::Jitsi(program) => format!(
                "{program} {} {}: [1] {site}#0: {message}",
                timestamp(time::OffsetDateTime::now_utc()),
                level.name()
            ),
        }
    }

    /// Prints an `INFO` line.
    pub fn info(&self, site: &str, message: &str) {
        println!("{}", self.format(Level::Info, site, message));
    }

    /// Prints a `WARNING` line.
    pub fn warn(&self, site: &str, message: &str) {
        println!("{}", self.format(Level::Warning, site, message));
    }

    /// Prints a `SEVERE` line.
    pub fn severe(&self, site: &str, message: &str) {
        println!("{}", self.format(Level::Severe, site, message));
    }
}

/// `yyyy-MM-dd HH:mm:ss.SSS`.
fn timestamp(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitsi_lines_have_the_formatter_shape() {
        let line = Logger::Jitsi("Jicofo").format(
            Level::Info,
            "BridgeSelector.addJvbAddress",
            "Added new videobridge: x",
        );
        let (head, rest) = line.split_at(7);
        assert_eq!(head, "Jicofo ");
        // 2026-08-03 10:00:00.123 INFO: [1] BridgeSelector.addJvbAddress#0: Added new videobridge: x
        assert_eq!(&rest[4..5], "-");
        assert_eq!(&rest[10..11], " ");
        assert_eq!(&rest[19..20], ".");
        assert_eq!(
            &rest[23..],
            " INFO: [1] BridgeSelector.addJvbAddress#0: Added new videobridge: x"
        );
        assert_eq!(
            Logger::Plain("focus").format(Level::Warning, "X.y", "m"),
            "focus: m"
        );
    }

    #[test]
    fn timestamps_are_zero_padded() {
        let t = time::OffsetDateTime::from_unix_timestamp_nanos(1_000_000_000_007_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        assert_eq!(timestamp(t), "2001-09-09 01:46:40.007");
    }
}
