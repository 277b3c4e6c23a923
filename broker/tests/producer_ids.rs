//! The producer-id manager's KIP-360 epoch rules, against a model, across crashes.

mod common;

use broker::producer_ids::{ProducerIdError, ProducerIdManager};
use common::disk;
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Op {
    /// Client `client` calls InitProducerId with what it knows; `lost` drops the answer.
    Init {
        client: usize,
        lost: bool,
    },
    /// Client `client` calls with an epoch `behind` epochs older than it knows.
    Stale {
        client: usize,
        behind: i16,
    },
    /// A producer id nobody was given.
    Unknown {
        id_offset: i64,
    },
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3usize, any::<bool>()).prop_map(|(client, lost)| Op::Init { client, lost }),
        2 => (0..3usize, 1..3i16).prop_map(|(client, behind)| Op::Stale { client, behind }),
        1 => (1..5i64).prop_map(|id_offset| Op::Unknown { id_offset }),
        1 => Just(Op::Crash),
    ]
}

/// The rules of KIP-360, stated plainly.
#[derive(Debug, Default)]
struct Model {
    next_id: i64,
    /// id -> (current epoch, previous epoch)
    epochs: BTreeMap<i64, (i16, Option<i16>)>,
}

impl Model {
    fn init(&mut self, request: Option<(i64, i16)>) -> Result<(i64, i16), Option<i16>> {
        let Some((id, epoch)) = request else {
            let id = self.next_id;
            self.next_id += 1;
            self.epochs.insert(id, (0, None));
            return Ok((id, 0));
        };
        let Some(&(current, previous)) = self.epochs.get(&id) else {
            return Err(None);
        };
        if epoch == current {
            self.epochs.insert(id, (current + 1, Some(current)));
            Ok((id, current + 1))
        } else if Some(epoch) == previous {
            Ok((id, current))
        } else {
            Err(Some(current))
        }
    }
}

proptest! {
    #[test]
    fn init_producer_id_follows_kip_360(seed in any::<u64>(), ops in proptest::collection::vec(op(), 1..60)) {
        let disk = disk(seed);
        let mut manager = ProducerIdManager::open(disk.clone(), "controller/pids-").unwrap();
        let mut model = Model::default();
        let mut clients: Vec<Option<(i64, i16)>> = vec![None; 3];
        for op in ops {
            let request = match op {
                Op::Init { client, .. } => clients[client],
                Op::Stale { client, behind } => match clients[client] {
                    Some((id, epoch)) if epoch >= behind => Some((id, epoch - behind)),
                    _ => continue,
                },
                Op::Unknown { id_offset } => Some((model.next_id + id_offset, 0)),
                Op::Crash => {
                    disk.crash();
                    manager = ProducerIdManager::open(disk.clone(), "controller/pids-").unwrap();
                    continue;
                }
            };
            let answer = manager.init_producer_id(request);
            let expected = model.init(request);
            match (&answer, &expected) {
                (Ok(answer), Ok(expected)) => prop_assert_eq!(answer, expected),
                (Err(ProducerIdError::InvalidProducerEpoch { current_epoch, .. }), Err(expected)) => {
                    prop_assert_eq!(current_epoch, expected)
                }
                _ => return Err(TestCaseError::fail(format!(
                    "request {request:?}: got {answer:?}, expected {expected:?}"
                ))),
            }
            if let (Op::Init { client, lost: false }, Ok(answer)) = (op, answer) {
                clients[client] = Some(answer);
            }
        }
        prop_assert_eq!(manager.next_producer_id(), model.next_id);
    }
}
