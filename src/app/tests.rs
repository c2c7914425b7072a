//! The update step's tests, by messages fed and commands given; [`app`] serves other modules'
//! tests too.

use super::screens::numbers;
use super::*;
use crate::app::detail::Subject;
use crate::run::fixtures::outcome;
use crate::run::variants::Seeds;
use cifar_engine::events::Progress;
use cifar_engine::tricks::PRESETS;
use std::path::PathBuf;

pub(crate) fn app() -> App {
    let mut app = App::new(TrickSet::new(), Hyper::default(), DeviceChoice::Cpu);
    app.update(Msg::Data(DataState::Ready {
        train: 50_000,
        test: 10_000,
    }));
    app
}

/// The commands an action gives, without the history bookkeeping (`Enqueue`).
fn act(app: &mut App, a: Action) -> Vec<Command> {
    app.update(Msg::Action(a))
        .into_iter()
        .filter(|c| !matches!(c, Command::Enqueue { .. }))
        .collect()
}

/// Queues a run and gives the history's answer, as the effects would: `stored` is its
/// number. The commands that answer brings.
fn queue(app: &mut App, stored: Option<i64>) -> Vec<Command> {
    act(app, Action::Start);
    let run = app.runs.last().unwrap().key;
    app.update(Msg::Stored { run, id: stored })
}

#[test]
fn the_sweep_screen_reads_its_folder_while_shown_and_i_imports_it() {
    use crate::store::sweep::sample;
    let mut app = app();
    // No sweep watched: the screen reads nothing and `i` says how to watch one.
    assert!(act(&mut app, Action::Goto(Screen::Sweep)).is_empty());
    assert!(app.update(Msg::Tick).is_empty());
    assert!(act(&mut app, Action::Import).is_empty());
    assert_eq!(app.notice.as_deref(), Some(NO_SWEEP));

    let dir = PathBuf::from("/shared/sweep1");
    let read = vec![Command::ReadSweep(dir.clone())];
    app.sweep = Some(SweepWatch::new(dir.clone()));
    act(&mut app, Action::Goto(Screen::Train));
    assert_eq!(act(&mut app, Action::Goto(Screen::Sweep)), read);
    // One reading at a time: a slow file system never piles them up.
    assert!(app.update(Msg::Tick).is_empty());
    app.update(Msg::Sweep(Ok(sample())));
    assert_eq!(app.update(Msg::Tick), read, "read again every second");
    app.update(Msg::Sweep(Ok(sample())));
    // Not read while another screen is shown.
    act(&mut app, Action::Goto(Screen::History));
    assert!(!app.update(Msg::Tick).contains(&read[0]));
    assert_eq!(act(&mut app, Action::NextScreen), read);
    app.update(Msg::Sweep(Ok(sample())));

    for _ in 0..9 {
        act(&mut app, Action::Down);
    }
    assert_eq!(
        app.sweep.as_ref().unwrap().cursor,
        4,
        "stops at the last task"
    );
    act(&mut app, Action::Up);
    assert_eq!(app.sweep.as_ref().unwrap().cursor, 3);
    // A folder that cannot be read any more: the cursor stays in range, the reason shows.
    app.update(Msg::Tick);
    app.update(Msg::Sweep(Err(
        "cannot read /shared/sweep1/plan.json".into()
    )));
    let w = app.sweep.as_ref().unwrap();
    assert_eq!((w.cursor, w.tasks()), (0, 0));

    assert_eq!(
        act(&mut app, Action::Import),
        vec![Command::ImportSweep(dir)]
    );
    assert!(app.notice.as_deref().unwrap().starts_with("importing"));
}

#[test]
fn with_parallel_3_three_runs_train_at_once_and_each_end_starts_the_next() {
    let mut app = app();
    app.parallel = 3;
    let started = |cmds: &[Command]| -> Vec<RunKey> {
        cmds.iter()
            .filter_map(|c| match c {
                Command::Start { run, .. } => Some(*run),
                _ => None,
            })
            .collect()
    };
    let mut all = Vec::new();
    for k in 0..5 {
        all.extend(started(&queue(&mut app, Some(10 + k))));
    }
    assert_eq!(all, [1, 2, 3]);
    let training = |app: &App| app.runs.iter().filter(|r| r.status.is_active()).count();
    assert_eq!((training(&app), app.queued()), (3, 2));
    // Cancelling one of the three ends only that one; its end starts the next queued run.
    assert_eq!(act(&mut app, Action::Cancel), [Command::Cancel(1)]);
    let cmds = app.update(Msg::Done {
        run: 1,
        result: Err(RunEnd::Cancelled),
    });
    assert_eq!(started(&cmds), [4]);
    assert_eq!(app.runs[0].status, Status::Cancelled);
    assert!(app.runs[1..4].iter().all(|r| r.status == Status::Starting));
    let cmds = app.update(Msg::Done {
        run: 3,
        result: Ok(Box::new(outcome(0.6, 2))),
    });
    assert_eq!(started(&cmds), [5]);
    assert_eq!((training(&app), app.queued()), (3, 0));
}

#[test]
fn eight_runs_share_each_gpu_the_runs_are_dealt_over() {
    let asked = std::cell::Cell::new(0);
    let count = |n| {
        let asked = &asked;
        move || {
            asked.set(asked.get() + 1);
            n
        }
    };
    assert_eq!(per_gpu(DeviceChoice::CudaAll, count(4)), 32);
    assert_eq!(
        per_gpu(DeviceChoice::CudaAll, count(0)),
        8,
        "a failed count: one GPU"
    );
    assert_eq!(
        per_gpu(DeviceChoice::CudaAll, count(16)),
        64,
        "--parallel's most"
    );
    assert_eq!(asked.get(), 3);
    for one in [DeviceChoice::Auto, DeviceChoice::Cuda(3), DeviceChoice::Cpu] {
        assert_eq!(per_gpu(one, count(4)), 8);
    }
    assert_eq!(asked.get(), 3, "only cuda:all asks the driver");
}

#[test]
fn unasked_parallel_rises_to_the_gpu_share_once_a_run_trains_on_a_gpu() {
    let mut app = app();
    app.parallel_auto = true;
    app.values.device = DeviceChoice::CudaAll;
    app.gpus = 2;
    let started = |cmds: &[Command]| {
        cmds.iter()
            .filter(|c| matches!(c, Command::Start { .. }))
            .count()
    };
    let mut first = 0;
    for k in 0..20 {
        first += started(&queue(&mut app, Some(10 + k)));
    }
    assert_eq!(first, 1, "one at a time until the device is known");
    let on = |device| TrainEvent::Started {
        device,
        gpu: None,
        train_images: 64,
        test_images: 64,
        steps_per_epoch: 1,
    };
    let cmds = app.update(Msg::Train {
        run: 1,
        event: on(DeviceKind::Cpu),
    });
    assert_eq!((started(&cmds), app.parallel), (0, 1), "the CPU keeps one");
    let cmds = app.update(Msg::Train {
        run: 1,
        event: on(DeviceKind::Cuda),
    });
    assert_eq!((started(&cmds), app.parallel), (15, 16));
}

