//! Child processes of a control plane: started with their output in a log file, killed and reaped
//! on drop, and guarded by a watchdog that kills them if the test process dies without dropping
//! them (SIGKILL, abort, a harness timeout, or a `static` that is never dropped).
//!
//! # Why a watchdog process
//!
//! Linux can tie a child's life to its parent (`PR_SET_PDEATHSIG`), but only through `prctl` in a
//! `pre_exec` hook, which is `unsafe` and the workspace forbids `unsafe_code`. Instead each control
//! plane starts one small `bash` process first. Its stdin is a pipe whose only write end is held
//! by the test process (Rust opens pipes close-on-exec, so no component inherits it). The test
//! process writes the pid of every component it starts to that pipe. When the test process ends,
//! however it ends, the kernel closes the write end, the watchdog reads end-of-file, kills every
//! listed pid that is still one of ours and removes the control plane's directory. There is no
//! polling: end-of-file arrives the moment the test process is gone.
//!
//! A pid is only killed if its command line still names the control plane's root directory (every
//! component is started with paths under it), so a pid reused by an unrelated process after ours
//! exited is left alone.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};

use crate::{Component, Error};

/// The watchdog's program; `$1` is the root directory, `$2` is `1` to keep it after cleanup.
const WATCHDOG_SCRIPT: &str = r#"
# Ignore the terminal's Ctrl-C and hang-up so cleanup still runs when they end the test process.
trap '' INT HUP
root=$1 keep=$2
pids=()
while read -r pid; do pids+=("$pid"); done
ours() { grep -aqF -- "$root" "/proc/$1/cmdline" 2>/dev/null; }
for pid in "${pids[@]}"; do ours "$pid" && kill -KILL "$pid" 2>/dev/null; done
[[ $keep == 1 ]] && exit 0
for _ in {1..50}; do
  alive=
  for pid in "${pids[@]}"; do ours "$pid" && alive=1; done
  [[ -z $alive ]] && break
  sleep 0.1
done
rm -rf -- "$root"
"#;

/// Kills the registered processes and removes the root directory when the test process dies.
#[derive(Debug)]
pub(crate) struct Watchdog {
    child: Child,
    pids: ChildStdin,
}

impl Watchdog {
    /// Starts the watchdog for the control plane whose files are all under `root`.
    pub(crate) fn spawn(root: &Path, keep_root: bool) -> Result<Self, Error> {
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("autopilot-testenv-watchdog")
            .arg(root)
            .arg(if keep_root { "1" } else { "0" })
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| Error::Spawn {
                what: "the orphan watchdog".into(),
                binary: "bash".into(),
                source,
            })?;
        let pids = child.stdin.take().expect("stdin was piped");
        Ok(Self { child, pids })
    }

    /// Adds `pid` to the processes killed when the test process dies.
    pub(crate) fn guard(&mut self, pid: u32) -> std::io::Result<()> {
        writeln!(self.pids, "{pid}")?;
        self.pids.flush()
    }
}

impl Drop for Watchdog {
    /// The control plane stopped its processes itself; the watchdog has nothing left to do.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One running component: its process and its log file. Killed and reaped on drop.
#[derive(Debug)]
pub(crate) struct Process {
    component: Component,
    child: Child,
    log: PathBuf,
    /// How it was started, to start it again the same way.
    binary: PathBuf,
    args: Vec<String>,
}

impl Process {
    /// Starts `binary` with `args`, stdout and stderr written to `log` (replacing what an earlier
    /// attempt wrote), guarded by `watchdog`.
    pub(crate) fn spawn(
        component: Component,
        binary: &Path,
        args: &[String],
        log: PathBuf,
        watchdog: &mut Watchdog,
    ) -> Result<Self, Error> {
        let out = File::create(&log).map_err(Error::filesystem("creating", &log))?;
        Self::spawn_into(component, binary, args, log, out, watchdog)
    }

    /// Starts the process again with the same binary and arguments, its output appended to the
    /// same log. Kills it first if it still runs.
    pub(crate) fn respawn(&mut self, watchdog: &mut Watchdog) -> Result<(), Error> {
        self.stop();
        let log = self.log.clone();
        let out = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .map_err(Error::filesystem("opening", &log))?;
        let (binary, args) = (self.binary.clone(), self.args.clone());
        *self = Self::spawn_into(self.component, &binary, &args, log, out, watchdog)?;
        Ok(())
    }

    /// SIGKILLs the process (as a crash would) and reaps it.
    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn spawn_into(
        component: Component,
        binary: &Path,
        args: &[String],
        log: PathBuf,
        out: File,
        watchdog: &mut Watchdog,
    ) -> Result<Self, Error> {
        let err = out
            .try_clone()
            .map_err(Error::filesystem("opening", &log))?;
        let mut child = Command::new(binary)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| Error::Spawn {
                what: component.to_string(),
                binary: binary.to_owned(),
                source,
            })?;
        if let Err(source) = watchdog.guard(child.id()) {
            let pid = child.id();
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::WatchdogLost { pid, source });
        }
        tracing::debug!(%component, pid = child.id(), log = %log.display(), "started");
        Ok(Self {
            component,
            child,
            log,
            binary: binary.to_owned(),
            args: args.to_vec(),
        })
    }

    /// Which component this is.
    pub(crate) fn component(&self) -> Component {
        self.component
    }

    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The arguments it was started with.
    pub(crate) fn args(&self) -> &[String] {
        &self.args
    }

    /// The log file.
    pub(crate) fn log(&self) -> &Path {
        &self.log
    }

    /// The exit status if the process has exited, `None` while it runs.
    pub(crate) fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// [`Error::ExitedEarly`] if the process has exited.
    pub(crate) fn check_running(&mut self) -> Result<(), Error> {
        match self.exit_status() {
            None => Ok(()),
            Some(status) => Err(Error::ExitedEarly {
                component: self.component,
                status: status.to_string(),
                log: self.log.clone(),
                log_tail: log_tail(&self.log),
            }),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // SIGKILL: the control plane's state is thrown away, so a graceful stop buys nothing and
        // would slow every test down.
        let _ = self.child.kill();
        let _ = self.child.wait();
        tracing::debug!(component = %self.component, "stopped");
    }
}

/// How many lines of a log an error message carries.
const LOG_TAIL_LINES: usize = 30;

/// The last [`LOG_TAIL_LINES`] lines of the log at `path` (reading at most its last 64 KiB).
pub(crate) fn log_tail(path: &Path) -> String {
    const MAX_BYTES: u64 = 64 * 1024;
    let read = || -> std::io::Result<String> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(MAX_BYTES)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    match read() {
        Ok(text) => last_lines(&text, LOG_TAIL_LINES),
        Err(e) => format!("(log unreadable: {e})"),
    }
}

/// The last `lines` lines of `text`.
pub(crate) fn last_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
