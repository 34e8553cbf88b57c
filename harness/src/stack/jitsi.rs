//! docker-jitsi-meet at a tag (TODO: being written).
use super::{Endpoints, StackError, StackTarget, StartOptions, Variant};

/// A running docker-jitsi-meet stack.
pub struct JitsiStack {
    target: StackTarget,
    endpoints: Endpoints,
}

impl JitsiStack {
    pub async fn start(
        target: &StackTarget,
        variant: &Variant,
        _options: &StartOptions,
    ) -> Result<Self, StackError> {
        Err(StackError::Unsupported {
            stack: target.to_string(),
            variant: variant.name.clone(),
            reason: "not implemented yet".into(),
        })
    }
    pub fn target(&self) -> &StackTarget {
        &self.target
    }
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }
    pub async fn close(self) -> Result<(), StackError> {
        Ok(())
    }
}
