//! The one shell (`sim::shell::run`) keeps the step contract of `protocol::node` for any node:
//! ticks when the node asks (and `None` leaves the timer alone), commands right after the input,
//! outputs in order (a delayed send leaves after its delay), nothing once the node is finished.

use protocol::api::{
    ClusterMetadata, Envelope, MetadataRequest, MetadataResponse, Request, Response,
};
use protocol::node::{millis, Node, Output, Step};
use sim::net::Socket;
use sim::shell::{self, Host};
use sim::{run, RunLimits, RunStatus, Seed};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CADENCE: Duration = Duration::from_millis(10);
const ANSWER_DELAY: Duration = Duration::from_millis(5);

/// Ticks every 10 ms from its start, answers requests 5 ms late, finishes after 3 ticks.
struct Metronome {
    armed: Duration,
    ticks: u32,
    outputs: Vec<Output<String>>,
}

impl Node for Metronome {
    type Observation = String;
    type Command = String;

    fn on_message(&mut self, now: Duration, from: SocketAddr, envelope: Envelope) {
        if let Envelope::Request { correlation_id, .. } = envelope {
            self.outputs.push(Output::Observe(format!(
                "request {correlation_id} at {}",
                millis(now)
            )));
            self.outputs.push(Output::Send {
                to: from,
                envelope: Envelope::Response {
                    correlation_id,
                    response: Response::Metadata(MetadataResponse {
                        metadata: ClusterMetadata::default(),
                    }),
                },
                delay: ANSWER_DELAY,
            });
        }
    }

    fn on_tick(&mut self, now: Duration) {
        self.ticks += 1;
        self.outputs
            .push(Output::Observe(format!("tick at {}", millis(now))));
    }

    fn on_command(&mut self, _now: Duration, command: String) {
        self.outputs
            .push(Output::Observe(format!("command {command}")));
    }

    fn take_outputs(&mut self, outputs: &mut Vec<Output<String>>) {
        outputs.append(&mut self.outputs);
    }

    fn next_tick(&mut self, now: Duration, step: Step) -> Option<Duration> {
        match step {
            Step::Start => self.armed = now + CADENCE,
            Step::Tick => self.armed += CADENCE,
            Step::Message => return None,
        }
        Some(self.armed)
    }

    fn finished(&self) -> bool {
        self.ticks == 3
    }
}

#[derive(Clone, Default)]
struct Log {
    lines: Arc<Mutex<Vec<String>>>,
    commands: Arc<Mutex<VecDeque<String>>>,
}

impl Host<Metronome> for Log {
    fn observe(&mut self, line: String) {
        self.lines.lock().unwrap().push(line);
    }

    fn after_tick(&mut self, node: &Metronome) {
        self.lines
            .lock()
            .unwrap()
            .push(format!("published {} ticks", node.ticks));
    }

    fn commands(&mut self) -> Vec<String> {
        self.commands.lock().unwrap().drain(..).collect()
    }
}

fn request(correlation_id: u64) -> Envelope {
    Envelope::Request {
        correlation_id,
        request: Request::Metadata(MetadataRequest { topics: None }),
    }
}

#[test]
fn the_shell_keeps_the_step_contract() {
    let log = Log::default();
    let host = log.clone();
    let outcome = run(
        Seed::new(7),
        RunLimits {
            sim_time: Duration::from_secs(60),
            wall_clock: Duration::from_secs(60),
        },
        move |world| async move {
            let metronome = world.add_node("metronome", move |context| {
                let host = host.clone();
                async move {
                    let socket = Arc::new(Socket::bind(context.addr).await.unwrap());
                    let node = Metronome {
                        armed: Duration::ZERO,
                        ticks: 0,
                        outputs: Vec::new(),
                    };
                    shell::run(&context, socket, node, host).await;
                }
            });
            let (sender, receiver) = tokio::sync::oneshot::channel();
            let commands = log.commands.clone();
            let sender = Arc::new(Mutex::new(Some(sender)));
            world.add_node("client", move |_context| {
                let commands = commands.clone();
                let sender = sender.clone();
                async move {
                    let socket = Socket::<Envelope>::bind_any().await.unwrap();
                    madsim::time::sleep(Duration::from_millis(12)).await;
                    commands.lock().unwrap().push_back("c1".to_string());
                    let sent = sim::time::now();
                    socket.send(metronome, request(7)).await;
                    let (answer, _) = socket.recv().await.unwrap();
                    let waited = sim::time::now() - sent;
                    // After it finished, the node handles nothing more.
                    madsim::time::sleep(Duration::from_millis(100)).await;
                    socket.send(metronome, request(8)).await;
                    let late = madsim::time::timeout(Duration::from_millis(100), socket.recv())
                        .await
                        .is_ok();
                    if let Some(sender) = sender.lock().unwrap().take() {
                        let _ = sender.send((answer, waited, late));
                    }
                }
            });
            receiver.await.unwrap()
        },
    );
    assert_eq!(outcome.status, RunStatus::Completed);
    let (answer, waited, late) = outcome.value.unwrap();
    assert!(matches!(
        answer,
        Envelope::Response {
            correlation_id: 7,
            ..
        }
    ));
    assert!(
        waited >= ANSWER_DELAY,
        "the answer left after its delay: {waited:?}"
    );
    assert!(!late, "a finished node answers nothing");
    let lines = log.lines.lock().unwrap().clone();
    // Ticks every 10 ms from the node's start, whatever the message between them; each tick
    // is published before its outputs.
    let ticks: Vec<u64> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("tick at "))
        .map(|ms| ms.parse().unwrap())
        .collect();
    assert_eq!(ticks.len(), 3, "{lines:?}");
    assert_eq!(
        [ticks[1] - ticks[0], ticks[2] - ticks[1]],
        [10, 10],
        "{lines:?}"
    );
    for (n, tick) in ticks.iter().enumerate() {
        let at = lines
            .iter()
            .position(|l| *l == format!("tick at {tick}"))
            .unwrap();
        assert_eq!(
            lines[at - 1],
            format!("published {} ticks", n + 1),
            "{lines:?}"
        );
    }
    // The command (queued at 12 ms) reached the node in its next step, after that step's input.
    let command_at = lines.iter().position(|l| l == "command c1").unwrap();
    let next_tick = ticks.iter().find(|&&tick| tick >= 12).unwrap();
    assert_eq!(
        lines[command_at - 1],
        format!("tick at {next_tick}"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("request 7")),
        "{lines:?}"
    );
    assert!(
        !lines.iter().any(|l| l.starts_with("request 8")),
        "{lines:?}"
    );
    assert_eq!(lines.len(), 8, "{lines:?}");
}