#[test]
fn start_queues_and_the_first_run_starts_once_numbered() {
    let mut app = app();
    // It waits for its history number, so that it trains under it.
    assert!(act(&mut app, Action::Start).is_empty());
    assert_eq!(app.runs[0].status, Status::Queued);
    let cmds = app.update(Msg::Stored {
        run: 1,
        id: Some(7),
    });
    assert!(matches!(
        cmds[..],
        [Command::Start {
            run: 1,
            stored: Some(7),
            ..
        }]
    ));
    assert_eq!(app.runs[0].status, Status::Starting);
    // A second run waits for the first.
    assert!(queue(&mut app, None).is_empty());
    assert_eq!(app.queued(), 1);
    let cmds = app.update(Msg::Done {
        run: 1,
        result: Ok(Box::new(outcome(0.6, 2))),
    });
    assert!(matches!(
        cmds[..],
        [Command::Start {
            run: 2,
            stored: None,
            ..
        }]
    ));
    assert!(app.compare_selected.contains(&1));
}

#[test]
fn tab_visits_every_screen_and_shift_tab_walks_back() {
    let mut app = app();
    let mut seen = vec![app.screen];
    for _ in 0..Screen::ALL.len() {
        act(&mut app, Action::NextScreen);
        seen.push(app.screen);
    }
    assert_eq!(&seen[..5], &Screen::ALL[..]);
    assert_eq!(seen[5], Screen::ALL[0]);
    act(&mut app, Action::PrevScreen);
    assert_eq!(app.screen, Screen::ALL[4]);
}

#[test]
fn failed_data_refuses_to_queue_runs() {
    let mut app = App::new(TrickSet::new(), Hyper::default(), DeviceChoice::Cpu);
    app.update(Msg::Data(DataState::Failed("missing".into())));
    assert!(act(&mut app, Action::Start).is_empty());
    assert!(app.runs.is_empty());
    assert!(app.notice.as_deref().unwrap().contains("without the data"));
    assert_eq!(act(&mut app, Action::Quit), [Command::Quit]);
    assert!(!app.leave_training);
    // l: quit, the training runs going on in processes of their own.
    let mut app = self::app();
    queue(&mut app, None);
    act(&mut app, Action::Quit);
    assert_eq!(act(&mut app, Action::Leave), [Command::Quit]);
    assert!(app.leave_training);
    // `[app] on_quit = "leave"`: q again leaves them, s stops them.
    for (answer, leaves) in [(Action::Quit, true), (Action::Start, false)] {
        let mut app = self::app();
        app.leave_on_quit = true;
        queue(&mut app, None);
        act(&mut app, Action::Quit);
        assert!(
            app.notice
                .as_deref()
                .unwrap()
                .contains("q again leaves them training")
        );
        assert_eq!(act(&mut app, answer), [Command::Quit]);
        assert_eq!(app.leave_training, leaves);
    }
}

#[test]
fn nothing_starts_before_the_data_is_in() {
    let mut app = App::new(TrickSet::new(), Hyper::default(), DeviceChoice::Cpu);
    assert!(queue(&mut app, Some(1)).is_empty());
    let cmds = app.update(Msg::Data(DataState::Ready { train: 1, test: 1 }));
    assert!(matches!(cmds[..], [Command::Start { run: 1, .. }]));
}

#[test]
fn study_key_asks_then_queues_the_eight_presets_in_order() {
    let mut app = app();
    app.values.seeds = Some(Seeds::Count(1));
    act(&mut app, Action::QueueStudy);
    assert!(app.runs.is_empty(), "a stray a queues nothing");
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .contains("seed study, 8 runs (8 x 1 seed(s), 10 ep)? y: queue")
    );
    act(&mut app, Action::Down);
    assert_eq!((app.mode.clone(), app.runs.len()), (Mode::Normal, 0));
    act(&mut app, Action::QueueStudy);
    act(&mut app, Action::Yes);
    let names: Vec<_> = app.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, PRESETS.map(|p| p.name));
    assert!(app.runs[7].config.dropout_conv.is_some());
}

/// `s` at the study question offers the next study; `y` queues the one offered.
#[test]
fn the_study_question_offers_each_study_and_queues_the_one_shown() {
    let mut app = app();
    app.values.seeds = Some(Seeds::Count(1));
    act(&mut app, Action::QueueStudy);
    assert!(
        app.notice.as_deref().unwrap().starts_with("seed study")
            && app.notice.as_deref().unwrap().contains("s: lecun study"),
        "{:?}",
        app.notice
    );
    act(&mut app, Action::NextStudy);
    assert_eq!(app.mode, Mode::ConfirmStudy, "still asking");
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .starts_with("lecun study, 9 runs")
    );
    act(&mut app, Action::Yes);
    let names: Vec<_> = app.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, cifar_engine::tricks::LECUN_PRESETS.map(|p| p.name));
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .starts_with("queued the lecun study")
    );
}

