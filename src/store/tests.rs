//! Tests of the history store: writing and reading runs, migrations, refusals, locks and claims.

use super::schema::WRITE_WAIT;
use super::*;
use crate::run::Status;
use crate::run::fixtures::{outcome, train_points};
use crate::store::fixtures::Immutable;
use crate::store::runs::Curves;
use cifar_engine::config::{Hyper, TrainConfig};
use cifar_engine::events::DeviceKind;
use cifar_engine::tricks::{self, TrickSet};

fn cfg() -> TrainConfig {
    tricks::resolve(&TrickSet::new(), &Hyper::default())
}

#[test]
fn a_run_is_written_as_it_goes_and_read_back_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("deep/history.db");
    let mut s = Store::open(&path).unwrap();
    let id = s.insert("baseline", &cfg()).unwrap();
    assert_eq!(s.get(id).unwrap().status.label(), "queued");
    s.start(id, "cpu").unwrap();
    let o = outcome(0.7, 2);
    for e in &o.epochs {
        s.record_epoch(id, e, Curves::points(&train_points(&[2.3, 2.0, 1.7]), 20))
            .unwrap();
    }
    s.finish(id, &o).unwrap();
    drop(s);

    let s = Store::open(&path).unwrap();
    let run = s.get(id).unwrap();
    assert_eq!(run.status.label(), "finished");
    assert_eq!(run.config, cfg());
    assert_eq!(run.epochs, o.epochs);
    assert_eq!(run.train_points, train_points(&[2.3, 2.0, 1.7]));
    assert_eq!(run.outcome().unwrap().confusion, o.confusion);
    assert_eq!(run.accuracy(), Some(0.7));
    assert_eq!(s.list().unwrap().len(), 1);
    let mode: String = s
        .conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

/// The history stores the one run model and reads it back as it was: every status with
/// its reason, a finished run with its whole outcome.
#[test]
fn every_status_reads_back_as_it_was_written() {
    let mut s = Store::in_memory();
    let statuses = [
        Status::Cancelled,
        Status::Failed("no data".into()),
        Status::Diverged("lower lr".into()),
        Status::Interrupted(None),
        Status::Interrupted(Some("disk full".into())),
    ];
    for status in &statuses {
        let id = s.insert("baseline", &cfg()).unwrap();
        s.start(id, "cpu").unwrap();
        s.set_status(id, status).unwrap();
        assert_eq!(&s.get(id).unwrap().status, status);
    }
    let id = s.insert("baseline", &cfg()).unwrap();
    s.start(id, "cuda").unwrap();
    let mut o = outcome(0.7, 2);
    o.device = DeviceKind::Cuda;
    for e in &o.epochs {
        s.record_epoch(id, e, Curves::points(&train_points(&[2.0]), 20))
            .unwrap();
    }
    s.finish(id, &o).unwrap();
    let run = s.get(id).unwrap();
    assert_eq!(run.status, Status::Finished(Box::new(o)));
    assert_eq!((run.id, run.device), (id, Some(DeviceKind::Cuda)));
    assert_eq!(run.tricks, TrickSet::new());
    assert!(run.created_at.is_some());

    // A wgpu run keeps its GPU's name through its end (the outcome knows only the kind).
    let id = s.insert("baseline", &cfg()).unwrap();
    s.start(id, "wgpu: AMD Radeon 780M (Vulkan)").unwrap();
    let mut o = outcome(0.7, 2);
    o.device = DeviceKind::Wgpu;
    s.finish(id, &o).unwrap();
    let run = s.get(id).unwrap();
    assert_eq!(
        (run.device, run.gpu.as_deref()),
        (Some(DeviceKind::Wgpu), Some("AMD Radeon 780M (Vulkan)"))
    );
    assert_eq!(
        run.device_label().as_deref(),
        Some("wgpu: AMD Radeon 780M (Vulkan)")
    );
    // A run started on one kind and finished on another records the other.
    let id = s.insert("baseline", &cfg()).unwrap();
    s.start(id, "wgpu: AMD Radeon 780M (Vulkan)").unwrap();
    s.finish(id, &outcome(0.7, 2)).unwrap();
    assert_eq!(s.get(id).unwrap().device_label().as_deref(), Some("cpu"));
}

