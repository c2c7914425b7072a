//! A recorded run played back: the events its training sent, rebuilt from what the history
//! keeps, each at the second it came, so the live screens draw it again (a demo without a GPU
//! or a network: record on the server, replay on the laptop).

use cifar_engine::config::TEST_IMAGES;
use cifar_engine::events::{Outcome, Progress, TrainEvent};

use super::{Run, TrainPoint};

/// One event of a replay and when it came, in seconds from the run's start at its own pace.
#[derive(Clone, Debug, PartialEq)]
pub struct Played {
    pub at: f64,
    pub event: TrainEvent,
}

/// A run's replay: its events in order, and its end.
#[derive(Clone, Debug, PartialEq)]
pub struct Replay {
    pub events: Vec<Played>,
    pub outcome: Outcome,
    /// Its reports were not kept (recorded before they were): it replays epoch by epoch.
    pub epochs_only: bool,
}

impl Replay {
    /// The replay of a finished run; `None` for one that did not finish.
    pub fn of(run: &Run) -> Option<Replay> {
        let outcome = run.outcome()?.clone();
        let per_epoch = run.steps_per_epoch.max(1);
        let complete = |p: &TrainPoint| p.accuracy.is_some() && p.seconds.is_some();
        let epochs_only = run.train_points.is_empty() || !run.train_points.iter().all(complete);
        let mut events = vec![Played {
            at: 0.0,
            event: TrainEvent::Started {
                device: outcome.device,
                gpu: run.gpu.clone(),
                train_images: run.config.train_images(),
                test_images: TEST_IMAGES,
                steps_per_epoch: per_epoch,
            },
        }];
        let mut ended = 0;
        let mut now = 0.0;
        // An epoch's end: its test set scored, then its figures, the scoring's seconds later.
        let mut end_epochs = |events: &mut Vec<Played>, until: usize, now: &mut f64| {
            while ended < until.min(outcome.epochs.len()) {
                let e = outcome.epochs[ended];
                let training = run.config.train_images() as f64 / e.train_images_per_sec.max(1e-9);
                events.push(Played {
                    at: *now,
                    event: TrainEvent::Evaluating { epoch: ended },
                });
                *now += if epochs_only {
                    e.seconds
                } else {
                    (e.seconds - training).max(0.0)
                };
                events.push(Played {
                    at: *now,
                    event: TrainEvent::Epoch(e),
                });
                ended += 1;
            }
        };
        if !epochs_only {
            let mut validation = run.val_points.iter().peekable();
            for p in &run.train_points {
                let epoch = (p.step - 1) / per_epoch;
                end_epochs(&mut events, epoch, &mut now);
                // The report's own time; the pace never runs backwards where the scoring's
                // estimate ran past it.
                let elapsed = p.seconds.unwrap_or(now);
                now = now.max(elapsed);
                events.push(Played {
                    at: now,
                    event: TrainEvent::Progress(Progress {
                        epoch,
                        step: p.step - epoch * per_epoch,
                        steps_per_epoch: per_epoch,
                        loss: p.loss,
                        accuracy: p.accuracy.unwrap_or_default(),
                        images_per_sec: p.images_per_sec.unwrap_or_default(),
                        elapsed,
                    }),
                });
                // Validation points taken after this report and before the next.
                let next = p.step + cifar_engine::events::REPORT_EVERY;
                while let Some(v) = validation.next_if(|v| {
                    let at = (v.at * per_epoch as f64).round() as usize;
                    at >= p.step && at < next.min((epoch + 1) * per_epoch)
                }) {
                    events.push(Played {
                        at: now,
                        event: TrainEvent::Validation(*v),
                    });
                }
            }
        }
        end_epochs(&mut events, usize::MAX, &mut now);
        Some(Replay {
            events,
            outcome,
            epochs_only,
        })
    }

    /// Seconds from the start to the end, at the run's own pace.
    pub fn seconds(&self) -> f64 {
        self.events.last().map_or(0.0, |p| p.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::fixtures::outcome;
    use cifar_engine::config::Hyper;
    use cifar_engine::tricks::{self, TrickSet};

    /// A finished run of 2 epochs of 47 steps as the history reads it back, its reports kept.
    fn recorded() -> Run {
        let mut run = Run::new(
            0,
            TrickSet::new(),
            tricks::resolve(&TrickSet::new(), &Hyper::default()),
        );
        run.id = 7;
        run.config.train_limit = Some(3000);
        run.steps_per_epoch = 47;
        let o = outcome(0.6, 2);
        for epoch in 0..2 {
            for step in cifar_engine::events::report_steps(47) {
                let k = epoch * 47 + step;
                run.train_points.push(TrainPoint {
                    accuracy: Some(k as f64 / 100.0),
                    images_per_sec: Some(1500.0),
                    seconds: Some(k as f64 / 10.0),
                    ..TrainPoint::new(k, 2.0 - k as f64 / 100.0)
                });
            }
        }
        run.val_points.push(cifar_engine::events::Validation {
            at: 0.5,
            loss: 1.9,
            accuracy: 0.3,
            images: 1000,
        });
        run.epochs = o.epochs.clone();
        run.status = crate::run::Status::Finished(Box::new(o));
        run
    }

    #[test]
    fn a_replay_sends_what_the_training_sent_in_its_order() {
        let replay = Replay::of(&recorded()).unwrap();
        assert!(!replay.epochs_only);
        let kinds: Vec<String> = replay
            .events
            .iter()
            .map(|p| match &p.event {
                TrainEvent::Started { .. } => "start".into(),
                TrainEvent::Progress(p) => format!("{}:{}", p.epoch, p.step),
                TrainEvent::Validation(_) => "val".into(),
                TrainEvent::Evaluating { epoch } => format!("scoring {epoch}"),
                TrainEvent::Epoch(e) => format!("epoch {}", e.epoch),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "start",
                "0:20",
                "val",
                "0:40",
                "0:47",
                "scoring 0",
                "epoch 1",
                "1:20",
                "1:40",
                "1:47",
                "scoring 1",
                "epoch 2"
            ]
        );
        // Each at its second: reports at theirs, never back in time.
        assert!(replay.events.windows(2).all(|w| w[0].at <= w[1].at));
        assert_eq!(replay.events[1].at, 2.0);
    }

    #[test]
    fn a_run_without_its_reports_replays_its_epochs_and_says_so() {
        let mut run = recorded();
        for p in &mut run.train_points {
            p.seconds = None;
        }
        let replay = Replay::of(&run).unwrap();
        assert!(replay.epochs_only);
        assert_eq!(replay.events.len(), 1 + 2 * 2);
        // The fixture's epochs take 60 s each.
        assert_eq!(replay.seconds(), 120.0);
        run.status = crate::run::Status::Cancelled;
        assert_eq!(Replay::of(&run), None);
    }
}
