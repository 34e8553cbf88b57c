//! An existing deployment (TODO: being written).
use super::{Endpoints, StackError, StackTarget, StartOptions, Variant};

/// An existing deployment.
pub struct ExternalStack {
    target: StackTarget,
    endpoints: Endpoints,
}

impl ExternalStack {
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
