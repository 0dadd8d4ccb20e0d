//! Plain HTTP GETs to the server's status endpoints and chromedriver.

use std::time::Duration;

/// GETs `url`, returning the status code and body. Short timeouts: every
/// address is on loopback, and callers poll.
pub async fn get(url: &str) -> crate::Result<(u16, String)> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("http client: {e}"))?;
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let code = resp.status().as_u16();
    let body = resp
        .text()
        .await
        .map_err(|e| format!("GET {url}: body: {e}"))?;
    Ok((code, body))
}

/// GETs `url` and parses a 200 answer as JSON.
pub async fn get_json(url: &str) -> crate::Result<serde_json::Value> {
    let (code, body) = get(url).await?;
    if code != 200 {
        return Err(format!("GET {url}: status {code}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("GET {url}: not JSON ({e}): {body}"))
}
