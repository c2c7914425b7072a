//! Whole screens drawn into a `TestBackend` and snapshot-tested, before and after feeding the
//! app the messages a real session would get.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use super::theme::Theme;
use super::*;
use crate::app::tests::app;
use crate::app::{Action, Msg};
use crate::run::RunKey;
use crate::run::fixtures::outcome;
use crate::run::variants::Seeds;
use cifar_engine::events::DeviceKind;
use cifar_engine::events::{EpochStats, Progress, TrainEvent};

const COLOR: Theme = Theme::RICH;

fn render(app: &App, w: u16, h: u16, theme: Theme) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| {
        draw(f, app, &theme);
    })
    .unwrap();
    t
}

fn screen(app: &App, w: u16, h: u16) -> String {
    screen_in(app, w, h, COLOR)
}

fn screen_in(app: &App, w: u16, h: u16, theme: Theme) -> String {
    let t = render(app, w, h, theme);
    let buf = t.backend().buffer();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The screen's first line holding `text`; the whole screen in the failure otherwise.
fn line_with<'a>(s: &'a str, text: &str) -> &'a str {
    s.lines()
        .find(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no line with {text}:\n{s}"))
}

fn act(app: &mut App, a: Action) {
    app.update(Msg::Action(a));
}

/// Feeds a run through start, two epochs of progress, and (optionally) its end.
fn train_run(app: &mut App, acc: f64, finish: bool) -> RunKey {
    act(app, Action::Start);
    let run = app.runs.last().unwrap().key;
    // Numbered by the history as the session's key, as in a fresh history.
    app.update(Msg::Stored {
        run,
        id: Some(run as i64),
    });
    let send = |app: &mut App, event| {
        app.update(Msg::Train { run, event });
    };
    send(
        app,
        TrainEvent::Started {
            device: DeviceKind::Cpu,
            gpu: None,
            train_images: 50_000,
            test_images: 10_000,
            steps_per_epoch: 782,
        },
    );
    // As the engine reports: after every 20th step and the epoch's last, 40 windows an epoch.
    let reports: Vec<usize> = cifar_engine::events::report_steps(782).collect();
    for epoch in 0..2 {
        for (k, &step) in (1..).zip(&reports) {
            let n = epoch * reports.len() + k;
            send(
                app,
                TrainEvent::Progress(Progress {
                    epoch,
                    step,
                    steps_per_epoch: 782,
                    loss: 2.3 / (1.0 + n as f64 / 20.0) + 0.05 * ((k % 3) as f64),
                    accuracy: 0.35 + 0.1 * epoch as f64 + k as f64 / 400.0,
                    images_per_sec: 1234.0,
                    elapsed: n as f64,
                }),
            );
        }
        send(
            app,
            TrainEvent::Epoch(EpochStats {
                epoch: epoch + 1,
                lr: app.runs.last().unwrap().config.lr.at(epoch),
                train_loss: 1.5 - 0.3 * epoch as f64,
                train_accuracy: 0.45 + 0.1 * epoch as f64,
                val_loss: 1.4 - 0.2 * epoch as f64,
                val_accuracy: 0.48 + 0.08 * epoch as f64,
                seconds: 40.0,
                train_images_per_sec: 1234.0,
            }),
        );
    }
    if finish {
        app.update(Msg::Done {
            run,
            result: Ok(Box::new(outcome(acc, 10))),
        });
    }
    run
}