/// The end of a study's last run (whatever its end) is said on screen and, unless
/// `[app] notify` is off, with the bell and a notification; runs outside the study do not
/// count, and the next study is told of only once it ends too.
#[test]
fn the_end_of_a_study_is_rung_once() {
    let notified = |cmds: &[Command]| {
        cmds.iter()
            .filter_map(|c| match c {
                Command::Notify(text) => Some(text.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    for notify in [true, false] {
        let mut app = app();
        app.notify = notify;
        app.parallel = 8;
        app.values.seeds = Some(Seeds::Count(1));
        queue(&mut app, Some(1));
        act(&mut app, Action::QueueStudy);
        act(&mut app, Action::Yes);
        let mut said = Vec::new();
        for run in 2..=9 {
            app.update(Msg::Stored {
                run,
                id: Some(run as i64),
            });
        }
        for run in 2..=9 {
            let result = match run {
                5 => Err(RunEnd::Cancelled),
                _ => Ok(Box::new(outcome(0.6, 2))),
            };
            said.extend(notified(&app.update(Msg::Done { run, result })));
            assert_eq!(said.is_empty(), run < 9 || !notify, "after run {run}");
        }
        let text = "the seed study has ended: 7 of its 8 runs finished; Compare shows them";
        let shown = format!("{text} (its claims are open: Esc closes)");
        assert_eq!(app.notice.as_deref(), Some(shown.as_str()));
        if notify {
            assert_eq!(said, [format!("cifar-tui: {text}")]);
        }
        // Its claims table is open, on the study's own runs.
        let Mode::Detail(d) = &app.mode else {
            panic!("{:?}", app.mode)
        };
        let keys: Vec<RunKey> = (2..=9).collect();
        assert_eq!(
            d.subject,
            Subject::Study {
                name: "seed",
                runs: keys
            }
        );
        // The run queued before the study ends later: nothing more is rung.
        let cmds = app.update(Msg::Done {
            run: 1,
            result: Ok(Box::new(outcome(0.6, 2))),
        });
        assert!(notified(&cmds).is_empty());
    }
}

#[test]
fn seeds_repeat_a_run_and_the_study_seed_by_seed() {
    let mut app = app();
    act(&mut app, Action::Start);
    assert_eq!(app.runs.len(), 1, "a single run stays one run");
    assert_eq!(app.runs[0].config.seed, 42);
    app.values.seeds = Some(Seeds::Count(3));
    act(&mut app, Action::Start);
    let seeds: Vec<u64> = app.runs[1..].iter().map(|r| r.config.seed).collect();
    assert_eq!(seeds, [42, 43, 44]);
    assert!(app.runs[1..].iter().all(|r| r.name == "baseline"));

    let mut app = self::app();
    act(&mut app, Action::QueueStudy);
    act(&mut app, Action::Yes);
    assert_eq!(app.runs.len(), 24, "8 presets x 3 seeds on the CPU");
    let order: Vec<(&str, u64)> = app.runs[7..10]
        .iter()
        .map(|r| (r.name.as_str(), r.config.seed))
        .collect();
    assert_eq!(
        order,
        [("dropout_both", 42), ("baseline", 43), ("norm_inputs", 43)]
    );
    let mut app = self::app();
    app.values.device = DeviceChoice::Cuda(0);
    act(&mut app, Action::QueueStudy);
    act(&mut app, Action::Yes);
    assert_eq!(app.runs.len(), 40, "5 seeds on a GPU");
}

#[test]
fn presets_tick_their_tricks_and_space_toggles() {
    let mut app = app();
    act(&mut app, Action::Preset(2));
    assert_eq!(app.preset_name(), Some("lr_schedule"));
    assert_eq!(app.item(), Item::Trick(Trick::NormInputs));
    act(&mut app, Action::Toggle);
    assert!(!app.tricks.contains(&Trick::NormInputs));
    assert_eq!(app.preset_name(), None);
}

#[test]
fn editing_a_value_by_typing() {
    let mut app = app();
    app.cursor = TRICKS.len() + 2; // LR (fixed)
    act(&mut app, Action::Edit);
    assert!(
        matches!(&app.mode, Mode::Editing { text, .. } if text == "1e-3"),
        "opens with the value"
    );
    for _ in 0..4 {
        act(&mut app, Action::Backspace);
    }
    act(&mut app, Action::Commit);
    assert_eq!(app.values.hyper.lr, 1e-3, "an empty field keeps the value");
    act(&mut app, Action::Edit);
    for _ in 0..4 {
        act(&mut app, Action::Backspace);
    }
    for c in "5e-4".chars() {
        act(&mut app, Action::Input(c));
    }
    act(&mut app, Action::Commit);
    assert_eq!(app.values.hyper.lr, 5e-4);
    act(&mut app, Action::Edit);
    for _ in 0..2 * MAX_INPUT {
        act(&mut app, Action::Input('9'));
    }
    assert!(matches!(&app.mode, Mode::Editing { text, .. } if text.len() == MAX_INPUT));
    act(&mut app, Action::Abort);
    act(&mut app, Action::Edit);
    act(&mut app, Action::Input('x'));
    act(&mut app, Action::Commit);
    assert_eq!(app.values.hyper.lr, 5e-4);
    assert!(app.notice.as_deref().unwrap().contains("not a number"));
    // A queued run keeps the values it was queued with.
    act(&mut app, Action::Start);
    assert_eq!(app.runs[0].config.lr.at(0), 5e-4);
}

#[test]
fn pasted_text_fills_the_field_and_is_never_keys() {
    let mut app = app();
    app.update(Msg::History(Ok(crate::store::fixtures::stored(3))));
    act(&mut app, Action::Goto(Screen::History));
    // `dy` as keys would delete the selected run.
    let out = app.update(Msg::Paste("dy".into()));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(app.mode, Mode::Normal);
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .contains("never read as keys")
    );

    act(&mut app, Action::Goto(Screen::Train));
    app.cursor = TRICKS.len()
        + params::PARAMS
            .iter()
            .position(|p| *p == params::Param::Seeds)
            .unwrap();
    act(&mut app, Action::Edit);
    for _ in 0..MAX_INPUT {
        act(&mut app, Action::Backspace);
    }
    app.update(Msg::Paste("1,2,3\ns".into()));
    assert!(matches!(&app.mode, Mode::Editing { text, .. } if text == "1,2,3"));
    act(&mut app, Action::Commit);
    assert_eq!(app.values.seeds, Some(Seeds::List(vec![1, 2, 3])));
    assert!(app.runs.is_empty(), "the second line's `s` started nothing");

    act(&mut app, Action::Edit);
    app.update(Msg::Paste("9".repeat(2 * MAX_INPUT)));
    assert!(matches!(&app.mode, Mode::Editing { text, .. } if text.chars().count() == MAX_INPUT));
    assert!(
        app.notice.as_deref().unwrap().contains("left out"),
        "{:?}",
        app.notice
    );
}

#[test]
fn ctrl_z_hands_the_terminal_back_in_any_mode() {
    let mut app = app();
    assert_eq!(act(&mut app, Action::Suspend), [Command::Suspend]);
    app.cursor = TRICKS.len(); // Epochs
    act(&mut app, Action::Edit);
    assert_eq!(act(&mut app, Action::Suspend), [Command::Suspend]);
    assert!(
        matches!(app.mode, Mode::Editing { .. }),
        "typing goes on after fg"
    );
}

#[test]
fn queued_runs_are_recorded_and_start_with_their_history_number() {
    let mut app = app();
    let cmds = app.update(Msg::Action(Action::Start));
    assert!(matches!(&cmds[0], Command::Enqueue { run: 1, name, .. } if name == "baseline"));
    app.update(Msg::Stored {
        run: 1,
        id: Some(56),
    });
    // The second run waits; its history number arrives before it starts.
    queue(&mut app, Some(57));
    let cmds = app.update(Msg::Done {
        run: 1,
        result: Err(RunEnd::Cancelled),
    });
    assert!(cmds.iter().any(|c| matches!(
        c,
        Command::Start {
            run: 2,
            stored: Some(57),
            ..
        }
    )));
}

#[test]
fn a_run_waits_in_the_queue_until_the_history_has_numbered_it() {
    let mut app = app();
    act(&mut app, Action::Start);
    act(&mut app, Action::Start);
    // The first one's number is still on the way: the second must not overtake it.
    let cmds = app.update(Msg::Stored {
        run: 2,
        id: Some(9),
    });
    assert!(cmds.is_empty(), "{cmds:?}");
    let cmds = app.update(Msg::Stored { run: 1, id: None });
    assert!(matches!(
        cmds[..],
        [Command::Start {
            run: 1,
            stored: None,
            ..
        }]
    ));
}

#[test]
fn every_failure_before_training_ends_the_run_failed_and_the_next_starts() {
    // No data, no thread, no device: the effects answer with a failed end; the run's
    // history row, still queued, is ended with it and the queue moves on.
    for why in [
        "the data is not loaded yet",
        "cannot start a training thread (no more threads)",
        "history database: disk I/O error",
    ] {
        let mut app = app();
        queue(&mut app, Some(4));
        queue(&mut app, Some(5));
        assert_eq!(app.runs[0].status, Status::Starting);
        let cmds = app.update(Msg::Done {
            run: 1,
            result: Err(RunEnd::Failed(why.into())),
        });
        assert_eq!(app.runs[0].status, Status::Failed(why.into()));
        assert_eq!(
            cmds[0],
            Command::EndQueued {
                run: 1,
                stored: Some(4),
                status: Status::Failed(why.into()),
            }
        );
        assert!(matches!(cmds[1], Command::Start { run: 2, .. }), "{cmds:?}");
        assert!(app.notice.as_deref().unwrap().contains(why));
    }
}

#[test]
fn cancelling_a_queued_run_records_it_cancelled() {
    let mut app = app();
    queue(&mut app, Some(1));
    queue(&mut app, Some(2));
    // x cancels the training run first, then the newest queued one.
    assert_eq!(act(&mut app, Action::Cancel), [Command::Cancel(1)]);
    app.update(Msg::Done {
        run: 1,
        result: Err(RunEnd::Cancelled),
    });
    act(&mut app, Action::Start); // run 3: its number is still on the way
    assert_eq!(act(&mut app, Action::Cancel), [Command::Cancel(2)]);
    app.update(Msg::Done {
        run: 2,
        result: Err(RunEnd::Cancelled),
    });
    assert_eq!(
        act(&mut app, Action::Cancel),
        [Command::EndQueued {
            run: 3,
            stored: None,
            status: Status::Cancelled,
        }]
    );
    assert_eq!(app.runs[2].status, Status::Cancelled);
    // Once numbered, a cancelled run does not start.
    assert!(
        app.update(Msg::Stored {
            run: 3,
            id: Some(3)
        })
        .iter()
        .all(|c| !matches!(c, Command::Start { .. }))
    );
}

#[test]
fn quitting_marks_queued_runs_interrupted() {
    let mut app = app();
    queue(&mut app, Some(1));
    queue(&mut app, Some(2));
    act(&mut app, Action::Start); // number on the way
    let cmds = act(&mut app, Action::ForceQuit);
    let ended: Vec<_> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::EndQueued {
                run,
                stored,
                status: Status::Interrupted(_),
            } => Some((*run, *stored)),
            _ => None,
        })
        .collect();
    assert_eq!(ended, [(2, Some(2)), (3, None)]);
    assert_eq!(cmds.last(), Some(&Command::Quit));
}

#[test]
fn delete_refuses_a_run_that_is_training_here_or_elsewhere() {
    let mut app = app();
    let mut rows = crate::store::fixtures::stored(3);
    // Run 3 trains in this session; run 2 in another process (its row reads running
    // after the dead-process check); run 1 is finished.
    rows[1].status = Status::Running(None);
    app.update(Msg::History(Ok(rows.clone())));
    act(&mut app, Action::Goto(Screen::History));
    act(&mut app, Action::Start);
    // Run 2 is followed as a run of the session; the one queued here comes after it.
    let run = app.runs.last().unwrap().key;
    app.update(Msg::Stored { run, id: Some(3) });
    assert!(app.active_run().is_some());
    for (row, says) in [(0, "in this session"), (1, "in another cifar-tui")] {
        app.history.cursor = row;
        assert_eq!(app.history.current().unwrap().id, rows[row].id);
        assert!(act(&mut app, Action::Delete).is_empty());
        assert_eq!(app.mode, Mode::Normal, "no confirmation is asked");
        let notice = app.notice.clone().unwrap();
        assert!(
            notice.contains(says) && notice.contains("cancel it") && notice.contains("x"),
            "{notice}"
        );
    }
    // A selection with a busy run in it is refused whole.
    app.history.selected = [1, 2].into();
    act(&mut app, Action::Delete);
    assert_eq!(app.mode, Mode::Normal);
    app.history.selected = [1].into();
    act(&mut app, Action::Delete);
    assert_eq!(app.mode, Mode::ConfirmDelete(vec![1]));
}

#[test]
fn an_epoch_on_the_history_screen_reads_only_that_run_again() {
    let mut app = app();
    app.update(Msg::History(Ok(crate::store::fixtures::stored(3))));
    queue(&mut app, Some(4));
    let epoch = TrainEvent::Epoch(outcome(0.5, 1).epochs[0]);
    // Elsewhere the History screen is not drawn: nothing is read.
    let cmds = app.update(Msg::Train {
        run: 1,
        event: epoch.clone(),
    });
    assert!(cmds.is_empty(), "{cmds:?}");
    act(&mut app, Action::Goto(Screen::History));
    let cmds = app.update(Msg::Train {
        run: 1,
        event: epoch,
    });
    assert_eq!(
        cmds,
        [Command::RefreshRun(4)],
        "one row, not the whole history"
    );
    let mut row = crate::store::fixtures::stored(1).remove(0);
    row.id = 4;
    app.update(Msg::HistoryRow {
        id: 4,
        row: Some(Box::new(row)),
    });
    assert_eq!(app.history.rows().len(), 4);
}

#[test]
fn history_selection_feeds_compare_and_delete_asks_first() {
    let mut app = app();
    app.update(Msg::History(Ok(crate::store::fixtures::stored(3))));
    act(&mut app, Action::Goto(Screen::History));
    act(&mut app, Action::Toggle);
    assert_eq!(app.compared().len(), 1, "a selected stored run is compared");
    assert_eq!(app.compared()[0].stored(), Some(3));
    act(&mut app, Action::Delete);
    assert!(matches!(app.mode, Mode::ConfirmDelete(ref ids) if ids == &[3]));
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .starts_with("delete run #3 (the selected runs) from the history? y deletes"),
        "{:?}",
        app.notice
    );
    assert!(
        act(&mut app, Action::Abort).is_empty(),
        "any other key keeps them"
    );
    act(&mut app, Action::Delete);
    assert_eq!(act(&mut app, Action::Yes), [Command::Delete(vec![3])]);
    // Enter shows the run whole; Enter again, its results.
    act(&mut app, Action::Edit);
    assert!(
        matches!(&app.mode, Mode::Detail(d) if d.subject == Subject::Stored(Box::new(app.history.rows()[0].clone())))
    );
    act(&mut app, Action::Commit);
    assert_eq!((app.screen, &app.mode), (Screen::Results, &Mode::Normal));
    assert_eq!(app.results().unwrap().stored(), Some(3));
}

