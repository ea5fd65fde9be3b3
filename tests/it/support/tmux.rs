//! Real interactive shells: a tmux server of the test's own, running one
//! command line under `env -i` with exactly the variables given, into
//! which the test types and whose screen it reads.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{require, sh_quote, text, Retry, TestContext};

/// How long a wait may take before it fails: shells start slowly on a
/// loaded machine; the deadline only turns a hang into a failure.
const DEADLINE: Duration = Duration::from_secs(30);

pub struct Tmux {
    socket: PathBuf,
    cwd: PathBuf,
    vars: Vec<(String, String)>,
}

impl Tmux {
    /// Start `command` (a shell command line) in `cwd` with `vars` as its
    /// whole environment (`TERM=xterm` unless given).
    pub fn start(ctx: &TestContext, cwd: &Path, vars: &[(String, String)], command: &str) -> Tmux {
        Tmux::start_named(ctx, "tmux", cwd, vars, command)
    }

    /// A plain bash at the prompt `outer$ ` in `cwd`, with this test's
    /// environment plus `extra`, ready for [`Tmux::send`].
    pub fn outer_bash(ctx: &TestContext, cwd: &Path, extra: &[(&str, String)]) -> Tmux {
        let mut vars = ctx.envs();
        vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
        vars.push(("PS1".into(), "outer$ ".into()));
        // bash, not sh: dash ignores PS1 from the environment when root.
        let t = Tmux::start(ctx, cwd, &vars, "bash --norc --noprofile");
        t.wait_for("outer$", |s| s.contains("outer$"));
        t
    }

    /// [`Tmux::start`] on a server of its own named `name`, for a test
    /// that drives more than one shell at a time.
    pub fn start_named(ctx: &TestContext, name: &str, cwd: &Path, vars: &[(String, String)], command: &str) -> Tmux {
        require("tmux");
        let socket = ctx.path(&format!("{name}.sock"));
        let mut line = String::from("env -i");
        let mut vars = vars.to_vec();
        if !vars.iter().any(|(k, _)| k == "TERM") {
            vars.push(("TERM".into(), "xterm".into()));
        }
        for (k, v) in &vars {
            line.push_str(&format!(" {k}={}", sh_quote(v)));
        }
        line.push(' ');
        line.push_str(command);
        let t = Tmux {
            socket,
            cwd: cwd.to_path_buf(),
            vars,
        };
        let st = t
            .tmux()
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                "50",
                "-s",
                "t",
                "-c",
            ])
            .arg(cwd)
            .arg(line)
            .status_retry();
        assert!(st.success(), "tmux did not start");
        t
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.env_clear()
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.cwd)
            .arg("-S")
            .arg(&self.socket);
        c
    }

    /// Type `line` and press Enter.
    pub fn send(&self, line: &str) {
        assert!(self
            .tmux()
            .args(["send-keys", "-t", "t", "-l", line])
            .status_retry()
            .success());
        assert!(self
            .tmux()
            .args(["send-keys", "-t", "t", "Enter"])
            .status_retry()
            .success());
    }

    /// The screen and its history, wrapped lines joined.
    pub fn pane(&self) -> String {
        text(
            &self
                .tmux()
                .args(["capture-pane", "-p", "-J", "-S", "-500", "-t", "t"])
                .output_retry()
                .stdout,
        )
    }

    /// Wait until the pane satisfies `pred`; the pane then.
    #[track_caller]
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let pane = self.pane();
            if pred(&pane) {
                return pane;
            }
            if start.elapsed() > DEADLINE {
                panic!("timed out waiting for {what}; screen:\n{pane}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until the pane shows `needle` `times` times.
    #[track_caller]
    pub fn wait_for_text(&self, needle: &str, times: usize) -> String {
        self.wait_for(&format!("{needle:?} x{times}"), |p| p.matches(needle).count() >= times)
    }

    /// Run `cmd` and wait until it and the next prompt (which contains
    /// `prompt`) are done; returns the pane from the command line on. The
    /// command ends by echoing `MARK''n`, which shows as `MARKn` only in
    /// the output (same in bash, zsh and fish).
    #[track_caller]
    pub fn run(&self, cmd: &str, n: usize, prompt: &str) -> String {
        let typed = format!("MARK''{n}");
        let mark = format!("MARK{n}");
        self.send(&format!("{cmd}; echo {typed}"));
        let pane = self.wait_for(&format!("{cmd:?} to finish"), |pane| {
            pane.rfind(&typed).is_some_and(|start| {
                let rest = &pane[start + typed.len()..];
                // The output mark, then the prompt drawn after the hook ran.
                rest.find(&mark).is_some_and(|i| rest[i..].contains(prompt))
            })
        });
        let start = pane.rfind(&typed).unwrap();
        let line_start = pane[..start].rfind('\n').map_or(0, |i| i + 1);
        pane[line_start..].to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status_retry();
    }
}