#[test]
fn train_screen_before_any_run() {
    let s = screen(&app(), 80, 24);
    assert!(s.lines().next().unwrap().contains("? help"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn train_screen_while_training() {
    let mut app = app();
    act(&mut app, Action::Preset(2));
    act(&mut app, Action::Down);
    train_run(&mut app, 0.7, false);
    act(&mut app, Action::Start); // one queued behind it
    let s = screen(&app, 80, 24);
    assert!(s.contains("epoch 2/10"), "{s}");
    assert!(s.contains("+1 queued"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn train_screen_large_terminal() {
    let mut app = app();
    act(&mut app, Action::Preset(4));
    train_run(&mut app, 0.7, false);
    insta::assert_snapshot!(screen(&app, 120, 36));
}

#[test]
fn results_screen_after_a_run() {
    let mut app = app();
    train_run(&mut app, 0.7, true);
    act(&mut app, Action::Goto(Screen::Results));
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("accuracy 0.7000") && s.contains("macro-F1"),
        "{s}"
    );
    assert!(s.contains("automobile") && s.contains("truck"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn results_screen_without_runs_says_what_to_do() {
    let mut app = app();
    act(&mut app, Action::Goto(Screen::Results));
    assert!(screen(&app, 80, 24).contains("No finished run yet"));
}

#[test]
fn compare_screen_with_three_runs() {
    let mut app = app();
    for (i, acc) in [0.66, 0.70, 0.72].into_iter().enumerate() {
        act(&mut app, Action::Preset(i));
        train_run(&mut app, acc, true);
    }
    act(&mut app, Action::Goto(Screen::Compare));
    act(&mut app, Action::Down);
    let s = screen(&app, 80, 24);
    assert!(s.contains("norm_inputs") && s.contains("0.7200"), "{s}");
    insta::assert_snapshot!(s);
    // Hiding a run removes it from the charts' legend.
    act(&mut app, Action::Toggle);
    assert_eq!(app.compared().len(), 2);
}

#[test]
fn help_lists_every_key() {
    let mut app = app();
    act(&mut app, Action::ToggleHelp);
    let s = screen(&app, 80, 24);
    for (_, keys, _) in crate::keymap::HELP {
        assert!(s.contains(keys), "help lacks {keys}:\n{s}");
    }
    insta::assert_snapshot!(s);
    // At 80 columns a long line ends in an ellipsis; at 120 every line is whole.
    assert!(s.contains("every queued") || s.contains('…'), "{s}");
    let wide = screen(&app, 120, 40);
    for (_, _, what) in crate::keymap::HELP {
        assert!(wide.contains(what), "help cuts {what}:\n{wide}");
    }
    act(&mut app, Action::Down);
    assert_eq!(app.mode, Mode::Normal, "any key closes the help");
}

#[test]
fn too_small_terminal_gets_a_message_not_a_broken_layout() {
    let s = screen(&app(), 60, 20);
    assert!(
        s.contains("needs a larger terminal") && s.contains("60x20"),
        "{s}"
    );
    assert!(!s.contains("Tricks"), "{s}");
    // Degenerate sizes must not panic either.
    for (w, h) in [(1, 1), (0, 0), (79, 24), (80, 23)] {
        let _ = screen(&app(), w, h);
    }
}

#[test]
fn a_too_small_terminal_still_shows_the_quit_question() {
    let mut app = app();
    train_run(&mut app, 0.0, false);
    act(&mut app, Action::Quit);
    let s = screen(&app, 60, 20);
    assert!(s.contains("needs a larger terminal"), "{s}");
    assert!(s.contains("q again quits"), "{s}");
}

#[test]
fn the_gauge_says_when_the_test_set_is_scored_and_which_speed_it_shows() {
    let mut app = app();
    let run = train_run(&mut app, 0.0, false);
    let s = screen(&app, 80, 24);
    assert!(s.contains("img/s training"), "{s}");
    app.update(Msg::Train {
        run,
        event: TrainEvent::Evaluating { epoch: 1 },
    });
    let s = screen(&app, 80, 24);
    assert!(s.contains("epoch 2/10 · scoring the test set…"), "{s}");
    assert!(!s.contains("ETA"), "no stale ETA while scoring: {s}");
    app.update(Msg::Done {
        run,
        result: Ok(Box::new(outcome(0.7, 10))),
    });
    let s = screen(&app, 120, 40);
    assert!(s.contains("img/s overall"), "{s}");
    assert!(
        s.contains("run #1 finished: test accuracy 0.7000 · e shows its results"),
        "{s}"
    );
}

/// Issue 9: the axes say what is true. Before any run the epoch axis follows the Epochs
/// setting; a fixed learning rate is labelled with the axis' real ends.
#[test]
fn axes_follow_the_settings_and_never_lie() {
    let mut app = app();
    app.values.hyper.epochs = 3;
    let s = screen(&app, 80, 24);
    assert!(s.contains("3 ep│"), "{s}");
    assert!(s.contains("Learning rate 1e-3 (fixed)"), "{s}");
    assert!(s.contains("│2e-3│") && s.contains("│0   │"), "{s}");
}

/// Issue 9: the accuracy chart moves within an epoch (a 2-epoch demo is not one dot), and
/// the loss chart shows the validation loss beside the training loss.
#[test]
fn charts_move_within_the_epoch() {
    let mut app = app();
    act(&mut app, Action::Start);
    let run = app.runs[0].key;
    app.update(Msg::Stored { run, id: Some(1) });
    app.update(Msg::Train {
        run,
        event: TrainEvent::Started {
            device: DeviceKind::Cpu,
            gpu: None,
            train_images: 50_000,
            test_images: 10_000,
            steps_per_epoch: 782,
        },
    });
    for k in 1..=10 {
        app.update(Msg::Train {
            run,
            event: TrainEvent::Progress(Progress {
                epoch: 0,
                step: k * 20,
                steps_per_epoch: 782,
                loss: 2.3 - 0.05 * k as f64,
                accuracy: 0.10 + 0.02 * k as f64,
                images_per_sec: 900.0,
                elapsed: k as f64,
            }),
        });
    }
    let r = &app.runs[0];
    let curve = r.accuracy_curve();
    assert_eq!(curve.len(), 10);
    assert!((curve[9].0 - 200.0 / 782.0).abs() < 1e-12, "x is in epochs");
    let s = screen(&app, 80, 24);
    assert!(s.contains("Accuracy ⣿ train now 0.300 ⣿ val –"), "{s}");
    assert!(s.contains("Loss ⣿ train"), "{s}");
}

#[test]
fn z_shows_each_chart_alone_in_turn() {
    let mut app = app();
    train_run(&mut app, 0.7, false);
    act(&mut app, Action::Zoom);
    let s = screen(&app, 80, 24);
    assert!(s.contains("Loss ⣿ train") && !s.contains("Tricks"), "{s}");
    assert!(
        s.contains("10 ep"),
        "a full-screen chart has its epoch axis: {s}"
    );
    act(&mut app, Action::Zoom);
    assert!(screen(&app, 80, 24).contains("Accuracy ⣿ train"));
    act(&mut app, Action::Zoom);
    assert!(screen(&app, 80, 24).contains("Learning rate"));
    act(&mut app, Action::Zoom);
    assert!(
        screen(&app, 80, 24).contains("Tricks"),
        "back to the whole screen"
    );
}

#[test]
fn accuracy_axes_zoom_to_the_values() {
    use super::live::zoom;
    assert_eq!(zoom([0.380, 0.361].into_iter()), (0.35, 0.4));
    assert_eq!(zoom(std::iter::empty()), (0.0, 1.0));
    let (lo, hi) = zoom([0.999].into_iter());
    assert!((lo, hi) == (0.95, 1.0), "{lo} {hi}");
    let (lo, hi) = zoom([0.0].into_iter());
    assert!((lo, hi) == (0.0, 0.05), "{lo} {hi}");
}

/// TERM=linux and `charts = "blocks"`: no braille anywhere, and each series still has a
/// marker the legend names.
#[test]
fn charts_without_braille_draw_blocks_and_name_them() {
    let mut app = app();
    train_run(&mut app, 0.7, false);
    let blocks = Theme {
        braille: false,
        ..Theme::RICH
    };
    let s = screen_in(&app, 80, 24, blocks);
    assert!(
        !s.chars().any(|c| ('\u{2800}'..='\u{28FF}').contains(&c)),
        "{s}"
    );
    assert!(s.contains("Accuracy • train now 0.550 █ val 0.560"), "{s}");
    assert!(s.contains("Loss • train"), "{s}");
}

/// Issue 9: a run's whole configuration on its Results screen, and how a run differs from
/// the first in Compare.
#[test]
fn results_show_every_setting_and_compare_the_differences() {
    let mut app = app();
    train_run(&mut app, 0.66, true);
    act(&mut app, Action::Preset(2));
    train_run(&mut app, 0.72, true);
    act(&mut app, Action::Goto(Screen::Results));
    let s = screen(&app, 120, 40);
    assert!(s.contains(" Configuration "), "{s}");
    assert!(s.contains("batch_size 64 · dropout_conv off"), "{s}");
    assert!(s.contains("exponential gamma 0.8 initial 2e-3"), "{s}");
    assert!(s.contains("normalize yes"), "{s}");
    assert!(s.contains(" seconds "), "{s}");
    act(&mut app, Action::Goto(Screen::Compare));
    act(&mut app, Action::Down);
    let s = screen(&app, 120, 40);
    assert!(
        s.contains("#2 vs #1: lr exponential gamma 0.8 initial 2e-3 (was constant lr 1e-3) · normalize yes (was no)"),
        "{s}"
    );
}

#[test]
fn the_per_epoch_lr_row_keeps_its_values_apart() {
    let mut app = app();
    act(&mut app, Action::Start);
    let run = app.runs[0].key;
    let mut o = outcome(0.7, 4);
    for (e, lr) in o.epochs.iter_mut().zip([2e-3, 1.6e-3, 1.28e-3, 1.024e-3]) {
        e.lr = lr;
    }
    app.update(Msg::Done {
        run,
        result: Ok(Box::new(o)),
    });
    act(&mut app, Action::Goto(Screen::Results));
    let s = screen(&app, 120, 40);
    let row = line_with(&s, "lr ×1e-3");
    assert!(row.contains("2.000 1.600 1.280 1.024"), "{row}");
}

#[test]
fn compare_says_when_compared_runs_differ_in_epochs() {
    let mut app = app();
    train_run(&mut app, 0.66, true);
    app.values.hyper.epochs = 3;
    train_run(&mut app, 0.60, true);
    act(&mut app, Action::Goto(Screen::Compare));
    let s = screen(&app, 120, 40);
    assert!(s.contains("compared runs differ in epochs 10/3"), "{s}");
    // Validated on held-out images against on the test set: said too.
    let mut app = self::app();
    train_run(&mut app, 0.66, true);
    app.values.hyper.val_split = 5000;
    train_run(&mut app, 0.60, true);
    act(&mut app, Action::Goto(Screen::Compare));
    let s = screen(&app, 120, 40);
    assert!(s.contains("validated on 5000 held out/test"), "{s}");
    // Alike, nothing is said.
    let mut app = self::app();
    train_run(&mut app, 0.66, true);
    train_run(&mut app, 0.67, true);
    act(&mut app, Action::Goto(Screen::Compare));
    assert!(!screen(&app, 120, 40).contains("differ in"));
}

#[test]
fn a_run_still_training_shows_no_accuracy_on_compare() {
    let mut app = app();
    let run = train_run(&mut app, 0.7, false);
    // Its progress once read as a percentage under "acc" (100% during its final scoring).
    app.update(Msg::Train {
        run,
        event: TrainEvent::Progress(Progress {
            epoch: 1,
            step: 782,
            steps_per_epoch: 782,
            loss: 1.0,
            accuracy: 0.5,
            images_per_sec: 1234.0,
            elapsed: 80.0,
        }),
    });
    act(&mut app, Action::Goto(Screen::Compare));
    let s = screen(&app, 120, 40);
    let row = line_with(&s, "baseline");
    assert!(!row.contains('%'), "{row}");
    assert!(row.contains("running") && row.contains("ep 3/10"), "{row}");
}

#[test]
fn editing_shows_the_typed_text() {
    let mut app = app();
    app.cursor = cifar_engine::tricks::TRICKS.len() + 2;
    act(&mut app, Action::Edit);
    act(&mut app, Action::Backspace);
    act(&mut app, Action::Input('4'));
    let s = screen(&app, 80, 24);
    assert!(s.contains("LR (fixed): 1e-4"), "{s}");
}

#[test]
fn no_color_uses_no_colour() {
    let mut app = app();
    train_run(&mut app, 0.7, true);
    act(&mut app, Action::Goto(Screen::Results));
    let plain = render(&app, 80, 24, Theme::MONO);
    let colored = render(&app, 80, 24, COLOR);
    let uses_color = |t: &Terminal<TestBackend>| {
        t.backend()
            .buffer()
            .content()
            .iter()
            .any(|c| c.fg != Color::Reset || c.bg != Color::Reset)
    };
    assert!(uses_color(&colored));
    assert!(!uses_color(&plain), "NO_COLOR output must carry no colour");
}

#[test]
fn a_long_notice_is_cut_with_an_ellipsis() {
    let mut app = app();
    app.notice = Some(format!("{} the end", "word ".repeat(30)));
    let s = screen(&app, 80, 24);
    let last = s.lines().last().unwrap();
    assert!(last.ends_with('…') && !last.contains("the end"), "{last}");
}

#[test]
fn failed_data_is_shown() {
    let mut app = app();
    app.update(Msg::Data(DataState::Failed(
        "missing /x/cifar-10-batches-bin/data_batch_3.bin: expected the CIFAR-10 binary batch \
         data_batch_3.bin. Fix: restore the file or delete the folder so cifar-tui downloads it \
         again"
            .into(),
    )));
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("data: FAILED") && s.contains("data_batch_3.bin"),
        "{s}"
    );
    assert!(
        s.contains("so cifar-tui downloads it"),
        "the whole message is shown:\n{s}"
    );
    insta::assert_snapshot!(s);
}

#[test]
fn history_screen_lists_stored_runs() {
    let mut app = app();
    let mut rows = crate::store::fixtures::stored(4);
    rows[0].status = crate::run::Status::Interrupted(None);
    rows[1].config.train_limit = Some(3000);
    for r in &mut rows {
        r.created_at = Some("2026-11-27T15:00:00Z".into());
    }
    app.update(Msg::History(Ok(rows)));
    act(&mut app, Action::Goto(Screen::History));
    act(&mut app, Action::Toggle);
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("interrupted") && s.contains("R resumes it"),
        "{s}"
    );
    insta::assert_snapshot!(s);
}

#[test]
fn history_unavailable_says_why() {
    let mut app = app();
    app.update(Msg::History(Err(
        "/x/history.db was written by a newer cifar-tui".into(),
    )));
    act(&mut app, Action::Goto(Screen::History));
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("newer cifar-tui") && s.contains("in memory only"),
        "{s}"
    );
}

#[test]
fn settings_below_a_short_terminal_scroll_into_view_with_the_cursor() {
    let mut app = app();
    let s = screen(&app, 80, 24);
    assert!(!s.contains("Device") && s.contains("↓ 16 more"), "{s}");
    app.cursor = crate::app::ITEM_COUNT - 1; // the last setting
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("L1/L2 from epoch") && s.contains("↑ 16 more"),
        "{s}"
    );
    assert!(!s.contains(" Epochs "), "{s}");
    insta::assert_snapshot!(s);
    // A tall terminal shows them all, with no scroll marks.
    let s = screen(&app, 120, 40);
    assert!(
        s.contains(" Epochs ") && s.contains("L1/L2 from epoch") && !s.contains("more "),
        "{s}"
    );
}

/// Three runs at once (`a` with parallel 3): one row each with epoch, progress, speed and ETA.
#[test]
fn several_runs_training_show_a_row_each() {
    let mut app = app();
    app.parallel = 3;
    app.values.seeds = Some(Seeds::Count(1));
    act(&mut app, Action::QueueStudy);
    act(&mut app, Action::Yes);
    for run in 1..=8 {
        app.update(Msg::Stored {
            run,
            id: Some(20 + run as i64),
        });
    }
    for (run, steps) in [(1, 300), (2, 120), (3, 0)] {
        app.update(Msg::Train {
            run,
            event: TrainEvent::Started {
                device: DeviceKind::Cpu,
                gpu: None,
                train_images: 50_000,
                test_images: 10_000,
                steps_per_epoch: 782,
            },
        });
        // Each its own curve: reports every 20 steps, a validation point a quarter in.
        for step in (20..=steps).step_by(20) {
            let at = step as f64 / 782.0;
            app.update(Msg::Train {
                run,
                event: TrainEvent::Progress(Progress {
                    epoch: 0,
                    step,
                    steps_per_epoch: 782,
                    loss: 2.3 - at * run as f64,
                    accuracy: 0.1 + at * run as f64,
                    images_per_sec: 1500.0 + steps as f64,
                    elapsed: step as f64 / 20.0,
                }),
            });
            if step == 200 {
                app.update(Msg::Train {
                    run,
                    event: TrainEvent::Validation(cifar_engine::events::Validation {
                        at,
                        loss: 2.0,
                        accuracy: 0.2 + 0.05 * run as f64,
                        images: 1000,
                    }),
                });
            }
        }
    }
    let s = screen(&app, 80, 24);
    assert!(s.contains("3 runs training +5 queued"), "{s}");
    for needle in ["#21  baseline", "#22  norm_inputs", "#23  lr_schedule"] {
        assert!(s.contains(needle), "{needle}: {s}");
    }
    insta::assert_snapshot!("several_runs_80x24", s);
    assert!(
        s.contains("Loss by run") && s.contains("Val accuracy by run"),
        "{s}"
    );
    // A name longer than its column is cut with `…`, not mid-word.
    let mut long = app.clone();
    long.runs[0].config.train_limit = Some(3000);
    let cut = screen(&long, 80, 24);
    assert!(cut.contains("#21  [3k] baseli…"), "{cut}");
    // Without colour each row starts with its own marker, the one its curves are drawn with;
    // the rest of the row reads as in colour.
    let plain = screen_in(&app, 80, 24, Theme::MONO);
    let glyphs: Vec<String> = plain
        .lines()
        .skip(2)
        .take(3)
        .map(|l| l.split("││").nth(1).unwrap().chars().take(1).collect())
        .collect();
    assert_eq!(glyphs, ["⣿", "•", "█"], "{plain}");
    let rest = |s: &str| -> Vec<String> {
        s.lines()
            .skip(2)
            .take(3)
            .map(|l| l.split("││").nth(1).unwrap().chars().skip(1).collect())
            .collect()
    };
    assert_eq!(rest(&plain), rest(&s));
    insta::assert_snapshot!("several_runs_80x24_no_color", plain);
    insta::assert_snapshot!("several_runs_120x40", screen(&app, 120, 40));
}

const PLAIN: Theme = Theme::MONO;

/// Trains preset `preset` on seeds 42, 43, 44 (`s` with Seeds 3) to these test accuracies.
fn train_seeds(app: &mut App, preset: usize, accs: [f64; 3]) {
    app.values.seeds = Some(Seeds::Count(3));
    act(app, Action::Preset(preset));
    act(app, Action::Start);
    let n = app.runs.len();
    let ids: Vec<RunKey> = app.runs[n - 3..].iter().map(|r| r.key).collect();
    for (run, acc) in ids.into_iter().zip(accs) {
        app.update(Msg::Stored {
            run,
            id: Some(run as i64),
        });
        let o = outcome(acc, 2);
        for e in &o.epochs {
            app.update(Msg::Train {
                run,
                event: TrainEvent::Epoch(*e),
            });
        }
        app.update(Msg::Done {
            run,
            result: Ok(Box::new(o)),
        });
    }
}

/// Baseline, norm_inputs (better on every seed) and weight_decay (±, within noise), three
/// seeds each.
fn three_seeded_variants() -> App {
    let mut app = app();
    train_seeds(&mut app, 0, [0.660, 0.670, 0.665]);
    train_seeds(&mut app, 1, [0.712, 0.719, 0.716]);
    train_seeds(&mut app, 3, [0.668, 0.662, 0.670]);
    app
}

#[test]
fn compare_shows_whiskers_and_says_within_noise() {
    let mut app = three_seeded_variants();
    act(&mut app, Action::Goto(Screen::Compare));
    let s = screen_in(&app, 80, 24, PLAIN);
    // norm_inputs − baseline: 0.052, 0.049, 0.051 → +0.051 ± 0.004, a real difference.
    assert!(s.contains("+0.051±0.004"), "{s}");
    // weight_decay − baseline: 0.008, −0.008, 0.005 → holds zero.
    assert!(s.contains("within noise"), "{s}");
    assert!(s.contains("reference"), "{s}");
    // A whisker over each bar (three seeds each), the means in % under them.
    assert!(s.contains('┬') && s.contains('┴'), "{s}");
    assert!(s.contains("66.5") && s.contains("71.6"), "{s}");
    assert!(s.contains("x3 seeds"), "{s}");
    insta::assert_snapshot!(s);
}

#[test]
fn compare_measures_against_the_chosen_reference() {
    let mut app = three_seeded_variants();
    act(&mut app, Action::Goto(Screen::Compare));
    // Run #4 is norm_inputs on seed 42: b makes its variant the reference.
    for _ in 0..3 {
        act(&mut app, Action::Down);
    }
    act(&mut app, Action::Reference);
    let s = screen_in(&app, 80, 24, PLAIN);
    assert!(s.contains("vs norm_inputs"), "{s}");
    // baseline − norm_inputs and weight_decay − norm_inputs: both clearly lower.
    assert!(s.contains("-0.051±0.004"), "{s}");
    assert!(!s.contains("within noise"), "{s}");
}

#[test]
fn results_show_the_variant_over_its_seeds() {
    let mut app = three_seeded_variants();
    act(&mut app, Action::Goto(Screen::Results));
    app.results_run = Some(1);
    let s = screen_in(&app, 80, 24, PLAIN);
    // 0.660, 0.670, 0.665: mean 0.665, half-width 4.302653 × 0.005 / √3 = 0.0124.
    assert!(
        s.contains("accuracy 0.6600 seed 42 · 3 seeds 0.6650 ± 0.0124 (95% CI) 0.660 0.670 0.665"),
        "{s}"
    );
    insta::assert_snapshot!(s);
}

#[test]
fn history_groups_runs_by_variant() {
    let mut app = app();
    let mut rows = crate::store::fixtures::stored_seeds(3, &[1, 2, 3]);
    for r in &mut rows {
        r.created_at = Some("2026-11-27T15:00:00Z".into());
    }
    app.update(Msg::History(Ok(rows)));
    act(&mut app, Action::Goto(Screen::History));
    act(&mut app, Action::Group);
    act(&mut app, Action::Toggle);
    let s = screen_in(&app, 80, 24, PLAIN);
    assert!(s.contains("3 variant(s) of 9 finished run(s)"), "{s}");
    // lr_schedule: 0.620, 0.622, 0.624 → 0.6220 ± 0.0050.
    assert!(s.contains("0.6220 ± 0.0050"), "{s}");
    assert!(s.contains("[x] lr_schedule"), "{s}");
    insta::assert_snapshot!(s);
    assert_eq!(
        app.compared().len(),
        3,
        "Space selected the variant's three runs"
    );
    // A title longer than the screen is cut with `…`, never mid-word at the border.
    let mut rows = crate::store::fixtures::stored_seeds(3, &[1, 2, 2]);
    for r in &mut rows {
        r.created_at = Some("2026-11-27T15:00:00Z".into());
    }
    app.update(Msg::History(Ok(rows)));
    let s = screen_in(&app, 80, 24, PLAIN);
    let title = s.lines().nth(1).unwrap();
    assert!(
        title.contains("repeated seed") && title.contains('…'),
        "{s}"
    );
}

/// The app on the Sweep screen, watching /shared/sweep1 after `reading` (if any).
fn watching(reading: Option<Result<crate::store::sweep::Snapshot, String>>) -> App {
    let mut app = app();
    let mut watch = crate::app::sweep::SweepWatch::new("/shared/sweep1".into());
    if let Some(r) = reading {
        watch.read();
        watch.take(r);
    }
    app.sweep = Some(watch);
    app.screen = Screen::Sweep;
    app
}

#[test]
fn sweep_screen_shows_each_task_where_it_stands() {
    let mut app = watching(Some(Ok(crate::store::sweep::sample())));
    act(&mut app, Action::Down);
    act(&mut app, Action::Down);
    act(&mut app, Action::Down);
    let s = screen_in(&app, 80, 24, Theme::MONO);
    // The failed task's message is cut in its column, and whole below the table.
    assert!(
        s.contains("task 3 baseline seed 42 · cannot read data_batch_1.bin"),
        "{s}"
    );
    assert!(
        s.contains("5 tasks: 1 finished, 1 running, 2 queued, 1 failed"),
        "{s}"
    );
    insta::assert_snapshot!("sweep_80x24_no_color", s);
    let s = screen(&app, 120, 40);
    assert!(s.contains("job 12_1, attempt 2"), "{s}");
    insta::assert_snapshot!("sweep_120x40", s);
    // Failed in the colour of errors, finished in that of good news.
    let t = render(&app, 120, 40, COLOR);
    let style_of = |word: &str| {
        let buf = t.backend().buffer();
        (0..40)
            .find_map(|y| {
                let row: String = (0..120).map(|x| buf[(x, y)].symbol()).collect();
                let x = row.find(&format!(" {word} "))?;
                let x = row[..x].chars().count() as u16 + 1;
                Some(buf[(x, y)].fg)
            })
            .unwrap()
    };
    assert_eq!(style_of("failed"), COLOR.bad().fg.unwrap());
    assert_eq!(style_of("finished"), COLOR.good().fg.unwrap());
}

#[test]
fn sweep_screen_says_how_to_watch_one_and_why_one_cannot_be_read() {
    let mut app = app();
    app.screen = Screen::Sweep;
    let s = screen(&app, 80, 24);
    assert!(s.contains("No sweep is watched"), "{s}");
    assert!(s.contains("cifar-tui --sweep /shared/sweep1"), "{s}");
    // The header keeps every tab, the device, and drops what does not fit.
    assert!(s.lines().next().unwrap().contains(" Sweep "), "{s}");

    let app = watching(Some(Err(
        "no sweep in /shared/sweep1: cannot read /shared/sweep1/plan.json: No such file".into(),
    )));
    let s = screen(&app, 80, 24);
    assert!(s.contains("The sweep cannot be read"), "{s}");
    assert!(s.contains("plan.json: No such file"), "{s}");
    assert!(s.contains("read again every second"), "{s}");
    let s = screen(&watching(None), 80, 24);
    assert!(s.contains("reading /shared/sweep1…"), "{s}");
}

/// Clicks where `text` was drawn (its first cell), as the terminal would report it, through
/// the keymap and the app: what the user sees is what a click reaches.
fn click_on(app: &mut App, text: &str) {
    use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
    let (w, h) = (80, 24);
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    let mut hits = Hits::default();
    t.draw(|f| hits = draw(f, app, &COLOR)).unwrap();
    let s = screen(app, w, h);
    let (row, line) = s
        .lines()
        .enumerate()
        .find(|(_, l)| l.contains(text))
        .unwrap_or_else(|| panic!("{text} is not on the screen:\n{s}"));
    let column = line[..line.find(text).unwrap()].chars().count() as u16;
    let ev = MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row: row as u16,
        modifiers: KeyModifiers::NONE,
    };
    if let Some(a) = crate::keymap::mouse(&app.mode, &hits, ev) {
        app.update(Msg::Action(a));
    }
}

#[test]
fn clicks_reach_tabs_checkboxes_and_rows() {
    use cifar_engine::tricks::Trick;
    let mut app = app();
    click_on(&mut app, "[ ] LR schedule");
    assert!(
        app.tricks.contains(&Trick::LrSchedule),
        "a click ticks the box"
    );
    click_on(&mut app, "[x] LR schedule");
    assert!(
        !app.tricks.contains(&Trick::LrSchedule),
        "and a second unticks it"
    );
    // A setting: the cursor goes there, the value stays.
    let before = app.values.clone();
    click_on(&mut app, "Epochs");
    assert_eq!(app.values, before);
    assert!(matches!(app.item(), crate::app::Item::Param(p) if p.label() == "Epochs"));

    for (tab, screen) in [
        (" History ", Screen::History),
        (" Sweep ", Screen::Sweep),
        (" Compare ", Screen::Compare),
        (" Results ", Screen::Results),
        (" Train ", Screen::Train),
    ] {
        click_on(&mut app, tab);
        assert_eq!(app.screen, screen, "{tab}");
    }

    // Compare: a row's box shows or hides it; a click elsewhere on a row moves the cursor.
    train_run(&mut app, 0.61, true);
    train_run(&mut app, 0.65, true);
    train_run(&mut app, 0.63, true);
    click_on(&mut app, " Compare ");
    app.compare_selected.clear();
    click_on(&mut app, "[ ] 2");
    assert_eq!(
        app.compare_selected.iter().copied().collect::<Vec<_>>(),
        [2]
    );
    click_on(&mut app, "[ ] 3");
    assert_eq!(app.compare_cursor, 2);
    assert_eq!(app.compare_selected.len(), 2);
    click_on(&mut app, "0.6100");
    assert_eq!((app.compare_cursor, app.compare_selected.len()), (0, 2));

    // Sweep: rows.
    let mut app = watching(Some(Ok(crate::store::sweep::sample())));
    click_on(&mut app, "cannot read dat");
    assert_eq!(app.sweep.as_ref().unwrap().cursor, 3);

    // With the help open a click closes it, and reaches nothing under it.
    act(&mut app, Action::ToggleHelp);
    click_on(&mut app, " Train ");
    assert_eq!(
        (app.mode.clone(), app.screen),
        (Mode::Normal, Screen::Sweep)
    );
}

#[test]
fn w_shows_the_last_epoch_of_the_loss_zoomed_to_it() {
    let mut app = app();
    train_run(&mut app, 0.7, false);
    let whole = screen(&app, 80, 24);
    assert!(whole.contains("Loss ⣿ train"), "{whole}");
    act(&mut app, Action::LossWindow);
    let recent = screen(&app, 80, 24);
    assert!(recent.contains("Loss, last epoch ⣿ train"), "{recent}");
    // Two epochs trained: the window is epoch 1.0 to 2.0, and the y axis spans only the
    // losses in it (lower than the first steps').
    assert!(
        recent.contains("1.0") && recent.contains("2.0 ep"),
        "{recent}"
    );
    let top = |s: &str| -> f64 {
        let line = s.lines().find(|l| l.contains("Loss")).unwrap();
        let i = s.lines().position(|l| l == line).unwrap();
        // The chart's top label: between the tricks panel's border and the chart's axis.
        let row = s.lines().nth(i + 1).unwrap();
        let label = row.split("││").nth(1).unwrap().split('│').next().unwrap();
        label.trim().parse().unwrap()
    };
    assert!(top(&recent) < top(&whole), "{recent}\n{whole}");
    insta::assert_snapshot!(recent);
    act(&mut app, Action::LossWindow);
    assert_eq!(screen(&app, 80, 24), whole);
}

#[test]
fn validation_within_the_epoch_moves_the_val_curves() {
    use cifar_engine::events::Validation;
    let mut app = app();
    let run = train_run(&mut app, 0.7, false);
    let before = screen(&app, 80, 24);
    assert!(before.contains("val 0.560"), "{before}");
    app.update(Msg::Train {
        run,
        event: TrainEvent::Validation(Validation {
            at: 2.25,
            loss: 1.234,
            accuracy: 0.612,
            images: 1000,
        }),
    });
    let after = screen(&app, 80, 24);
    // The newest point is the one within the third epoch: both legends end with it.
    assert!(after.contains("val 0.612"), "{after}");
    assert!(after.contains("val 1.234"), "{after}");
    let r = app.runs.iter().find(|r| r.key == run).unwrap();
    let xs: Vec<f64> = r.validation(|_, a| a).iter().map(|p| p.0).collect();
    assert_eq!(xs, [1.0, 2.0, 2.25]);
}

/// Starts a run that the history numbers #1; its key.
fn queued_as_one(app: &mut App) -> RunKey {
    act(app, Action::Start);
    let run = app.runs.last().unwrap().key;
    app.update(Msg::Stored { run, id: Some(1) });
    run
}

#[test]
fn a_zca_fit_says_where_it_is_and_that_x_cancels() {
    let mut app = app();
    let run = queued_as_one(&mut app);
    app.update(Msg::Train {
        run,
        event: TrainEvent::FittingZca { step: 7 },
    });
    let s = screen(&app, 120, 40);
    assert!(
        s.contains("fitting ZCA whitening: step 7 of at most 60 · minutes on a CPU · x cancels"),
        "{s}"
    );
}

#[test]
fn a_gpu_warming_up_says_so_instead_of_a_frozen_gauge() {
    let mut app = app();
    let run = queued_as_one(&mut app);
    for event in [
        TrainEvent::Started {
            device: DeviceKind::Cuda,
            gpu: None,
            train_images: 50_000,
            test_images: 10_000,
            steps_per_epoch: 782,
        },
        TrainEvent::Preparing { done: 2, total: 3 },
    ] {
        app.update(Msg::Train { run, event });
    }
    let s = screen(&app, 80, 24);
    assert!(s.contains("preparing GPU kernels 2/3"), "{s}");
    // Its first step ends the phase.
    app.update(Msg::Train {
        run,
        event: TrainEvent::Progress(Progress {
            epoch: 0,
            step: 20,
            steps_per_epoch: 782,
            loss: 2.2,
            accuracy: 0.12,
            images_per_sec: 20_000.0,
            elapsed: 1.0,
        }),
    });
    let s = screen(&app, 80, 24);
    assert!(!s.contains("preparing") && s.contains("epoch 1/10"), "{s}");
}

/// A run on a GPU reached through wgpu: the header names the GPU, cut to fit 80 columns.
#[test]
fn the_header_names_the_gpu_a_run_trains_on() {
    let mut app = app();
    let run = queued_as_one(&mut app);
    app.update(Msg::Train {
        run,
        event: TrainEvent::Started {
            device: DeviceKind::Wgpu,
            gpu: Some("AMD Radeon 780M Graphics (RADV PHOENIX) (Vulkan)".into()),
            train_images: 50_000,
            test_images: 10_000,
            steps_per_epoch: 782,
        },
    });
    let wide = screen(&app, 120, 40);
    let header = wide.lines().next().unwrap_or_default().to_string();
    assert!(
        header.contains("| wgpu: AMD Radeon 780M Graph… |"),
        "{header}"
    );
    let narrow = screen(&app, 80, 24);
    let header = narrow.lines().next().unwrap_or_default().to_string();
    assert!(header.contains("wgpu: AMD Radeon"), "{header}");
    assert!(header.chars().count() <= 80, "{header}");
}

/// A table scrolls only when its cursor leaves the rows in view: one row up from the bottom
/// keeps the rows where they are (a fresh offset every frame moved them all by one).
#[test]
fn the_history_keeps_its_rows_in_place_while_the_cursor_moves_within_them() {
    let mut app = app();
    app.update(Msg::History(Ok(crate::store::fixtures::stored_seeds(
        8,
        &[1, 2, 3, 4],
    ))));
    act(&mut app, Action::Goto(Screen::History));
    app.history.cursor = 25;
    screen_in(&app, 80, 24, PLAIN);
    let bottom = app.history.scroll.offset();
    assert!(bottom > 0, "row 25 is below the first screenful");
    app.history.cursor = 24;
    screen_in(&app, 80, 24, PLAIN);
    assert_eq!(app.history.scroll.offset(), bottom);
    app.history.cursor = 0;
    screen_in(&app, 80, 24, PLAIN);
    assert_eq!(app.history.scroll.offset(), 0);
}

/// Issue 18 #10: a failed run's message, cut with `…` in History's line, is whole in its
/// detail view at 80x24, wrapped and scrolled; a sweep task's too.
#[test]
fn enter_shows_a_failed_run_whole_and_scrolls() {
    let mut app = app();
    let mut rows = crate::store::fixtures::stored(2);
    let why = "no NVIDIA driver found (libcuda.so is not on this machine, or not where the \
               loader looks): install NVIDIA's driver, or start with --device cpu or \
               --device wgpu; `nvidia-smi` says whether the driver answers";
    rows[0].status = crate::run::Status::Failed(why.into());
    rows[0].created_at = Some("2026-11-27T15:00:00Z".into());
    app.update(Msg::History(Ok(rows)));
    act(&mut app, Action::Goto(Screen::History));
    let s = screen(&app, 80, 24);
    assert!(s.contains("no NVIDIA driver found (libcuda.so is"), "{s}");
    assert!(s.contains('…'), "cut with an ellipsis: {s}");
    act(&mut app, Action::Edit);
    let s = screen(&app, 80, 24);
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    for word in ["`nvidia-smi`", "--device wgpu;", "loader looks):"] {
        assert!(flat.contains(word), "the whole message: {s}");
    }
    insta::assert_snapshot!(s);
    // The configuration runs past the screen: End shows its last line, Home the first.
    act(&mut app, Action::Scroll(crate::app::detail::Move::End));
    let end = screen(&app, 80, 24);
    assert!(end.contains("lines ") && !end.contains("status "), "{end}");
    act(&mut app, Action::Scroll(crate::app::detail::Move::Home));
    assert_eq!(screen(&app, 80, 24), s);

    let mut app = watching(Some(Ok(crate::store::sweep::sample())));
    for _ in 0..3 {
        act(&mut app, Action::Down);
    }
    act(&mut app, Action::Edit);
    let s = screen(&app, 80, 24);
    assert!(s.contains("Sweep task 3") && s.contains("failed"), "{s}");
    assert!(s.contains("task-3.log"), "{s}");
}

/// Issue 18 #1: when a study queued here ends, its claims table opens, as `study --report`
/// ends with, each row cut to the screen rather than wrapped.
#[test]
fn a_study_that_ends_opens_its_claims() {
    let mut app = app();
    app.values.seeds = Some(Seeds::List(vec![1, 2, 3]));
    act(&mut app, Action::QueueStudy);
    act(&mut app, Action::Yes);
    let keys: Vec<(RunKey, String, u64)> = app
        .runs
        .iter()
        .map(|r| (r.key, r.name.clone(), r.config.seed))
        .collect();
    for &(run, _, _) in &keys {
        app.update(Msg::Stored {
            run,
            id: Some(run as i64),
        });
    }
    for (run, name, seed) in keys {
        // Normalizing gains 5 points on every seed; the rest move by a seed's noise.
        let acc = match name.as_str() {
            "baseline" => 0.650,
            _ => 0.700 + 0.004 * ((seed as usize * name.len()) % 3) as f64,
        };
        app.update(Msg::Done {
            run,
            result: Ok(Box::new(outcome(acc, 2))),
        });
    }
    let s = screen(&app, 80, 24);
    assert!(s.contains("The seed study"), "{s}");
    let flat: String = s
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(flat.contains("uncorrected for the 7 comparisons"), "{s}");
    assert!(
        s.lines()
            .any(|l| l.contains("yes        yes") && l.contains("+0.0540 ± 0.0099")),
        "{s}"
    );
    assert!(
        s.contains("normalizing inputs helps …"),
        "cut, not wrapped: {s}"
    );
    insta::assert_snapshot!(s);
}

/// Issue 20 #4: a run played back from the history draws the live screens as they were at the
/// same step: the same loss and accuracy curves, validation points, learning rate, progress
/// and ETA (at its own pace); only the gauge's title says it is a replay.
#[test]
fn a_replay_draws_what_the_live_run_drew_at_the_same_step() {
    use crate::run::replay::Replay;
    let per_epoch = 782;
    let o = outcome(0.7, 2);
    // The events of a 2-epoch run as the engine sends them to the interface: a report every
    // 20 steps and at the epoch's end, three validation points within each epoch.
    let mut events = vec![TrainEvent::Started {
        device: DeviceKind::Cpu,
        gpu: None,
        train_images: 50_000,
        test_images: 10_000,
        steps_per_epoch: per_epoch,
    }];
    for epoch in 0..2 {
        for step in 1..=per_epoch {
            let n = (epoch * per_epoch + step) as f64;
            if cifar_engine::events::reports_after(step, per_epoch) {
                events.push(TrainEvent::Progress(Progress {
                    epoch,
                    step,
                    steps_per_epoch: per_epoch,
                    loss: 2.3 / (1.0 + n / 400.0),
                    accuracy: 0.3 + n / 8000.0,
                    images_per_sec: 1200.0 + (n % 7.0),
                    elapsed: n / 20.0,
                }));
            }
            if [196, 391, 587].contains(&step) {
                events.push(TrainEvent::Validation(cifar_engine::events::Validation {
                    at: epoch as f64 + step as f64 / per_epoch as f64,
                    loss: 2.0 / (1.0 + n / 500.0),
                    accuracy: 0.35 + n / 9000.0,
                    images: 1000,
                }));
            }
        }
        events.push(TrainEvent::Evaluating { epoch });
        events.push(TrainEvent::Epoch(o.epochs[epoch]));
    }
    let live_key = |app: &App| app.runs.last().unwrap().key;
    let mut live = app();
    act(&mut live, Action::Start);
    let run = live_key(&live);
    live.update(Msg::Stored {
        run,
        id: Some(run as i64),
    });
    // Half-way through the second epoch.
    let cut = events
        .iter()
        .position(|e| matches!(e, TrainEvent::Progress(p) if p.epoch == 1 && p.step == 400))
        .unwrap();
    for e in &events[..=cut] {
        live.update(Msg::Train {
            run,
            event: e.clone(),
        });
    }
    let live_screen = screen(&live, 120, 40);
    for e in &events[cut + 1..] {
        live.update(Msg::Train {
            run,
            event: e.clone(),
        });
    }
    live.update(Msg::Done {
        run,
        result: Ok(Box::new(o.clone())),
    });
    // As the history reads it back.
    let stored = live.runs.last().unwrap().clone();

    let mut played = app();
    let mut out = Vec::new();
    played.replay(&stored, 1.0, &mut out);
    assert!(matches!(out[..], [crate::app::Command::Replay { .. }]));
    let replay = Replay::of(&stored).unwrap();
    assert!(!replay.epochs_only);
    let key = live_key(&played);
    for p in &replay.events {
        played.update(Msg::Train {
            run: key,
            event: p.event.clone(),
        });
        if matches!(&p.event, TrainEvent::Progress(p) if p.epoch == 1 && p.step == 400) {
            break;
        }
    }
    let replay_screen = screen(&played, 120, 40);
    let body = |s: &str| -> Vec<String> {
        // The gauge's title (the second line) names the replay; the footer holds the notice.
        let lines: Vec<&str> = s.lines().collect();
        lines[2..lines.len() - 1]
            .iter()
            .map(|l| l.to_string())
            .collect()
    };
    assert_eq!(
        body(&replay_screen),
        body(&live_screen),
        "live:\n{live_screen}\nreplay:\n{replay_screen}"
    );
    assert!(
        replay_screen.contains("replay of #1 at 1×"),
        "{replay_screen}"
    );
    assert!(live_screen.contains("step 400/782"), "{live_screen}");
}

/// The test set the fixture's outcome predicted on: 1,000 images a class, in class order, each
/// a flat colour of its own (so half-blocks have something to show).
fn fixture_test_images() -> crate::app::TestImages {
    use cifar_engine::data::cifar::IMAGE_BYTES;
    use cifar_engine::data::{Cifar10, Split};
    let n = 10_000;
    let mut images = vec![0u8; n * IMAGE_BYTES];
    for (i, image) in images.chunks_exact_mut(IMAGE_BYTES).enumerate() {
        for (c, plane) in image.chunks_exact_mut(IMAGE_BYTES / 3).enumerate() {
            for (p, px) in plane.iter_mut().enumerate() {
                // Top half one shade, bottom half another: half-blocks draw both.
                *px = ((i * 7 + c * 90 + if p < 512 { 0 } else { 120 }) % 256) as u8;
            }
        }
    }
    let labels = (0..n).map(|i| (i / 1000) as u8).collect();
    let test = Split { images, labels };
    let train = Split {
        images: Vec::new(),
        labels: Vec::new(),
    };
    crate::app::TestImages(std::sync::Arc::new(Cifar10::new(train, test)))
}

#[test]
fn a_confusion_cell_shows_its_images_in_half_blocks_or_shades() {
    let mut app = app();
    train_run(&mut app, 0.7, true);
    app.update(Msg::TestImages(fixture_test_images()));
    act(&mut app, Action::Goto(Screen::Results));
    // Enter: the cursor on the cell the network confuses most (airplane taken for a car, in
    // the fixture), drawn reversed; Enter again: its images.
    act(&mut app, Action::Edit);
    let s = screen(&app, 80, 24);
    assert!(s.contains("Enter its images"), "{s}");
    act(&mut app, Action::Edit);
    let colour = render(&app, 80, 24, COLOR);
    let s = screen(&app, 80, 24);
    insta::assert_snapshot!("confusion_cell_images_80x24", s);
    assert!(s.contains("airplane predicted automobile: 300 image(s), surest first"));
    // Pictures, not text: the half-block cells carry two colours each.
    let buf = colour.backend().buffer();
    let halves = buf
        .content()
        .iter()
        .filter(|c| matches!(c.symbol(), "▀" | "▄") && c.fg != c.bg)
        .count();
    assert!(halves > 100, "{halves} half-blocks in two colours");
    // The surest mistake first, as the predictions rank them.
    let outcome = app.results().unwrap().outcome().unwrap();
    let first = outcome.predictions.cell(0, 1)[0];
    assert!(
        line_with(&s, "#").contains(&format!("{:.2} #{}", first.1.probability(), first.0)),
        "{s}"
    );
    // Without colour: shades of characters, no colour at all.
    let plain = screen_in(&app, 80, 24, Theme::MONO);
    insta::assert_snapshot!("confusion_cell_images_80x24_no_color", plain);
    assert!(!plain.contains('▀') && plain.contains('#'), "{plain}");
    // The diagonal: the least sure right answers first.
    act(&mut app, Action::Left);
    let s = screen(&app, 80, 24);
    assert!(
        s.contains("airplane predicted airplane: 700 image(s), least sure first"),
        "{s}"
    );
}

#[test]
fn a_cell_says_why_it_has_no_images() {
    let mut app = app();
    train_run(&mut app, 0.7, true);
    act(&mut app, Action::Goto(Screen::Results));
    act(&mut app, Action::Edit);
    act(&mut app, Action::Edit);
    let s = screen(&app, 80, 24);
    assert!(s.contains("The test images are not loaded"), "{s}");
    // Predictions made on another copy of the data are not shown as these images.
    let mut other = fixture_test_images();
    std::sync::Arc::get_mut(&mut other.0)
        .unwrap()
        .test
        .labels
        .reverse();
    app.update(Msg::TestImages(other));
    let s = screen(&app, 80, 24);
    assert!(s.contains("made on other test images"), "{s}");
}

/// Issue 20, part 2: `i` shows the first filters as they learn and the inputs as the network
/// gets them, live; the same for a finished run.
#[test]
fn i_shows_the_first_filters_and_the_inputs_as_the_network_gets_them() {
    let mut app = app();
    let run = train_run(&mut app, 0.7, false);
    act(&mut app, Action::Learned);
    assert!(
        screen(&app, 80, 24).contains("The filters show once the network is built"),
        "nothing to show before the engine sends it"
    );
    let pictures = crate::run::fixtures::pictures();
    app.update(Msg::Train {
        run,
        event: TrainEvent::Inputs(pictures.inputs.clone()),
    });
    app.update(Msg::Train {
        run,
        event: TrainEvent::Filters(pictures.filters.clone()),
    });
    let s = screen(&app, 80, 24);
    insta::assert_snapshot!("learned_80x24", s);
    assert!(s.contains("32 first-layer filters, epoch 2/10"), "{s}");
    assert!(s.contains("from -1.90 (black) to 2.10 (white)"), "{s}");
    // Pictures: filter 0's weights are all below zero, drawn near black; the last's all
    // above, near white. Each filter is a 3x2 tile of half-blocks.
    let colour = render(&app, 80, 24, COLOR);
    let buf = colour.backend().buffer();
    let halves = buf
        .content()
        .iter()
        .filter(|c| matches!(c.symbol(), "▀" | "▄"))
        .count();
    assert!(halves > 32 * 3 + 4 * 16 * 8, "{halves} half-blocks");
    let rgb = |x, y| match buf[(x, y)].fg {
        ratatui::style::Color::Rgb(r, g, b) => [r, g, b],
        other => panic!("{other:?} at {x},{y}"),
    };
    assert!(rgb(1, 3).iter().all(|&v| v < 40), "{:?}", rgb(1, 3));
    assert!(
        rgb(1 + 15 * 4, 6).iter().all(|&v| v > 215),
        "{:?}",
        rgb(61, 6)
    );
    // The next epoch's filters replace them as they come.
    let mut later = pictures.filters.clone();
    later.epoch = 3;
    app.update(Msg::Train {
        run,
        event: TrainEvent::Filters(later),
    });
    assert!(screen(&app, 80, 24).contains("epoch 3/10"));
    let plain = screen_in(&app, 80, 24, Theme::MONO);
    insta::assert_snapshot!("learned_80x24_no_color", plain);
    assert!(!plain.contains('▀'), "{plain}");
    // Any key closes it.
    act(&mut app, Action::Down);
    assert_eq!(app.mode, Mode::Normal);
}
