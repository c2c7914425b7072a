//! The real binary, headless, on a tiny synthetic CIFAR-10 copy: kill and resume, and what a
//! person sees for each kind of bad input.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod common;
use common::{RECORD, write_data};

struct Env {
    tmp: tempfile::TempDir,
    data: PathBuf,
}

impl Env {
    fn new() -> Env {
        let tmp = tempfile::tempdir().unwrap();
        let data = write_data(tmp.path());
        Env { tmp, data }
    }

    fn history(&self) -> PathBuf {
        self.tmp.path().join("state/history.db")
    }

    /// The binary with this environment's data and history, and nothing from the user's.
    fn cmd(&self, args: &[&str]) -> Command {
        self.cmd_on(&self.history(), args)
    }

    /// The same with another history file.
    fn cmd_on(&self, history: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cifar-tui"));
        c.current_dir(self.tmp.path())
            .env("XDG_CACHE_HOME", self.tmp.path().join("cache"))
            .env("XDG_CONFIG_HOME", self.tmp.path().join("config"))
            .env("XDG_DATA_HOME", self.tmp.path().join("share"))
            .arg("--data")
            .arg(&self.data)
            .arg("--history")
            .arg(history)
            .arg("--device")
            .arg("cpu")
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
}

const TRAIN: &[&str] = &[
    "run",
    "--headless",
    "--preset",
    "dropout_conv",
    "--epochs",
    "3",
    "--train-limit",
    "320",
    "--seed",
    "5",
];

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The run's figures from `show`, without wall-clock times: epochs, confusion, training
/// reports (step, loss, running accuracy), status.
type Figures = (Vec<Vec<f64>>, serde_json::Value, serde_json::Value, String);

fn figures(env: &Env, id: i64) -> Figures {
    figures_on(env, &env.history(), id)
}

fn figures_on(env: &Env, history: &Path, id: i64) -> Figures {
    let out = env
        .cmd_on(history, &["show", &id.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let epochs = v["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            [
                "epoch",
                "lr",
                "train_loss",
                "train_accuracy",
                "val_loss",
                "val_accuracy",
            ]
            .iter()
            .map(|k| e[k].as_f64().unwrap())
            .collect()
        })
        .collect();
    (
        epochs,
        v["confusion"].clone(),
        // The reports' figures; their seconds and speeds are the machine's, not the run's.
        serde_json::json!([
            v["losses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| [&p["step"], &p["loss"], &p["accuracy"]])
                .collect::<Vec<_>>(),
            v["steps_per_epoch"]
        ]),
        v["status"].as_str().unwrap().to_string(),
    )
}

#[test]
fn a_run_killed_after_its_first_checkpoint_resumes_to_the_same_result() {
    let env = Env::new();
    let whole = env.run(TRAIN);
    assert!(whole.status.success(), "{}", stderr(&whole));

    let mut child = env
        .cmd(TRAIN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The epoch line is printed after its checkpoint is on disk: kill -9 now.
    child.kill().unwrap();
    child.wait().unwrap();
    let line: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(line["epoch"], 1, "{first}");
    let id = line["id"].as_i64().unwrap();

    let list = env.run(&["runs"]);
    let listing = String::from_utf8_lossy(&list.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start().starts_with(&id.to_string()) && l.contains("interrupted")),
        "{listing}"
    );

    let resumed = env.run(&["resume", &id.to_string(), "--headless"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let epochs_printed = String::from_utf8_lossy(&resumed.stdout).lines().count();
    assert_eq!(epochs_printed, 2, "only epochs 2 and 3 were trained again");

    let (a, conf_a, losses_a, status_a) = figures(&env, 1);
    let (b, conf_b, losses_b, status_b) = figures(&env, id);
    assert_eq!(
        (status_a.as_str(), status_b.as_str()),
        ("finished", "finished")
    );
    assert_eq!(a, b, "per-epoch figures match the uninterrupted run");
    assert_eq!(conf_a, conf_b);
    assert!(
        losses_a[0].as_array().is_some_and(|l| l.len() >= 3),
        "{losses_a}"
    );
    assert_eq!(
        losses_a, losses_b,
        "the loss curve goes on from the stored one"
    );

    let again = env.run(&["resume", &id.to_string(), "--headless"]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("is finished"), "{}", stderr(&again));
}

/// Runs the binary and expects a failure whose message contains every `needle`.
fn expect_failure(env: &Env, args: &[&str], needles: &[&str]) -> String {
    let out = env.run(args);
    let err = stderr(&out);
    assert!(!out.status.success(), "{args:?} succeeded:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "{args:?}: `{n}` not in:\n{err}");
    }
    err
}

#[test]
fn bad_data_files_are_named_with_the_fix() {
    let env = Env::new();
    let short = ["run", "--headless", "--epochs", "1", "--train-limit", "64"];
    let batch = env.data.join("data_batch_2.bin");
    let good = std::fs::read(&batch).unwrap();

    std::fs::write(&batch, &good[..good.len() - 100]).unwrap();
    expect_failure(
        &env,
        &short,
        &["data_batch_2.bin", "truncated", "30730000", "Fix"],
    );

    let mut big = good.clone();
    big.extend_from_slice(&[0; 10]);
    std::fs::write(&batch, &big).unwrap();
    expect_failure(&env, &short, &["data_batch_2.bin", "too large"]);

    let mut bad = good.clone();
    bad[5 * RECORD] = 77;
    std::fs::write(&batch, &bad).unwrap();
    expect_failure(&env, &short, &["data_batch_2.bin", "record 5", "label 77"]);

    std::fs::remove_file(&batch).unwrap();
    expect_failure(&env, &short, &["missing", "data_batch_2.bin"]);

    let elsewhere = Env {
        tmp: tempfile::tempdir().unwrap(),
        data: env.tmp.path().join("nowhere"),
    };
    expect_failure(
        &elsewhere,
        &short,
        &["CIFAR-10 not found", "nowhere", "Fix"],
    );
}

#[test]
fn bad_config_files_say_where_and_what() {
    let env = Env::new();
    let cfg = env.tmp.path().join("config.toml");
    let run = ["run", "--headless", "--epochs", "1"];
    for (text, needles) in [
        (
            "[train]\nlr = = 1\n",
            vec!["config.toml", "line 2", "column"],
        ),
        (
            "[train]\nlearning_rate = 0.1\n",
            vec!["unknown field", "learning_rate"],
        ),
        ("[train]\nlr = -0.001\n", vec!["lr", "out of range"]),
        ("[train]\ndropout = 1.0\n", vec!["dropout", "out of range"]),
        (
            "[train]\nbatch_size = 0\n",
            vec!["batch_size", "out of range"],
        ),
        ("[train]\nepochs = 0\n", vec!["epochs", "out of range"]),
        ("tricks = [\"warp\"]\n", vec!["warp", "norm_inputs"]),
    ] {
        std::fs::write(&cfg, text).unwrap();
        expect_failure(&env, &run, &needles);
    }
    std::fs::remove_file(&cfg).unwrap();
    expect_failure(
        &env,
        &["run", "--headless", "--batch-size", "0"],
        &["batch_size", "out of range"],
    );
    expect_failure(
        &env,
        &["run", "--headless", "--tricks", "norm,l1"],
        &["unknown trick", "norm_inputs"],
    );
    expect_failure(
        &env,
        &["run", "--headless", "--preset", "best"],
        &["unknown preset", "baseline"],
    );
    expect_failure(
        &env,
        &["--config", "/no/such.toml", "runs"],
        &["/no/such.toml"],
    );
}

#[test]
fn a_bad_history_is_left_alone_and_the_run_still_trains() {
    let env = Env::new();
    std::fs::create_dir_all(env.history().parent().unwrap()).unwrap();
    std::fs::write(env.history(), b"not a database, just bytes".repeat(200)).unwrap();
    let quick = ["run", "--headless", "--epochs", "1", "--train-limit", "64"];
    let out = env.run(&quick);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("kept in memory only"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("left untouched"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(env.history()).unwrap(),
        b"not a database, just bytes".repeat(200)
    );
    expect_failure(&env, &["runs"], &["not a cifar-tui history database"]);
}

#[test]
fn an_unwritable_history_folder_keeps_the_run_in_memory() {
    let env = Env::new();
    // A file where the history's folder should be: nothing can be created under it.
    std::fs::write(env.tmp.path().join("state"), b"").unwrap();
    let out = env.run(&["run", "--headless", "--epochs", "1", "--train-limit", "64"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("kept in memory only"),
        "{}",
        stderr(&out)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}

#[test]
fn the_interface_refuses_a_non_terminal() {
    let env = Env::new();
    let out = env.cmd(&[]).stdin(Stdio::null()).output().unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("needs a terminal"),
        "{}",
        stderr(&out)
    );
    // A replay names what is wrong with its runs before it asks for a terminal.
    let out = env
        .cmd(&["replay", "4"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("#4"), "{}", stderr(&out));
    let out = env
        .cmd(&["replay", "4", "--speed", "0"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(stderr(&out).contains("not a speed"), "{}", stderr(&out));
}

#[test]
fn two_processes_share_one_history() {
    let env = Env::new();
    let args = ["run", "--headless", "--epochs", "2", "--train-limit", "128"];
    let children: Vec<_> = (0..2)
        .map(|_| {
            env.cmd(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(!stderr(&out).contains("cannot save"), "{}", stderr(&out));
    }
    let list = String::from_utf8(env.run(&["runs"]).stdout).unwrap();
    assert_eq!(list.matches("finished").count(), 2, "{list}");
    let md = String::from_utf8(env.run(&["export", "1,2", "--format", "md"]).stdout).unwrap();
    assert_eq!(md.lines().count(), 4, "{md}");
}

/// Asked for a GPU on a machine without one, the real cause in one line with its fix; asked
/// for `auto`, the notice says just that and training goes on on the CPU. The probe runs in a
/// child process, so nothing of the CUDA runtime's panics reaches the screen.
#[test]
fn gpu_errors_name_the_cause_and_auto_falls_back_with_it() {
    if Path::new("/proc/driver/nvidia").exists() {
        eprintln!("skipped: this machine has an NVIDIA driver");
        return;
    }
    let env = Env::new();
    let on = |device: &str, args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cifar-tui"));
        c.current_dir(env.tmp.path())
            .env("XDG_CACHE_HOME", env.tmp.path().join("cache"))
            .env("XDG_CONFIG_HOME", env.tmp.path().join("config"))
            .env("XDG_DATA_HOME", env.tmp.path().join("share"))
            .env_remove("CIFAR_TUI_NO_CUDA")
            .args(["--data"])
            .arg(&env.data)
            .arg("--history")
            .arg(env.history())
            .args(["--device", device])
            .args(args);
        c.output().unwrap()
    };
    let run = ["run", "--headless", "--epochs", "1", "--train-limit", "64"];
    let cuda = on("cuda", &run);
    assert!(!cuda.status.success());
    let text = stderr(&cuda);
    assert!(text.contains("no NVIDIA driver found"), "{text}");
    assert!(text.contains("Fix: install the NVIDIA driver"), "{text}");
    for noise in ["RecvError", "panicked", "Unable to dynamically load"] {
        assert!(!text.contains(noise), "{noise} in: {text}");
    }
    let auto = on("auto", &run);
    let text = stderr(&auto);
    assert!(auto.status.success(), "{text}");
    // Then wgpu: on CI only a software GPU (lavapipe), which auto never picks.
    let fallback = text
        .lines()
        .find(|l| l.starts_with("no NVIDIA driver found; "))
        .unwrap_or_default();
    assert!(
        fallback.ends_with("; training on the CPU")
            && (fallback.contains("wgpu has only") || fallback.contains("wgpu found no GPU")),
        "{text}"
    );
    assert!(!text.contains("panicked"), "{text}");
}

/// `TRAIN` with `seed`, aborted by the test hook right after epoch `k`'s checkpoint is written
/// and before the history records the epoch.
fn train_aborted_at(env: &Env, history: &Path, k: usize, seed: &str) {
    let mut args = TRAIN.to_vec();
    *args.last_mut().unwrap() = seed;
    let out = env
        .cmd_on(history, &args)
        .env("CIFAR_TUI_TEST_ABORT_AT", format!("epoch-{k}-saved"))
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the hook did not abort:\n{}",
        stderr(&out)
    );
    let printed = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!(printed, k - 1, "epochs committed before the abort");
}

#[test]
fn a_run_killed_between_its_checkpoint_and_its_commit_resumes() {
    let env = Env::new();
    let whole = env.run(TRAIN);
    assert!(whole.status.success(), "{}", stderr(&whole));
    train_aborted_at(&env, &env.history(), 2, "5");

    let listing = String::from_utf8(env.run(&["runs"]).stdout).unwrap();
    assert!(
        listing
            .lines()
            .any(|l| l.trim_start().starts_with('2') && l.contains("interrupted")),
        "{listing}"
    );
    let resumed = env.run(&["resume", "2", "--headless"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let printed = String::from_utf8_lossy(&resumed.stdout).lines().count();
    assert_eq!(
        printed, 2,
        "epochs 2 and 3 trained again from epoch 1's checkpoint"
    );
    let (a, conf_a, _, _) = figures(&env, 1);
    let (b, conf_b, _, status) = figures(&env, 2);
    assert_eq!(status, "finished");
    assert_eq!((a, conf_a), (b, conf_b));
}

#[test]
fn two_histories_in_one_folder_keep_their_own_checkpoints() {
    let env = Env::new();
    let state = env.tmp.path().join("state");
    let (whole, a, b) = (
        state.join("whole.db"),
        state.join("a.db"),
        state.join("b.db"),
    );
    let out = env.cmd_on(&whole, TRAIN).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // Run 1 of a.db, then run 1 of b.db with another seed, both stopped after epoch 1.
    train_aborted_at(&env, &a, 2, "5");
    train_aborted_at(&env, &b, 2, "6");

    let resumed = env
        .cmd_on(&a, &["resume", "1", "--headless"])
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let printed = String::from_utf8_lossy(&resumed.stdout).lines().count();
    assert_eq!(printed, 2, "a.db's run 1 continued from its own epoch 1");
    let (fig_whole, conf_whole, _, _) = figures_on(&env, &whole, 1);
    let (fig_a, conf_a, _, _) = figures_on(&env, &a, 1);
    assert_eq!(
        (fig_a, conf_a),
        (fig_whole, conf_whole),
        "a.db's own weights"
    );

    // Finishing a.db's run left b.db's checkpoint alone.
    let resumed = env
        .cmd_on(&b, &["resume", "1", "--headless"])
        .output()
        .unwrap();
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    let printed = String::from_utf8_lossy(&resumed.stdout).lines().count();
    assert_eq!(printed, 2, "b.db's run 1 continued from its own epoch 1");
}

#[test]
fn a_diverging_run_exits_non_zero_and_is_kept_as_diverged() {
    let env = Env::new();
    std::fs::write(env.tmp.path().join("config.toml"), "[train]\nlr = 9.0\n").unwrap();
    let err = expect_failure(
        &env,
        &["run", "--headless", "--epochs", "2", "--train-limit", "320"],
        &["diverged", "lower `lr` (now 9)"],
    );
    assert!(!err.contains("test accuracy"), "no success summary:\n{err}");
    let listing = String::from_utf8(env.run(&["runs"]).stdout).unwrap();
    let row = listing.lines().find(|l| l.trim_start().starts_with('1'));
    assert!(
        row.is_some_and(|l| l.contains("diverged") && l.contains("0/2")),
        "{listing}"
    );
    expect_failure(&env, &["resume", "1", "--headless"], &["is diverged"]);
}

/// Starts the binary with its stdout a pipe whose reading end is already closed, as in
/// `cifar-tui ... | true`; returns its exit and stderr.
fn with_stdout_closed(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

fn show(env: &Env, id: i64) -> serde_json::Value {
    let out = env.run(&["show", &id.to_string()]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_closed_stdout_ends_quietly_after_the_run_is_saved() {
    let env = Env::new();
    let out = with_stdout_closed(&mut env.cmd(TRAIN));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert!(out.status.success(), "{}", stderr(&out));
    let run = show(&env, 1);
    assert_eq!(run["status"], "finished", "{run}");
    assert_eq!(run["epochs"].as_array().unwrap().len(), 3);
    assert!(run["report"]["accuracy"].is_f64(), "{run}");

    for args in [
        &["runs"][..],
        &["show", "1"],
        &["export", "1", "--format", "csv"],
    ] {
        let out = with_stdout_closed(&mut env.cmd(args));
        assert!(
            out.status.success() && !stderr(&out).contains("panicked"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn out_is_checked_before_training_and_a_late_failure_keeps_the_result() {
    let env = Env::new();
    let short = ["run", "--headless", "--epochs", "1", "--train-limit", "64"];
    let missing = env.tmp.path().join("nowhere/x.json");
    let err = expect_failure(
        &env,
        &[&short[..], &["--out", missing.to_str().unwrap()]].concat(),
        &["nowhere", "does not exist", "Fix"],
    );
    assert!(!err.contains("loading CIFAR-10"), "checked first: {err}");
    let folder = env.tmp.path().to_str().unwrap();
    expect_failure(
        &env,
        &[&short[..], &["--out", folder]].concat(),
        &["is a folder", "Fix"],
    );
    let listing = env.run(&["runs"]);
    assert!(stderr(&listing).contains("no runs yet"), "nothing trained");

    // The disk fills up during training: the result is printed on stderr instead.
    if Path::new("/dev/full").exists() {
        let err = expect_failure(
            &env,
            &[&short[..], &["--out", "/dev/full"]].concat(),
            &["cannot write /dev/full", "printed above on stderr"],
        );
        let json = &err[err.find("{\n").unwrap()..err.find("\n}").unwrap() + 2];
        let record: serde_json::Value = serde_json::from_str(json).unwrap();
        assert!(record["report"]["accuracy"].is_f64(), "{record}");
        assert_eq!(show(&env, 1)["status"], "finished");
    }
}

#[test]
fn a_signal_after_the_last_step_finishes_the_run_and_says_so() {
    let env = Env::new();
    let out = env
        .cmd(TRAIN)
        .env("CIFAR_TUI_TEST_SIGNAL_AT", "last_step")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("signal received after the last training step")
            && err.contains("the run finished and is saved as run #1"),
        "{err}"
    );
    assert!(!err.contains("can be resumed"), "{err}");
    assert_eq!(show(&env, 1)["status"], "finished");
}

#[test]
fn a_batch_too_big_for_memory_is_refused_before_the_data_loads() {
    let env = Env::new();
    let out = env
        .cmd(&["run", "--headless", "--batch-size", "4096"])
        .env("CIFAR_TUI_TEST_MEMORY", "1000000000")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("batch_size 4096 needs about 1.7 GB")
            && err.contains("but 1.0 GB is available")
            && err.contains("Fix: use --batch-size 1024"),
        "{err}"
    );
    assert!(!err.contains("loading CIFAR-10"), "{err}");
    expect_failure(
        &env,
        &["run", "--headless", "--batch-size", "50000"],
        &["batch_size", "out of range: 1 to 4096"],
    );
}

#[test]
fn bad_inputs_are_refused_early_with_the_right_fix() {
    let env = Env::new();
    let short = ["run", "--headless", "--epochs", "1", "--train-limit", "64"];
    let err = expect_failure(
        &env,
        &["run", "--headless", "--train-limit", "0"],
        &["--train-limit 0", "Fix"],
    );
    assert!(!err.contains("loading CIFAR-10"), "{err}");
    assert!(stderr(&env.run(&["runs"])).contains("no runs yet"));
    for (flag, field) in [("--sgd-lr", "`sgd_lr` = 0"), ("--lr", "`lr` = 0")] {
        let err = expect_failure(&env, &["run", "--headless", flag, "0"], &[field]);
        assert!(!err.contains("loading CIFAR-10"), "{err}");
    }

    // The interface's study takes --preset; what only the headless study does is refused.
    for flag in [
        &["--out", "x"][..],
        &["--fresh"],
        &["--reference", "norm_inputs"],
    ] {
        let args = [&["study"][..], flag].concat();
        expect_failure(&env, &args, &[flag[0], "study --headless"]);
    }
    expect_failure(&env, &["study", "--preset", "nope"], &["nope"]);

    // A folder given with --data is the person's: never "delete it so cifar-tui downloads".
    let batch = env.data.join("data_batch_2.bin");
    std::fs::remove_file(&batch).unwrap();
    std::fs::create_dir(&batch).unwrap();
    let err = expect_failure(&env, &short, &["data_batch_2.bin is a folder", "--data"]);
    assert!(!err.contains("downloads it again"), "{err}");
    std::fs::remove_dir(&batch).unwrap();
    std::os::unix::fs::symlink(env.tmp.path().join("gone.bin"), &batch).unwrap();
    expect_failure(
        &env,
        &short,
        &["symbolic link", "gone.bin", "does not exist"],
    );

    expect_failure(
        &env,
        &["--config", "/etc", "runs"],
        &["/etc is a folder", "Fix"],
    );
    let binary = env.tmp.path().join("binary.toml");
    std::fs::write(&binary, [0x89, b'P', b'N', b'G', 0xff, 0x00]).unwrap();
    expect_failure(
        &env,
        &["--config", binary.to_str().unwrap(), "runs"],
        &["binary.toml", "not a text file", "Fix"],
    );

    let out = env
        .cmd(&["resume", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("`cifar-tui resume 1 --headless`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn another_projects_config_toml_is_not_read() {
    let env = Env::new();
    std::fs::write(
        env.tmp.path().join("config.toml"),
        "[package]\nname = \"someone-else\"\n[database]\nurl = \"x\"\n",
    )
    .unwrap();
    let out = env.run(&["run", "--headless", "--epochs", "1", "--train-limit", "64"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_resumed_run_finds_its_data_folder_and_writes_its_result_file() {
    let env = Env::new();
    let result = env.tmp.path().join("result.json");
    let args = [TRAIN, &["--out", result.to_str().unwrap()]].concat();
    let mut child = env
        .cmd(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!result.exists());

    // Resumed from another folder, without --data: an empty cache would mean a download.
    let elsewhere = tempfile::tempdir().unwrap();
    let resumed = Command::new(env!("CARGO_BIN_EXE_cifar-tui"))
        .current_dir(elsewhere.path())
        .env("XDG_CACHE_HOME", elsewhere.path().join("cache"))
        .env("XDG_CONFIG_HOME", elsewhere.path().join("config"))
        .env("XDG_DATA_HOME", elsewhere.path().join("share"))
        .args(["--device", "cpu", "--history"])
        .arg(env.history())
        .args(["resume", "1", "--headless"])
        .output()
        .unwrap();
    let err = stderr(&resumed);
    assert!(resumed.status.success(), "{err}");
    assert!(
        err.contains(&format!("loading CIFAR-10 from {}", env.data.display())),
        "{err}"
    );
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
    assert_eq!(record["epochs"].as_array().unwrap().len(), 3, "{record}");
    assert_eq!(show(&env, 1)["status"], "finished");
}

/// The study at `--parallel 3` trains the eight scenarios three at a time and gives each the
/// figures it gets one after another.
#[test]
fn a_parallel_study_gives_every_run_its_sequential_figures() {
    let env = Env::new();
    let study = |how: &[&str], out: &str| {
        let o = env.run(
            &[
                &["study", "--headless"][..],
                how,
                &[
                    "--seeds",
                    "1",
                    "--epochs",
                    "1",
                    "--train-limit",
                    "64",
                    "--out",
                    out,
                ],
            ]
            .concat(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        o
    };
    let par = study(&["--parallel", "3"], "par");
    assert!(
        stderr(&par).contains("training 8 runs, 3 at a time"),
        "{}",
        stderr(&par)
    );
    // Run again, the study would take up the runs it finished: --fresh trains them anew.
    study(&["--fresh", "--parallel", "1"], "seq");
    let figures = |dir: &str, name: &str| {
        let path = env.tmp.path().join(dir).join(format!("{name}.json"));
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let e = &v["epochs"][0];
        (
            [&e["train_loss"], &e["val_loss"], &e["val_accuracy"]].map(|x| x.as_f64().unwrap()),
            v["confusion"].clone(),
        )
    };
    for name in [
        "baseline",
        "norm_inputs",
        "lr_schedule",
        "weight_decay",
        "init_weights",
        "dropout_dense",
        "dropout_conv",
        "dropout_both",
    ] {
        assert_eq!(figures("par", name), figures("seq", name), "{name}");
    }
    let listing = String::from_utf8(env.run(&["runs"]).stdout).unwrap();
    assert_eq!(listing.matches("finished").count(), 16, "{listing}");
    // The same study again: its finished runs count as they are, nothing is trained or added.
    let again = study(&["--parallel", "2"], "again");
    assert!(
        stderr(&again).contains("8 of its runs finished then and count as they are, 0 resume"),
        "{}",
        stderr(&again)
    );
    assert_eq!(
        figures("again", "dropout_both"),
        figures("seq", "dropout_both")
    );
    let listing = String::from_utf8(env.run(&["runs"]).stdout).unwrap();
    assert_eq!(listing.matches("finished").count(), 16, "{listing}");
}

/// `--seeds 2`: a run repeated on seeds 42 and 43, one record per seed and the variant's
/// figures; a study of 8 scenarios x 2 seeds whose report `study --report` rebuilds from the
/// history alone.
#[test]
fn seeds_repeat_runs_and_the_report_is_rebuilt_from_the_history() {
    let env = Env::new();
    let o = env.run(&[
        "run",
        "--headless",
        "--preset",
        "norm_inputs",
        "--seeds",
        "2",
        "--epochs",
        "1",
        "--train-limit",
        "64",
        "--out",
        "r.json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(env.tmp.path().join(name)).unwrap()).unwrap()
    };
    assert_eq!(read("r.seed42.json")["config"]["seed"], 42);
    assert_eq!(read("r.seed43.json")["config"]["seed"], 43);
    let v = read("r.json");
    assert_eq!(v["n"], 2);
    assert_eq!(v["variant"]["seeds"], serde_json::json!([42, 43]));
    assert_eq!(
        v["variant"]["accuracy"]["values"].as_array().unwrap().len(),
        2
    );
    let lines = String::from_utf8(o.stdout).unwrap();
    assert!(lines.contains("\"seed\":43"), "{lines}");

    let history = env.tmp.path().join("study.db");
    let o = env
        .cmd_on(
            &history,
            &[
                "study",
                "--headless",
                "--seeds",
                "7,8",
                "--epochs",
                "1",
                "--train-limit",
                "64",
                "--parallel",
                "2",
                "--out",
                "st",
            ],
        )
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("8 scenarios x 2 seeds (7, 8)"),
        "{}",
        stderr(&o)
    );
    // The epochs' JSON lines, then the report.
    let out = String::from_utf8(o.stdout).unwrap();
    let table = &out[out.find("seeds: 7, 8;").expect(&out)..];
    assert!(
        table.contains("| baseline (first 64 images) | (baseline) | 2 | "),
        "{table}"
    );
    assert!(
        table.contains("| normalizing inputs helps | norm_inputs − baseline |"),
        "{table}"
    );
    assert!(env.tmp.path().join("st/dropout_both.seed8.json").is_file());
    let json = read("st/study.json");
    assert_eq!(json["variants"].as_array().unwrap().len(), 8);
    assert_eq!(json["variants"][0]["n"], 2);
    assert_eq!(json["claims"].as_array().unwrap().len(), 7);

    let o = env
        .cmd_on(&history, &["study", "--report"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let report = String::from_utf8(o.stdout).unwrap();
    assert!(
        report.starts_with("## 1 epochs, batch 64, the first 64 images: 16 finished runs"),
        "{report}"
    );
    assert!(
        report.contains(table),
        "the study's own table:\n{table}\nreport:\n{report}"
    );
    // Nothing to report is an error naming the file.
    let empty = env.tmp.path().join("empty.db");
    let o = env.cmd_on(&empty, &["study", "--report"]).output().unwrap();
    assert!(!o.status.success());

    // The same study as a page to hand round: its table's figures, its claims, and a chart
    // beside it for each figure and each run.
    let dir = env.tmp.path().join("html");
    let o = env
        .cmd_on(&history, &["report", "--study", "seed", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("(16 runs) and 19 charts"),
        "{}",
        stderr(&o)
    );
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    let baseline = table.lines().find(|l| l.starts_with("| baseline")).unwrap();
    let mean = baseline.split(" | ").nth(3).unwrap();
    assert!(page.contains(mean), "baseline's {mean} in the page");
    assert!(page.contains("normalizing inputs helps"));
    assert_eq!(page.matches("<h3>Run #").count(), 16);
    for chart in [
        "accuracy",
        "validation",
        "learning-rate",
        "confusion-run-16",
    ] {
        for ext in ["svg", "png"] {
            assert!(
                dir.join(format!("{chart}.{ext}")).is_file(),
                "{chart}.{ext}"
            );
        }
    }
    let o = env
        .cmd_on(&empty, &["report", "--out"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("empty.db: no finished runs"),
        "{}",
        stderr(&o)
    );
}

/// Issue 21: the interface's terminal goes away mid-run, killed with SIGKILL (the kernel then
/// hangs its pseudo-terminal up: SIGHUP, as when an SSH link drops); the run goes on in a
/// process of its own and ends with exactly the figures of the same run never disturbed. The
/// interface runs in a real pseudo-terminal (`script`).
#[test]
fn a_run_outlives_its_terminal_killed() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: `script` (util-linux) is not installed, no pseudo-terminal");
        return;
    }
    let env = Env::new();
    let config = [
        "--preset",
        "dropout_conv",
        "--epochs",
        "3",
        "--train-limit",
        "2000",
        "--seed",
        "5",
    ];
    let headless: Vec<&str> = ["run", "--headless"]
        .iter()
        .chain(&config)
        .copied()
        .collect();
    let whole = env.run(&headless);
    assert!(whole.status.success(), "{}", stderr(&whole));

    // The same run in the interface, in a pseudo-terminal of its own, with a second seed
    // queued behind it (one run at a time).
    let mut interface = env.cmd(&["--parallel", "1", "run", "--seeds", "2"]);
    interface.args(config);
    let line = std::iter::once(interface.get_program())
        .chain(interface.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = Command::new("script");
    script
        .args(["-qfec", &line, "/dev/null"])
        .current_dir(interface.get_current_dir().unwrap())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in interface.get_envs() {
        script.env(k, v.unwrap());
    }
    let mut tty = script.spawn().unwrap();
    // Once its first epoch is in the history, mid-run: kill its terminal.
    let started = std::time::Instant::now();
    let pid = loop {
        assert!(
            started.elapsed().as_secs() < 120,
            "the interface's run never got going"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        let listing = env.run(&["runs"]);
        let said = stderr(&listing);
        let out = String::from_utf8_lossy(&listing.stdout).into_owned();
        let one_epoch = out
            .lines()
            .any(|l| l.contains("running") && l.contains(" 1/3 "));
        let pid = said
            .split("#2 trains in process ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .and_then(|p| p.parse::<i32>().ok());
        if let (true, Some(pid)) = (one_epoch, pid) {
            break pid;
        }
    };
    tty.kill().unwrap();
    let _ = tty.wait();
    // The interface hears the hang-up and hands the run over before it exits.
    let started = std::time::Instant::now();
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            started.elapsed().as_secs() < 60,
            "the interface outlived its terminal"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The run goes on in the background and finishes, then the queued one trains.
    let started = std::time::Instant::now();
    loop {
        assert!(started.elapsed().as_secs() < 360, "the runs never finished");
        std::thread::sleep(std::time::Duration::from_millis(500));
        if figures(&env, 2).3 == "finished" && figures(&env, 3).3 == "finished" {
            break;
        }
    }
    assert_eq!(figures(&env, 3).0.len(), 3, "the queued run trained whole");
    let (a, conf_a, points_a, _) = figures(&env, 1);
    let (b, conf_b, points_b, _) = figures(&env, 2);
    assert_eq!(a, b, "per-epoch figures match the undisturbed run");
    assert_eq!(conf_a, conf_b);
    assert_eq!(points_a, points_b, "the reports too, step for step");
    let log = env.history().with_file_name("run-2.log");
    assert!(log.exists(), "its output is kept beside the history");
}

/// A stand-in for a Python with torch: it answers the import check, then plays
/// `torch_reference.py --paced` (ready, one repetition per line read, a summary at the end),
/// saying on stderr when each repetition runs. `stop_after` ends it early, as a crash would.
fn fake_python(dir: &Path, stop_after: Option<usize>) -> PathBuf {
    let figures =
        r#"{"bare_step": 100, "bare_step_cl": 200, "epoch": 50, "eval": 400, "epoch_mem_cl": 80}"#;
    let stop = stop_after.map_or(String::new(), |n| format!("[ $n -ge {n} ] && exit 3"));
    let script = format!(
        "#!/bin/sh\n\
         [ \"$1\" = -c ] && exit 0\n\
         echo ready\n\
         n=0\n\
         while read -r _; do\n\
           {stop}\n\
           n=$((n + 1))\n\
           echo \"PyTorch rep $n\" >&2\n\
           echo '{figures}'\n\
         done\n\
         echo '{{\"torch\": \"fake\", \"median\": {figures}}}'\n"
    );
    let path = dir.join("fake-python");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Issue 22: the bench takes turns with the PyTorch reference, one repetition each, so a
/// machine that drifts over minutes weighs on both sides; a reference that dies leaves our
/// figures and says why.
#[test]
fn the_bench_takes_turns_with_the_reference() {
    let env = Env::new();
    let bench = |python: &Path, json: &Path| {
        let out = env
            .cmd(&[
                "bench",
                "--reps",
                "2",
                "--steps",
                "2",
                "--epoch-images",
                "64",
            ])
            .arg("--python")
            .arg(python)
            .arg("--json")
            .arg(json)
            .output()
            .unwrap();
        let err = stderr(&out);
        assert!(out.status.success(), "{err}");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
        (err, report)
    };

    let json = env.tmp.path().join("bench.json");
    let (err, report) = bench(&fake_python(env.tmp.path(), None), &json);
    let turns: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("cifar-tui rep") || l.starts_with("PyTorch rep"))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(
        turns,
        [
            "cifar-tui rep 1/2",
            "PyTorch rep 1",
            "cifar-tui rep 2/2",
            "PyTorch rep 2"
        ],
        "{err}"
    );
    assert_eq!(report["reference"]["median"]["bare_step_cl"], 200);
    let ours = report["cifar_tui"]["median"]["bare_step"].as_f64().unwrap();
    let ratio = report["ratios"]["bare_step_vs_torch_channels_last"]
        .as_f64()
        .unwrap();
    assert!((ratio - ours / 200.0).abs() < 1e-9, "{ratio} vs {ours}");

    let (err, report) = bench(&fake_python(env.tmp.path(), Some(1)), &json);
    assert!(report["reference"].is_null(), "{report}");
    let why = report["reference_missing"].as_str().unwrap();
    assert!(why.contains("stopped"), "{why}\n{err}");
    assert_eq!(report["cifar_tui"]["reps"].as_array().unwrap().len(), 2);
}