#[test]
fn a_first_version_history_gains_the_files_of_its_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("h.db");
    let old = Connection::open(&path).unwrap();
    old.execute_batch(MIGRATIONS[0]).unwrap();
    old.pragma_update(None, "user_version", 1).unwrap();
    drop(old);
    let s = Store::open(&path).unwrap();
    let id = s.insert("a", &cfg()).unwrap();
    assert_eq!(s.files(id).unwrap(), (None, None));
    s.set_files(id, Some(Path::new("/d")), Some(Path::new("/o.json")))
        .unwrap();
    assert_eq!(
        s.files(id).unwrap(),
        (Some(PathBuf::from("/d")), Some(PathBuf::from("/o.json")))
    );
    assert!(matches!(s.files(id + 1), Err(StoreError::NoRun(_))));
}

#[test]
fn runs_of_dead_processes_become_interrupted() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(&tmp.path().join("h.db")).unwrap();
    let mine = s.insert("a", &cfg()).unwrap();
    s.start(mine, "cpu").unwrap();
    let dead = s.insert("b", &cfg()).unwrap();
    s.start(dead, "cpu").unwrap();
    // No process has pid 2^30: this one died.
    s.conn
        .execute("UPDATE runs SET pid = 1073741824 WHERE id = ?1", [dead])
        .unwrap();
    // A live process's queued run does not beat: an old heartbeat must not condemn it.
    let waiting = s.insert("c", &cfg()).unwrap();
    // Elsewhere only the heartbeat can tell: an old one means gone.
    let away = s.insert("d", &cfg()).unwrap();
    let old = "2000-01-01T00:00:00+00:00";
    s.conn
        .execute(
            "UPDATE runs SET heartbeat = ?2 WHERE id = ?1",
            (waiting, old),
        )
        .unwrap();
    s.conn
        .execute(
            "UPDATE runs SET heartbeat = ?2, host = 'elsewhere' WHERE id = ?1",
            (away, old),
        )
        .unwrap();
    assert_eq!(s.mark_interrupted().unwrap(), 2);
    assert_eq!(s.get(dead).unwrap().status.label(), "interrupted");
    assert_eq!(s.get(away).unwrap().status.label(), "interrupted");
    assert_eq!(s.get(mine).unwrap().status.label(), "running");
    assert_eq!(s.get(waiting).unwrap().status.label(), "queued");
}

#[test]
fn a_run_on_another_host_is_dead_after_a_few_missed_heartbeats() {
    let s = Store::in_memory();
    let ago = |secs: i64| {
        (chrono::Utc::now() - chrono::TimeDelta::seconds(secs))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let away = |beat: String, every: Option<f64>| {
        let id = s.insert("a", &cfg()).unwrap();
        s.conn
            .execute(
                "UPDATE runs SET status = 'running', host = 'elsewhere', heartbeat = ?2,
                     beat_every = ?3 WHERE id = ?1",
                rusqlite::params![id, beat, every],
            )
            .unwrap();
        id
    };
    let beating = away(ago(10), Some(5.0));
    let silent = away(ago(40), Some(5.0));
    // A process that never said how often it beats had half an hour.
    let older = away(ago(40), None);
    let long_gone = away(ago(31 * 60), None);
    assert_eq!(s.mark_interrupted().unwrap(), 2);
    let label = |id| s.get(id).unwrap().status.label();
    assert_eq!(
        [
            label(beating),
            label(silent),
            label(older),
            label(long_gone)
        ],
        ["running", "interrupted", "running", "interrupted"]
    );
}

#[test]
fn a_process_beats_for_its_runs_until_it_owns_none() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("h.db");
    let s = Store::open(&path).unwrap();
    let id = s.insert("a", &cfg()).unwrap();
    let old = "2000-01-01T00:00:00+00:00";
    s.conn
        .execute("UPDATE runs SET heartbeat = ?2 WHERE id = ?1", (id, old))
        .unwrap();
    let read = || -> (String, Option<f64>) {
        s.conn
            .query_row(
                "SELECT heartbeat, beat_every FROM runs WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    };
    let deadline = std::time::Instant::now() + super::liveness::BEAT_EVERY * 3;
    while read().0 == old && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (beat, every) = read();
    assert_ne!(beat, old, "a queued run beats with nothing else happening");
    assert_eq!(every, Some(super::liveness::BEAT_EVERY.as_secs_f64()));
    // Once it owns no queued or running run there, the process stops beating there.
    s.set_status(id, &Status::Cancelled).unwrap();
    let deadline = std::time::Instant::now() + super::liveness::BEAT_EVERY * 3;
    while super::liveness::beats_for(&path) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(!super::liveness::beats_for(&path));
}

#[test]
fn a_file_that_is_not_a_history_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("history.db");
    let junk = b"this is not SQLite at all, just some bytes that a crash left behind....";
    std::fs::write(&path, junk.repeat(100)).unwrap();
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("left untouched"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), junk.repeat(100));

    // Another program's SQLite database is refused too.
    let other = tmp.path().join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    let before = std::fs::read(&other).unwrap();
    assert!(matches!(
        Store::open(&other),
        Err(StoreError::Corrupt { .. })
    ));
    assert_eq!(std::fs::read(&other).unwrap(), before);
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("history.db");
    drop(Store::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = Store::open(&path).err().unwrap();
    assert!(matches!(err, StoreError::Newer { found, .. } if found == SCHEMA_VERSION + 1));
    let v: i64 = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION + 1, "not downgraded");
}