#[test]
fn only_interrupted_runs_resume() {
    let mut app = app();
    let mut rows = crate::store::fixtures::stored(2);
    assert!(app.resume(&rows[0]).unwrap_err().contains("finished"));
    rows[0].status = Status::Interrupted(None);
    rows[0].epochs.truncate(1);
    app.resume(&rows[0]).unwrap();
    let run = app.runs.last().unwrap();
    assert_eq!((run.stored(), run.epochs.len()), (Some(rows[0].id), 1));
    assert!(app.resume(&rows[0]).unwrap_err().contains("already queued"));
}

#[test]
fn cancel_and_quit_confirmation() {
    let mut app = app();
    queue(&mut app, None);
    assert_eq!(act(&mut app, Action::Cancel), [Command::Cancel(1)]);
    assert!(act(&mut app, Action::Quit).is_empty());
    assert_eq!(app.mode, Mode::ConfirmQuit);
    let notice = app.notice.clone().unwrap_or_default();
    assert!(
        notice.contains("q again quits (resumable)") && notice.contains("l leaves them training"),
        "{notice}"
    );
    assert_eq!(act(&mut app, Action::Quit), [Command::Quit]);
}

#[test]
fn progress_events_update_the_live_run() {
    let mut app = app();
    act(&mut app, Action::Start);
    app.update(Msg::Train {
        run: 1,
        event: TrainEvent::Progress(Progress {
            epoch: 0,
            step: 20,
            steps_per_epoch: 782,
            loss: 2.1,
            accuracy: 0.4,
            images_per_sec: 900.0,
            elapsed: 1.4,
        }),
    });
    let run = app.live_run().unwrap();
    assert!(matches!(run.status, Status::Running(_)));
    let point = crate::run::TrainPoint {
        accuracy: Some(0.4),
        images_per_sec: Some(900.0),
        seconds: Some(1.4),
        ..crate::run::TrainPoint::new(20, 2.1)
    };
    assert_eq!(run.train_points, [point]);
}

