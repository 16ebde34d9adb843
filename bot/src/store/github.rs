//! What the log keeps of GitHub: the deployment a deploy created (0006), and the deploy that
//! was live on a target before another, whose deployment becomes inactive.

use super::Store;
use crate::core::command::DeployId;
use anyhow::Context;

impl Store {
    /// Records the GitHub deployment deploy `id` created.
    pub async fn set_github_deployment(&self, id: DeployId, deployment: i64) -> anyhow::Result<()> {
        sqlx::query("UPDATE deploys SET github_deployment_id = ? WHERE id = ?")
            .bind(deployment)
            .bind(id)
            .execute(&self.pool)
            .await
            .with_context(|| format!("cannot record the GitHub deployment of #{id}"))?;
        Ok(())
    }

    /// The GitHub deployment deploy `id` created, if any.
    pub async fn github_deployment(&self, id: DeployId) -> anyhow::Result<Option<i64>> {
        let found: Option<Option<i64>> =
            sqlx::query_scalar("SELECT github_deployment_id FROM deploys WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .with_context(|| format!("cannot read the GitHub deployment of #{id}"))?;
        Ok(found.flatten())
    }
}
