//! A replay's thread: a recorded run's events sent at their pace, as training sends them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use crate::app::{Msg, RunEnd};
use crate::run::RunKey;
use crate::run::replay::Replay;
use cifar_engine::events::{Progress, TrainEvent};

/// Sends `replay`'s events as run `run`, each at its second divided by `speed`, then its end;
/// ends it cancelled as soon as `stop` is set.
pub fn play(run: RunKey, replay: Replay, speed: f64, tx: &UnboundedSender<Msg>, stop: &AtomicBool) {
    let start = Instant::now();
    for played in replay.events {
        let due = Duration::from_secs_f64(played.at / speed);
        // In short sleeps, so a cancel is heard at once.
        while let Some(left) = due.checked_sub(start.elapsed()) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(100)));
        }
        if stop.load(Ordering::Relaxed) {
            let _ = tx.send(Msg::Done {
                run,
                result: Err(RunEnd::Cancelled),
            });
            return;
        }
        let event = match played.event {
            // The ETA counts down the replay's time, not the run's.
            TrainEvent::Progress(p) => TrainEvent::Progress(Progress {
                elapsed: p.elapsed / speed,
                ..p
            }),
            e => e,
        };
        if tx.send(Msg::Train { run, event }).is_err() {
            return;
        }
    }
    let _ = tx.send(Msg::Done {
        run,
        result: Ok(Box::new(replay.outcome)),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::Command;
    use crate::run::replay::Played;
    use crate::store::Store;
    use crate::store::lifecycle::Storage;
    use crate::term::effects::Effects;
    use tokio::sync::mpsc::unbounded_channel;

    fn replay(events: usize, every: f64) -> Replay {
        let o = crate::run::fixtures::outcome(0.6, 1);
        Replay {
            events: (0..events)
                .map(|k| Played {
                    at: k as f64 * every,
                    event: TrainEvent::Evaluating { epoch: k },
                })
                .collect(),
            outcome: o,
            epochs_only: false,
        }
    }

    /// A replay sends its events at their pace times the speed, then the run's end; a cancel
    /// stops it at once, ended as cancelled; nothing is written anywhere.
    #[test]
    fn a_replay_plays_at_its_speed_and_stops_when_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, mut rx) = unbounded_channel();
        let storage = Storage {
            history: dir.path().join("history.db"),
            checkpoints: dir.path().join("checkpoints"),
        };
        let mut effects = Effects::new(storage, tx);
        // Ten events 1 s apart at 20x: half a second.
        let started = Instant::now();
        effects.perform(Command::Replay {
            run: 3,
            replay: Box::new(replay(10, 1.0)),
            speed: 20.0,
        });
        let mut seen = 0;
        loop {
            match rx.blocking_recv().unwrap() {
                Msg::Train { run: 3, .. } => seen += 1,
                Msg::Done { run: 3, result } => {
                    assert!(result.is_ok());
                    break;
                }
                _ => {}
            }
        }
        let took = started.elapsed().as_secs_f64();
        assert_eq!(seen, 10);
        assert!((0.4..3.0).contains(&took), "{took} s");

        // An hour-long replay at its own pace: cancelled, it ends now.
        effects.perform(Command::Replay {
            run: 4,
            replay: Box::new(replay(3, 1800.0)),
            speed: 1.0,
        });
        std::thread::sleep(Duration::from_millis(50));
        let cancelled = Instant::now();
        effects.perform(Command::Cancel(4));
        loop {
            if let Msg::Done { run: 4, result } = rx.blocking_recv().unwrap() {
                assert!(matches!(result, Err(RunEnd::Cancelled)));
                break;
            }
        }
        assert!(cancelled.elapsed() < Duration::from_secs(1));
        assert!(
            !dir.path().join("history.db").exists() || {
                let store = Store::open(&dir.path().join("history.db")).unwrap();
                store.list().unwrap().is_empty()
            }
        );
    }
}