/// Issue 9: `e` shows the run that finished last, even after an old one was opened.
#[test]
fn results_follow_the_run_that_finished_last() {
    let mut app = app();
    app.update(Msg::History(Ok(crate::store::fixtures::stored(3))));
    act(&mut app, Action::Goto(Screen::History));
    act(&mut app, Action::Down);
    act(&mut app, Action::Edit);
    act(&mut app, Action::Commit);
    assert_eq!(
        (app.screen, app.results().unwrap().id),
        (Screen::Results, 2)
    );
    act(&mut app, Action::Goto(Screen::Train));
    queue(&mut app, Some(4));
    let key = app.active_run().unwrap().key;
    app.update(Msg::Done {
        run: key,
        result: Ok(Box::new(outcome(0.8, 1))),
    });
    assert_eq!(
        app.results().unwrap().id,
        4,
        "the new run, not the opened one"
    );
    assert!(app.notice.as_deref().unwrap().contains("run #4 finished"));
}

/// Issue 9: runs picked from the history for Compare are not shown as live on Train.
#[test]
fn runs_opened_from_the_history_are_never_the_live_run() {
    let mut app = app();
    app.update(Msg::History(Ok(crate::store::fixtures::stored(3))));
    act(&mut app, Action::Goto(Screen::History));
    act(&mut app, Action::Toggle);
    act(&mut app, Action::Down);
    act(&mut app, Action::Toggle);
    assert_eq!(app.compared().len(), 2);
    assert!(app.live_run().is_none(), "{:?}", app.live_run());
    queue(&mut app, Some(4));
    assert_eq!(app.live_run().unwrap().id, 4);
}

#[test]
fn notices_go_after_a_while_but_questions_stay() {
    let mut app = app();
    act(&mut app, Action::Cancel);
    assert_eq!(
        app.notice.as_deref(),
        Some("nothing to cancel: no run is training or queued")
    );
    for _ in 1..NOTICE_SECONDS {
        app.update(Msg::Tick);
    }
    assert!(app.notice.is_some(), "not yet");
    app.update(Msg::Tick);
    assert_eq!(app.notice, None);
    queue(&mut app, Some(1));
    act(&mut app, Action::Quit);
    for _ in 0..3 * NOTICE_SECONDS {
        app.update(Msg::Tick);
    }
    assert!(app.notice.as_deref().unwrap().contains("q again quits"));
    // A new notice starts its own time.
    act(&mut app, Action::Abort);
    act(&mut app, Action::Preset(1));
    app.update(Msg::Tick);
    assert!(app.notice.as_deref().unwrap().starts_with("preset"));
}

#[test]
fn x_during_the_last_scoring_says_the_run_ends_finished_and_cancels_nothing() {
    let mut app = app();
    queue(&mut app, Some(1));
    let last = app.runs[0].config.epochs - 1;
    app.runs[0].epochs = crate::run::fixtures::outcome(0.5, last).epochs;
    app.update(Msg::Train {
        run: 1,
        event: TrainEvent::Evaluating { epoch: last },
    });
    assert!(act(&mut app, Action::Cancel).is_empty());
    assert!(
        app.notice.as_deref().unwrap().contains("ends finished"),
        "{:?}",
        app.notice
    );
    // Scoring an earlier epoch, x cancels as ever.
    app.runs[0].epochs.pop();
    assert_eq!(act(&mut app, Action::Cancel), [Command::Cancel(1)]);
}

#[test]
fn after_queued_runs_are_cancelled_train_shows_the_run_that_trained() {
    let mut app = app();
    for id in 1..=3 {
        queue(&mut app, Some(id));
    }
    act(&mut app, Action::CancelQueued);
    app.update(Msg::Done {
        run: 1,
        result: Ok(Box::new(outcome(0.7, 10))),
    });
    assert_eq!(
        app.live_run().map(|r| r.key),
        Some(1),
        "not a run that never started"
    );
}

