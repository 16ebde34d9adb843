//! Real OpenSSH servers for the SSH tests: one `sshd -D -e` per fake host on 127.0.0.2, .3, …
//! (free ports), with fresh ed25519 host and client keys, each host with its own home directory
//! (`SetEnv HOME=…`), stopped by PID when the fixture is dropped.
//!
//! The binaries must be installed: `bash .ci/test` installs openssh-server when it is missing.
//! Without them the tests fail (never skip) and say so.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SSHD: &str = "/usr/sbin/sshd";

pub struct SshHost {
    pub ip: String,
    pub port: u16,
    /// The login user's home on this host: `deploy_to` is relative to it.
    pub home: PathBuf,
    /// `ssh-ed25519 AAAA…` (no comment).
    pub host_key: String,
    conf: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub user: String,
    pub client_key: PathBuf,
    /// A known_hosts file with every host's key.
    pub known_hosts: PathBuf,
    pub hosts: Vec<SshHost>,
}

fn require(path: &str) {
    assert!(
        Path::new(path).exists(),
        "{} not found: run `bash .ci/test`, which installs openssh-server and openssh-client",
        Path::new(path).file_name().unwrap().to_string_lossy()
    );
}

pub fn keygen(path: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "deckhand-test", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen not found: run `bash .ci/test`, which installs openssh-client");
    assert!(out.status.success(), "ssh-keygen failed: {out:?}");
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    let mut words = public.split_whitespace();
    format!("{} {}", words.next().unwrap(), words.next().unwrap())
}

fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    /// `n` hosts on 127.0.0.2 … 127.0.0.(n+1), started and accepting connections.
    pub fn start(n: usize) -> Sshd {
        require(SSHD);
        require("/usr/bin/ssh-keygen");
        require("/usr/bin/ssh");
        std::fs::create_dir_all("/run/sshd").expect("creating /run/sshd (sshd needs it)");
        let dir = tempfile::Builder::new().prefix("dhsshd").tempdir().unwrap();
        let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
            .unwrap()
            .trim()
            .to_owned();
        let client_key = dir.path().join("client_key");
        let client_pub = keygen(&client_key);
        let authorized = dir.path().join("authorized_keys");
        std::fs::write(&authorized, format!("{client_pub}\n")).unwrap();
        let mut hosts = Vec::new();
        for i in 0..n {
            let ip = format!("127.0.0.{}", i + 2);
            let hdir = dir.path().join(format!("host{}", i + 1));
            let home = hdir.join("home");
            std::fs::create_dir_all(&home).unwrap();
            let key = hdir.join("host_key");
            let host_key = keygen(&key);
            let port = free_port(&ip);
            let conf = hdir.join("sshd_config");
            let text = format!(
                "ListenAddress {ip}:{port}\n\
                 HostKey {key}\n\
                 PidFile {pid}\n\
                 AuthorizedKeysFile {auth}\n\
                 StrictModes no\n\
                 UsePAM no\n\
                 PermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\n\
                 MaxSessions 10\n\
                 MaxStartups 100:30:200\n\
                 SetEnv SHLVL=1 HOME={home}\n",
                key = key.display(),
                pid = hdir.join("sshd.pid").display(),
                auth = authorized.display(),
                home = home.display(),
            );
            std::fs::write(&conf, text).unwrap();
            let test = Command::new(SSHD)
                .arg("-t")
                .arg("-f")
                .arg(&conf)
                .output()
                .unwrap();
            assert!(
                test.status.success(),
                "sshd -t refused {}: {}",
                conf.display(),
                String::from_utf8_lossy(&test.stderr)
            );
            hosts.push(SshHost {
                ip,
                port,
                home,
                host_key,
                log: hdir.join("sshd.log"),
                conf,
                child: None,
            });
        }
        let known_hosts = dir.path().join("known_hosts");
        let mut kh = std::fs::File::create(&known_hosts).unwrap();
        for h in &hosts {
            writeln!(kh, "[{}]:{} {}", h.ip, h.port, h.host_key).unwrap();
        }
        let mut sshd = Sshd {
            dir,
            user,
            client_key,
            known_hosts,
            hosts,
        };
        for i in 0..n {
            sshd.spawn(i);
        }
        for i in 0..n {
            sshd.wait_listening(i);
        }
        sshd
    }

    fn spawn(&mut self, i: usize) {
        let h = &mut self.hosts[i];
        let log = std::fs::File::create(&h.log).unwrap();
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&h.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting sshd");
        h.child = Some(child);
    }

    fn wait_listening(&mut self, i: usize) {
        let h = &mut self.hosts[i];
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if TcpStream::connect((h.ip.as_str(), h.port)).is_ok() {
                return;
            }
            if let Some(status) = h.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!(
                    "sshd for {}:{} exited ({status}): {}",
                    h.ip,
                    h.port,
                    std::fs::read_to_string(&h.log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "sshd on {}:{} did not accept connections within 10s",
                h.ip,
                h.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `user@ip:port` of host `i`, as a recipe names it.
    pub fn address(&self, i: usize) -> String {
        let h = &self.hosts[i];
        format!("{}@{}:{}", self.user, h.ip, h.port)
    }

    /// Stops host `i`'s sshd (its listener; connections already open live on in their own
    /// processes, as with a real sshd).
    pub fn stop(&mut self, i: usize) {
        if let Some(mut child) = self.hosts[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A file under host `i`'s home, if it exists.
    pub fn file(&self, i: usize, path: &str) -> Option<String> {
        std::fs::read_to_string(self.hosts[i].home.join(path)).ok()
    }

    /// Where a symlink under host `i`'s home points.
    pub fn link(&self, i: usize, path: &str) -> Option<String> {
        std::fs::read_link(self.hosts[i].home.join(path))
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    }

    /// What is in host `i`'s home (names of the top-level entries).
    pub fn home_entries(&self, i: usize) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.hosts[i].home)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A configuration for the bot: the shipped example with `[ssh]` pointing at this
    /// fixture's key, known_hosts and a short control directory, and `api`'s staging env
    /// replaced by `staging` (hosts, strategy, deploy_to), with `tail` appended to the recipe.
    /// `ssh_extra` goes into `[ssh]`.
    pub fn config(&self, staging: &str, tail: &str, ssh_extra: &str) -> PathBuf {
        self.config_with(staging, tail, ssh_extra, &self.known_hosts)
    }

    /// Like [`Sshd::config`], checking host keys against `known_hosts`.
    pub fn config_with(
        &self,
        staging: &str,
        tail: &str,
        ssh_extra: &str,
        known_hosts: &Path,
    ) -> PathBuf {
        let root = self.dir.path().join(format!(
            "cfg{}",
            std::fs::read_dir(self.dir.path()).unwrap().count()
        ));
        std::fs::create_dir_all(root.join("config")).unwrap();
        std::fs::create_dir_all(root.join("deploy.d")).unwrap();
        let repo = super::repo();
        let config = std::fs::read_to_string(repo.join("config/deckhand.toml")).unwrap();
        let ssh = format!(
            "[ssh]\nidentity_file = \"{}\"\nknown_hosts = \"{}\"\ncontrol_dir = \"{}\"\n{ssh_extra}\n",
            self.client_key.display(),
            known_hosts.display(),
            self.control_dir().display(),
        );
        assert!(config.contains("\n[ssh]\n"));
        let mut config = config.replace("\n[ssh]\n", &format!("\n{ssh}"));
        if ssh_extra.contains("host_key_policy") {
            config = config.replace("host_key_policy = \"strict\"\n", "");
        }
        std::fs::write(root.join("config/deckhand.toml"), config).unwrap();
        let staging_local =
            "[envs.staging]\nhosts = [{ name = \"api-staging\", address = \"local\" }]\n";
        for entry in std::fs::read_dir(repo.join("deploy.d")).unwrap() {
            let entry = entry.unwrap();
            let mut text = std::fs::read_to_string(entry.path()).unwrap();
            if entry.file_name() == "api.toml" {
                assert!(
                    text.contains(staging_local),
                    "the example's api staging env changed"
                );
                text = text.replace(staging_local, &format!("[envs.staging]\n{staging}\n"));
                text.push('\n');
                text.push_str(tail);
            }
            std::fs::write(root.join("deploy.d").join(entry.file_name()), text).unwrap();
        }
        root.join("config/deckhand.toml")
    }

    /// The `[ssh] control_dir` of the configurations this fixture writes.
    pub fn control_dir(&self) -> PathBuf {
        self.dir.path().join("cm")
    }

    /// PIDs of the ssh master processes of the bot configured by this fixture.
    pub fn masters(&self) -> Vec<u32> {
        let out = Command::new("pgrep")
            .arg("-f")
            .arg(format!("ssh .*{}/", self.control_dir().display()))
            .output()
            .expect("pgrep not found: run `bash .ci/test`, which installs procps");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// The PID of the ssh master connected to host `i`, if there is one.
    pub fn master_of(&self, i: usize) -> Option<u32> {
        let out = Command::new("pgrep")
            .arg("-f")
            .arg(format!(
                "ssh .*{}/.*-p {} ",
                self.control_dir().display(),
                self.hosts[i].port
            ))
            .output()
            .expect("pgrep not found: run `bash .ci/test`, which installs procps");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.trim().parse().ok())
    }

    /// `hosts = [...]` naming hosts `0..n` as `api-1`, `api-2`, … at their addresses.
    pub fn hosts_line(&self, n: usize) -> String {
        let hosts: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    "{{ name = \"api-{}\", address = \"{}\" }}",
                    i + 1,
                    self.address(i)
                )
            })
            .collect();
        format!("hosts = [{}]", hosts.join(", "))
    }

    /// Whether a process whose command line contains `pattern` runs on this machine (the
    /// fake hosts are this machine).
    pub fn running(pattern: &str) -> bool {
        Command::new("pgrep")
            .arg("-f")
            .arg(pattern)
            .output()
            // Without pgrep every process would look gone: fail instead of passing blindly.
            .expect("pgrep not found: run `bash .ci/test`, which installs procps")
            .status
            .success()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        for i in 0..self.hosts.len() {
            self.stop(i);
        }
    }
}