#[test]
fn a_reading_command_reads_an_older_history_and_leaves_it_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("history.db");
    // A history of schema 1, with one finished run in it.
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(super::schema::MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO runs (created_at, name, tricks, config, status) \
             VALUES ('2026-01-01T00:00:00Z', 'baseline', '[]', ?1, 'queued')",
            [serde_json::to_string(&cfg()).unwrap()],
        )
        .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let s = Store::open_read_only(&path).unwrap();
    let runs = s.list().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].name, "baseline");
    assert!(matches!(
        s.insert("x", &cfg()),
        Err(StoreError::ReadOnly { .. })
    ));
    drop(s);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "a reader writes nothing"
    );
}

#[test]
fn two_processes_can_write_the_same_history() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("h.db");
    let (a, b) = (Store::open(&path).unwrap(), Store::open(&path).unwrap());
    let threads: Vec<_> = [a, b]
        .into_iter()
        .map(|mut s| {
            std::thread::spawn(move || {
                for _ in 0..20 {
                    let id = s.insert("x", &cfg()).unwrap();
                    s.record_epoch(
                        id,
                        &outcome(0.5, 1).epochs[0],
                        Curves::points(&train_points(&[1.0]), 20),
                    )
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(Store::open(&path).unwrap().list().unwrap().len(), 40);
}

#[test]
fn processes_that_create_a_history_at_once_all_open_it() {
    // Each round starts several openers on a missing file at the same instant: the first
    // creates the schema, the others must wait for it, not create it again or call it foreign.
    for round in 0..100 {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("h.db");
        let start = std::sync::Arc::new(std::sync::Barrier::new(4));
        let openers: Vec<_> = (0..4)
            .map(|_| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    Store::open(&path).map(|_| ()).map_err(|e| e.to_string())
                })
            })
            .collect();
        for o in openers {
            o.join()
                .unwrap()
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
    }
}

#[test]
fn of_two_claims_at_once_exactly_one_wins_and_the_other_is_told_who() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("h.db");
    let first = Store::open(&path).unwrap();
    for round in 0..20 {
        let id = first.insert("x", &cfg()).unwrap();
        first.set_status(id, &Status::Interrupted(None)).unwrap();
        let start = std::sync::Arc::new(std::sync::Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let (path, start) = (path.clone(), start.clone());
                std::thread::spawn(move || {
                    let s = Store::open(&path).unwrap();
                    start.wait();
                    s.claim(id, "cpu", "d1")
                })
            })
            .collect();
        let results: Vec<_> = racers.into_iter().map(|r| r.join().unwrap()).collect();
        assert_eq!(
            results.iter().filter(|r| r.is_ok()).count(),
            1,
            "round {round}: {results:?}"
        );
        let lost = results.into_iter().find_map(Result::err).unwrap();
        let who = format!(
            "run #{id} is already being resumed by process {} on host {}",
            std::process::id(),
            host()
        );
        assert!(lost.to_string().contains(&who), "{lost}");
        assert_eq!(first.get(id).unwrap().status.label(), "running");
    }
}

