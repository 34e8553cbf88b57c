//! Moved to [`crate::standin::focus`]: the focus stand-in runs inside a container, not in the harness.
//! This shim keeps the one name the fixture stack and the binary read from here.

pub use crate::standin::focus::READY_LINE;