#[test]
fn capital_x_cancels_every_queued_run_and_leaves_the_training_one() {
    let mut app = app();
    for id in 1..=3 {
        queue(&mut app, Some(id));
    }
    let cmds = act(&mut app, Action::CancelQueued);
    let ended: Vec<_> = cmds
        .iter()
        .filter_map(|c| match c {
            Command::EndQueued {
                stored,
                status: Status::Cancelled,
                ..
            } => *stored,
            _ => None,
        })
        .collect();
    assert_eq!(ended, [2, 3]);
    assert!(app.runs[0].status.is_active(), "the training run goes on");
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .starts_with("cancelled 2 queued")
    );
    act(&mut app, Action::CancelQueued);
    assert_eq!(app.notice.as_deref(), Some("no run is queued"));
}

#[test]
fn slash_finds_history_runs_as_they_are_typed() {
    let mut app = app();
    app.update(Msg::History(Ok(crate::store::fixtures::stored(4))));
    act(&mut app, Action::Goto(Screen::History));
    act(&mut app, Action::Search);
    for c in "sched".chars() {
        act(&mut app, Action::Input(c));
    }
    let names: Vec<_> = app
        .history
        .visible()
        .iter()
        .map(|r| r.name.clone())
        .collect();
    assert_eq!(
        names,
        ["weight_decay", "lr_schedule"],
        "the runs with the schedule"
    );
    act(&mut app, Action::Commit);
    assert_eq!(
        (app.mode.clone(), app.history.text()),
        (Mode::Normal, "sched")
    );
    act(&mut app, Action::Search);
    act(&mut app, Action::Abort);
    assert_eq!(app.history.visible().len(), 4, "Esc clears the text");
    act(&mut app, Action::SelectAll);
    assert_eq!(app.compared().len(), 4, "all selected go to Compare");
    act(&mut app, Action::SelectAll);
    assert!(app.compared().is_empty());
}