#[test]
fn only_own_queued_resumable_or_orphaned_runs_can_be_claimed() {
    let s = Store::in_memory();
    let mine = s.insert("a", &cfg()).unwrap();
    s.claim(mine, "cpu", "d1").unwrap();
    assert!(matches!(
        s.claim(mine, "cpu", "d1"),
        Err(StoreError::Taken { .. })
    ));
    let done = s.insert("b", &cfg()).unwrap();
    s.conn
        .execute("UPDATE runs SET status = 'finished' WHERE id = ?1", [done])
        .unwrap();
    let err = s.claim(done, "cpu", "d1").unwrap_err();
    assert!(err.to_string().contains("is finished"), "{err}");
    // A queued run of another live process on this host (pid 1 is always there).
    let theirs = s.insert("c", &cfg()).unwrap();
    s.conn
        .execute("UPDATE runs SET pid = 1 WHERE id = ?1", [theirs])
        .unwrap();
    let err = s.claim(theirs, "cpu", "d1").unwrap_err();
    assert!(
        err.to_string().contains("queued to train by process 1"),
        "{err}"
    );
    // A running run whose process died is free.
    let orphan = s.insert("d", &cfg()).unwrap();
    s.start(orphan, "cpu").unwrap();
    s.conn
        .execute("UPDATE runs SET pid = 1073741824 WHERE id = ?1", [orphan])
        .unwrap();
    s.claim(orphan, "cpu", "d1").unwrap();
    assert!(matches!(
        s.claim(99, "cpu", "d1"),
        Err(StoreError::NoRun(99))
    ));
}

#[test]
fn a_run_resumes_only_on_the_data_it_began_on() {
    let s = Store::in_memory();
    let id = s.insert("a", &cfg()).unwrap();
    s.claim(id, "cpu", "d1").unwrap();
    s.set_status(id, &Status::Interrupted(None)).unwrap();
    let err = s.claim(id, "cpu", "d2").unwrap_err();
    assert!(
        matches!(&err, StoreError::OtherData { was, now, .. } if was == "d1" && now == "d2"),
        "{err}"
    );
    assert!(err.to_string().contains("--data DIR"), "{err}");
    assert_eq!(
        s.get(id).unwrap().status.label(),
        "interrupted",
        "left as it was"
    );
    s.claim(id, "cpu", "d1").unwrap();
    // A run recorded before fingerprints were kept takes the data of its first claim.
    let old = s.insert("b", &cfg()).unwrap();
    s.claim(old, "cpu", "d2").unwrap();
}

/// A run read from the history draws its loss where it was trained: each point at its step,
/// on its epochs' scale (read back, runs had no steps per epoch and every point sat at the
/// right edge). Rows of before schema 5 hold bare values, placed as the engine reported them.
#[test]
fn a_stored_loss_curve_reads_back_at_its_steps() {
    let mut s = Store::in_memory();
    let mut config = cfg();
    config.train_limit = Some(3000);
    let id = s.insert("baseline", &config).unwrap();
    s.start(id, "cpu").unwrap();
    let curve = [
        (20, 2.0),
        (40, 1.8),
        (47, 1.7),
        (67, 1.5),
        (87, 1.4),
        (94, 1.3),
    ]
    .map(|(step, loss)| crate::run::TrainPoint::new(step, loss));
    for e in &outcome(0.5, 2).epochs {
        s.record_epoch(id, e, Curves::points(&curve, 47)).unwrap();
    }
    let at: Vec<f64> = s.get(id).unwrap().loss_curve().map(|p| p.0).collect();
    assert_eq!((at[2], at[5]), (1.0, 2.0), "{at:?}");

    // As schema 4 wrote it: 3,000 images at batch 64 are 47 steps an epoch.
    s.conn
        .execute(
            "UPDATE runs SET losses = '[2.0, 1.8, 1.7, 1.5, 1.4, 1.3]', steps_per_point = 20,
                 steps_per_epoch = NULL WHERE id = ?1",
            [id],
        )
        .unwrap();
    let run = s.get(id).unwrap();
    assert_eq!(run.train_points, curve);
    assert_eq!(run.steps_per_epoch, 47);
}

