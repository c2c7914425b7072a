//! What a sweep hands to a scheduler: SLURM's batch script for one job array, or a Kubernetes
//! Indexed Job manifest. Pure text from the plan and the resources asked for.

use std::path::Path;

use anyhow::{Result, bail};
use serde_json::json;

use crate::store::sweep::{Folder, Plan};

/// The exit status of a task stopped by a signal after checkpointing: "try again later"
/// (`EX_TEMPFAIL`). The batch script requeues the task on it.
pub const REQUEUE_EXIT: u8 = 75;

/// Resources per task, as SLURM spells them.
#[derive(Clone, Debug, Default)]
pub struct Resources {
    pub gres: Option<String>,
    pub cpus_per_task: Option<u32>,
    pub mem: Option<String>,
    pub time: Option<String>,
    pub partition: Option<String>,
    pub account: Option<String>,
    /// Most tasks running at once (`--array=0-N%K`).
    pub max_running: Option<u32>,
    /// Further `sbatch` options, one `#SBATCH` line each.
    pub extra: Vec<String>,
}

/// A value that goes on an `#SBATCH` line: one word of plain characters, so that no value can
/// end the line or smuggle in a command.
fn word(option: &str, value: &str) -> Result<()> {
    let plain = |c: char| c.is_ascii_alphanumeric() || ":_.,=+/-@%".contains(c);
    if value.is_empty() || !value.chars().all(plain) {
        bail!(
            "--{option} `{value}` is not one word of letters, digits and :_.,=+/-@%. Fix: give \
             it as SLURM spells it, e.g. --gres gpu:1, --mem 8G, --time 2:00:00"
        );
    }
    Ok(())
}

impl Resources {
    /// Refuses values that cannot go on an `#SBATCH` line as they are.
    pub fn check(&self) -> Result<()> {
        let named = [
            ("gres", &self.gres),
            ("mem", &self.mem),
            ("time", &self.time),
            ("partition", &self.partition),
            ("account", &self.account),
        ];
        for (option, value) in named {
            if let Some(v) = value {
                word(option, v)?;
            }
        }
        for arg in &self.extra {
            if !arg.starts_with('-') || arg.contains(['\n', '\r']) || arg.trim() != arg {
                bail!(
                    "--sbatch-arg `{arg}` is not one sbatch option. Fix: pass each as \
                     --sbatch-arg=--qos=long (the option with its value, after an =)"
                );
            }
        }
        Ok(())
    }

    /// The `#SBATCH` lines of the resources.
    fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut add = |name: &str, v: &Option<String>| {
            if let Some(v) = v {
                out.push(format!("#SBATCH --{name}={v}"));
            }
        };
        add("gres", &self.gres);
        add("cpus-per-task", &self.cpus_per_task.map(|c| c.to_string()));
        add("mem", &self.mem);
        add("time", &self.time);
        add("partition", &self.partition);
        add("account", &self.account);
        out.extend(self.extra.iter().map(|a| format!("#SBATCH {a}")));
        out
    }
}

/// `s` as one shell word.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Refuses a sweep folder whose path an `#SBATCH --output` line cannot hold.
pub fn check_folder_path(dir: &Path) -> Result<()> {
    let text = dir.to_string_lossy();
    if text.contains(|c: char| c.is_whitespace() || "'\"%\\$`".contains(c)) {
        bail!(
            "the sweep folder {text} has a space, quote, % or $ in its path, which SLURM's \
             #SBATCH lines cannot hold. Fix: choose a folder without them"
        );
    }
    Ok(())
}

