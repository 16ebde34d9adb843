//! The executor the engine holds: sends each job to the local or the SSH executor by its
//! host's address, so a recipe deploys to SSH hosts by configuration alone.

use super::{ExecError, Executor, Exit, Job, Line, LocalExecutor, Place, SshExecutor, Swept};
use crate::config::{HostAddress, SshSettings};
use async_trait::async_trait;
use std::path::Path;
use tokio::sync::mpsc;

pub struct Router {
    local: LocalExecutor,
    ssh: SshExecutor,
}

impl Router {
    /// Local hosts live under `data_dir/hosts`; SSH hosts are reached with `ssh`'s settings.
    pub fn new(data_dir: &Path, ssh: &SshSettings) -> std::io::Result<Self> {
        Ok(Self {
            local: LocalExecutor::new(data_dir),
            ssh: SshExecutor::new(ssh)?,
        })
    }
}

fn is_ssh(place: &Place) -> bool {
    matches!(place.address, HostAddress::Ssh { .. })
}

#[async_trait]
impl Executor for Router {
    async fn run(&self, job: &Job, out: mpsc::Sender<Line>) -> Result<Exit, ExecError> {
        if is_ssh(&job.place) {
            self.ssh.run(job, out).await
        } else {
            self.local.run(job, out).await
        }
    }

    async fn reach(&self, hosts: &[(&str, &Place)]) -> Vec<Result<(), ExecError>> {
        // The SSH executor answers for every host (local ones are always reachable).
        self.ssh.reach(hosts).await
    }

    async fn close(&self, places: &[&Place]) {
        self.ssh.close(places).await
    }

    async fn sweep(&self, host: &str, place: &Place, tag: &str) -> Result<Swept, ExecError> {
        if is_ssh(place) {
            self.ssh.sweep(host, place, tag).await
        } else {
            self.local.sweep(host, place, tag).await
        }
    }
}