/// Everything the live screens drew comes back from the history: every report (loss, running
/// accuracy, speed, time at its step) and the validation points within the epochs.
#[test]
fn a_runs_curves_read_back_as_they_were_drawn() {
    let mut s = Store::in_memory();
    let id = s.insert("baseline", &cfg()).unwrap();
    let points = [crate::run::TrainPoint {
        accuracy: Some(0.31),
        images_per_sec: Some(1520.5),
        seconds: Some(0.84),
        ..crate::run::TrainPoint::new(20, 2.17)
    }];
    let validation = [cifar_engine::events::Validation {
        at: 0.25,
        loss: 2.01,
        accuracy: 0.27,
        images: 1000,
    }];
    let curves = Curves {
        points: &points,
        validation: &validation,
        steps_per_epoch: 782,
    };
    s.record_epoch(id, &outcome(0.5, 1).epochs[0], curves)
        .unwrap();
    let run = s.get(id).unwrap();
    assert_eq!(run.train_points, points);
    assert_eq!(run.val_points, validation);
    assert_eq!(run.steps_per_epoch, 782);
}

/// A running run names the process that trains it (`runs` says so, the interface tells its
/// viewers where to stop it); an ended one names none.
#[test]
fn a_running_run_names_its_process() {
    let mut s = Store::in_memory();
    let id = s.insert("baseline", &cfg()).unwrap();
    s.start(id, "cpu").unwrap();
    let trainer = s.get(id).unwrap().trainer.unwrap();
    assert_eq!(trainer.pid, i64::from(std::process::id()));
    assert_eq!(trainer.host, crate::store::host());
    assert_eq!(s.running().unwrap(), [id]);
    s.finish(id, &outcome(0.5, 1)).unwrap();
    assert_eq!(s.get(id).unwrap().trainer, None);
    assert!(s.running().unwrap().is_empty());
}

/// A history with a few runs and epochs, closed, so that the file holds all of it.
fn history_with_runs(path: &Path) {
    let mut s = Store::open(path).unwrap();
    for _ in 0..3 {
        let id = s.insert("baseline", &cfg()).unwrap();
        for e in &outcome(0.5, 3).epochs {
            s.record_epoch(id, e, Curves::points(&train_points(&[2.3; 50]), 20))
                .unwrap();
        }
        s.finish(id, &outcome(0.5, 3)).unwrap();
    }
    // Its heartbeat thread has closed its connection too.
    while super::liveness::beats_for(path) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn a_history_cut_short_is_reported_damaged_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("h.db");
    history_with_runs(&path);
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    // Half of it: the last pages may be free ones (rows rewritten as their loss curves grow),
    // which SQLite's check does not read.
    file.set_len(len / 2).unwrap();
    drop(file);
    let before = std::fs::read(&path).unwrap();
    for err in [
        Store::open(&path).err().unwrap(),
        Store::open_read_only(&path).err().unwrap(),
    ] {
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("h.db is damaged"), "{text}");
        assert!(text.contains("left untouched"), "{text}");
        assert!(text.contains(".recover"), "{text}");
    }
    assert_eq!(std::fs::read(&path).unwrap(), before, "not written");
}

#[test]
fn bad_stored_json_names_the_file_the_run_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("h.db");
    let s = Store::open(&path).unwrap();
    let id = s.insert("x", &cfg()).unwrap();
    s.conn
        .execute("UPDATE runs SET losses = '[1.0, \u{1}' WHERE id = ?1", [id])
        .unwrap();
    for err in [s.get(id).unwrap_err(), s.list().unwrap_err()] {
        let text = err.to_string();
        assert!(text.contains("h.db"), "{text}");
        assert!(
            text.contains(&format!("run #{id} holds a damaged losses")),
            "{text}"
        );
        assert!(
            text.contains(&format!("DELETE FROM runs WHERE id = {id}")),
            "{text}"
        );
    }
}

#[test]
fn a_write_to_a_history_opened_read_only_says_read_only() {
    // Root writes through file permissions, so this opens the file the way SQLite does
    // when it may not write it (SQLITE_OPEN_READONLY) and checks what a write then says.
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("h.db");
    history_with_runs(&path);
    let s = Store::open_read_only(&path).unwrap();
    assert_eq!(s.list().unwrap().len(), 3);
    let err = s.insert("x", &cfg()).unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
    assert!(err.to_string().contains("h.db is read-only"), "{err}");
    assert!(err.to_string().contains("--history FILE"), "{err}");
}