#[test]
fn changed_settings_are_kept_once_and_d_returns_to_the_config() {
    let mut app = app();
    let saves = |cmds: Vec<Command>| {
        cmds.into_iter()
            .filter_map(|c| match c {
                Command::SaveSettings(s) => Some(s),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert!(
        saves(act(&mut app, Action::Down)).is_empty(),
        "moving saves nothing"
    );
    let saved = saves(act(&mut app, Action::Preset(2)));
    assert_eq!(saved.len(), 1);
    assert_eq!(
        saved[0].chosen.tricks,
        [Trick::NormInputs, Trick::LrSchedule]
    );
    assert!(
        saves(act(&mut app, Action::Preset(2))).is_empty(),
        "no change, no write"
    );
    app.cursor = TRICKS.len(); // Epochs
    let saved = saves(act(&mut app, Action::Right));
    assert_eq!(saved[0].chosen.hyper.epochs, 11);
    let saved = saves(act(&mut app, Action::ResetSettings));
    assert_eq!(
        (saved[0].chosen.tricks.len(), saved[0].chosen.hyper.epochs),
        (0, 10)
    );
    assert!(app.tricks.is_empty());
    // The next launch starts where this one left off.
    let mut next = App::new(TrickSet::new(), Hyper::default(), DeviceChoice::Cpu);
    let mut state = saved[0].clone();
    state.chosen.train_limit = Some(2000);
    next.restore(state.clone());
    assert_eq!(next.values.train_limit, Some(2000));
    assert!(
        saves(next.update(Msg::Tick)).is_empty(),
        "restoring is not a change"
    );
    // A launch on a config.toml whose epochs were edited since: its value wins, and is named.
    let mut state = saved[0].clone();
    state.chosen.hyper.epochs = 12;
    let edited = Hyper {
        epochs: 3,
        ..Hyper::default()
    };
    let mut next = App::new(TrickSet::new(), edited, DeviceChoice::Cpu);
    next.restore(state);
    assert_eq!(next.values.hyper.epochs, 3);
    assert!(
        next.notice
            .as_deref()
            .unwrap()
            .contains("taken from it: epochs")
    );
}

#[test]
fn a_question_names_the_runs_it_is_about() {
    assert_eq!(numbers(&[3]), "run #3");
    assert_eq!(numbers(&[3, 5, 7]), "runs #3, #5, #7");
    assert_eq!(numbers(&(1..=12).collect::<Vec<_>>()), "12 runs (#1 … #12)");
}

#[test]
fn results_screen_walks_finished_runs() {
    let mut app = app();
    for acc in [0.5, 0.6, 0.7] {
        queue(&mut app, None);
        let id = app.active_run().unwrap().key;
        app.update(Msg::Done {
            run: id,
            result: Ok(Box::new(outcome(acc, 1))),
        });
    }
    app.screen = Screen::Results;
    assert_eq!(app.results().unwrap().key, 3);
    act(&mut app, Action::Left);
    assert_eq!(app.results().unwrap().key, 2);
    act(&mut app, Action::Left);
    act(&mut app, Action::Left);
    assert_eq!(app.results().unwrap().key, 1);
}

/// Each of the eight scenarios of a three-seed study has its summary over its three seeds
/// (Results showed it for two of them once).
#[test]
fn every_scenario_of_a_seeded_study_is_summed_over_its_seeds() {
    let mut app = app();
    let rows = crate::store::fixtures::stored_seeds(8, &[1, 2, 3]);
    app.update(Msg::History(Ok(rows.clone())));
    let over: Vec<(String, usize)> = rows
        .iter()
        .take(8)
        .map(|r| (r.name.clone(), app.variant_of(r).map_or(0, |v| v.n())))
        .collect();
    let expected: Vec<(String, usize)> = PRESETS[..8]
        .iter()
        .rev()
        .map(|p| (p.name.to_string(), 3))
        .collect();
    assert_eq!(over, expected);
}

/// Issue 18 #10: Enter shows a row whole (a failure's whole message, which tables and the
/// footer cut), Enter again a finished run's results; `n` shows every message of the session.
#[test]
fn enter_shows_a_row_whole_and_n_every_message() {
    let mut app = app();
    let mut rows = crate::store::fixtures::stored(2);
    let why = "no NVIDIA driver found (libcuda.so is not on this machine): install the driver, \
               or choose --device cpu or wgpu";
    rows[0].status = Status::Failed(why.into());
    app.update(Msg::History(Ok(rows.clone())));
    act(&mut app, Action::Goto(Screen::History));
    act(&mut app, Action::Edit);
    let Mode::Detail(d) = &app.mode else {
        panic!("{:?}", app.mode)
    };
    assert_eq!(d.subject, Subject::Stored(Box::new(rows[0].clone())));
    // A run without results stays described, and says so.
    act(&mut app, Action::Commit);
    assert!(matches!(app.mode, Mode::Detail(_)));
    assert_eq!(app.screen, Screen::History);
    assert!(app.notice.as_deref().unwrap().contains("has no results"));
    act(&mut app, Action::Abort);
    assert_eq!(app.mode, Mode::Normal);

    // Every notice is kept, whole, in the order shown.
    act(&mut app, Action::Goto(Screen::Sweep));
    act(&mut app, Action::Import);
    act(&mut app, Action::Notices);
    assert!(matches!(&app.mode, Mode::Detail(d) if d.subject == Subject::Notices));
    let kept: Vec<&str> = app.notices.iter().map(String::as_str).collect();
    assert_eq!(kept, ["run #2 has no results", crate::app::NO_SWEEP]);
}

/// Issue 20 #4: `P` on History plays a finished run back as a session run that nothing
/// trains or records: no training slot taken, no history write at its end or its cancel, no
/// question on quit, its results shown when it ends; an unfinished run is refused.
#[test]
fn a_replay_is_watched_not_trained() {
    let mut app = app();
    // `cifar-tui replay` loads no data: training is refused with the way to it.
    app.data = DataState::Skipped;
    assert!(act(&mut app, Action::Start).is_empty());
    assert!(app.notice.as_deref().unwrap().contains("only replays"));
    let mut rows = crate::store::fixtures::stored(2);
    rows[0].status = Status::Interrupted(None);
    app.update(Msg::History(Ok(rows.clone())));
    act(&mut app, Action::Goto(Screen::History));
    assert!(act(&mut app, Action::Replay).is_empty());
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .contains("only finished runs replay")
    );
    act(&mut app, Action::Down);
    let cmds = act(&mut app, Action::Replay);
    let [Command::Replay { run, speed, .. }] = cmds[..] else {
        panic!("{cmds:?}")
    };
    assert_eq!((speed, app.screen), (REPLAY_SPEED, Screen::Train));
    let replayed = app.runs.iter().find(|r| r.key == run).unwrap();
    assert_eq!(replayed.replaying.map(|r| r.of), Some(rows[1].id));
    // A run queued meanwhile starts: the replay holds no slot (parallel is 1 here).
    app.update(Msg::Data(DataState::Ready {
        train: 50_000,
        test: 10_000,
    }));
    let started = queue(&mut app, Some(9));
    assert!(
        started.iter().any(|c| matches!(c, Command::Start { .. })),
        "{started:?}"
    );
    // Its end writes nothing and shows its results.
    let end = app.update(Msg::Done {
        run,
        result: Ok(Box::new(outcome(0.6, 2))),
    });
    assert!(end.is_empty(), "{end:?}");
    assert_eq!(app.results().map(|r| r.key), Some(run));
    // Cancelled, it ends without a word to the history either.
    act(&mut app, Action::Goto(Screen::History));
    let again = act(&mut app, Action::Replay);
    let [Command::Replay { run, .. }] = again[..] else {
        panic!("{again:?}")
    };
    let end = app.update(Msg::Done {
        run,
        result: Err(RunEnd::Cancelled),
    });
    assert!(end.is_empty(), "{end:?}");
}

/// Issue 21 #2: a run another process trains (a headless run in another terminal) appears on
/// Train and moves as its process writes it to the history; it is stopped where it trains,
/// quitting here leaves it be, and its end is said.
#[test]
fn a_run_trained_elsewhere_is_followed_on_train() {
    let mut app = app();
    let mut row = crate::store::fixtures::stored(1).remove(0);
    row.id = 5;
    row.status = Status::Running(None);
    row.steps_per_epoch = 47;
    row.epochs.clear();
    row.train_points = vec![crate::run::TrainPoint {
        accuracy: Some(0.2),
        images_per_sec: Some(900.0),
        seconds: Some(3.0),
        ..crate::run::TrainPoint::new(60, 2.0)
    }];
    app.update(Msg::History(Ok(vec![row.clone()])));
    let shown = app.live_run().unwrap();
    assert_eq!(shown.id, 5);
    let Status::Running(Some(p)) = &shown.status else {
        panic!("{:?}", shown.status)
    };
    assert_eq!((p.epoch, p.step, p.elapsed), (1, 13, 3.0));
    // Read again every second while Train is shown; runs started elsewhere looked for.
    let tick = app.update(Msg::Tick);
    assert!(tick.contains(&Command::RefreshRun(5)), "{tick:?}");
    assert!(tick.contains(&Command::FindRunning), "{tick:?}");
    let found = app.update(Msg::Running(vec![5, 6]));
    assert_eq!(
        found,
        [Command::RefreshRun(6)],
        "only the one not followed yet"
    );
    // Stopped by its own process, asked through the history; not waited for on quit.
    assert_eq!(act(&mut app, Action::Cancel), [Command::AskCancel(5)]);
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .contains("asking another process")
    );
    // Named where the history names it.
    row.trainer = Some(crate::run::Trainer {
        pid: 4242,
        host: "node3".into(),
    });
    app.update(Msg::HistoryRow {
        id: 5,
        row: Some(Box::new(row.clone())),
    });
    act(&mut app, Action::Cancel);
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .contains("asking process 4242 on node3 to cancel run #5"),
        "{:?}",
        app.notice
    );
    // Its end: said, shown, and no longer read.
    row.status = Status::Finished(Box::new(outcome(0.61, 2)));
    app.update(Msg::HistoryRow {
        id: 5,
        row: Some(Box::new(row)),
    });
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .contains("finished: test accuracy 0.6100")
    );
    assert_eq!(app.live_run().map(|r| r.id), Some(5));
    let tick = app.update(Msg::Tick);
    assert!(!tick.contains(&Command::RefreshRun(5)), "{tick:?}");
    assert_eq!(act(&mut app, Action::Quit), [Command::Quit]);
}

