//! A private Postgres server for one test: its own data directory in a temp dir and its own
//! port, so the test can stop and start the database for real (every connection killed, new ones
//! refused, then a fresh server on the same port and data) without touching the shared server at
//! 127.0.0.1:5432 that every other test uses in parallel.
//!
//! `initdb` and `postgres` refuse to run as root, and tests run as root on the dev machine and in
//! CI: then the server runs as the `postgres` system user (through `runuser`), which owns the
//! temp dir. As any other user it runs directly.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tokio::process::Command;

/// The superuser `initdb` creates (trust auth, so no password is needed).
const ROLE: &str = "tollgate";

/// A throwaway Postgres server; stopped and deleted on drop.
pub struct PrivatePostgres {
    root: PathBuf,
    bindir: PathBuf,
    port: u16,
    /// `Some("postgres")` when we are root: the server binaries run as that user.
    run_as: Option<&'static str>,
}

impl PrivatePostgres {
    /// `initdb` a new cluster in a temp dir and start it on a free 127.0.0.1 port.
    pub async fn start() -> Result<PrivatePostgres> {
        let bindir = server_bindir().await?;
        let run_as = if effective_uid().await? == 0 {
            Some("postgres")
        } else {
            None
        };
        let root = std::env::temp_dir().join(format!("tg-pg-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&root).with_context(|| format!("create {}", root.display()))?;
        let pg = PrivatePostgres {
            root,
            bindir,
            port: free_port()?,
            run_as,
        };
        if let Some(user) = run_as {
            let status = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(&pg.root)
                .status()
                .await
                .context("run chown")?;
            if !status.success() {
                bail!(
                    "cannot give {} to the `{user}` user (initdb refuses to run as root); \
                     does that user exist? (the postgresql package creates it)",
                    pg.root.display()
                );
            }
        }

        let data = pg.data_dir();
        pg.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                ROLE.as_ref(),
                "--auth=trust".as_ref(),
                "--encoding=UTF8".as_ref(),
                "--locale=C".as_ref(),
                // The cluster is thrown away: durability only costs time.
                "--no-sync".as_ref(),
            ],
        )
        .await?;
        // Everything the server needs is in its own config, so a plain `pg_ctl start` (the
        // restart) comes back identical. fsync off: this data never outlives the test.
        let conf = format!(
            "\n# tollgate-tests private server\n\
             listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = '{socket}'\n\
             fsync = off\n\
             synchronous_commit = off\n\
             full_page_writes = off\n\
             max_connections = 200\n",
            port = pg.port,
            socket = pg.root.display(),
        );
        let conf_path = data.join("postgresql.conf");
        let mut existing = std::fs::read_to_string(&conf_path)
            .with_context(|| format!("read {}", conf_path.display()))?;
        existing.push_str(&conf);
        std::fs::write(&conf_path, existing)
            .with_context(|| format!("write {}", conf_path.display()))?;

        pg.start_again().await?;
        Ok(pg)
    }

    /// The port the server listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// A URL of the `postgres` database, as the superuser: what `StackOptions::database_url`
    /// wants (a stack creates its own fresh database next to it).
    pub fn admin_url(&self) -> String {
        format!("postgres://{ROLE}@127.0.0.1:{}/postgres", self.port)
    }

    /// A real shutdown (`pg_ctl stop -m fast`): every client connection is terminated and new
    /// ones are refused until [`start_again`](Self::start_again).
    pub async fn stop(&self) -> Result<()> {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &[
                "stop".as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "30".as_ref(),
            ],
        )
        .await
        .map(drop)
    }

    /// Start the server again on the same port and data directory; returns once it accepts
    /// connections.
    pub async fn start_again(&self) -> Result<()> {
        let data = self.data_dir();
        let log = self.log_path();
        self.run(
            "pg_ctl",
            &[
                "start".as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "30".as_ref(),
            ],
        )
        .await
        .map(drop)
    }

    /// Stop, stay down for `down`, start again.
    pub async fn restart(&self, down: Duration) -> Result<()> {
        self.stop().await?;
        tokio::time::sleep(down).await;
        self.start_again().await
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.root.join("postgres.log")
    }

    /// Run a server binary (as the `postgres` user when we are root); an error carries its
    /// output and the server log's tail.
    async fn run(&self, program: &str, args: &[&std::ffi::OsStr]) -> Result<String> {
        let path = self.bindir.join(program);
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&path);
                c
            }
            None => Command::new(&path),
        };
        cmd.args(args).current_dir(&self.root);
        let out = cmd.output().await.with_context(|| match self.run_as {
            Some(_) => format!("run `runuser -u postgres -- {}`", path.display()),
            None => format!("run {}", path.display()),
        })?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if !out.status.success() {
            let hint = match self.run_as {
                Some(user) => format!(
                    " (it ran as `{user}`, which must be able to reach {}; set TMPDIR to a \
                     directory it can)",
                    self.root.display()
                ),
                None => String::new(),
            };
            bail!(
                "{program} {:?} failed ({}){hint}:\n{text}\n--- server log ---\n{}",
                args,
                out.status,
                self.log_tail(20)
            );
        }
        Ok(text)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "private Postgres on port {} — last lines of its log:\n{}",
                self.port,
                self.log_tail(30)
            );
        }
        // Immediate: the data is thrown away, so there is nothing to shut down cleanly for.
        let data = self.data_dir();
        let path = self.bindir.join("pg_ctl");
        let mut cmd = match self.run_as {
            Some(user) => {
                let mut c = std::process::Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&path);
                c
            }
            None => std::process::Command::new(&path),
        };
        let _ = cmd
            .args(["stop", "-m", "immediate", "-w", "-D"])
            .arg(&data)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// The directory holding `initdb` and `pg_ctl`: `pg_config --bindir` when it has them (it may
/// belong to a client-only install), else the newest `/usr/lib/postgresql/<version>/bin`
/// (Debian's layout, which keeps the server binaries off `PATH`).
async fn server_bindir() -> Result<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let mut tried = Vec::new();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output().await
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_server(&dir) {
            return Ok(dir);
        }
        tried.push(dir.display().to_string());
    } else {
        tried.push("`pg_config --bindir` (not found)".into());
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.into_iter().rev().find(|(_, d)| has_server(d)) {
        return Ok(dir);
    }
    tried.push("/usr/lib/postgresql/*/bin".into());
    Err(anyhow!(
        "no Postgres server binaries (initdb, pg_ctl) found; tried {}. Install the \
         `postgresql` package (scripts/services.sh does).",
        tried.join(", ")
    ))
}

async fn effective_uid() -> Result<u32> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .await
        .context("run `id -u`")?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .context("parse `id -u`")
}

/// A free port below the kernel's ephemeral range (32768+ on Linux), so that while the server is
/// down for a restart no other test's port-0 listener or outgoing connection can take it.
fn free_port() -> Result<u16> {
    let random = || RandomState::new().build_hasher().finish();
    for _ in 0..100 {
        let port = 20_000 + (random() % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(anyhow!(
        "no free port in 20000..32000 for a private Postgres"
    ))
}
