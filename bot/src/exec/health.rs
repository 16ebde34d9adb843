//! HTTP health checks, made from the bot (command checks run on the host through an
//! [`super::Executor`] like any step).

use std::time::Duration;

/// Installs rustls's ring provider once; reqwest is built without a provider of its own so
/// that no C crypto library has to be compiled (ARCHITECTURE.md, Dependencies and why).
pub fn init_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// One HTTP GET; `Ok` when the status is `expect_status`, else a short reason for the channel.
pub async fn http_check(url: &str, expect_status: u16, timeout: Duration) -> Result<(), String> {
    init_tls();
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| format!("could not build an HTTP client: {e}"))?;
    match client.get(url).send().await {
        Ok(resp) if resp.status().as_u16() == expect_status => Ok(()),
        Ok(resp) => Err(format!(
            "{url} answered {} (expected {expect_status})",
            resp.status().as_u16()
        )),
        Err(e) if e.is_timeout() => Err(format!("{url} did not answer within {timeout:?}")),
        Err(e) => Err(format!("{url} could not be reached: {}", root_cause(&e))),
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server on 127.0.0.1 answering with `status`.
    async fn serve_once(status: u16) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf).await;
            let resp =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = sock.write_all(resp.as_bytes()).await;
        });
        format!("http://{addr}/healthz")
    }

    #[tokio::test]
    async fn expected_status_passes_and_others_say_what_they_got() {
        let url = serve_once(200).await;
        assert_eq!(http_check(&url, 200, Duration::from_secs(5)).await, Ok(()));
        let url = serve_once(503).await;
        let err = http_check(&url, 200, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.contains("answered 503 (expected 200)"), "{err}");
    }

    #[tokio::test]
    async fn an_unreachable_url_is_reported_not_panicked() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = http_check(&format!("http://{addr}/"), 200, Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(err.contains("could not be reached"), "{err}");
    }
}
