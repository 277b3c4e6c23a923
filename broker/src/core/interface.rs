//! The broker core as a [`Node`]: the one interface every shell drives (see [`protocol::node`]).
//!
//! A request is served after the storage's latency for it (drawn before anything else happens:
//! a consumer fetch plans its read now and reads after it); answers to the broker's own requests
//! go to [`BrokerCore::on_response`]; the host's commands are the faults a scenario injects.

use super::{AdminCommand, BrokerCore, Observation, Output};
use crate::storage::Storage;
use protocol::api::Envelope;
use protocol::node::{millis, Node, Output as NodeOutput, Step};
use std::net::SocketAddr;
use std::time::Duration;

impl<S: Storage + Clone> Node for BrokerCore<S> {
    type Observation = Observation;
    type Command = AdminCommand;

    fn on_message(&mut self, now: Duration, from: SocketAddr, envelope: Envelope) {
        let now_ms = millis(now);
        match envelope {
            Envelope::Request {
                correlation_id,
                request,
            } => {
                let read_delay_ms = millis(self.storage.latency());
                self.on_request(now_ms, from, correlation_id, request, read_delay_ms);
            }
            Envelope::Response {
                correlation_id,
                response,
            } => self.on_response(now_ms, correlation_id, response),
        }
    }

    fn on_tick(&mut self, now: Duration) {
        BrokerCore::on_tick(self, millis(now));
    }

    fn on_command(&mut self, now: Duration, command: AdminCommand) {
        self.on_admin(millis(now), command);
    }

    fn take_outputs(&mut self, outputs: &mut Vec<NodeOutput<Observation>>) {
        let controller = self.controller_addr;
        outputs.extend(self.outputs.drain(..).map(|output| match output {
            Output::Respond {
                to,
                correlation_id,
                response,
            } => NodeOutput::send(
                to,
                Envelope::Response {
                    correlation_id,
                    response,
                },
            ),
            Output::ToController {
                correlation_id,
                request,
            } => NodeOutput::send(
                controller,
                Envelope::Request {
                    correlation_id,
                    request,
                },
            ),
            Output::ToBroker {
                addr,
                correlation_id,
                request,
            } => NodeOutput::send(
                addr,
                Envelope::Request {
                    correlation_id,
                    request,
                },
            ),
            Output::Observe(observation) => NodeOutput::Observe(observation),
        }));
    }

    /// The core's earliest timer (at the start: at once).
    fn next_tick(&mut self, now: Duration, step: Step) -> Option<Duration> {
        match step {
            Step::Start => Some(now),
            Step::Message | Step::Tick => {
                Some(Duration::from_millis(self.next_deadline_ms(millis(now))))
            }
        }
    }
}