#[test]
fn a_sweep_task_training_is_followed_on_train() {
    let mut app = app();
    let dir = std::path::PathBuf::from("/shared/sweep1");
    app.sweep = Some(crate::app::sweep::SweepWatch::new(dir.clone()));
    // The first look reads the folder, which says task 1 trains on node7.
    let ticks: Vec<Command> = (0..2).flat_map(|_| app.update(Msg::Tick)).collect();
    assert!(
        ticks.contains(&Command::ReadSweep(dir.clone())),
        "{ticks:?}"
    );
    app.update(Msg::Sweep(Ok(crate::store::sweep::sample())));
    let tick = app.update(Msg::Tick);
    let read = Command::ReadSweepRuns {
        dir: dir.clone(),
        tasks: vec![1],
    };
    assert!(tick.contains(&read), "{tick:?}");
    assert!(
        !app.update(Msg::Tick).contains(&read),
        "not asked again before the first reading is back"
    );
    // Its run, read from the task's own history (where it is run #1).
    let mut row = crate::store::fixtures::stored(1).remove(0);
    row.status = Status::Running(None);
    row.steps_per_epoch = 47;
    row.epochs.truncate(1);
    row.trainer = Some(crate::run::Trainer {
        pid: 77,
        host: "node7".into(),
    });
    app.update(Msg::SweepRuns(vec![(1, Box::new(row.clone()))]));
    let shown = app.live_run().unwrap();
    assert_eq!(
        (shown.id, shown.epochs.len()),
        (0, 1),
        "no number in this history"
    );
    assert!(shown.status.is_active());
    // Read again while it trains; its history's run #1 is not this history's.
    let tick = app.update(Msg::Tick);
    assert!(tick.contains(&read), "{tick:?}");
    assert!(!tick.contains(&Command::RefreshRun(1)), "{tick:?}");
    // Stopped through the scheduler, which owns the task.
    assert_eq!(act(&mut app, Action::Cancel), []);
    let notice = app.notice.clone().unwrap();
    assert!(notice.contains("scancel 12_1"), "{notice}");
    // Its end arrives the same way, and is shown.
    row.status = Status::Finished(Box::new(outcome(0.61, 2)));
    row.epochs = outcome(0.61, 2).epochs;
    app.update(Msg::SweepRuns(vec![(1, Box::new(row))]));
    assert_eq!(app.live_run().unwrap().accuracy(), Some(0.61));
    assert_eq!(
        app.runs.len(),
        1,
        "one run for the task, not one per reading"
    );
}

#[test]
fn enter_on_results_walks_the_confusion_matrix_and_opens_a_cells_images() {
    let mut app = app();
    let mut row = crate::store::fixtures::stored(1).remove(0);
    if let Status::Finished(o) = &mut row.status {
        assert!(o.predictions.is_empty(), "a listed run comes without them");
    }
    app.update(Msg::History(Ok(vec![row.clone()])));
    app.update(Msg::Action(Action::Goto(Screen::History)));
    act(&mut app, Action::Edit);
    act(&mut app, Action::Commit);
    assert_eq!(app.screen, Screen::Results);
    // Enter: the cursor on the most confused cell; a run of the history reads its predictions.
    let out = act(&mut app, Action::Edit);
    assert_eq!(out, [Command::ReadPredictions(row.id)]);
    let start = crate::app::Cell {
        truth: 0,
        predicted: 1,
    };
    assert_eq!(app.results_cell, Some(start));
    act(&mut app, Action::Down);
    act(&mut app, Action::Right);
    let moved = crate::app::Cell {
        truth: 1,
        predicted: 2,
    };
    assert_eq!(
        app.results_cell,
        Some(moved),
        "the arrows move the cursor, not the run"
    );
    // Its images; the arrows go on from cell to cell there; any other key closes them.
    act(&mut app, Action::Edit);
    assert_eq!(app.mode, Mode::Images(moved));
    act(&mut app, Action::Up);
    let up = crate::app::Cell {
        truth: 0,
        predicted: 2,
    };
    assert_eq!(app.mode, Mode::Images(up));
    act(&mut app, Action::Abort);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.results_cell, Some(up));
    // Esc on Results takes the cursor away: the arrows step through runs again.
    act(&mut app, Action::Abort);
    assert_eq!(app.results_cell, None);
    // The predictions arrive and go to the run; a run recorded before they were kept says so.
    let wanted = outcome(0.61, 2).predictions;
    app.update(Msg::Predictions {
        id: row.id,
        predictions: Box::new(wanted.clone()),
        pictures: None,
    });
    assert_eq!(
        app.results().unwrap().outcome().unwrap().predictions,
        wanted
    );
    app.update(Msg::Predictions {
        id: row.id,
        predictions: Box::default(),
        pictures: None,
    });
    assert!(app.notice.as_deref().unwrap().contains("recorded before"));
}

#[test]
fn shift_w_writes_the_report_of_the_runs_selected_or_compared() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let w = KeyEvent::new(KeyCode::Char('W'), KeyModifiers::SHIFT);
    for screen in [Screen::Compare, Screen::History] {
        assert_eq!(
            crate::keymap::action(&Mode::Normal, screen, w),
            Some(Action::Report)
        );
    }
    let mut app = app();
    app.update(Msg::History(Ok(crate::store::fixtures::stored(3))));
    act(&mut app, Action::Goto(Screen::Compare));
    assert_eq!(act(&mut app, Action::Report), []);
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .starts_with("no finished run")
    );

    act(&mut app, Action::Goto(Screen::History));
    act(&mut app, Action::SelectAll);
    let Some(Command::Report { mut ids, reference }) = act(&mut app, Action::Report).pop() else {
        panic!("no report asked for");
    };
    ids.sort_unstable();
    assert_eq!((ids, reference), (vec![1, 2, 3], None));

    // Compare's: the runs compared, against the reference chosen there (by its variant's
    // key: two variants can share a name).
    act(&mut app, Action::Goto(Screen::Compare));
    let (variants, reference) = app.compared_variants();
    let key = variants[reference.unwrap()].key.clone();
    assert_eq!(variants[reference.unwrap()].name, "baseline");
    assert_eq!(
        act(&mut app, Action::Report),
        [Command::Report {
            ids: vec![1, 2, 3],
            reference: Some(key)
        }]
    );
    assert_eq!(
        app.notice.as_deref(),
        Some("writing the report of 3 run(s)…")
    );
}

#[test]
fn i_looks_inside_the_run_shown_and_a_stored_run_reads_its_pictures_once() {
    let mut app = app();
    assert_eq!(act(&mut app, Action::Learned), []);
    assert!(
        app.notice
            .as_deref()
            .unwrap()
            .starts_with("no run to look inside")
    );
    assert_eq!(app.mode, Mode::Normal);
    // A run of the history on Results: its pictures are read when first wanted.
    app.update(Msg::History(Ok(crate::store::fixtures::stored(1))));
    let row = app.history.rows()[0].clone();
    act(&mut app, Action::Goto(Screen::History));
    act(&mut app, Action::Edit);
    act(&mut app, Action::Commit);
    assert_eq!(app.screen, Screen::Results);
    assert_eq!(
        act(&mut app, Action::Learned),
        [Command::ReadPredictions(row.id)]
    );
    let key = app.results().unwrap().key;
    assert_eq!(app.mode, Mode::Learned(key));
    app.update(Msg::Predictions {
        id: row.id,
        predictions: Box::new(outcome(0.6, 3).predictions),
        pictures: Some(Box::new(crate::run::fixtures::pictures())),
    });
    let kept = app.results().unwrap().outcome().unwrap().pictures.clone();
    assert_eq!(kept, Some(crate::run::fixtures::pictures()));
    act(&mut app, Action::Abort);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(act(&mut app, Action::Learned), [], "read once");
}