/// The batch script of the job array: task `i` of the array trains task `i` of the plan.
pub fn batch_script(plan: &Plan, folder: &Folder, res: &Resources) -> String {
    let n = plan.tasks.len();
    let dir = folder.0.display();
    let most = res.max_running.map(|k| format!("%{k}")).unwrap_or_default();
    let mut s = format!(
        "#!/bin/bash
# cifar-tui sweep {sweep}: {n} tasks ({study}), one headless run per array task.
# Written by `cifar-tui sweep`; submit it again with `sbatch {script}` (add --array=K to
# run task K alone). Follow it with `cifar-tui sweep --status {dir}`; when it is done,
# `cifar-tui import {dir}` adds the results to your history.
#SBATCH --job-name=cifar-sweep
#SBATCH --array=0-{last}{most}
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output={dir}/logs/task-%a.log
",
        sweep = plan.sweep,
        study = plan.study,
        script = folder.script().display(),
        last = n.saturating_sub(1),
    );
    for line in res.lines() {
        s += &line;
        s.push('\n');
    }
    let exit = REQUEUE_EXIT;
    s += &format!(
        r#"
# Preemption, the time limit and `scancel --signal=TERM` send SIGTERM to the training step: it
# stops between two steps, keeps its last epoch's checkpoint and exits with {exit}. This shell
# waits for it, then puts the task back in the queue; its next start resumes from there.
trap 'echo "cifar-tui sweep: SIGTERM: the task checkpoints and stops" >&2' TERM
task="${{SLURM_ARRAY_TASK_ID:?this is a SLURM job array script: submit it with sbatch}}"
progress={progress_dir}/"$task"/progress.jsonl
srun --ntasks=1 ${{SLURM_CPUS_PER_TASK:+--cpus-per-task="$SLURM_CPUS_PER_TASK"}} \
    {bin} sweep-task {quoted_dir} --index "$task"
status=$?
if [ "$status" -eq {exit} ]; then
    # The requeue ends this job with a SIGTERM, which may come before scontrol has answered:
    # ignored here, it cannot cut scontrol short and make a done requeue look failed.
    trap '' TERM
    # The array task itself, not the whole array (whose id SLURM_JOB_ID may be).
    if scontrol requeue "${{SLURM_ARRAY_JOB_ID}}_$task"; then
        exit 0
    fi
    why="interrupted, and scontrol requeue failed: resume it with sbatch --array=$task {script}"
    echo "cifar-tui sweep: $why" >&2
fi
if [ "$status" -ne 0 ] && ! tail -n 1 "$progress" 2>/dev/null | grep -q '"state":"failed"'; then
    mkdir -p "$(dirname "$progress")"
    why="${{why:-the task ended with exit status $status without saying why; see logs/task-$task.log}}"
    printf '{{"state":"failed","at":"%s","message":"%s"}}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
        "$why" >> "$progress"
fi
exit "$status"
"#,
        progress_dir = sh_quote(&folder.0.join("tasks").to_string_lossy()),
        bin = sh_quote(&plan.binary.to_string_lossy()),
        quoted_dir = sh_quote(&folder.0.to_string_lossy()),
        script = folder.script().display(),
    );
    s
}

/// Kubernetes' spelling of a SLURM memory size (`8G` → `8Gi`; a bare number is megabytes).
fn k8s_memory(mem: &str) -> String {
    let (digits, unit) = mem.split_at(mem.find(|c: char| !c.is_ascii_digit()).unwrap_or(mem.len()));
    match unit.to_ascii_uppercase().as_str() {
        "" | "M" => format!("{digits}Mi"),
        "K" => format!("{digits}Ki"),
        "G" => format!("{digits}Gi"),
        "T" => format!("{digits}Ti"),
        _ => mem.to_string(),
    }
}

/// GPUs in a gres like `gpu:1` or `gpu:a100:2`.
fn gpus(gres: &str) -> Option<u32> {
    let mut parts = gres.split(':');
    if parts.next()? != "gpu" {
        return None;
    }
    parts.next_back().and_then(|n| n.parse().ok()).or(Some(1))
}