#[test]
fn a_history_in_an_immutable_folder_or_file_is_read_and_said_read_only() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let path = dir.join("h.db");
    history_with_runs(&path);
    let before = std::fs::read(&path).unwrap();
    for locked in [&dir, &path] {
        let Some(_guard) = Immutable::set(locked) else {
            eprintln!("chattr +i is not available here: the read-only cases are not run");
            return;
        };
        let err = Store::open(&path).err().unwrap();
        assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
        assert!(err.to_string().contains("is read-only"), "{err}");
        let s = Store::open_read_only(&path).unwrap();
        assert_eq!(s.list().unwrap().len(), 3);
        assert_eq!(s.get(1).unwrap().epochs.len(), 3);
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_missing_history_reads_as_empty_and_is_not_created() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("none/h.db");
    let s = Store::open_read_only(&path).unwrap();
    assert!(s.list().unwrap().is_empty());
    assert!(matches!(s.get(1), Err(StoreError::NoRun(1))));
    assert!(!tmp.path().join("none").exists());
}

#[test]
fn a_write_waits_for_a_lock_another_process_holds_and_then_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("h.db");
    let mut s = Store::open(&path).unwrap();
    let id = s.insert("x", &cfg()).unwrap();
    // SQLite's own wait is cut to nothing, so that only the retries can wait.
    s.set_patience(Duration::ZERO, WRITE_WAIT);
    let (tell, told) = std::sync::mpsc::channel();
    s.on_busy = Some(Box::new(move || {
        let _ = tell.send(());
    }));
    let holder = Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    // The lock is let go once the write has found it taken.
    let releaser = std::thread::spawn(move || {
        told.recv().unwrap();
        holder.execute_batch("COMMIT").unwrap();
    });
    s.record_epoch(
        id,
        &outcome(0.5, 1).epochs[0],
        Curves::points(&train_points(&[1.0]), 20),
    )
    .unwrap();
    releaser.join().unwrap();
    assert_eq!(s.get(id).unwrap().epochs.len(), 1);
}

#[test]
fn delete_removes_runs_and_their_epochs() {
    let mut s = Store::in_memory();
    let id = s.insert("x", &cfg()).unwrap();
    s.record_epoch(id, &outcome(0.5, 1).epochs[0], Curves::points(&[], 20))
        .unwrap();
    assert_eq!(s.delete(&[id]).unwrap(), 1);
    assert!(matches!(s.get(id), Err(StoreError::NoRun(_))));
    let n: i64 = s
        .conn
        .query_row("SELECT count(*) FROM epochs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn a_finished_runs_predictions_are_kept_and_read_with_the_run_alone() {
    let mut s = Store::in_memory();
    let id = s.insert("baseline", &cfg()).unwrap();
    s.start(id, "cpu").unwrap();
    let mut o = outcome(0.6, 2);
    o.pictures = Some(crate::run::fixtures::pictures());
    assert_eq!(o.predictions.0.len(), 10_000);
    s.finish(id, &o).unwrap();
    let whole = s.get(id).unwrap();
    assert_eq!(whole.outcome().unwrap().predictions, o.predictions);
    assert_eq!(whole.outcome().unwrap().pictures, o.pictures);
    assert_eq!(
        s.predictions(id).unwrap(),
        (o.predictions.clone(), o.pictures.clone())
    );
    // A listing leaves them out: the History screen reads every run.
    assert!(
        s.list().unwrap()[0]
            .outcome()
            .unwrap()
            .predictions
            .is_empty()
    );
    // Damaged pictures are left out; the run and its predictions still read.
    s.conn
        .execute(
            "UPDATE predictions SET pictures = '{' WHERE run_id = ?1",
            [id],
        )
        .unwrap();
    let read = s.get(id).unwrap();
    assert_eq!(read.outcome().unwrap().pictures, None);
    assert_eq!(read.outcome().unwrap().predictions, o.predictions);
    // They go with their run.
    s.delete(&[id]).unwrap();
    assert_eq!(s.predictions(id).unwrap(), Default::default());
    let n: i64 = s
        .conn
        .query_row("SELECT count(*) FROM predictions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}
