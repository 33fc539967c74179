//! A chain step on its way to the step writer (see `delivery.rs`), which writes the steps of
//! every chain running at once in one transaction.

use chronicle_host_ports::delivery::{AttemptEnd, ChainStep, Reached};

use crate::error::StoreError;

/// One chain step, as `DeliveryQueue::advance` describes it.
pub(crate) struct Step {
    pub seq: i64,
    pub progress: String,
    pub end: Option<AttemptEnd>,
    pub step: ChainStep,
}

/// Where a step's outcome goes back to.
pub(crate) type StepReply = tokio::sync::oneshot::Sender<Result<Option<Reached>, StoreError>>;

/// Where steps go to be written.
pub(crate) type StepSender = std::sync::mpsc::Sender<(Step, StepReply)>;