/// An Indexed Job running the plan's tasks: pod `i` runs task `i` (Kubernetes sets
/// `JOB_COMPLETION_INDEX`). The claim is mounted at the sweep folder's path, so the plan's
/// paths hold inside the pods. A preempted pod or one stopped by SIGTERM (exit 75) does not
/// count as a failure; its replacement resumes from the checkpoint.
pub fn k8s_manifest(
    plan: &Plan,
    folder: &Folder,
    res: &Resources,
    image: &str,
    claim: &str,
) -> serde_json::Value {
    let n = plan.tasks.len();
    let dir = folder.0.to_string_lossy();
    let mut limits = serde_json::Map::new();
    if let Some(g) = res.gres.as_deref().and_then(gpus) {
        limits.insert("nvidia.com/gpu".into(), json!(g.to_string()));
    }
    if let Some(c) = res.cpus_per_task {
        limits.insert("cpu".into(), json!(c.to_string()));
    }
    if let Some(m) = &res.mem {
        limits.insert("memory".into(), json!(k8s_memory(m)));
    }
    let name: String = plan
        .sweep
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": format!("cifar-sweep-{}", name.trim_matches('-')),
            "labels": { "app.kubernetes.io/name": "cifar-tui" }
        },
        "spec": {
            "completionMode": "Indexed",
            "completions": n,
            "parallelism": res.max_running.map(|k| k as usize).unwrap_or(n),
            "backoffLimit": 3 * n.max(1),
            "podFailurePolicy": {
                "rules": [
                    { "action": "Ignore", "onPodConditions": [{ "type": "DisruptionTarget" }] },
                    { "action": "Ignore",
                      "onExitCodes": { "operator": "In", "values": [REQUEUE_EXIT] } }
                ]
            },
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 120,
                    "containers": [{
                        "name": "task",
                        "image": image,
                        "command": ["cifar-tui", "sweep-task", dir],
                        "resources": { "limits": limits },
                        "volumeMounts": [{ "name": "sweep", "mountPath": dir }]
                    }],
                    "volumes": [{
                        "name": "sweep",
                        "persistentVolumeClaim": { "claimName": claim }
                    }]
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sweep::{FORMAT, TaskSpec};
    use cifar_engine::config::Hyper;
    use cifar_engine::events::DeviceChoice;
    use cifar_engine::tricks::{self, TrickSet};

    fn plan(n: usize) -> Plan {
        let config = tricks::resolve(&TrickSet::new(), &Hyper::default());
        Plan {
            format: FORMAT,
            sweep: "20261128T140000Z-vm-42".into(),
            created_at: "t".into(),
            study: "seed study x seeds 1".into(),
            binary: "/opt/it's/cifar-tui".into(),
            data_dir: None,
            device: DeviceChoice::Auto,
            tasks: vec![
                TaskSpec {
                    name: "baseline".into(),
                    config
                };
                n
            ],
        }
    }

    #[test]
    fn the_batch_script_is_one_requeueable_array_with_the_resources_asked() {
        let res = Resources {
            gres: Some("gpu:1".into()),
            cpus_per_task: Some(4),
            mem: Some("8G".into()),
            time: Some("2:00:00".into()),
            partition: Some("gpu".into()),
            account: Some("lab".into()),
            max_running: Some(3),
            extra: vec!["--qos=long".into()],
        };
        let s = batch_script(&plan(8), &Folder("/shared/sweep".into()), &res);
        for line in [
            "#SBATCH --array=0-7%3\n",
            "#SBATCH --requeue\n",
            "#SBATCH --output=/shared/sweep/logs/task-%a.log\n",
            "#SBATCH --gres=gpu:1\n",
            "#SBATCH --cpus-per-task=4\n",
            "#SBATCH --mem=8G\n",
            "#SBATCH --time=2:00:00\n",
            "#SBATCH --partition=gpu\n",
            "#SBATCH --account=lab\n",
            "#SBATCH --qos=long\n",
            "'/opt/it'\\''s/cifar-tui' sweep-task '/shared/sweep' --index \"$task\"",
            "scontrol requeue \"${SLURM_ARRAY_JOB_ID}_$task\"",
            "if [ \"$status\" -eq 75 ]; then",
        ] {
            assert!(s.contains(line), "{line} missing from:\n{s}");
        }
        // Every #SBATCH line comes before the first command, or sbatch ignores it.
        let first_command = s.find("\ntrap ").unwrap();
        assert!(s.rfind("#SBATCH").unwrap() < first_command);
        let plain = batch_script(&plan(1), &Folder("/s".into()), &Resources::default());
        assert!(plain.contains("#SBATCH --array=0-0\n"), "{plain}");
        assert!(!plain.contains("--gres"), "{plain}");
    }

    #[test]
    fn values_that_could_break_the_script_are_refused() {
        let bad = |res: Resources| res.check().unwrap_err().to_string();
        let msg = bad(Resources {
            mem: Some("8G\n#SBATCH --x".into()),
            ..Default::default()
        });
        assert!(msg.contains("--mem") && msg.contains("Fix:"), "{msg}");
        let msg = bad(Resources {
            extra: vec!["qos=long".into()],
            ..Default::default()
        });
        assert!(msg.contains("--sbatch-arg=--qos=long"), "{msg}");
        assert!(check_folder_path(Path::new("/my sweeps/a")).is_err());
        assert!(check_folder_path(Path::new("/scratch/me/sweep-1")).is_ok());
    }

    #[test]
    fn the_k8s_manifest_is_an_indexed_job_with_the_same_resources() {
        let res = Resources {
            gres: Some("gpu:a100:2".into()),
            cpus_per_task: Some(8),
            mem: Some("16G".into()),
            max_running: Some(4),
            ..Default::default()
        };
        let m = k8s_manifest(
            &plan(5),
            &Folder("/shared/sweep".into()),
            &res,
            "registry/cifar-tui:1",
            "sweeps",
        );
        assert_eq!(m["spec"]["completionMode"], "Indexed");
        assert_eq!(m["spec"]["completions"], 5);
        assert_eq!(m["spec"]["parallelism"], 4);
        let c = &m["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["resources"]["limits"]["nvidia.com/gpu"], "2");
        assert_eq!(c["resources"]["limits"]["memory"], "16Gi");
        assert_eq!(
            c["command"],
            json!(["cifar-tui", "sweep-task", "/shared/sweep"])
        );
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/shared/sweep");
        assert_eq!(m["metadata"]["name"], "cifar-sweep-20261128t140000z-vm-42");
        assert_eq!(k8s_memory("500"), "500Mi");
    }
}
