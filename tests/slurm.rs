//! Sweeps against a real SLURM: a single-node cluster brought up by hand in a temporary folder
//! (slurmctld and slurmd from Debian's slurm-wlm, no systemd), the real binary as its tasks, on
//! a tiny synthetic CIFAR-10 copy. Where SLURM is not installed these tests say so and skip,
//! except where CIFAR_TUI_REQUIRE_SLURM is set (.ci/run sets it), where they fail: there they
//! must never pass without running. (Not CI=true: a user's own CI sets that and has no SLURM.)

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::write_data;

/// A free TCP port of this machine (free when asked; the daemons take it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where program `name` is: on PATH, else in one of `also`.
fn tool(name: &str, also: &[&Path]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(also.iter().map(|p| p.to_path_buf()))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn output(cmd: &mut Command) -> Result<Output, String> {
    cmd.output().map_err(|e| format!("{cmd:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A single-node SLURM cluster of its own: config, state, spool and logs in one temporary
/// folder, its daemons stopped by their PIDs when it is dropped.
struct Slurm {
    dir: tempfile::TempDir,
    conf: PathBuf,
    daemons: Vec<Child>,
}

impl Slurm {
    /// Brings the cluster up, or says why it cannot.
    fn start() -> Result<Slurm, String> {
        // Clients on PATH (cifar-tui and the batch script call them so); the daemons may sit
        // in an sbin folder a user's PATH lacks.
        for client in ["sbatch", "srun", "squeue", "sinfo", "scontrol", "scancel"] {
            if tool(client, &[]).is_none() {
                return Err(format!("`{client}` is not on PATH"));
            }
        }
        let sbin = [Path::new("/usr/sbin"), Path::new("/usr/local/sbin")];
        let daemon = |name: &str| tool(name, &sbin).ok_or(format!("`{name}` is not installed"));
        let (slurmctld, slurmd) = (daemon("slurmctld")?, daemon("slurmd")?);
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let d = dir.path();
        for sub in ["state", "spool", "log"] {
            std::fs::create_dir_all(d.join(sub)).map_err(|e| e.to_string())?;
        }
        let user = text(&output(Command::new("id").arg("-un"))?.stdout)
            .trim()
            .to_string();
        let (ctld_port, d_port) = (free_port(), free_port());
        let p = |s: &str| d.join(s).display().to_string();
        // Settings measured in shared/notes/slurm.md: linuxproc and no task plugin (no cgroups
        // here), cons_tres with memory so that tasks run side by side, no accounting database,
        // and a short credential lifetime, which is also how long a requeued task waits.
        let conf = format!(
            "ClusterName=cifartest
SlurmctldHost=localhost
SlurmUser={user}
SlurmdUser={user}
AuthType=auth/none
CredType=cred/none
AuthInfo=cred_expire=5
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
StateSaveLocation={state}
SlurmdSpoolDir={spool}
SlurmctldPidFile={ctld_pid}
SlurmdPidFile={d_pid}
SlurmctldLogFile={ctld_log}
SlurmdLogFile={d_log}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=300
MailProg=/bin/true
ReturnToService=2
KillWait=30
SlurmdParameters=config_overrides
NodeName=localhost CPUs=4 RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
",
            state = p("state"),
            spool = p("spool"),
            ctld_pid = p("slurmctld.pid"),
            d_pid = p("slurmd.pid"),
            ctld_log = p("log/slurmctld.log"),
            d_log = p("log/slurmd.log"),
        );
        let conf_path = d.join("slurm.conf");
        std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
        let mut slurm = Slurm {
            conf: conf_path,
            dir,
            daemons: Vec::new(),
        };
        let log = |name: &str| {
            std::fs::File::create(slurm.dir.path().join("log").join(name))
                .map(Stdio::from)
                .map_err(|e| e.to_string())
        };
        let (ctld_out, d_out) = (log("slurmctld.out")?, log("slurmd.out")?);
        let ctld = Command::new(slurmctld)
            .args(["-D", "-f"])
            .arg(&slurm.conf)
            .stdout(Stdio::null())
            .stderr(ctld_out)
            .spawn()
            .map_err(|e| format!("cannot start slurmctld: {e}"))?;
        slurm.daemons.push(ctld);
        let slurmd = Command::new(slurmd)
            .args(["-D", "-N", "localhost", "-f"])
            .arg(&slurm.conf)
            .stdout(Stdio::null())
            .stderr(d_out)
            .spawn()
            .map_err(|e| format!("cannot start slurmd: {e}"))?;
        slurm.daemons.push(slurmd);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = output(
                slurm
                    .cmd("sinfo")
                    .args(["-h", "-n", "localhost", "-o", "%T"]),
            )
            .map(|o| text(&o.stdout).trim().to_string())
            .unwrap_or_default();
            if state == "idle" {
                return Ok(slurm);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the cluster did not come up in 30 s (node state `{state}`); logs:\n{}",
                    slurm.logs()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// A SLURM client command that talks to this cluster.
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    fn logs(&self) -> String {
        ["slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out"]
            .iter()
            .map(|n| {
                let body = std::fs::read_to_string(self.dir.path().join("log").join(n))
                    .unwrap_or_default();
                let tail: Vec<_> = body.lines().rev().take(30).collect();
                let tail: Vec<_> = tail.into_iter().rev().collect();
                format!("--- {n}\n{}", tail.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The tasks of job `job` that SLURM still holds pending or running, as `ID STATE`;
    /// `None` when squeue did not answer (an empty answer must mean "none", not "no answer").
    fn queue(&self, job: &str) -> Option<String> {
        let o = output(
            self.cmd("squeue")
                .args(["-h", "-r", "-j", job, "-o", "%i %T"]),
        )
        .ok()?;
        o.status.success().then(|| text(&o.stdout))
    }

    /// Waits until SLURM holds none of the job's tasks.
    fn wait_done(&self, job: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let q = self.queue(job);
            if q.as_deref().is_some_and(|q| q.trim().is_empty()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "job {job} not done after {limit:?}:\n{q:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        // Jobs first (their step daemons outlive slurmd), then the daemons, by their PIDs.
        let _ = self.cmd("scancel").arg("--partition=debug").status();
        std::thread::sleep(Duration::from_millis(500));
        for d in &mut self.daemons {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(d.id().to_string())
                .status();
        }
        for d in &mut self.daemons {
            let deadline = Instant::now() + Duration::from_secs(5);
            while matches!(d.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

/// The cluster, or `None` (with the reason on stderr) where SLURM is not installed. With
/// CIFAR_TUI_REQUIRE_SLURM set a missing SLURM fails the test instead.
fn cluster(test: &str) -> Option<Slurm> {
    match Slurm::start() {
        Ok(s) => Some(s),
        Err(why) if std::env::var_os("CIFAR_TUI_REQUIRE_SLURM").is_some() => panic!(
            "{test}: SLURM cannot run here ({why}), and CIFAR_TUI_REQUIRE_SLURM is set: this \
             test must run, not pass empty. Fix: apt-get install --no-install-recommends \
             slurm-wlm munge (.ci/run does)"
        ),
        Err(why) => {
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: {why}. Install SLURM to run it: apt-get install \
                 --no-install-recommends slurm-wlm munge"
            );
            None
        }
    }
}

/// A sweep's world: data, history, caches, and the cluster that runs it.
struct Env {
    tmp: tempfile::TempDir,
    data: PathBuf,
    slurm: Slurm,
}

impl Env {
    fn new(test: &str) -> Option<Env> {
        let slurm = cluster(test)?;
        let tmp = tempfile::tempdir().unwrap();
        let data = write_data(tmp.path());
        Some(Env { tmp, data, slurm })
    }

    /// The binary, with this world's folders and cluster and nothing from the user's.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cifar-tui"));
        c.current_dir(self.tmp.path())
            .env("SLURM_CONF", &self.slurm.conf)
            .env("XDG_CACHE_HOME", self.tmp.path().join("cache"))
            .env("XDG_CONFIG_HOME", self.tmp.path().join("config"))
            .env("XDG_DATA_HOME", self.tmp.path().join("share"))
            .arg("--history")
            .arg(self.tmp.path().join("history.db"))
            .arg("--device")
            .arg("cpu")
            .args(args);
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = self.cmd(args).output().unwrap();
        assert!(
            out.status.success(),
            "cifar-tui {args:?} failed: {}",
            text(&out.stderr)
        );
        out
    }

    fn sweep_dir(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// Submits a sweep on `data`; its job id.
    fn submit(&self, name: &str, data: &Path, args: &[&str]) -> String {
        let dir = self.sweep_dir(name);
        let mut all = vec![
            "--data".to_string(),
            data.display().to_string(),
            "sweep".into(),
            dir.display().to_string(),
        ];
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = self.run(&all);
        let job = text(&out.stdout).trim().to_string();
        assert!(
            job.parse::<u64>().is_ok(),
            "sbatch gave `{job}`: {}",
            text(&out.stderr)
        );
        job
    }

    fn status(&self, name: &str) -> String {
        let dir = self.sweep_dir(name);
        text(
            &self
                .run(&["sweep", "--status", &dir.display().to_string()])
                .stdout,
        )
    }

    /// A task's log, for failure messages.
    fn log(&self, name: &str, task: usize) -> String {
        let path = self.sweep_dir(name).join(format!("logs/task-{task}.log"));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    fn result(&self, name: &str, task: usize) -> serde_json::Value {
        let path = self
            .sweep_dir(name)
            .join(format!("tasks/{task}/result.json"));
        let body = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}\nstatus:\n{}\nlog:\n{}",
                path.display(),
                self.status(name),
                self.log(name, task)
            )
        });
        serde_json::from_str(&body).unwrap()
    }

    fn progress(&self, name: &str, task: usize) -> Vec<serde_json::Value> {
        let path = self
            .sweep_dir(name)
            .join(format!("tasks/{task}/progress.jsonl"));
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn import(&self, name: &str) -> String {
        let dir = self.sweep_dir(name);
        text(&self.run(&["import", &dir.display().to_string()]).stderr)
    }

    fn runs(&self) -> Vec<serde_json::Value> {
        let listing = text(&self.run(&["runs"]).stdout);
        listing
            .lines()
            .skip(1)
            .map(|l| {
                let id = l.split_whitespace().next().unwrap();
                serde_json::from_slice(&self.run(&["show", id]).stdout).unwrap()
            })
            .collect()
    }
}

/// A run's figures without wall-clock times: every epoch's, the confusion matrix, the
/// training reports (step, loss, running accuracy).
fn figures(result: &serde_json::Value) -> serde_json::Value {
    let epochs: Vec<_> = result["epochs"]
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
            .map(|k| e[k].clone())
        })
        .collect();
    // The reports' figures; their seconds and speeds are the node's, not the run's.
    let reports: Vec<_> = result["losses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| ["step", "loss", "accuracy"].map(|k| p[k].clone()))
        .collect();
    serde_json::json!([epochs, result["confusion"], reports])
}

#[test]
fn a_sweep_of_eight_tasks_completes_and_imports_once() {
    let Some(env) = Env::new("a_sweep_of_eight_tasks_completes_and_imports_once") else {
        return;
    };
    let started = Instant::now();
    let job = env.submit(
        "seed",
        &env.data,
        &["--train-limit", "500", "--epochs", "1", "--seed", "3"],
    );
    env.slurm.wait_done(&job, Duration::from_secs(900));
    let status = env.status("seed");
    eprintln!("{status}");
    assert!(
        status.contains("8 tasks: 8 finished, 0 running, 0 queued, 0 failed"),
        "{status}"
    );
    let plan: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env.sweep_dir("seed").join("plan.json")).unwrap(),
    )
    .unwrap();
    for task in 0..8 {
        let r = env.result("seed", task);
        assert_eq!(r["config"], plan["tasks"][task]["config"], "task {task}");
        assert_eq!(r["origin"]["job"], format!("{job}_{task}"));
        assert_eq!(r["epochs"].as_array().unwrap().len(), 1);
    }

    let said = env.import("seed");
    assert!(said.contains("imported 8 run(s) (#1-#8)"), "{said}");
    let runs = env.runs();
    assert_eq!(runs.len(), 8);
    let presets = [
        "baseline",
        "norm_inputs",
        "lr_schedule",
        "weight_decay",
        "init_weights",
        "dropout_dense",
        "dropout_conv",
        "dropout_both",
    ];
    for (task, name) in presets.iter().enumerate() {
        let run = runs
            .iter()
            .find(|r| r["origin"]["task"] == task)
            .unwrap_or_else(|| panic!("no run of task {task}"));
        assert_eq!(run["name"], *name);
        assert_eq!(run["status"], "finished");
        assert_eq!(run["config"], plan["tasks"][task]["config"]);
        assert_eq!(run["config"]["seed"], 3);
        assert_eq!(run["config"]["train_limit"], 500);
        assert_eq!(run["origin"]["job"], format!("{job}_{task}"));
        assert!(!run["origin"]["host"].as_str().unwrap().is_empty());
        assert_eq!(run["epochs"].as_array().unwrap().len(), 1);
    }
    let again = env.import("seed");
    assert!(
        again.contains("imported 0 run(s)") && again.contains("8 already there"),
        "{again}"
    );
    assert_eq!(env.runs().len(), 8, "a second import adds nothing");
    // Exports work on imported runs as on local ones.
    let table = text(&env.run(&["export", "1,8", "--format", "md"]).stdout);
    assert!(
        table.contains("baseline") && table.contains("dropout_both"),
        "{table}"
    );
    eprintln!(
        "8-task sweep, import twice: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_task_stopped_by_sigterm_is_requeued_and_ends_as_if_left_alone() {
    let Some(env) = Env::new("a_task_stopped_by_sigterm_is_requeued_and_ends_as_if_left_alone")
    else {
        return;
    };
    let started = Instant::now();
    // Two tasks of the same configuration: task 0 is stopped, task 1 is left alone.
    let job = env.submit(
        "term",
        &env.data,
        &[
            "--presets",
            "dropout_conv,dropout_conv",
            "--seed",
            "5",
            "--epochs",
            "5",
            "--train-limit",
            "500",
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    while !env
        .progress("term", 0)
        .iter()
        .any(|l| l["state"] == "epoch")
    {
        assert!(
            Instant::now() < deadline,
            "task 0 never finished an epoch:\n{}\n{}",
            env.status("term"),
            env.log("term", 0)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent = env
        .slurm
        .cmd("scancel")
        .args(["--signal=TERM", &format!("{job}_0")])
        .status()
        .unwrap();
    assert!(sent.success());
    env.slurm.wait_done(&job, Duration::from_secs(600));

    let lines = env.progress("term", 0);
    let states: Vec<_> = lines.iter().map(|l| l["state"].as_str().unwrap()).collect();
    let stopped = lines
        .iter()
        .find(|l| l["state"] == "interrupted")
        .unwrap_or_else(|| panic!("task 0 was not interrupted: {states:?}"));
    let done = stopped["epochs_done"].as_u64().unwrap();
    assert!((1..5).contains(&done), "{stopped}");
    // Requeued cleanly: never shown as failed on the way.
    assert!(!states.contains(&"failed"), "{lines:#?}");
    let restarts: Vec<_> = lines.iter().filter(|l| l["state"] == "started").collect();
    assert_eq!(restarts.len(), 2, "{states:?}");
    assert_eq!(restarts[1]["attempt"], 2, "{lines:#?}");
    assert_eq!(states.last(), Some(&"finished"), "{states:?}");
    let log = env.log("term", 0);
    assert!(
        log.contains(&format!("resuming after epoch {done} of 5")),
        "{log}"
    );

    let (stopped, alone) = (env.result("term", 0), env.result("term", 1));
    assert_eq!(stopped["epochs"].as_array().unwrap().len(), 5);
    assert_eq!(figures(&stopped), figures(&alone));
    assert_eq!(stopped["config"], alone["config"]);
    let status = env.status("term");
    eprintln!(
        "{status}\n{states:?}\nSIGTERM, requeue, resume: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(status.contains("2 tasks: 2 finished"), "{status}");
}

#[test]
fn a_task_with_bad_data_shows_failed_with_its_message() {
    let Some(env) = Env::new("a_task_with_bad_data_shows_failed_with_its_message") else {
        return;
    };
    // A data folder whose first training file was cut short.
    let bad = env.tmp.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    let files = bad.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&files).unwrap();
    for entry in std::fs::read_dir(&env.data).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), files.join(entry.file_name())).unwrap();
    }
    let cut = std::fs::OpenOptions::new()
        .write(true)
        .open(files.join("data_batch_1.bin"))
        .unwrap();
    cut.set_len(1000).unwrap();
    drop(cut);
    let job = env.submit(
        "bad",
        &bad,
        &[
            "--presets",
            "baseline",
            "--epochs",
            "1",
            "--train-limit",
            "500",
        ],
    );
    env.slurm.wait_done(&job, Duration::from_secs(300));
    let status = env.status("bad");
    eprintln!("{status}");
    let row = status.lines().nth(1).unwrap();
    assert!(row.contains("failed"), "{status}");
    assert!(row.contains("data_batch_1.bin"), "{status}");
    assert!(
        status.contains("1 tasks: 0 finished, 0 running, 0 queued, 1 failed"),
        "{status}"
    );
    let said = env.import("bad");
    assert!(
        said.contains("imported 0 run(s)") && said.contains("1 task(s) (0)"),
        "{said}"
    );
}

#[test]
fn without_sbatch_a_sweep_says_so_and_writes_nothing_and_k8s_gets_a_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let no_slurm = tmp.path().join("empty-bin");
    std::fs::create_dir_all(&no_slurm).unwrap();
    let cifar = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_cifar-tui"))
            .current_dir(tmp.path())
            .env("PATH", &no_slurm)
            .env("XDG_CACHE_HOME", tmp.path().join("cache"))
            .env("XDG_CONFIG_HOME", tmp.path().join("config"))
            .env("XDG_DATA_HOME", tmp.path().join("share"))
            .args(["--data", &tmp.path().display().to_string()])
            .args(args)
            .output()
            .unwrap()
    };
    let dir = tmp.path().join("s");
    let dir_text = dir.display().to_string();
    let out = cifar(&[
        "sweep",
        &dir_text,
        "--presets",
        "baseline",
        "--seeds",
        "1,2",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("sbatch not found") && err.contains("Fix:"),
        "{err}"
    );
    assert!(!dir.exists(), "nothing written");

    // The dry run prints the script and writes nothing either.
    let out = cifar(&["sweep", &dir_text, "--seeds", "1,2", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("#SBATCH --array=0-15\n"));
    assert!(!dir.exists());

    let out = cifar(&[
        "sweep",
        &dir_text,
        "--presets",
        "baseline,norm_inputs",
        "--emit",
        "k8s",
        "--image",
        "registry/cifar-tui:1",
        "--gres",
        "gpu:1",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("sweep.k8s.json")).unwrap()).unwrap();
    assert_eq!(manifest["kind"], "Job");
    assert_eq!(manifest["spec"]["completions"], 2);
    assert!(dir.join("plan.json").is_file());
    // Nothing has run yet: both tasks are queued, and an import adds nothing.
    let status = cifar(&["sweep", "--status", &dir_text]);
    let table = text(&status.stdout);
    assert!(
        table.contains("2 tasks: 0 finished, 0 running, 2 queued"),
        "{table}"
    );
    let history = tmp.path().join("h.db").display().to_string();
    let import = cifar(&["--history", &history, "import", &dir_text]);
    let said = text(&import.stderr);
    assert!(
        said.contains("imported 0 run(s)") && said.contains("2 task(s) (0,1)"),
        "{said}"
    );
    // A second sweep into the same folder is refused.
    let again = cifar(&["sweep", &dir_text, "--emit", "k8s", "--image", "x"]);
    assert!(text(&again.stderr).contains("already holds a sweep"));
}
