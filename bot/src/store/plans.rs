//! The hot queries' plans: each must read an index (or the FTS index) in the order of its
//! answer, never sort a large intermediate result and never scan the whole `deploys` table.

use super::Store;
use sqlx::{AssertSqlSafe, Row};

async fn plan(store: &Store, sql: &str) -> Vec<String> {
    let rows = sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")))
        .fetch_all(&store.pool)
        .await
        .unwrap_or_else(|e| panic!("cannot explain {sql}: {e}"));
    rows.iter().map(|r| r.get::<String, _>("detail")).collect()
}

#[tokio::test]
async fn hot_queries_walk_indexes_in_answer_order() {
    let store = Store::open_in_memory().await.unwrap();
    let planned = super::views::PLANNED.iter().chain(&super::search::PLANNED);
    for (name, sql) in planned {
        let plan = plan(&store, sql).await;
        let text = plan.join("\n");
        eprintln!("{name}:\n{text}\n");
        assert!(
            !text.contains("TEMP B-TREE FOR ORDER BY") || *name == "live many",
            "{name} sorts:\n{text}"
        );
        assert!(
            !plan
                .iter()
                .any(|l| l.trim() == "SCAN deploys" || l.starts_with("SCAN d ")),
            "{name} scans every deploy:\n{text}"
        );
    }
    let words = plan(&store, super::search::PLANNED[0].1).await.join("\n");
    assert!(words.contains("VIRTUAL TABLE INDEX"), "{words}");
    assert!(
        words.contains("SEARCH l USING INTEGER PRIMARY KEY"),
        "{words}"
    );
    assert!(
        words.contains("SEARCH d USING INTEGER PRIMARY KEY"),
        "{words}"
    );
    let filters = plan(&store, super::search::PLANNED[1].1).await.join("\n");
    assert!(filters.contains("SCAN l"), "{filters}");
}

#[tokio::test]
async fn active_uses_its_partial_index() {
    let store = Store::open_in_memory().await.unwrap();
    let sql = "SELECT id FROM deploys \
               WHERE state IN ('awaiting_approval', 'approved', 'queued', 'running', 'verifying') \
               ORDER BY id";
    let text = plan(&store, sql).await.join("\n");
    assert!(text.contains("deploys_active"), "{text}");
}
